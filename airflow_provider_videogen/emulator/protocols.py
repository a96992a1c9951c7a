"""The three gateway protocols, served at the gateways' own paths.

* Gemini long-running operations: Google Gemini API (``/v1beta/...``, reference §5.1) and
  AI Thực Chiến (the same under ``/gemini/...``, seeds 000 and 001, reference §1).
* OpenAI-style ``/v1/videos``: OpenAI (§5.2), HingNet (seed 002, §2), TokenOps/SkyEngine (seed 004, §4).
* New-API task style ``/v1/video/generations``: MixRoute (seed 003, §3, §5.3).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from .core import (
    B64_MARKER,
    FAIL_MESSAGE,
    FILTER_MESSAGE,
    RAI_REASON,
    VOCABS,
    Job,
    describe_image,
    gemini_id,
    google_error,
    json_response,
    openai_error,
    redirect,
    scrub,
    send_json_with_b64,
    serve_video,
    state_of,
    task_error,
)

MODELS = ["veo-3.0-generate-preview", "veo-3.0-generate-001", "veo-3.0-fast-generate-001",
          "veo-3.1-generate-preview", "veo-3.1-fast-generate-preview", "sora-2", "sora-2-pro"]
PREDICT_RESPONSE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
GOOGLE_FILES = "https://generativelanguage.googleapis.com/v1beta/files"


def _new_job(request: web.Request, **kw: Any) -> Job:
    cfg = state_of(request).config
    return state_of(request).add_job(Job(job_seconds=cfg["job_seconds"], video_bytes=cfg["video_bytes"], **kw))


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


# ------------------------------------------------------------------- Gemini long-running ops


async def gemini_models(request: web.Request) -> web.Response:
    """``GET /v1beta/models`` (and ``/gemini/v1beta/models``): the model list, for connection tests."""
    return json_response({"models": [
        {"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": ["predictLongRunning"]}
        for m in MODELS if m.startswith("veo")]})


async def gemini_submit(request: web.Request) -> web.Response:
    """``POST .../v1beta/models/{model}:predictLongRunning`` -> ``{"name": "models/{model}/operations/{id}"}``.

    Body ``{"instances":[{"prompt", "image"?: {bytesBase64Encoded, mimeType}}], "parameters": {...}}``
    (reference §1 step 1 and §5.1; the response shape is the user guide's).
    """
    body = await _json_body(request)
    if body is None:
        return google_error(400, "Invalid JSON payload received.")
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
        return google_error(400, "Invalid value at 'instances': a non-empty list of objects is required.")
    prompt, image = instances[0].get("prompt", ""), describe_image(instances[0].get("image"))
    if not isinstance(prompt, str) or (not prompt and image is None):
        return google_error(400, "A text prompt (instances[0].prompt) is required.")
    model = request.match_info["model"]
    name = f"models/{model}/operations/{gemini_id()}"
    _new_job(request, id=name, protocol="gemini", model=model, prompt=prompt, params=scrub(body),
             image=image, file_id=gemini_id())
    return json_response({"name": name})


async def gemini_status(request: web.Request) -> web.Response:
    """``GET .../v1beta/{name}``: the operation; finished exactly like seed 001's example.

    Running: ``{"name", "metadata": {"progressPercent"}}`` (``done`` absent). Failed: ``done`` with a
    google.rpc.Status ``error``. ``[[filtered]]``: ``done`` with RAI fields and no samples (§5.1).
    """
    job = state_of(request).jobs.get(request.match_info["name"])
    if job is None or job.protocol != "gemini":
        return google_error(404, "Operation not found")
    state = job.state()
    if state in ("queued", "running"):
        return json_response({"name": job.id, "metadata": {"progressPercent": job.progress()}})
    if state == "failed":
        return json_response({"name": job.id, "done": True, "error": {"code": 13, "message": FAIL_MESSAGE}})
    if state == "filtered":
        video_response = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
    else:
        uri = f"{GOOGLE_FILES}/{job.file_id}:download?alt=media"
        video_response = {"generatedSamples": [{"video": {"uri": uri}}]}
    return json_response({"name": job.id, "done": True, "response": {
        "@type": PREDICT_RESPONSE, "generateVideoResponse": video_response}})


def gemini_download(setting: str):
    """File download: Google ``/v1beta/files/{id}:download?alt=media`` (redirects to storage by
    default, §5.1/§1 "Redirects") and AI Thực Chiến ``/gemini/download/v1beta/files/{id}:download``
    (video bytes by default, seed 000). ``setting`` names the config key choosing the form."""

    async def handler(request: web.Request) -> web.StreamResponse:
        st = state_of(request)
        job = st.by_name.get(request.match_info["file_id"])
        if job is None or job.protocol != "gemini" or job.state() != "succeeded":
            return google_error(404, "Requested entity was not found.")
        if st.config[setting] == "redirect":
            return redirect(st.cdn_link(job))
        return await serve_video(request, job)

    return handler


# ------------------------------------------------------------------- OpenAI-style /v1/videos


async def openai_models(request: web.Request) -> web.Response:
    """``GET /v1/models`` (OpenAI list shape), for connection tests."""
    return json_response({"object": "list", "data": [
        {"id": m, "object": "model", "created": 1760000000, "owned_by": "videogen-emulator"} for m in MODELS]})


async def _video_form(request: web.Request) -> tuple[dict[str, Any], dict[str, Any] | None] | web.Response:
    """Fields and first-frame image of a JSON or multipart ``POST /v1/videos`` (reference §2, §4, §5.2)."""
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields: dict[str, Any] = {}
        image = None
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                if image is None:
                    image = describe_image(data) | {"field": key, "filename": value.filename,
                                                    "mime_type": value.content_type}
                continue
            if key in fields:  # repeated field (e.g. several input_reference URLs)
                fields[key] = (fields[key] if isinstance(fields[key], list) else [fields[key]]) + [value]
            else:
                fields[key] = value
        return fields, image or describe_image(fields.get("input_reference"))
    body = await _json_body(request)
    if body is None:
        return openai_error(400, "Expected a JSON object or a form (multipart/form-data) body.", "invalid_body")
    return scrub(body), describe_image(body.get("input_reference"))


def _video_object(request: web.Request, job: Job, fresh: bool = False) -> web.Response:
    """The Video object, its ``status`` in the configured vocabulary (``status_vocab``)."""
    cfg = state_of(request).config
    vocab = cfg["status_vocab"]
    queued, running, done, failed = VOCABS[vocab]
    state = "queued" if fresh else job.state()
    obj: dict[str, Any] = {
        "id": job.id, "object": "video", "created_at": int(job.created),
        "status": {"queued": queued, "running": running, "succeeded": done}.get(state, failed),
        "model": job.model, "prompt": job.prompt, "progress": 0 if fresh else job.progress(),
        "seconds": job.params.get("seconds", "4"), "size": job.params.get("size", "720x1280"),
    }
    if state == "succeeded":
        obj.update(completed_at=job.completed_at, expires_at=job.expires_at)
        if vocab == "hingnet_veo":  # HingNet /gemini/video-get.md: gateway-proxied link on completion
            obj["video_url"] = state_of(request).cdn_link(job)
    elif state == "failed":
        obj["error"] = {"code": "video_generation_failed", "message": FAIL_MESSAGE}
    elif state == "filtered":
        obj["error"] = {"code": "moderation_blocked", "message": FILTER_MESSAGE}
    headers = None
    if vocab == "openai" and cfg["poll_after_ms"] is not None:  # OpenAI SDK poll() hint (§5.2)
        headers = {"openai-poll-after-ms": str(cfg["poll_after_ms"])}
    return json_response(obj, headers=headers)


async def videos_submit(request: web.Request) -> web.Response:
    """``POST /v1/videos`` (JSON or multipart: model, prompt, seconds, size, input_reference, ...)."""
    form = await _video_form(request)
    if isinstance(form, web.Response):
        return form
    fields, image = form
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return openai_error(400, "Missing required parameter: 'prompt'.", "missing_required_parameter")
    job = _new_job(request, id=f"video_{secrets.token_hex(16)}", protocol="openai_videos",
                   model=str(fields.get("model") or "sora-2"), prompt=prompt, params=fields, image=image)
    return _video_object(request, job, fresh=True)


def _video_job(request: web.Request) -> Job | None:
    job = state_of(request).jobs.get(request.match_info["video_id"])
    return job if job is not None and job.protocol == "openai_videos" else None


async def videos_status(request: web.Request) -> web.Response:
    """``GET /v1/videos/{id}``: the Video object with status, progress 0-100, completed/expires_at."""
    job = _video_job(request)
    if job is None:
        return openai_error(404, "Video not found", "not_found")
    return _video_object(request, job)


async def videos_content(request: web.Request) -> web.StreamResponse:
    """``GET /v1/videos/{id}/content``: 400 until done, 404 unknown (seed 002); then by ``content_form``:
    ``bytes`` (video/mp4), ``redirect`` (302 to the CDN, seed 002's "use -L") or ``json_url``
    (``{"video_url","expires_at"}``, TokenOps seed 004)."""
    st = state_of(request)
    job = _video_job(request)
    if job is None:
        return openai_error(404, "Video not found", "not_found")
    variant = request.query.get("variant", "video")
    if variant != "video":
        return openai_error(400, f"Variant '{variant}' is not available for this video", "invalid_variant")
    state = job.state()
    if state != "succeeded":
        ready = state in ("queued", "running")
        message = "Video is not ready" if ready else f"Video generation failed: {job.state()}"
        if st.config["status_vocab"] == "tokenops":  # seed 004 ErrorResponse: {code:int, message, details}
            return json_response({"error": {"code": 400, "message": message, "details": []}}, 400)
        return openai_error(400, message, "video_not_ready" if ready else "video_generation_failed")
    form = st.config["content_form"]
    if form == "redirect":
        return redirect(st.cdn_link(job))
    if form == "json_url":
        return json_response({"video_url": st.cdn_link(job), "expires_at": job.expires_at})
    return await serve_video(request, job)


# ------------------------------------------------------ New-API task style /v1/video/generations


def _is_sora(job_or_model: Job | str) -> bool:
    model = job_or_model.model if isinstance(job_or_model, Job) else job_or_model
    return model.lower().startswith("sora")


async def generations_submit(request: web.Request) -> web.Response:
    """``POST /v1/video/generations`` (JSON). Sora: ``{"task_id":"video_…","status":"submitted",
    "format":"mp4"}`` (seed 003); other models: ``{"task_id":"task_…","status":"pending","created_at"}``
    (MixRoute Veo page, reference §3)."""
    body = await _json_body(request)
    if body is None:
        return task_error("invalid_request", "request body must be a JSON object")
    model, prompt = body.get("model"), body.get("prompt")
    if not isinstance(model, str) or not model or not isinstance(prompt, str) or not prompt:
        return task_error("invalid_request", "model and prompt are required")
    sora = _is_sora(model)
    job = _new_job(request, id=f"{'video' if sora else 'task'}_{secrets.token_hex(16)}",
                   protocol="video_generations", model=model, prompt=prompt, params=scrub(body),
                   image=describe_image(body.get("image") or body.get("input_reference")))
    if sora:
        return json_response({"task_id": job.id, "status": "submitted", "format": "mp4"})
    return json_response({"task_id": job.id, "status": "pending", "created_at": int(job.created)})


def _task_job(request: web.Request, task_id: str | None) -> Job | None:
    job = state_of(request).jobs.get(task_id or "")
    return job if job is not None and job.protocol == "video_generations" else None


async def generations_status(request: web.Request) -> web.StreamResponse:
    """``GET /v1/video/generations/{task_id}``: flat ``{task_id,status,format,url?}`` (MixRoute query
    page, §3) or New API's ``{"code":"success","message":"","data":{...}}`` with ``mixroute_wrap``."""
    st = state_of(request)
    job = _task_job(request, request.match_info["task_id"])
    if job is None:
        return task_error("task_not_exist", "task_not_exist")
    state = job.state()
    words = {"queued": "queued", "running": "in_progress", "succeeded": "succeeded"}
    data: dict[str, Any] = {"task_id": job.id, "status": words.get(state, "failed"), "format": "mp4"}
    data_url = False
    if state == "succeeded" and not _is_sora(job):  # Sora: use the download endpoint instead
        data_url = st.config["mixroute_url_form"] == "data_url"
        data["url"] = f"data:video/mp4;base64,{B64_MARKER}" if data_url else st.cdn_link(job)
    elif state == "failed":
        data["error"] = {"code": "generation_failed", "message": FAIL_MESSAGE}
    elif state == "filtered":
        data["error"] = {"code": "moderation_blocked", "message": FILTER_MESSAGE}
    body = {"code": "success", "message": "", "data": data} if st.config["mixroute_wrap"] else data
    if data_url:
        return await send_json_with_b64(request, body, job.video())
    return json_response(body)


async def generations_download(request: web.Request) -> web.StreamResponse:
    """``GET /v1/video/generations/download?id={task_id}`` (Sora only, seed 003): the whole MP4 as
    base64 in JSON, twice (``base64`` and ``data_url``), streamed with an exact Content-Length."""
    task_id = request.query.get("id")
    if not task_id:
        return task_error("invalid_request", "query parameter id is required")
    job = _task_job(request, task_id)
    if job is None:
        return task_error("task_not_exist", "task_not_exist")
    if not _is_sora(job):
        return task_error("invalid_request", "this endpoint supports Sora 2 only; "
                                             "the video url is in the task query response")
    if job.state() != "succeeded":
        return task_error("task_not_completed", f"task is not completed yet, current status: {job.state()}")
    video = job.video()
    return await send_json_with_b64(request, {
        "success": True, "generation_id": job.id, "task_id": job.id, "format": "mp4", "size": video.size,
        "base64": B64_MARKER, "data_url": f"data:video/mp4;base64,{B64_MARKER}"}, video)


def add_routes(app: web.Application) -> None:
    """Register every gateway route on the API site (specific paths before catch-alls)."""
    r = app.router
    for prefix in ("", "/gemini"):
        r.add_get(f"{prefix}/v1beta/models", gemini_models)
        r.add_post(prefix + "/v1beta/models/{model:[^/:]+}:predictLongRunning", gemini_submit)
    r.add_get("/v1beta/files/{file_id:[a-z0-9]+}:download", gemini_download("gemini_download"))
    r.add_get("/gemini/download/v1beta/files/{file_id:[a-z0-9]+}:download", gemini_download("thucchien_download"))
    # LiteLLM's own docs download without "/download/" (reference §1 step 3, "Alternative path")
    r.add_get("/gemini/v1beta/files/{file_id:[a-z0-9]+}:download", gemini_download("thucchien_download"))
    for prefix in ("", "/gemini"):
        r.add_get(prefix + "/v1beta/{name:.+}", gemini_status)
    r.add_get("/v1/models", openai_models)
    r.add_post("/v1/videos", videos_submit)
    r.add_get("/v1/videos/{video_id}", videos_status)
    r.add_get("/v1/videos/{video_id}/content", videos_content)
    r.add_post("/v1/video/generations", generations_submit)
    r.add_get("/v1/video/generations/download", generations_download)
    r.add_get("/v1/video/generations/{task_id}", generations_status)
