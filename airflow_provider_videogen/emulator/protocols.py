"""The three gateway protocols, served at the gateways' own paths.

* Gemini long-running operations: the Gemini API (``/v1beta/...``, https://ai.google.dev/gemini-api/docs/video)
  and AI Thực Chiến (the same under ``/gemini/...``: "Kiểm tra trạng thái video" and "Tải xuống video
  hoàn thành", docs.thucchien.ai).
* OpenAI-style ``/v1/videos``: an OpenAI-compatible gateway, HingNet (HingNet 视频生成 / 视频下载,
  docs.hingnet.com.cn) or TokenOps (docs-model.skyengine.com.cn videos endpoints), per ``gateway``.
* New-API task style ``/v1/video/generations``: MixRoute (docs.mixroute.ai submit/query/download pages).

What each accepts is in ``rules.py`` (checked when ``strict``); how each refuses in ``refusals.py``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any

from aiohttp import web

from . import rules
from .core import (
    FAIL_MESSAGE,
    FILTER_MESSAGE,
    RAI_REASON,
    VOCABS,
    Job,
    describe_image,
    gemini_id,
    json_response,
    media_type,
    models_of,
    read_body,
    scrub,
    state_of,
    vocab_of,
)
from .refusals import google_error, refuse, task_error, unknown_video, video_not_ready
from .rules import Refusal
from .transport import B64_MARKER, redirect, send_json_with_b64, serve_video

PREDICT_RESPONSE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
GOOGLE_FILES = "https://generativelanguage.googleapis.com/v1beta/files"


def _new_job(request: web.Request, **kw: Any) -> Job:
    cfg = state_of(request).config
    return state_of(request).add_job(Job(job_seconds=cfg["job_seconds"], video_bytes=cfg["video_bytes"], **kw))


def _style(request: web.Request) -> str:
    return rules.style_for_path(request.path, state_of(request).config["gateway"]) or "openai"


async def _fields(request: web.Request, accepted: tuple[str, ...]) -> dict[str, Any]:
    """The submitted parameters; strict mode refuses media types outside ``accepted`` first."""
    kind, body = await read_body(request)
    if state_of(request).config["strict"] and media_type(request) not in accepted:
        raise Refusal("content_type", f"Unsupported content type: '{media_type(request)}'.")
    return rules.body_fields(kind, body)


# ------------------------------------------------------------------- Gemini long-running ops


async def gemini_models(request: web.Request) -> web.Response:
    """``GET /v1beta/models`` (and ``/gemini/v1beta/models``): exactly the gateway's Veo models."""
    return json_response({"models": [
        {"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": ["predictLongRunning"]}
        for m in models_of(state_of(request).config, _style(request))]})


async def gemini_submit(request: web.Request) -> web.Response:
    """``POST .../v1beta/models/{model}:predictLongRunning`` -> ``{"name": "models/{model}/operations/{id}"}``
    (the response shape of AI Thực Chiến's user guide). Body rules: ``rules.GEMINI_RULES``."""
    cfg, style, model = state_of(request).config, _style(request), request.match_info["model"]
    _kind, body = await read_body(request)
    try:
        if cfg["strict"]:
            rules.check_gemini(media_type(request), body, model, models_of(cfg, style))
        elif not isinstance(body, dict) or not isinstance(body.get("instances"), list) or not body["instances"]:
            raise Refusal("bad_body", "Invalid value at 'instances': a non-empty list of objects is required.")
    except Refusal as refusal:
        return refuse(style, refusal)
    instance = body["instances"][0] if isinstance(body["instances"][0], dict) else {}
    prompt, image = instance.get("prompt", ""), describe_image(instance.get("image"))
    if not isinstance(prompt, str) or (not prompt and image is None):
        return google_error(400, "A text prompt (instances[0].prompt) is required.")
    name = f"models/{model}/operations/{gemini_id()}"
    _new_job(request, id=name, protocol="gemini", model=model, prompt=prompt, params=scrub(body),
             image=image, file_id=gemini_id())
    return json_response({"name": name})


async def gemini_status(request: web.Request) -> web.StreamResponse:
    """``GET .../v1beta/{name}``: the operation; finished like the example of AI Thực Chiến's
    "Kiểm tra trạng thái video" (``response.generateVideoResponse.generatedSamples[].video.uri``).

    Running: ``{"name", "metadata": {"progressPercent"}}`` (``done`` absent). Failed: ``done`` with a
    google.rpc.Status ``error``. ``[[filtered]]``: ``done`` with RAI fields and no samples (python-genai
    GenerateVideosResponse.rai_media_filtered_*). With ``gemini_download: "inline"`` the Gemini API's
    samples carry the video itself: ``{"encodedVideo": <base64>, "encoding": "video/mp4"}``
    (python-genai _Video_from_mldev), streamed.
    """
    st = state_of(request)
    job = st.jobs.get(request.match_info["name"])
    if job is None or job.protocol != "gemini":
        return google_error(404, "Operation not found")
    state = job.state()
    if state in ("queued", "running"):
        return json_response({"name": job.id, "metadata": {"progressPercent": job.progress()}})
    if state == "failed":
        return json_response({"name": job.id, "done": True, "error": {"code": 13, "message": FAIL_MESSAGE}})
    inline = state == "succeeded" and _style(request) == "gemini" and st.config["gemini_download"] == "inline"
    if state == "filtered":
        video_response: dict[str, Any] = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
    elif inline:
        video_response = {"generatedSamples": [{"video": {"encodedVideo": B64_MARKER, "encoding": "video/mp4"}}]}
    else:
        uri = f"{GOOGLE_FILES}/{job.file_id}:download?alt=media"
        video_response = {"generatedSamples": [{"video": {"uri": uri}}]}
    body = {"name": job.id, "done": True, "response": {"@type": PREDICT_RESPONSE, "generateVideoResponse":
                                                        video_response}}
    return await send_json_with_b64(request, body, job.video()) if inline else json_response(body)


def gemini_download(setting: str):
    """File download: Google ``/v1beta/files/{id}:download?alt=media`` (redirects to storage by
    default; the SDK follows redirects, python-genai files.download) and AI Thực Chiến
    ``/gemini/download/v1beta/files/{id}:download?alt=media`` (video bytes by default, "Tải xuống video
    hoàn thành"). ``setting`` names the config key choosing the form. Strict: ``alt=media`` is part of
    the documented path; without it the answer is a 400 [INF wording]."""

    async def handler(request: web.Request) -> web.StreamResponse:
        st = state_of(request)
        if st.config["strict"] and request.query.get("alt") != "media":
            return google_error(400, "Media download requires the query parameter alt=media.")
        job = st.by_name.get(request.match_info["file_id"])
        if job is None or job.protocol != "gemini" or job.state() != "succeeded":
            return google_error(404, "Requested entity was not found.")
        if st.config[setting] == "redirect":
            return redirect(st.cdn_link(job))
        return await serve_video(request, job)

    return handler


# ------------------------------------------------------------------- OpenAI-style /v1/videos


async def openai_models(request: web.Request) -> web.Response:
    """``GET /v1/models`` (OpenAI list shape): exactly the played gateway's models."""
    cfg = state_of(request).config
    return json_response({"object": "list", "data": [
        {"id": m, "object": "model", "created": 1760000000, "owned_by": "videogen-emulator"}
        for m in models_of(cfg, cfg["gateway"])]})


def _video_object(request: web.Request, job: Job, fresh: bool = False) -> web.Response:
    """The Video object, its ``status`` in the vocabulary in force (``status_vocab``)."""
    cfg = state_of(request).config
    vocab = vocab_of(cfg)
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
    if vocab == "openai" and cfg["poll_after_ms"] is not None:  # openai-python videos.poll() reads this header
        headers = {"openai-poll-after-ms": str(cfg["poll_after_ms"])}
    return json_response(obj, headers=headers)


async def videos_submit(request: web.Request) -> web.Response:
    """``POST /v1/videos``: model, prompt, seconds, size, input_reference (``rules.VIDEOS_RULES``)."""
    cfg, style = state_of(request).config, _style(request)
    gateway = rules.videos_gateway(cfg["gateway"])
    try:
        fields = await _fields(request, rules.VIDEOS_RULES[gateway].content_types)
        if cfg["strict"]:
            form = "multipart" if media_type(request) == "multipart/form-data" else "json"
            rules.check_videos(gateway, fields, models_of(cfg, gateway), form)
        elif not isinstance(fields.get("prompt"), str) or not fields["prompt"]:
            raise Refusal("missing_param", "Missing required parameter: 'prompt'.", "prompt")
    except Refusal as refusal:
        return refuse(style, refusal, media_type(request))
    ref = fields.get("input_reference")
    if isinstance(ref, str) and ref.lstrip().startswith("{"):  # a reference object sent as a form text part
        with contextlib.suppress(ValueError):
            ref = json.loads(ref)
    image = describe_image(ref[0] if isinstance(ref, list) and ref else ref)
    params = {k: v for k, v in fields.items() if not _has_upload(v)}  # file parts: only in ``image``
    job = _new_job(request, id=f"video_{secrets.token_hex(16)}", protocol="openai_videos",
                   model=str(fields.get("model") or "sora-2"), prompt=fields["prompt"], params=scrub(params),
                   image=image)
    return _video_object(request, job, fresh=True)


def _has_upload(value: Any) -> bool:
    return isinstance(value, rules.Upload) or (isinstance(value, list) and any(_has_upload(v) for v in value))


def _video_job(request: web.Request) -> Job | None:
    job = state_of(request).jobs.get(request.match_info["video_id"])
    return job if job is not None and job.protocol == "openai_videos" else None


async def videos_status(request: web.Request) -> web.Response:
    """``GET /v1/videos/{id}``: the Video object with status, progress 0-100, completed/expires_at."""
    job = _video_job(request)
    return unknown_video(_style(request)) if job is None else _video_object(request, job)


async def videos_content(request: web.Request) -> web.StreamResponse:
    """``GET /v1/videos/{id}/content``: the gateway's "not ready" / "unknown" answers, then by
    ``content_form``: ``bytes`` (video/mp4), ``redirect`` (302 to the CDN: HingNet's "注意使用 -L
    参数以支持重定向") or ``json_url`` (TokenOps VideoContentResponse ``{"video_url","expires_at"}``)."""
    st, style = state_of(request), _style(request)
    job = _video_job(request)
    if job is None:
        return unknown_video(style)
    variant = request.query.get("variant", "video")  # openai-python download_content(variant=...)
    if variant != "video":
        return refuse(style, Refusal("invalid_value", f"Variant '{variant}' is not available for this video",
                                     "variant"))
    state = job.state()
    if state != "succeeded":
        return video_not_ready(style, state)
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
    """``POST /v1/video/generations`` (JSON, ``rules.GENERATIONS_RULES``). Sora:
    ``{"task_id":"video_…","status":"submitted","format":"mp4"}`` (MixRoute 下載影片 page); other models:
    ``{"task_id":"task_…","status":"pending","created_at"}`` (MixRoute Veo page)."""
    cfg = state_of(request).config
    try:
        body = await _fields(request, rules.GENERATIONS_BODY.content_types)
        if cfg["strict"]:
            rules.check_generations(body, models_of(cfg, "mixroute"))
        elif not all(isinstance(body.get(k), str) and body[k] for k in ("model", "prompt")):
            raise Refusal("missing_param", "model and prompt are required", "model")
    except Refusal as refusal:
        return refuse("mixroute", refusal, media_type(request))
    model = body["model"]
    sora = _is_sora(model)
    job = _new_job(request, id=f"{'video' if sora else 'task'}_{secrets.token_hex(16)}",
                   protocol="video_generations", model=model, prompt=body["prompt"], params=scrub(body),
                   image=describe_image(body.get("image") or body.get("input_reference")))
    if sora:
        return json_response({"task_id": job.id, "status": "submitted", "format": "mp4"})
    return json_response({"task_id": job.id, "status": "pending", "created_at": int(job.created)})


def _task_job(request: web.Request, task_id: str | None) -> Job | None:
    job = state_of(request).jobs.get(task_id or "")
    return job if job is not None and job.protocol == "video_generations" else None


async def generations_status(request: web.Request) -> web.StreamResponse:
    """``GET /v1/video/generations/{task_id}``: flat ``{task_id,status,format,url?}`` (MixRoute query
    page) or New API's ``{"code":"success","message":"","data":{...}}`` with ``mixroute_wrap``."""
    st = state_of(request)
    job = _task_job(request, request.match_info["task_id"])
    if job is None:  # New API: task_not_exist, HTTP 400 (QuantumNous/new-api relay/relay_task.go)
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
    """``GET /v1/video/generations/download?id={task_id}`` (Sora only, MixRoute 下載影片 page): the whole
    MP4 as base64 in JSON, twice (``base64`` and ``data_url``), streamed with an exact Content-Length."""
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
    # LiteLLM's own Veo guide downloads without "/download/" (BerriAI/litellm docs/proxy/veo_video_generation.md)
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

