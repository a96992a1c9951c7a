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

from airflow_provider_videogen.exceptions import GatewayResponseError
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
    """

    name = "openai_videos"

    def __init__(self, gateway: str, *, encoding: str = "multipart", auth_error_status: int | None = None):
        super().__init__(gateway)
        self.encoding = encoding
        self.auth_error_status = auth_error_status

    def error_kind(self, status: int, body: str) -> str | None:
        if status == self.auth_error_status and _AUTH_WORDS.search(body):
            return "auth"
        return super().error_kind(status, body)

    def media_url_from_json(self, body: Any) -> str | None:
        """TokenOps' ``/content`` may answer ``VideoContentResponse {video_url, expires_at}`` instead of bytes
        (TokenOps AI API, "GET /v1/videos/{video_id}/content")."""
        url = body.get("video_url") if isinstance(body, dict) else None
        return url if isinstance(url, str) and url else None

    def build_submit(self, request: GenerationRequest) -> HttpRequest:
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
        if self.encoding == "json" and request.image is None:
            return HttpRequest("POST", "/v1/videos", json=fields)
        files = None
        if request.image is not None:
            ext = request.image.mime_type.rsplit("/", 1)[-1]
            files = {"input_reference": (f"first_frame.{ext}", request.image.data, request.image.mime_type)}
        return HttpRequest("POST", "/v1/videos", form={k: form_value(v) for k, v in fields.items()}, files=files)

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
                            expires_at=as_int(body.get("expires_at")), created_at=as_int(body.get("created_at")))
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
