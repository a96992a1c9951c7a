"""The three gateway protocols, served at the gateways' own paths.

* Gemini long-running operations: the Gemini API (``/v1beta/...``, https://ai.google.dev/gemini-api/docs/video)
  and AI Thực Chiến (the same under ``/gemini/...``: "Kiểm tra trạng thái video" and "Tải xuống video
  hoàn thành", docs.thucchien.ai).
* OpenAI-style ``/v1/videos``: an OpenAI-compatible gateway, HingNet (HingNet 视频生成 / 视频下载,
  docs.hingnet.com.cn) or TokenOps (docs-model.skyengine.com.cn videos endpoints), per ``gateway``.
* New-API task style ``/v1/video/generations``: MixRoute (docs.mixroute.ai submit/query/download pages).

Beyond submit/poll/download: several samples per Gemini operation (``sampleCount``), Veo extension
(``instances[0].video``), remix, preview variants and delete of the OpenAI contract (``gateway``
"openai" only), and the Gemini operation's ``:cancel``. What a job was given beyond its prompt is
summarised in its public dict (``/_emulator/jobs``): ``source_video``, ``last_frame``,
``reference_images``, ``input_references``, ``remixed_from``, ``cancelled``.

What each accepts is in ``rules.py`` (checked when ``strict``); how each refuses in ``refusals.py``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
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
    State,
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
from .previews import CONTENT_TYPES as PREVIEW_TYPES
from .previews import preview
from .refusals import google_error, refuse, task_error, unknown_route, unknown_video, video_not_ready
from .rules import Refusal, Upload
from .transport import (
    B64_MARKER,
    plain_body,
    redirect,
    rendition_sha256,
    send_body,
    send_json_with_b64,
    serve_video,
)

PREDICT_RESPONSE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
GOOGLE_FILES = "https://generativelanguage.googleapis.com/v1beta/files"
# The file id in a Files URI: python-genai _transformers.t_file_name takes ``[a-z0-9]+`` after "files/"
FILE_ID = re.compile(r"files/([a-z0-9]+)")
# google.rpc.Code CANCELLED = 1: a cancelled operation is kept and carries Operation.error with status
# code 1 (https://ai.google.dev/api/rest/v1/tunedModels.operations/cancel, google.longrunning CancelOperation)
GOOGLE_CANCELLED = {"code": 1, "message": "CANCELLED"}
CANCEL_MESSAGE = "The video was deleted and its generation cancelled"  # [INF] wording


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
    info = _gemini_inputs(instance)
    if instance.get("video") is not None:
        info["source_video"] = await _extension_source(state_of(request), instance["video"])
        if info["source_video"] is None and cfg["strict"]:
            # [INF] wording; the Gemini video guide: Veo extends videos it generated earlier
            return google_error(400, "Invalid value at 'instances[0].video': the video to extend must be a "
                                     "finished video generated by Veo, named by exactly one of uri (a "
                                     "generatedSamples[].video.uri) or encodedVideo.")
    name = f"models/{model}/operations/{gemini_id()}"
    _new_job(request, id=name, protocol="gemini", model=model, prompt=prompt, params=scrub(body),
             image=image, file_ids=tuple(gemini_id() for _ in range(_sample_count(body))), info=info)
    return json_response({"name": name})


def _sample_count(body: dict[str, Any]) -> int:
    """``parameters.sampleCount`` (python-genai ``number_of_videos``; 1-4 per ``rules.GEMINI_PARAMETERS``),
    else 1: the operation's number of ``generatedSamples``."""
    params = body.get("parameters")
    n = params.get("sampleCount", 1) if isinstance(params, dict) else 1
    return n if type(n) is int and 1 <= n <= 4 else 1


def _gemini_inputs(instance: dict[str, Any]) -> dict[str, Any]:
    """Public-dict summaries of ``instances[0].lastFrame`` (like ``image``) and ``referenceImages``
    (``{reference_type, sha256, mime_type}`` each; python-genai _VideoGenerationReferenceImage_to_mldev)."""
    info: dict[str, Any] = {}
    if instance.get("lastFrame") is not None:
        info["last_frame"] = describe_image(instance["lastFrame"])
    refs = instance.get("referenceImages")
    if isinstance(refs, list):
        info["reference_images"] = []
        for ref in refs:
            ref = ref if isinstance(ref, dict) else {}
            image = describe_image(ref.get("image")) or {}
            kind = ref.get("referenceType")
            info["reference_images"].append({"reference_type": kind.lower() if isinstance(kind, str) else None,
                                             "sha256": image.get("sha256"), "mime_type": image.get("mime_type")})
    return info


async def _extension_source(st: State, video: Any) -> str | None:
    """The file id of the finished Gemini video that ``instances[0].video`` names, else None.

    Veo extends only videos it generated earlier (https://ai.google.dev/gemini-api/docs/video); the
    SDK sends ``{uri}`` or ``{encodedVideo, encoding}`` (python-genai _Video_to_mldev). A ``uri`` must
    hold ``files/{id}`` of a sample this emulator issued; ``encodedVideo`` must decode to the exact bytes
    of one of its finished samples. Exactly one of the two [INF].
    """
    if not isinstance(video, dict) or ("uri" in video) == ("encodedVideo" in video):
        return None
    if isinstance(video.get("uri"), str):
        found = FILE_ID.search(video["uri"])
        job = st.by_name.get(found[1]) if found else None
        if job is None or job.protocol != "gemini" or job.state() != "succeeded":
            return None
        return found[1]  # a Gemini job is found by_name only by its samples' file ids
    try:
        raw = base64.b64decode(str(video.get("encodedVideo")), validate=True)
    except (binascii.Error, ValueError):
        return None
    digest = hashlib.sha256(raw).hexdigest()
    for job in list(st.jobs.values()):
        if job.protocol == "gemini" and job.state() == "succeeded":
            for rendition in job.renditions:
                if rendition.size == len(raw) and await rendition_sha256(rendition) == digest:
                    return rendition.file_id
    return None


async def gemini_status(request: web.Request) -> web.StreamResponse:
    """``GET .../v1beta/{name}``: the operation; finished like the example of AI Thực Chiến's
    "Kiểm tra trạng thái video" (``response.generateVideoResponse.generatedSamples[].video.uri``).

    Running: ``{"name", "metadata": {"progressPercent"}}`` (``done`` absent). Failed: ``done`` with a
    google.rpc.Status ``error``; cancelled: ``error`` ``{"code": 1, "message": "CANCELLED"}``.
    ``[[filtered]]``: ``done`` with RAI fields and no samples (python-genai
    GenerateVideosResponse.rai_media_filtered_*). One sample per ``sampleCount``, each its own file
    and video. With ``gemini_download: "inline"`` the Gemini API's samples carry their videos
    themselves: ``{"encodedVideo": <base64>, "encoding": "video/mp4"}`` (python-genai
    _Video_from_mldev), streamed.
    """
    st = state_of(request)
    job = st.jobs.get(request.match_info["name"])
    if job is None or job.protocol != "gemini":
        return google_error(404, "Operation not found")
    state = job.state()
    if state in ("queued", "running"):
        return json_response({"name": job.id, "metadata": {"progressPercent": job.progress()}})
    if state == "cancelled":
        return json_response({"name": job.id, "done": True, "error": GOOGLE_CANCELLED})
    if state == "failed":
        return json_response({"name": job.id, "done": True, "error": {"code": 13, "message": FAIL_MESSAGE}})
    inline = state == "succeeded" and _style(request) == "gemini" and st.config["gemini_download"] == "inline"
    if state == "filtered":
        video_response: dict[str, Any] = {"raiMediaFilteredCount": len(job.renditions),
                                          "raiMediaFilteredReasons": [RAI_REASON]}
    elif inline:
        video_response = {"generatedSamples": [{"video": {"encodedVideo": B64_MARKER, "encoding": "video/mp4"}}
                                               for _ in job.renditions]}
    else:
        video_response = {"generatedSamples": [{"video": {"uri": f"{GOOGLE_FILES}/{r.file_id}:download?alt=media"}}
                                               for r in job.renditions]}
    body = {"name": job.id, "done": True, "response": {"@type": PREDICT_RESPONSE, "generateVideoResponse":
                                                        video_response}}
    if inline:
        return await send_json_with_b64(request, body, [r.source() for r in job.renditions])
    return json_response(body)


async def gemini_cancel(request: web.Request) -> web.Response:
    """``POST .../v1beta/{name}:cancel``: google.longrunning ``Operations.CancelOperation`` (empty request
    body, empty answer ``{}``: https://ai.google.dev/api/rest/v1/tunedModels.operations/cancel). The
    operation then reports ``done`` with ``error`` ``{"code": 1, "message": "CANCELLED"}`` and its files
    are gone. The emulator cancels a finished operation too, so a test need not race the clock [INF:
    Google promises only a best effort]. AI Thực Chiến forwards it like every ``/gemini/`` path [INF].
    """
    st = state_of(request)
    job = st.jobs.get(request.match_info["name"])
    if job is None or job.protocol != "gemini":
        return google_error(404, "Operation not found")
    kind, body = await read_body(request)
    if st.config["strict"] and request.content_length and not (kind == "json" and body == {}):
        return google_error(400, "Invalid JSON payload received. The request body must be empty.")  # [INF] wording
    job.cancelled = True
    return json_response({})


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
        file_id = request.match_info["file_id"]
        job = st.by_name.get(file_id)
        if job is None or job.protocol != "gemini" or job.state() != "succeeded":
            return google_error(404, "Requested entity was not found.")
        rendition = job.rendition(file_id)
        if st.config[setting] == "redirect":
            return redirect(st.cdn_link(job, rendition))
        return await serve_video(request, rendition)

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
    elif state == "cancelled":  # deleted (DELETE /v1/videos/{id}) while or after it ran
        obj["error"] = {"code": "cancelled", "message": CANCEL_MESSAGE}
    if "remixed_from" in job.info:  # openai-python types/video.py Video.remixed_from_video_id
        obj["remixed_from_video_id"] = job.info["remixed_from"]
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
    info = {}
    if ref is not None:  # HingNet Veo: first and last frame, or up to 3 reference images, in order
        info["input_references"] = [_reference(r) for r in (ref if isinstance(ref, list) else [ref])]
    job = _new_job(request, id=f"video_{secrets.token_hex(16)}", protocol="openai_videos",
                   model=str(fields.get("model") or "sora-2"), prompt=fields["prompt"], params=scrub(params),
                   image=image, info=info)
    return _video_object(request, job, fresh=True)


def _reference(value: Any) -> dict[str, Any] | None:
    """One ``input_reference``: ``{"sha256", "mime_type"}`` for a file part, else its image summary."""
    if isinstance(value, Upload):
        return {"sha256": value.sha256, "mime_type": value.content_type}
    return describe_image(value)


def _has_upload(value: Any) -> bool:
    return isinstance(value, rules.Upload) or (isinstance(value, list) and any(_has_upload(v) for v in value))


def _video_job(request: web.Request) -> Job | None:
    job = state_of(request).jobs.get(request.match_info["video_id"])
    return job if job is not None and job.protocol == "openai_videos" else None


async def videos_status(request: web.Request) -> web.Response:
    """``GET /v1/videos/{id}``: the Video object with status, progress 0-100, completed/expires_at."""
    job = _video_job(request)
    return unknown_video(_style(request)) if job is None else _video_object(request, job)


def _openai_only(st: State) -> bool:
    """Remix, preview variants and delete: the OpenAI contract (openai-python resources/videos.py), served
    only when the emulator plays an OpenAI-compatible gateway (``gateway`` "openai"); HingNet and TokenOps
    document none of them (HingNet 视频下载: the video only; TokenOps videos endpoints)."""
    return st.config["gateway"] == "openai"


async def videos_content(request: web.Request) -> web.StreamResponse:
    """``GET /v1/videos/{id}/content``: the gateway's "not ready" / "unknown" answers, then by
    ``content_form``: ``bytes`` (video/mp4), ``redirect`` (302 to the CDN: HingNet's "注意使用 -L
    参数以支持重定向") or ``json_url`` (TokenOps VideoContentResponse ``{"video_url","expires_at"}``).

    ``?variant=`` (openai-python ``download_content``: ``video`` | ``thumbnail`` | ``spritesheet``):
    with ``gateway`` "openai" the previews are small real images (``previews.py``: ``image/webp``,
    ``image/jpeg``), always as bytes [INF]; elsewhere any variant but ``video`` is a 400. A deleted
    video is gone: 404.
    """
    st, style = state_of(request), _style(request)
    job = _video_job(request)
    if job is None or job.cancelled:
        return unknown_video(style)
    variant = request.query.get("variant", "video")
    if variant != "video" and not (_openai_only(st) and variant in PREVIEW_TYPES):
        message = f"Variant '{variant}' is not available for this video"
        if _openai_only(st):  # openai-python types/video_download_content_params.py: the three variants
            message = f"Invalid value: '{variant}'. Supported values are: 'video', 'thumbnail', and 'spritesheet'."
        return refuse(style, Refusal("invalid_value", message, "variant"))
    state = job.state()
    if state != "succeeded":
        return video_not_ready(style, state)
    if variant != "video":
        return await send_body(request, 200, {"Content-Type": PREVIEW_TYPES[variant]},
                               plain_body(preview(variant, job.id)))
    form = st.config["content_form"]
    if form == "redirect":
        return redirect(st.cdn_link(job))
    if form == "json_url":
        return json_response({"video_url": st.cdn_link(job), "expires_at": job.expires_at})
    return await serve_video(request, job.renditions[0])


async def videos_remix(request: web.Request) -> web.Response:
    """``POST /v1/videos/{video_id}/remix`` with ``{"prompt"}`` (``rules.REMIX_BODY``; openai-python
    ``videos.remix``): a new queued Video with ``remixed_from_video_id``, a new job with ``remixed_from``
    in its public dict and the source's ``seconds`` and ``size``. The source must be "the completed
    video to remix" (API reference "Remix video"): unknown or deleted -> 404, not completed -> 400 (the
    content endpoint's "not ready" answers [INF]). ``gateway`` "openai" only: elsewhere an unknown route.
    """
    st, style = state_of(request), _style(request)
    if not _openai_only(st):
        return unknown_route(request.method, request.path)
    source = _video_job(request)
    if source is None or source.cancelled:
        return unknown_video(style)
    try:
        fields = await _fields(request, rules.REMIX_BODY.content_types)
        if st.config["strict"]:
            rules.check_remix(fields)
        elif not isinstance(fields.get("prompt"), str) or not fields["prompt"]:
            raise Refusal("missing_param", "Missing required parameter: 'prompt'.", "prompt")
    except Refusal as refusal:
        return refuse(style, refusal, media_type(request))
    if source.state() != "succeeded":
        return video_not_ready(style, source.state())
    params = {k: source.params[k] for k in ("seconds", "size") if k in source.params} | {"prompt": fields["prompt"]}
    job = _new_job(request, id=f"video_{secrets.token_hex(16)}", protocol="openai_videos", model=source.model,
                   prompt=fields["prompt"], params=scrub(params), image=None, info={"remixed_from": source.id})
    return _video_object(request, job, fresh=True)


async def videos_delete(request: web.Request) -> web.Response:
    """``DELETE /v1/videos/{video_id}`` (openai-python ``videos.delete`` -> VideoDeleteResponse
    ``{"id", "object": "video.deleted", "deleted": true}``): the job is cancelled, its video gone
    (content 404); polled afterwards it is ``failed`` with error code ``cancelled`` [INF]. Deleting
    again answers the same. ``gateway`` "openai" only: elsewhere an unknown route."""
    st, style = state_of(request), _style(request)
    if not _openai_only(st):
        return unknown_route(request.method, request.path)
    job = _video_job(request)
    if job is None:
        return unknown_video(style)
    job.cancelled = True
    return json_response({"id": job.id, "object": "video.deleted", "deleted": True})


# ------------------------------------------------------ New-API task style /v1/video/generations


def _is_sora(job_or_model: Job | str) -> bool:
    model = job_or_model.model if isinstance(job_or_model, Job) else job_or_model
    return model.lower().startswith("sora")


async def generations_submit(request: web.Request) -> web.Response:
    """``POST /v1/video/generations`` (JSON, ``rules.GENERATIONS_RULES``). Sora:
    ``{"task_id":"video_…","status":"submitted","format":"mp4"}`` (MixRoute 下載影片 page); other models:
    ``{"task_id":"task_…","status":"pending","created_at"}`` (MixRoute Veo page).

    Veo ``lastFrame`` is summarised as ``last_frame`` (like ``image``). ``sampleCount`` > 1 still
    yields one video: the query answer has a single ``url`` [INF: the emulator's reading]."""
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
    info = {"last_frame": describe_image(body["lastFrame"])} if body.get("lastFrame") is not None else {}
    job = _new_job(request, id=f"{'video' if sora else 'task'}_{secrets.token_hex(16)}",
                   protocol="video_generations", model=model, prompt=body["prompt"], params=scrub(body),
                   image=describe_image(body.get("image") or body.get("input_reference")), info=info)
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
    """Register every gateway route but Vertex AI's (``vertex.add_routes``) on the API site (specific paths before
    catch-alls)."""
    r = app.router
    for prefix in ("", "/gemini"):
        r.add_get(f"{prefix}/v1beta/models", gemini_models)
        r.add_post(prefix + "/v1beta/models/{model:[^/:]+}:predictLongRunning", gemini_submit)
    r.add_get("/v1beta/files/{file_id:[a-z0-9]+}:download", gemini_download("gemini_download"))
    r.add_get("/gemini/download/v1beta/files/{file_id:[a-z0-9]+}:download", gemini_download("thucchien_download"))
    # LiteLLM's own Veo guide downloads without "/download/" (BerriAI/litellm docs/proxy/veo_video_generation.md)
    r.add_get("/gemini/v1beta/files/{file_id:[a-z0-9]+}:download", gemini_download("thucchien_download"))
    for prefix in ("", "/gemini"):
        r.add_post(prefix + "/v1beta/{name:.+}:cancel", gemini_cancel)
        r.add_get(prefix + "/v1beta/{name:.+}", gemini_status)
    r.add_get("/v1/models", openai_models)
    r.add_post("/v1/videos", videos_submit)
    r.add_get("/v1/videos/{video_id}", videos_status)
    r.add_delete("/v1/videos/{video_id}", videos_delete)
    r.add_get("/v1/videos/{video_id}/content", videos_content)
    r.add_post("/v1/videos/{video_id}/remix", videos_remix)
    r.add_post("/v1/video/generations", generations_submit)
    r.add_get("/v1/video/generations/download", generations_download)
    r.add_get("/v1/video/generations/{task_id}", generations_status)

