"""Provenance: what made a video, recorded with it (download XCom, asset event extra, optional sidecar).

Plain data, JSON-serialisable. Times are ISO 8601 in UTC. The shape::

    {"prompt", "negative_prompt", "model", "gateway", "conn_id", "parameters": {...}, "seed",
     "operation_id", "created_at", "finished_at", "source_video", "estimated_cost_usd"}

``finished_at`` is the gateway's completion time where it reports one, else when the provider saw the job
finished. ``parameters`` holds the generation parameters that were set (duration, aspect ratio, resolution, the Veo
controls, ``extra_params``), never image bytes (images are summarised as their sha256 and type).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

from airflow_provider_videogen.gateways.base import GenerationRequest, ImageInput

_PARAMETERS = ("duration_seconds", "aspect_ratio", "size", "resolution", "generate_audio", "person_generation",
               "enhance_prompt", "number_of_videos", "storage_uri")


def iso(seconds: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC timestamp (None stays None)."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


def _image(image: ImageInput) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(image.data).hexdigest(), "mime_type": image.mime_type,
            "size_bytes": len(image.data)}


def for_request(request: GenerationRequest, *, gateway: str, conn_id: str, operation_id: str,
                created_at: float, estimated_cost_usd: float | None) -> dict[str, Any]:
    """The provenance of a submitted job (the generate task's XCom carries it to the download)."""
    parameters: dict[str, Any] = {name: getattr(request, name) for name in _PARAMETERS
                                  if getattr(request, name) is not None}
    if request.image is not None:
        parameters["image"] = _image(request.image)
    if request.last_frame is not None:
        parameters["last_frame"] = _image(request.last_frame)
    if request.reference_images:
        parameters["reference_images"] = [{**_image(ref.image), "reference_type": ref.reference_type}
                                          for ref in request.reference_images]
    if request.extra_params:
        parameters["extra_params"] = request.extra_params
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "model": request.model,
        "gateway": gateway,
        "conn_id": conn_id,
        "parameters": parameters,
        "seed": request.seed,
        "operation_id": operation_id,
        "created_at": iso(created_at),
        "finished_at": None,
        "source_video": ({"operation_id": request.source.operation_id, "uri": request.source.uri}
                         if request.source is not None else None),
        "estimated_cost_usd": estimated_cost_usd,
    }


def for_download(generation: dict[str, Any] | None, operation: Any, *, conn_id: str) -> dict[str, Any]:
    """The provenance of a downloaded video: the generate task's record (when the DAG passes it) completed
    with what the finished operation says; without it, what the operation alone knows."""
    base = dict((generation or {}).get("provenance") or {})
    if base.get("operation_id") not in (None, operation.operation_id):
        base = {}  # the generation record of another job: do not mix them up
    finished = operation.completed_at or time.time()  # the gateway's time, else when we saw it finished
    base.update({
        "gateway": operation.gateway,
        "conn_id": base.get("conn_id") or conn_id,
        "operation_id": operation.operation_id,
        "created_at": base.get("created_at") or iso(operation.created_at),
        "finished_at": iso(finished),
    })
    for key in ("prompt", "negative_prompt", "model", "parameters", "seed", "source_video", "estimated_cost_usd"):
        base.setdefault(key, None)
    return base
