"""OpenAI-style ``/v1/videos``: OpenAI's Videos API, HingNet and TokenOps (SkyEngine ModelHub).

1. submit: ``POST /v1/videos`` (multipart/form-data, or JSON where the gateway documents it) with
   ``model``, ``prompt``, ``seconds`` (sent as a string), ``size`` and an optional ``input_reference``
   image; answers a video object whose ``id`` is the operation id.
2. status: ``GET /v1/videos/{id}``; ``status`` in any of the documented vocabularies
   (``queued/in_progress/completed``, HingNet's ``processing/success``, TokenOps' ``pending``),
   ``progress`` 0-100, ``expires_at``, ``error:{code,message}``; the ``openai-poll-after-ms`` header.
3. download: ``GET /v1/videos/{id}/content``: the MP4 bytes, a redirect to a CDN (HingNet "视频下载": use ``curl -L``)
   or JSON ``{"video_url","expires_at"}`` (TokenOps ``VideoContentResponse``).

Sources: HingNet "视频下载" (docs.hingnet.com.cn);
TokenOps AI API "GET /v1/videos/{video_id}/content" (docs-model.skyengine.com.cn);
https://docs.hingnet.com.cn/openai/video-generation; openai-python ``resources/videos.py``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from airflow_provider_videogen.exceptions import GatewayResponseError, InvalidVideoRequest
from airflow_provider_videogen.gateways.base import (
    GenerationRequest,
    HttpRequest,
    VideoLocator,
    VideoOperation,
    VideoProtocol,
    as_int,
    error_fields,
    normalise_status,
    parse_progress,
    require_dict,
)

_ASPECT_SIZES = {("16:9", "720p"): "1280x720", ("9:16", "720p"): "720x1280",
                 ("16:9", "1080p"): "1920x1080", ("9:16", "1080p"): "1080x1920"}


def size_for(request: GenerationRequest) -> str | None:
    """``size`` (``WIDTHxHEIGHT``) from the request's size, or its aspect ratio and resolution."""
    if request.size or not request.aspect_ratio:
        return request.size
    return _ASPECT_SIZES.get((request.aspect_ratio, request.resolution or "720p"))


def form_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


_AUTH_WORDS = re.compile(r"(invalid|incorrect|missing|wrong|expired)[^.]{0,30}(api[ _-]?key|token|key)|"
                         r"(api[ _-]?key|token)[^.]{0,20}(invalid|incorrect|missing|wrong|expired)|"
                         r"unauthori[sz]ed|authentication", re.IGNORECASE)


class OpenAIVideosProtocol(VideoProtocol):
    """The OpenAI Videos contract and its gateway copies.

    :param encoding: ``"multipart"`` (openai-python's ``videos.create`` always sends multipart/form-data;
        TokenOps documents ``CreateVideoFormRequest`` as multipart only) or ``"json"`` (HingNet's examples,
        https://docs.hingnet.com.cn/openai/video-generation). A first-frame image always goes as a multipart
        file, and multipart is used even without one: never form-urlencoded.
    :param auth_error_status: the status this gateway answers a bad key with, besides 401/403. TokenOps'
        OpenAPI lists only ``400 ErrorResponse`` ("bad parameters, invalid key", videos-generations page).
    :param remix: the gateway keeps OpenAI's ``POST /v1/videos/{id}/remix`` and ``DELETE /v1/videos/{id}``.
    :param variants: it serves ``/content?variant=thumbnail|spritesheet`` previews.
    :param veo_references: Veo models take up to 3 ``input_reference`` files (first + last frame, or
        reference images).
    """

    name = "openai_videos"

    def __init__(self, gateway: str, *, encoding: str = "multipart", auth_error_status: int | None = None,
                 remix: bool = False, variants: bool = False, veo_references: bool = False):
        super().__init__(gateway)
        self.encoding = encoding
        self.auth_error_status = auth_error_status
        self.remix = remix
        self.variants = variants
        self.veo_references = veo_references

    def error_kind(self, status: int, body: str) -> str | None:
        if status == self.auth_error_status and _AUTH_WORDS.search(body):
            return "auth"
        return super().error_kind(status, body)

    def media_url_from_json(self, body: Any) -> str | None:
        """TokenOps' ``/content`` may answer ``VideoContentResponse {video_url, expires_at}`` instead of bytes
        (TokenOps AI API, "GET /v1/videos/{video_id}/content")."""
        url = body.get("video_url") if isinstance(body, dict) else None
        return url if isinstance(url, str) and url else None

    def controls(self, request: GenerationRequest) -> frozenset[str]:
        """``source`` (remix) where the gateway keeps ``POST /v1/videos/{id}/remix`` (openai-python
        ``videos.remix``); a last frame and reference images as repeated ``input_reference`` files for Veo
        models where the gateway documents that (HingNet, https://docs.hingnet.com.cn/gemini/video.md)."""
        allowed = set()
        if self.remix:
            allowed.add("source")
        if self.veo_references and request.model.lower().startswith("veo"):
            allowed |= {"last_frame", "reference_images"}
        return frozenset(allowed)

    def check(self, request: GenerationRequest) -> None:
        super().check(request)
        frames = [request.image, request.last_frame]
        if request.reference_images and any(frames):
            raise InvalidVideoRequest("reference_images cannot be combined with a first or last frame here: "
                                      "they travel in the same input_reference field", gateway=self.gateway)
        if request.last_frame is not None and request.image is None:
            raise InvalidVideoRequest("last_frame needs a first frame (image) here: input_reference holds the "
                                      "first frame, then the last", gateway=self.gateway)

    def build_submit(self, request: GenerationRequest) -> HttpRequest:
        if request.source is not None:  # remix: the new prompt applied to an earlier video
            source = quote(self.validate_operation_id(request.source.operation_id))
            return HttpRequest("POST", f"/v1/videos/{source}/remix", json={"prompt": request.prompt})
        fields: dict[str, Any] = {
            k: v
            for k, v in {
                "model": request.model,
                "prompt": request.prompt,
                "seconds": str(request.duration_seconds) if request.duration_seconds is not None else None,
                "size": size_for(request),
            }.items()
            if v is not None
        }
        fields.update(request.extra_params)
        images = [("first_frame", request.image), ("last_frame", request.last_frame)]
        images += [(f"reference_{i}", ref.image) for i, ref in enumerate(request.reference_images)]
        files = [("input_reference", (f"{name}.{image.mime_type.rsplit('/', 1)[-1]}", image.data, image.mime_type))
                 for name, image in images if image is not None]
        if self.encoding == "json" and not files:
            return HttpRequest("POST", "/v1/videos", json=fields)
        return HttpRequest("POST", "/v1/videos", form={k: form_value(v) for k, v in fields.items()},
                           files=files or None)

    def build_cancel(self, operation_id: str) -> HttpRequest | None:
        """``DELETE /v1/videos/{id}`` where the gateway keeps it (openai-python ``videos.delete``)."""
        return HttpRequest("DELETE", self.build_status(operation_id).path) if self.remix else None

    def build_variant(self, operation_id: str, variant: str) -> HttpRequest | None:
        """``GET /v1/videos/{id}/content?variant=thumbnail|spritesheet`` where the gateway serves previews
        (openai-python ``videos.download_content``); None elsewhere."""
        if not self.variants or variant not in ("thumbnail", "spritesheet"):
            return None
        return HttpRequest("GET", f"{self.build_status(operation_id).path}/content", params={"variant": variant})

    def parse_submit(self, body: Any) -> str:
        video_id = require_dict(body, gateway=self.gateway, what="submit response").get("id")
        if not video_id:
            raise GatewayResponseError("submit response has no video 'id'", gateway=self.gateway)
        return self.validate_operation_id(video_id)

    def build_status(self, operation_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/v1/videos/{quote(self.validate_operation_id(operation_id))}")

    def build_test_connection(self) -> HttpRequest:
        return HttpRequest("GET", "/v1/models")

    def parse_status(self, operation_id: str, body: Any, headers: dict[str, str] | None = None) -> VideoOperation:
        body = require_dict(body, gateway=self.gateway, what="status response", operation_id=operation_id)
        progress = parse_progress(body.get("progress"))
        op = VideoOperation(self.gateway, operation_id, normalise_status(body.get("status"), progress=progress),
                            raw_status=str(body.get("status")), progress=progress,
                            expires_at=as_int(body.get("expires_at")), created_at=as_int(body.get("created_at")),
                            completed_at=as_int(body.get("completed_at")))
        poll_after_ms = (headers or {}).get("openai-poll-after-ms")
        if poll_after_ms:
            op.poll_after = (as_int(poll_after_ms) or 0) / 1000 or None
        if op.state == "failed":
            op.error_code, op.error_message = error_fields(body.get("error"))
        elif op.state == "succeeded":
            # Every copy documents GET /content (bytes, CDN redirect or JSON video_url); a video_url in
            # the status body (HingNet Veo, New API metadata.url) is the same video, so /content is enough.
            op.videos = [VideoLocator("binary", f"{self.build_status(operation_id).path}/content")]
        return self.finish(op)
