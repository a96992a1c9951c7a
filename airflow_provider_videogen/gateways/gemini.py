"""Gemini API long-running operations (Veo): Google itself, and AI Thực Chiến's ``/gemini/`` proxy.

1. submit: ``POST {api}/models/{model}:predictLongRunning`` with ``{"instances":[...],"parameters":{...}}``
   answers ``{"name": "models/{model}/operations/{id}"}``; the whole ``name`` is the operation id.
2. status: ``GET {api}/{name}``; ``done`` true means finished, with ``error`` or ``response``.
   The video is ``response.generateVideoResponse.generatedSamples[].video.uri``; "done" with no sample
   and ``raiMediaFilteredReasons`` is Veo's safety filter.
3. download: ``GET {download}/files/{video_id}:download?alt=media``, ``video_id`` taken from the uri.

Sources: AI Thực Chiến "Tải xuống video hoàn thành" (https://docs.thucchien.ai/docs/api-reference/video-generation-download);
AI Thực Chiến "Kiểm tra trạng thái video" (https://docs.thucchien.ai/docs/api-reference/video-generation-status);
https://ai.google.dev/gemini-api/docs/video and python-genai ``models.py`` (REST shape, RAI filtering).
Auth is ``x-goog-api-key`` on every step.
"""

from __future__ import annotations

import base64
import functools
import re
from typing import Any
from urllib.parse import quote

from airflow_provider_videogen.exceptions import GatewayResponseError, InvalidVideoRequest
from airflow_provider_videogen.gateways.base import (
    GenerationRequest,
    HttpRequest,
    ImageInput,
    VideoLocator,
    VideoOperation,
    VideoProtocol,
    error_fields,
    parse_progress,
    require_dict,
    typed_field,
    validate_id,
)


def _image(image: ImageInput) -> dict[str, str]:
    """An image as the Gemini API takes it inline (python-genai ``_Image_to_mldev``)."""
    return {"bytesBase64Encoded": base64.b64encode(image.data).decode("ascii"), "mimeType": image.mime_type}


_FILE_ID_RE = re.compile(r"/files/([A-Za-z0-9_-]+)")
_SIZES = {"1280x720": ("16:9", "720p"), "720x1280": ("9:16", "720p"),
          "1920x1080": ("16:9", "1080p"), "1080x1920": ("9:16", "1080p")}


class GeminiProtocol(VideoProtocol):
    """Gemini ``predictLongRunning`` operations.

    :param api_prefix: path prefix of the API (``/v1beta`` for Google, ``/gemini/v1beta`` for Thực Chiến).
    :param download_prefix: path prefix of file downloads (``/v1beta`` for Google,
        ``/gemini/download/v1beta`` for Thực Chiến's download page).
    """

    name = "gemini"

    def __init__(self, gateway: str, *, api_prefix: str = "/v1beta", download_prefix: str = "/v1beta"):
        super().__init__(gateway)
        self.api_prefix = api_prefix
        self.download_prefix = download_prefix

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key}

    def error_kind(self, status: int, body: str) -> str | None:
        # Google answers a bad key with 400 INVALID_ARGUMENT "API key not valid" (reason API_KEY_INVALID),
        # https://ai.google.dev/gemini-api/docs/troubleshooting; an unknown model with 404 NOT_FOUND
        # "models/X is not found for API version v1beta".
        if status == 400 and ("API key not valid" in body or "API_KEY_INVALID" in body):
            return "auth"
        if status == 404 and "models/" in body and "not found" in body.lower():
            return "model"
        return None

    def validate_operation_id(self, operation_id: Any) -> str:
        return validate_id(operation_id, what="operation name", gateway=self.gateway, allow_slash=True)

    def controls(self, request: GenerationRequest) -> frozenset[str]:
        """What the Gemini API takes in API-key mode (python-genai ``_GenerateVideosParameters_to_mldev``,
        ``_GenerateVideosConfig_to_mldev``; https://ai.google.dev/gemini-api/docs/video): last frame, up to 3
        reference images, video extension, person generation, prompt enhancement, 1-4 samples. ``seed`` and
        ``generate_audio`` are Vertex AI only: the SDK refuses them here, and so does this provider."""
        return frozenset({"last_frame", "reference_images", "source", "person_generation", "enhance_prompt",
                          "number_of_videos"})

    def check(self, request: GenerationRequest) -> None:
        super().check(request)
        if request.resolution == "4k" and not request.model.startswith("veo-3.1"):
            raise InvalidVideoRequest(f"resolution '4k' is documented only for Veo 3.1 models, not {request.model!r} "
                                      "(https://ai.google.dev/gemini-api/docs/video)", gateway=self.gateway)
        if request.source is not None and not request.source.uri:
            raise InvalidVideoRequest("extending a video needs the source video's uri (the finished operation of "
                                      "a Gemini-protocol job)", gateway=self.gateway)

    def build_submit(self, request: GenerationRequest) -> HttpRequest:
        model = validate_id(request.model, what="model", gateway=self.gateway)
        return HttpRequest("POST", self.submit_path(model), json=self.build_body(request))

    def submit_path(self, model: str) -> str:
        """Where ``predictLongRunning`` is, for a validated model id."""
        return f"{self.api_prefix}/models/{model}:predictLongRunning"

    def build_body(self, request: GenerationRequest) -> dict[str, Any]:
        """``{"instances": [...], "parameters": {...}}``: the mapped fields, then ``extra_params`` (they win)."""
        instance = self._instance(request)
        parameters = {k: v for k, v in self._parameters(request).items() if v is not None}
        extra = dict(request.extra_params)
        instance.update(extra.pop("instance", None) or {})
        parameters.update(extra)
        body: dict[str, Any] = {"instances": [instance]}
        if parameters:
            body["parameters"] = parameters
        return body

    def _instance(self, request: GenerationRequest) -> dict[str, Any]:
        instance: dict[str, Any] = {"prompt": request.prompt}
        if request.image is not None:
            instance["image"] = _image(request.image)
        if request.last_frame is not None:
            instance["lastFrame"] = _image(request.last_frame)
        if request.reference_images:
            instance["referenceImages"] = [{"image": _image(ref.image), "referenceType": ref.reference_type}
                                           for ref in request.reference_images]
        if request.source is not None:  # Veo video extension: the earlier video by its uri
            instance["video"] = {"uri": request.source.uri}
        return instance

    def _parameters(self, request: GenerationRequest) -> dict[str, Any]:
        """The mapped ``parameters`` (None values are left out)."""
        aspect_ratio, resolution = request.aspect_ratio, request.resolution
        if request.size and request.size in _SIZES:
            aspect_ratio = aspect_ratio or _SIZES[request.size][0]
            resolution = resolution or _SIZES[request.size][1]
        return {
            "durationSeconds": request.duration_seconds,
            "aspectRatio": aspect_ratio,
            "resolution": resolution,
            "negativePrompt": request.negative_prompt,
            "personGeneration": request.person_generation,
            "enhancePrompt": request.enhance_prompt,
            "sampleCount": request.number_of_videos,
        }

    def build_cancel(self, operation_id: str) -> HttpRequest:
        """``POST {api}/{name}:cancel`` (google.longrunning ``Operations.CancelOperation``,
        https://cloud.google.com/apis/design/design_patterns#long_running_operations)."""
        return HttpRequest("POST", f"{self.build_status(operation_id).path}:cancel", json={})

    def parse_submit(self, body: Any) -> str:
        name = require_dict(body, gateway=self.gateway, what="submit response").get("name")
        if not name:
            raise GatewayResponseError("submit response has no operation 'name'", gateway=self.gateway)
        return self.validate_operation_id(name)

    def build_status(self, operation_id: str) -> HttpRequest:
        return HttpRequest("GET", f"{self.api_prefix}/{quote(self.validate_operation_id(operation_id))}")

    def build_test_connection(self) -> HttpRequest:
        return HttpRequest("GET", f"{self.api_prefix}/models", params={"pageSize": "1"})

    def parse_status(self, operation_id: str, body: Any, headers: dict[str, str] | None = None) -> VideoOperation:
        body = require_dict(body, gateway=self.gateway, what="status response", operation_id=operation_id)
        field = functools.partial(typed_field, gateway=self.gateway, operation_id=operation_id)
        metadata = field(body, "metadata", dict)
        op = VideoOperation(self.gateway, operation_id, "running", raw_status=f"done={bool(body.get('done'))}",
                            progress=parse_progress(metadata.get("progressPercent", metadata.get("progress"))))
        if body.get("done") is not True:
            return op
        if body.get("error"):
            op.state = "failed"
            op.error_code, op.error_message = error_fields(body["error"])
            return self.finish(op)
        response = field(body, "response", dict)
        outer = "generateVideoResponse" if "generateVideoResponse" in response else None
        result = field(response, outer, dict) if outer else response
        op.state = "succeeded"
        op.videos = self._locators(operation_id, result, ("response",) + ((outer,) if outer else ()))
        reasons = result.get("raiMediaFilteredReasons")
        reasons = reasons if isinstance(reasons, list) else []
        if not op.videos and (reasons or result.get("raiMediaFilteredCount")):
            op.state, op.error_code = "failed", "RAI_FILTERED"
            op.error_message = "content filtered: " + ("; ".join(map(str, reasons)) or "no reason given")
        return self.finish(op)

    def _locators(self, operation_id: str, result: dict[str, Any], prefix: tuple[str, ...]) -> list[VideoLocator]:
        """Video locators from the Gemini (``generatedSamples``), Vertex (``videos``) or SkyEngine
        (``generatedVideos``) result shapes. A video inline in the status (``encodedVideo``,
        ``bytesBase64Encoded``) is re-read from the status URL, streamed, at its exact path."""
        locators = []
        status = self.build_status(operation_id)
        field = functools.partial(typed_field, gateway=self.gateway, operation_id=operation_id)
        key = next((k for k in ("generatedSamples", "generatedVideos", "videos") if k in result), None)
        for index, sample in enumerate(field(result, key, list) if key else []):
            if not isinstance(sample, dict):
                raise GatewayResponseError(f"{key}[{index}] should be a JSON object", gateway=self.gateway,
                                           operation_id=operation_id)
            nested = "video" in sample
            video = field(sample, "video", dict) if nested else sample
            uri = video.get("uri") or video.get("gcsUri")
            inline = next((k for k in ("encodedVideo", "bytesBase64Encoded", "videoBytes")
                           if isinstance(video.get(k), str) and video.get(k)), None)
            if isinstance(uri, str) and uri:
                locator = self._uri_locator(uri)
                if locator is not None:
                    locators.append(locator)
            elif inline:
                path = ".".join(map(str, (*prefix, key, index, *(("video",) if nested else ()), inline)))
                locators.append(VideoLocator("json_base64", status.path, field=path, body=status.json))
        return locators

    def _uri_locator(self, uri: str) -> VideoLocator | None:
        """Where to fetch a video the status names by uri: a Files API download, or an http(s) URL."""
        match = _FILE_ID_RE.search(uri)
        if match:
            file_id = validate_id(match.group(1), what="video id", gateway=self.gateway)
            return VideoLocator("binary", f"{self.download_prefix}/files/{file_id}:download?alt=media", uri=uri)
        if uri.startswith(("https://", "http://")):
            return VideoLocator("binary", uri, uri=uri)
        return None
