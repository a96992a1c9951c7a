"""New-API task style ``/v1/video/generations``: MixRoute.

1. submit: ``POST /v1/video/generations`` (JSON). Sora models take ``seconds`` (string) and ``size``;
   Veo and the others take ``durationSeconds``, ``aspectRatio``, ``resolution`` and a first-frame
   ``image`` (URL or base64). Answers ``{"task_id", "status": "submitted"|"pending"}``.
2. status: ``GET /v1/video/generations/{task_id}``, flat ``{task_id, status, format, url}`` or New API's
   wrapped ``{"code","message","data":{...}}``; statuses ``queued/in_progress/succeeded/failed`` plus
   ``submitted``/``pending`` (and New API's upper-case ``SUCCESS``...); ``progress`` may be ``"45%"``.
3. download: Veo/Wan/Seedance put the video in ``url`` (a CDN link or a ``data:video/mp4;base64`` URL);
   Sora 2 has no url and ``GET /v1/video/generations/download?id={task_id}`` answers JSON with the whole
   video in ``base64`` and its ``size`` in bytes (MixRoute "Download video" (https://docs.mixroute.ai/zh-hant/api-reference/endpoint/download-video)).

Sources: MixRoute "Download video" (https://docs.mixroute.ai/zh-hant/api-reference/endpoint/download-video);
https://docs.mixroute.ai/en/api-reference/endpoint/submit-video-task and /veo; New API (QuantumNous/new-api).
"""

from __future__ import annotations

import base64
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
from airflow_provider_videogen.gateways.openai_videos import size_for

_URL_FIELDS = ("url", "video_url", "result_url")


class VideoGenerationsProtocol(VideoProtocol):
    """New API's ``/v1/video/generations`` task protocol, as MixRoute documents it."""

    name = "video_generations"
    # The Veo parameters MixRoute documents (https://docs.mixroute.ai/en/api-reference/endpoint/veo) have
    # no negative prompt; its Sora 2 examples neither.
    unsupported = {"negative_prompt": "MixRoute documents no negative prompt (docs.mixroute.ai, Veo parameters)"}

    def controls(self, request: GenerationRequest) -> frozenset[str]:
        """Veo models: ``lastFrame`` (3.1 series only), ``generateAudio``, ``seed`` and ``personGeneration``
        (https://docs.mixroute.ai/en/api-reference/endpoint/veo). Not several videos: its status carries one
        ``url``."""
        model = request.model.lower()
        if not model.startswith("veo"):
            return frozenset()
        allowed = {"generate_audio", "seed", "person_generation"}
        return frozenset(allowed | {"last_frame"} if model.startswith("veo-3.1") else allowed)

    def build_submit(self, request: GenerationRequest) -> HttpRequest:
        body: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
        if request.model.lower().startswith("sora"):
            mapped = {"seconds": str(request.duration_seconds) if request.duration_seconds is not None else None,
                      "size": size_for(request)}
        else:
            mapped = {"durationSeconds": request.duration_seconds, "aspectRatio": request.aspect_ratio,
                      "resolution": request.resolution, "generateAudio": request.generate_audio,
                      "seed": request.seed, "personGeneration": request.person_generation}
            for key, image in (("image", request.image), ("lastFrame", request.last_frame)):
                if image is not None:
                    mapped[key] = base64.b64encode(image.data).decode("ascii")
        body.update({k: v for k, v in mapped.items() if v is not None})
        body.update(request.extra_params)
        return HttpRequest("POST", "/v1/video/generations", json=body)

    @staticmethod
    def _unwrap(body: dict[str, Any]) -> dict[str, Any]:
        data = body.get("data")
        return data if isinstance(data, dict) and "code" in body else body

    def parse_submit(self, body: Any) -> str:
        body = self._unwrap(require_dict(body, gateway=self.gateway, what="submit response"))
        task_id = body.get("task_id") or body.get("id")
        if not task_id:
            raise GatewayResponseError("submit response has no 'task_id'", gateway=self.gateway)
        return self.validate_operation_id(task_id)

    def build_status(self, operation_id: str) -> HttpRequest:
        return HttpRequest("GET", f"/v1/video/generations/{quote(self.validate_operation_id(operation_id))}")

    def build_test_connection(self) -> HttpRequest:
        return HttpRequest("GET", "/v1/models")

    def error_kind(self, status: int, body: str) -> str | None:
        # New API answers an unknown task with HTTP 400 {"code":"task_not_exist",...}
        # (QuantumNous/new-api relay_task.go).
        return "not_found" if status == 400 and "task_not_exist" in body else super().error_kind(status, body)

    def parse_status(self, operation_id: str, body: Any, headers: dict[str, str] | None = None) -> VideoOperation:
        outer = require_dict(body, gateway=self.gateway, what="status response", operation_id=operation_id)
        body = self._unwrap(outer)
        prefix = "data." if body is not outer else ""
        progress = parse_progress(body.get("progress"))
        op = VideoOperation(self.gateway, operation_id, normalise_status(body.get("status"), progress=progress),
                            raw_status=str(body.get("status")), progress=progress,
                            created_at=as_int(body.get("created_at")))
        if op.state == "failed":
            op.error_code, op.error_message = error_fields(body.get("error") or body.get("fail_reason"))
        elif op.state == "succeeded":
            status_url = self.build_status(operation_id).path
            key = next((k for k in _URL_FIELDS if isinstance(body.get(k), str) and body[k]), None)
            url = body[key] if key else ""
            if url.startswith("data:"):  # the video inline (elided by the transport): re-read it, streamed
                op.videos.append(VideoLocator("json_base64", status_url, field=prefix + key))
            elif url.startswith(("https://", "http://")):
                op.videos.append(VideoLocator("binary", url))
            else:  # Sora 2: the video comes from the base64 download endpoint (MixRoute "Download video")
                op.videos.append(VideoLocator(
                    "json_base64", f"/v1/video/generations/download?id={quote(operation_id)}", field="base64"))
        return self.finish(op)
