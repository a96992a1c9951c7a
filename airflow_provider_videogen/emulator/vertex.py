"""Vertex AI (Veo), played at its own paths: ``/v1/projects/{project}/locations/{location}/...``.

* ``POST .../publishers/google/models/{model}:predictLongRunning``: the Gemini API's body plus the Vertex-only
  parameters (``VERTEX_RULES`` below); answers ``{"name": "projects/.../models/{model}/operations/{uuid}"}``.
* ``POST .../publishers/google/models/{model}:fetchPredictOperation`` with ``{"operationName"}``: the operation;
  finished, ``response.videos[]`` holds ``{"gcsUri", "mimeType"}`` when the job had ``storageUri`` (the videos
  are then uploaded into a Cloud Storage JSON API at the ``gcs_endpoint`` config key, e.g. gcp-storage-emulator,
  as ``{storageUri}/{operation id}/sample_{i}.mp4``), else ``{"bytesBase64Encoded", "mimeType"}`` (streamed).
* ``GET /v1/projects/{project}/locations/{location}``: the Location (google.cloud.location ``GetLocation``), for
  the connection's Test button.

Auth: ``Authorization: Bearer <token>`` must carry the ``vertex_token`` config key (default
``"test-vertex-token"``); a missing or other token gets Google's 401 UNAUTHENTICATED. Sources per rule below;
``[INF]`` marks the emulator's own reading where no source shows the detail.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from . import protocols, rules
from .core import (
    FAIL_MESSAGE,
    RAI_REASON,
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
)
from .refusals import google_error, refuse
from .rules import Ctx, Refusal
from .transport import B64_MARKER, send_json_with_b64

# The response type of a finished Veo operation (the Vertex AI Veo reference's response example).
VERTEX_RESPONSE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
MODEL_PATH = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model:[^/:]+}"
# A Cloud Storage folder: gs://bucket[/folder] (bucket naming: https://cloud.google.com/storage/docs/buckets)
GCS_URI = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:/(.*))?")
UPLOAD_TIMEOUT = 60.0  # seconds for one video's upload to the Cloud Storage API



# ------------------------------------------------------------------------------------- body rules


def gcs_uri(name: str, value: Any, ctx: Ctx) -> None:
    """``gcsUri`` / ``storageUri``: "A string URI to a Cloud Storage bucket location" (Veo reference)."""
    if not isinstance(value, str):
        raise rules._bad_type(name, value, "a string")
    if not GCS_URI.fullmatch(value):
        raise Refusal("invalid_value", f"Invalid '{name}': {value!r} is not a gs://bucket/path URI.", name)


def _one_source(keys: dict[str, rules.Check]) -> rules.Check:
    """An image or video: "Union field can be only one of": ``bytesBase64Encoded`` or ``gcsUri`` (Veo reference)."""
    inner = rules._object_of(keys)

    def check(name: str, value: Any, ctx: Ctx) -> None:
        inner(name, value, ctx)
        if ("bytesBase64Encoded" in value) == ("gcsUri" in value):
            raise Refusal("invalid_value", f"Invalid '{name}': give exactly one of bytesBase64Encoded and gcsUri.",
                          name)

    return check


# _Image_to_vertex / _Video_to_vertex: gcsUri, bytesBase64Encoded, mimeType (python-genai models.py)
VERTEX_MEDIA = {"bytesBase64Encoded": rules.text, "gcsUri": gcs_uri, "mimeType": rules.text}
_REFERENCE_IMAGE = {"image": _one_source(VERTEX_MEDIA), "referenceType": rules.lower_one_of("asset", "style")}


def _reference_images(name: str, value: Any, ctx: Ctx) -> None:
    """"A list of up to three asset images or at most one style image" (Veo reference, referenceImages)."""
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise Refusal("invalid_value", f"Invalid '{name}': 1 to 3 reference images are expected.", name)
    for i, item in enumerate(value):
        rules._object_of(_REFERENCE_IMAGE)(f"{name}[{i}]", item, ctx)


# instances[]: prompt, image, lastFrame, video, referenceImages (Veo reference "HTTP request"); mask
# (python-genai _GenerateVideosConfig_to_vertex -> instances[0].mask, _VideoGenerationMask_to_vertex).
VERTEX_INSTANCE: dict[str, rules.Check] = {
    "prompt": rules.text,
    "image": _one_source(VERTEX_MEDIA),
    "lastFrame": _one_source(VERTEX_MEDIA),
    "video": _one_source(VERTEX_MEDIA),
    "referenceImages": _reference_images,
    "mask": rules.of_type("object"),
}
VERTEX_PARAMETERS: dict[str, rules.Check] = {
    **rules.GEMINI_PARAMETERS,  # sampleCount, durationSeconds, aspectRatio, resolution, personGeneration,
    # negativePrompt, enhancePrompt: the same names and values as the Gemini API (Veo reference "parameters")
    "seed": rules.int_range(0, 2**32 - 1),  # "seed": uint32 (Veo reference)
    "generateAudio": rules.of_type("boolean"),  # "generateAudio": boolean (Veo reference)
    "storageUri": gcs_uri,  # "storageUri": string, a Cloud Storage folder (Veo reference)
    "compressionQuality": rules.lower_one_of("optimized", "lossless"),  # Veo reference "compressionQuality"
    "resizeMode": rules.lower_one_of("pad", "crop"),  # python-genai resize_mode -> resizeMode (image-to-video)
    "fps": rules.of_type("integer"),  # python-genai fps -> parameters.fps
    "pubsubTopic": rules.text,  # python-genai pubsub_topic -> parameters.pubsubTopic
}


def _instances(name: str, value: Any, ctx: Ctx) -> None:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise Refusal("invalid_value", "Invalid value at 'instances': a non-empty list of objects is expected.", name)
    for i, instance in enumerate(value):
        rules.check_keys(instance, VERTEX_INSTANCE, ctx.inside(f"{name}[{i}]"))


VERTEX_RULES: dict[str, rules.Check] = {
    "instances": _instances,
    "parameters": rules._object_of(VERTEX_PARAMETERS),
    "labels": rules.of_type("object"),  # python-genai labels -> top-level "labels"
}


def check_vertex(content_type: str | None, body: Any, model: str) -> None:
    """``predictLongRunning`` at Vertex AI: JSON, known names only, ``instances`` required."""
    if content_type != "application/json" or not isinstance(body, dict):
        raise Refusal("bad_body", "Invalid JSON payload received. Unexpected token.")
    rules.check_keys(body, VERTEX_RULES, Ctx(model, "json"))
    if "instances" not in body:
        raise Refusal("missing_param", "Invalid value at 'instances': a non-empty list is required.", "instances")


# ------------------------------------------------------------------------------------------- auth


def auth_failure(request: web.Request, config: dict[str, Any]) -> web.Response | None:
    """Google's 401 for a missing or wrong OAuth token ("Request had invalid authentication credentials.
    Expected OAuth 2 access token ...", https://github.com/langchain-ai/langchainjs/issues/11654; the
    ErrorInfo detail as in https://github.com/a2aproject/a2a-samples/issues/43, its reason for a bad token
    [INF]). Only ``Authorization: Bearer <vertex_token>`` passes: Vertex AI takes no API key."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    expected = config["vertex_token"]
    if token and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                             "login cookie or other valid authentication credential. See "
                             "https://developers.google.com/identity/sign-in/web/devconsole-project.", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
         "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED" if token else "CREDENTIALS_MISSING",
         "domain": "googleapis.com", "metadata": {"service": "aiplatform.googleapis.com"}}])


# ------------------------------------------------------------------------------------------ routes


def _resource(request: web.Request) -> str:
    m = request.match_info
    return f"projects/{m['project']}/locations/{m['location']}/publishers/google/models/{m['model']}"


def _model_not_found(resource: str) -> web.Response:
    # "Publisher Model `projects/.../publishers/google/models/X` was not found or your project does not have
    # access to it." (quoted in googleapis/python-aiplatform and google-genai issues)
    return google_error(404, f"Publisher Model `{resource}` was not found or your project does not have access "
                             "to it. Please ensure you are using a valid model version.")


async def submit(request: web.Request) -> web.Response:
    """``POST .../models/{model}:predictLongRunning`` (Veo reference "HTTP request")."""
    st = state_of(request)
    cfg, model, resource = st.config, request.match_info["model"], _resource(request)
    if model not in models_of(cfg, "vertex"):  # rules.MODELS_BY_GATEWAY["vertex"]
        return _model_not_found(resource)
    _kind, body = await read_body(request)
    try:
        if cfg["strict"]:
            check_vertex(media_type(request), body, model)
        elif not isinstance(body, dict) or not isinstance(body.get("instances"), list) or not body["instances"]:
            raise Refusal("bad_body", "Invalid value at 'instances': a non-empty list of objects is required.")
    except Refusal as refusal:
        return refuse("gemini", refusal)  # google.rpc.Status bodies, like every Google API
    instance = body["instances"][0] if isinstance(body["instances"][0], dict) else {}
    params = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    prompt = instance.get("prompt", "")
    if not isinstance(prompt, str) or (not prompt and instance.get("image") is None):
        return google_error(400, "A text prompt (instances[0].prompt) is required.")
    storage = params.get("storageUri")
    if storage and not cfg["gcs_endpoint"]:
        return google_error(400, "storageUri was given but the emulator has no gcs_endpoint to write to.")  # [INF]
    info: dict[str, Any] = {"storage_uri": storage} if storage else {}
    if instance.get("lastFrame") is not None:
        info["last_frame"] = describe_image(instance["lastFrame"])
    if isinstance(instance.get("video"), dict):  # Veo extends videos it generated earlier [INF: strictly]
        source = instance["video"].get("gcsUri")
        if cfg["strict"] and not any(source in (j.info.get("gcs_uris") or []) for j in st.jobs.values()):
            return google_error(400, "Invalid value at 'instances[0].video': the video to extend must be a Veo "
                                     "video in Cloud Storage.")
        info["source_video"] = source
    count = protocols._sample_count(body)
    name = f"{resource}/operations/{uuid.uuid4()}"
    st.add_job(Job(id=name, protocol="vertex", model=model, prompt=prompt, params=scrub(body),
                   image=describe_image(instance.get("image")), job_seconds=cfg["job_seconds"],
                   video_bytes=cfg["video_bytes"], file_ids=tuple(gemini_id() for _ in range(count)), info=info))
    return json_response({"name": name})


async def fetch(request: web.Request) -> web.StreamResponse:
    """``POST .../models/{model}:fetchPredictOperation`` with ``{"operationName"}`` (python-genai
    ``_fetch_predict_videos_operation``). Running: ``{"name"}`` (``done`` false is left out, as proto3 JSON
    leaves out defaults); failed: ``done`` with a google.rpc.Status ``error``; ``[[filtered]]``: ``done`` with the
    RAI fields and no video; succeeded: ``response.videos[]`` (Veo reference "Response body")."""
    st = state_of(request)
    _kind, body = await read_body(request)
    name = body.get("operationName") if isinstance(body, dict) else None
    if not isinstance(name, str) or set(body) != {"operationName"}:
        return google_error(400, "Invalid JSON payload received: operationName is required.")  # [INF] wording
    job = st.jobs.get(name)
    if job is None or job.protocol != "vertex" or not name.startswith(_resource(request) + "/operations/"):
        return google_error(404, f"Operation {name} not found.")  # [INF] wording
    state = job.state()
    if state in ("queued", "running"):
        return json_response({"name": job.id})
    if state == "failed":
        return json_response({"name": job.id, "done": True, "error": {"code": 13, "message": FAIL_MESSAGE}})
    response: dict[str, Any] = {"@type": VERTEX_RESPONSE}
    if state == "filtered":
        response.update(raiMediaFilteredCount=len(job.renditions), raiMediaFilteredReasons=[RAI_REASON])
        return json_response({"name": job.id, "done": True, "response": response})
    if job.info.get("storage_uri"):
        try:
            uris = await _stored(st, job)
        except (ClientError, TimeoutError, OSError) as err:
            return json_response({"name": job.id, "done": True, "error": {
                "code": 13, "message": f"could not write the video to {job.info['storage_uri']}: "
                                       f"{type(err).__name__}"}})  # [INF]
        response.update(raiMediaFilteredCount=0, videos=[{"gcsUri": u, "mimeType": "video/mp4"} for u in uris])
        return json_response({"name": job.id, "done": True, "response": response})
    response.update(raiMediaFilteredCount=0,
                    videos=[{"bytesBase64Encoded": B64_MARKER, "mimeType": "video/mp4"} for _ in job.renditions])
    return await send_json_with_b64(request, {"name": job.id, "done": True, "response": response},
                                    [r.source() for r in job.renditions])


async def location(request: web.Request) -> web.Response:
    """``GET /v1/projects/{project}/locations/{location}``: google.cloud.location.Location."""
    m = request.match_info
    return json_response({"name": f"projects/{m['project']}/locations/{m['location']}", "locationId": m["location"],
                          "displayName": m["location"]})


async def unknown(request: web.Request) -> web.Response:
    return google_error(404, f"Method not found: {request.method} {request.path}")


# ------------------------------------------------------------------------------ Cloud Storage output

_UPLOADS: dict[str, asyncio.Lock] = {}


async def _stored(st: State, job: Job) -> list[str]:
    """The job's videos in Cloud Storage, uploaded on the first poll that finds it finished (once)."""
    lock = _UPLOADS.setdefault(job.id, asyncio.Lock())
    async with lock:
        if "gcs_uris" not in job.info:
            bucket, folder = GCS_URI.fullmatch(job.info["storage_uri"]).groups()
            prefix = "/".join(p for p in ((folder or "").strip("/"), job.id.rsplit("/", 1)[1]) if p)
            names = [f"{prefix}/sample_{r.index}.mp4" for r in job.renditions]
            async with ClientSession(timeout=ClientTimeout(total=UPLOAD_TIMEOUT)) as session:
                for rendition, object_name in zip(job.renditions, names, strict=True):
                    await _upload(session, st.config["gcs_endpoint"], bucket, object_name, rendition.source())
            job.info["gcs_uris"] = [f"gs://{bucket}/{n}" for n in names]
    _UPLOADS.pop(job.id, None)
    return job.info["gcs_uris"]


async def _upload(session: ClientSession, endpoint: str, bucket: str, name: str, video: Any) -> None:
    """``POST {endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name=...`` (Cloud Storage JSON API,
    simple upload), the video streamed with its exact length."""

    async def pieces() -> AsyncIterator[bytes]:
        for piece in video.chunks():
            yield bytes(piece)

    url = f"{endpoint.rstrip('/')}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
    async with session.post(url, params={"uploadType": "media", "name": name}, data=pieces(),
                            headers={"Content-Type": "video/mp4", "Content-Length": str(video.size)}) as answer:
        if answer.status >= 300:
            raise ClientError(f"upload of {name} answered HTTP {answer.status}")
        await answer.read()


def add_routes(app: web.Application) -> None:
    """Register Vertex AI's routes (before the emulator's catch-all)."""
    r = app.router
    r.add_post(MODEL_PATH + ":predictLongRunning", submit)
    r.add_post(MODEL_PATH + ":fetchPredictOperation", fetch)
    r.add_get("/v1/projects/{project}/locations/{location}", location)
    r.add_route("*", "/v1/projects/{tail:.*}", unknown)
