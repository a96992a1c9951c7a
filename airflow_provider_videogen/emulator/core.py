"""Shared state of the emulator: config, jobs, request record, fault rules, response helpers.

Everything here is touched only from the event loop thread (handlers), so no locks are needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import string
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

from .rules import GATEWAYS, MODELS_BY_GATEWAY, VOCAB_BY_GATEWAY, Upload, json_type
from .videos import VideoSource, default_video_bytes, min_video_bytes

# --------------------------------------------------------------------------------------- config

VOCABS = {  # queued, running, succeeded, failed words per gateway
    "openai": ("queued", "in_progress", "completed", "failed"),  # openai-python types/video.py (Video.status)
    "hingnet": ("queued", "processing", "success", "failed"),  # https://docs.hingnet.com.cn/openai/video-query.md
    "hingnet_veo": ("queued", "in_progress", "completed", "failed"),  # https://docs.hingnet.com.cn/gemini/video-get.md
    "tokenops": ("pending", "in_progress", "completed", "failed"),  # https://docs.apigo.ai/en/api-reference/endpoints/openai/video-status
}
CHOICES = {
    "gateway": GATEWAYS,
    "status_vocab": ("auto", *VOCABS),
    "content_form": ("bytes", "redirect", "json_url"),
    "gemini_download": ("redirect", "bytes", "inline"),
    "thucchien_download": ("bytes", "redirect"),
    "mixroute_url_form": ("cdn", "data_url"),
}
BOOLEANS = ("strict", "mixroute_wrap", "range_support", "compress_media")
BUILTIN_DEFAULTS: dict[str, Any] = {
    # Whose rules apply on the shared /v1/videos and /v1/models routes (and whose errors /v1/... give);
    # /v1beta is always the Gemini API, /gemini AI Thực Chiến, /v1/video/generations MixRoute.
    "gateway": "openai",
    # Refuse what the played gateway's documents do not allow (rules.py); false: accept like before.
    "strict": True,
    "job_seconds": 2.0,
    "video_bytes": None,  # None -> sample clip + 1 KiB (filled in by make_config)
    # Status words of /v1/videos: "auto" = the gateway's documented set (VOCAB_BY_GATEWAY: HingNet's
    # /openai/video-query words, TokenOps' "pending", else OpenAI's); or one set by name (HingNet
    # documents two: "hingnet" and "hingnet_veo").
    "status_vocab": "auto",
    "content_form": "bytes",
    "gemini_download": "redirect",  # "inline": the status carries the video as base64 encodedVideo
    "thucchien_download": "bytes",
    "mixroute_url_form": "cdn",
    "mixroute_wrap": False,
    "poll_after_ms": 1000,
    "range_support": True,
    # Media gzip'd (Content-Encoding: gzip) whenever the request's Accept-Encoding allows it.
    "compress_media": False,
    # {gateway: [model, ...]} replacing that gateway's model list (rules.MODELS_BY_GATEWAY).
    "models": {},
    "api_key": None,
    # Vertex AI (vertex.py): the OAuth access token accepted as "Authorization: Bearer", and the Cloud Storage
    # JSON API (e.g. gcp-storage-emulator's http://127.0.0.1:PORT) that storageUri outputs are uploaded to.
    "vertex_token": "test-vertex-token",
    "gcs_endpoint": None,
}


def validate_config(updates: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise config updates; raises ValueError with a readable message."""
    if not isinstance(updates, dict):
        raise ValueError("config must be a JSON object")
    unknown = sorted(set(updates) - set(BUILTIN_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for key, value in updates.items():
        if key in CHOICES:
            if value not in CHOICES[key]:
                raise ValueError(f"{key} must be one of {', '.join(CHOICES[key])}")
        elif key == "job_seconds":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError("job_seconds must be a number >= 0")
            value = float(value)
        elif key == "video_bytes":
            if value is None:
                value = default_video_bytes()
            if isinstance(value, bool) or not isinstance(value, int) or value < min_video_bytes():
                raise ValueError(f"video_bytes must be an integer >= {min_video_bytes()}")
        elif key in BOOLEANS:
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
        elif key == "models":
            if not isinstance(value, dict) or not set(value) <= set(GATEWAYS) or not all(
                    isinstance(v, list) and all(isinstance(m, str) and m for m in v) for v in value.values()):
                raise ValueError("models must map gateway names to lists of model names")
        elif key == "poll_after_ms":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError("poll_after_ms must be an integer >= 0 or null")
        elif key == "api_key":
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError("api_key must be a non-empty string or null")
        elif key == "vertex_token":
            if not isinstance(value, str) or not value:
                raise ValueError("vertex_token must be a non-empty string")
        elif key == "gcs_endpoint":
            if value is not None and (not isinstance(value, str) or not value.startswith(("http://", "https://"))):
                raise ValueError("gcs_endpoint must be an http(s) URL or null")
        out[key] = value
    return out


def make_config(**overrides: Any) -> dict[str, Any]:
    """Built-in defaults merged with validated overrides."""
    cfg = dict(BUILTIN_DEFAULTS, video_bytes=default_video_bytes())
    cfg.update(validate_config(overrides))
    return cfg


def models_of(cfg: dict[str, Any], gateway: str) -> tuple[str, ...]:
    """The models ``gateway`` serves (its ``models`` override, else ``MODELS_BY_GATEWAY``)."""
    return tuple(cfg["models"].get(gateway) or MODELS_BY_GATEWAY[gateway])


def vocab_of(cfg: dict[str, Any]) -> str:
    """The status vocabulary in force: ``status_vocab``, or the gateway's own when it is "auto"."""
    vocab = cfg["status_vocab"]
    return VOCAB_BY_GATEWAY.get(cfg["gateway"], "openai") if vocab == "auto" else vocab


# ----------------------------------------------------------------------------------------- jobs

FAIL_MESSAGE = "The video could not be generated (emulated failure)"
FILTER_MESSAGE = "The video was blocked by the emulated safety filter (moderation)"
RAI_REASON = "Video was not generated: emulated safety filter (Responsible AI policy)."
_ALNUM = string.ascii_lowercase + string.digits


def gemini_id() -> str:
    """A Google-style id: ``[a-z0-9]{12}`` like ``idrk08ltkg0a`` / ``3j6svp4106e7`` (AI Thực Chiến
    "Kiểm tra trạng thái video", docs.thucchien.ai)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(12))


@dataclass
class Rendition:
    """One video of a job: its own file id (Gemini), bytes, version and validators. A Gemini operation
    with ``parameters.sampleCount`` = N has N of them, every other job one."""

    job_id: str
    index: int
    size: int
    born: int  # Last-Modified until the first re-render: the job's completed_at
    file_id: str | None = None
    version: int = 0
    modified: int | None = None  # Last-Modified of a re-rendered video (``bump``)
    sha256: str | None = None  # computed on demand by the control API, cached
    _source: VideoSource | None = None

    @property
    def name(self) -> str:
        """The name it is found by (CDN links, ``State.by_name``): the file id, else the job id."""
        return self.file_id or self.job_id

    def source(self) -> VideoSource:
        if self._source is None:
            self._source = VideoSource(self.job_id, self.size, self.version, self.index)
        return self._source

    @property
    def etag(self) -> str:
        """Strong entity-tag of the current video version."""
        key = f"{self.job_id}:{self.version}:{self.size}" + (f":{self.index}" if self.index else "")
        return f'"{hashlib.sha1(key.encode()).hexdigest()[:24]}"'

    @property
    def last_modified(self) -> int:
        return self.modified or self.born

    @property
    def last_modified_http(self) -> str:
        return formatdate(self.last_modified, usegmt=True)

    def bump(self) -> None:
        """Re-render: a different video of the same size (new bytes, ETag and Last-Modified)."""
        self.version += 1
        self.modified = max(int(time.time()), self.last_modified + 1)
        self._source, self.sha256 = None, None


@dataclass
class Job:
    """One emulated generation job; its outcome is scripted by magic words in the prompt.

    ``file_ids``: a Gemini operation's file ids, one per generated sample (``sampleCount``); other
    protocols have none and one video. ``info``: extra keys of the public dict (``source_video``,
    ``last_frame``, ``reference_images``, ``input_references``, ``remixed_from``).
    """

    id: str
    protocol: str  # "gemini" | "openai_videos" | "video_generations" | "vertex"
    model: str
    prompt: str
    params: dict[str, Any]
    image: dict[str, Any] | None
    job_seconds: float
    video_bytes: int
    file_ids: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False  # DELETE /v1/videos/{id} or a Gemini :cancel
    created: float = field(default_factory=time.time)
    mono: float = field(default_factory=time.monotonic)
    cdn_token: str = field(default_factory=lambda: secrets.token_hex(8))
    renditions: list[Rendition] = field(init=False)

    def __post_init__(self) -> None:
        ids: tuple[str | None, ...] = tuple(self.file_ids) or (None,)
        self.renditions = [Rendition(self.id, i, self.video_bytes, self.completed_at, file_id)
                           for i, file_id in enumerate(ids)]

    @property
    def file_id(self) -> str | None:
        """The first sample's file id (Gemini), else None."""
        return self.file_ids[0] if self.file_ids else None

    @property
    def outcome(self) -> str:
        """``failed`` for ``[[fail]]``, ``filtered`` for ``[[filtered]]``, else ``succeeded``."""
        if "[[fail]]" in self.prompt:
            return "failed"
        return "filtered" if "[[filtered]]" in self.prompt else "succeeded"

    @property
    def has_video(self) -> bool:
        """It will have (or has) videos: it succeeds and was not cancelled."""
        return self.outcome == "succeeded" and not self.cancelled

    def fraction(self) -> float:
        if self.job_seconds <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self.mono) / self.job_seconds)

    def state(self) -> str:
        """``cancelled`` once cancelled, else ``queued`` (first 10 % of the time), ``running``, then
        the outcome."""
        if self.cancelled:
            return "cancelled"
        f = self.fraction()
        return self.outcome if f >= 1.0 else ("queued" if f < 0.1 else "running")

    def progress(self) -> int:
        return int(self.fraction() * 100)

    @property
    def completed_at(self) -> int:
        return int(self.created + self.job_seconds)

    @property
    def expires_at(self) -> int:
        # https://docs.hingnet.com.cn/openai/video-query.md example: expires_at - completed_at = 3600
        return self.completed_at + 3600

    def rendition(self, name: str | None = None) -> Rendition:
        """The video named ``name`` (a file id), else the first one."""
        return next((r for r in self.renditions if name is not None and r.file_id == name), self.renditions[0])

    def video(self, index: int = 0) -> VideoSource:
        return self.renditions[index].source()

    @property
    def version(self) -> int:
        return self.renditions[0].version

    def public(self) -> dict[str, Any]:
        d = {
            "id": self.id, "protocol": self.protocol, "model": self.model, "prompt": self.prompt,
            "params": self.params, "has_image": self.image is not None, "image": self.image,
            "created": self.created, "state": self.state(), "progress": self.progress(),
            "job_seconds": self.job_seconds, "video_bytes": self.video_bytes, "version": self.version,
            "sample_count": len(self.renditions), "cancelled": self.cancelled,
        }
        if self.file_ids:
            d["file_id"], d["file_ids"] = self.file_id, list(self.file_ids)
        return d | self.info


def scrub(value: Any, key: str = "") -> Any:
    """Copy of a submitted body with long binary-ish strings (base64 images) replaced by a marker."""
    if isinstance(value, dict):
        return {k: scrub(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, key) for v in value]
    if isinstance(value, str) and len(value) > 4096 and key != "prompt":
        return f"<{len(value)} chars omitted>"
    return value


def describe_image(value: Any) -> dict[str, Any] | None:
    """Summarise an image input: ``{"url"}`` for URLs, ``{"mime_type","size","sha256"}`` for bytes."""
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, Upload):
        return {"size": value.size, "sha256": value.sha256, "filename": value.filename,
                "mime_type": value.content_type}
    if isinstance(value, bytes):
        return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, list):
        return describe_image(value[0])
    if isinstance(value, dict):
        if "bytesBase64Encoded" in value:  # Gemini API image (python-genai _Image_to_mldev)
            d = describe_image(str(value["bytesBase64Encoded"])) or {}
            return d | {"mime_type": value.get("mimeType")}
        for k in ("image_url", "url", "uri", "gcsUri", "file_id"):
            if k in value:
                inner = value[k]
                if isinstance(inner, str) and inner.startswith("data:"):
                    return describe_image(inner) | {"field": k}
                return {k: inner}
        return {"object": scrub(value)}
    text = str(value)
    mime = None
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        mime = head[5:].split(";")[0] or None
    elif re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
        return {"url": text}
    try:
        raw = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return {"invalid_base64": True, "length": len(text)}
    return describe_image(raw) | {"mime_type": mime}


# ------------------------------------------------------------------------------ state and faults

MAX_RECORDS = 10_000
# Fields that make a rule answer with a scripted response instead of the handler's.
SCRIPTED_FIELDS = ("status", "body", "body_b64", "gzip_of_zeros")
# Fields that change how a response body (scripted or normal) is written (transport.send_stream).
BODY_FIELDS = ("reset_after_bytes", "truncate_to_bytes", "drip_bytes", "close_delimited", "bump_version")
FAULT_FIELDS = {"method", "path", "site", "times", "headers", "delay_s", "drip_interval_s", "gzip", "pad_to_bytes",
                *SCRIPTED_FIELDS, *BODY_FIELDS}


def _check_fields(r: dict[str, Any], fields: tuple[str, ...], ok, message: str) -> None:
    for k in fields:
        if r.get(k) is not None and not ok(r[k]):
            raise ValueError(f"{k} must be {message}")


def validate_fault(rule: Any) -> dict[str, Any]:
    """Check a fault rule (see ``POST /_emulator/faults``); returns a normalised copy."""
    if not isinstance(rule, dict) or not isinstance(rule.get("path"), str):
        raise ValueError('a fault rule is a JSON object with at least "path" (a regex)')
    unknown = sorted(set(rule) - FAULT_FIELDS)
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
    try:
        re.compile(rule["path"])
    except re.error as exc:
        raise ValueError(f"path is not a valid regex: {exc}") from None
    r = dict(rule)
    r["times"] = r.get("times", 1)
    if not isinstance(r["times"], int) or r["times"] == 0 or r["times"] < -1:
        raise ValueError("times must be a positive integer, or -1 for unlimited")
    if r.get("method"):
        r["method"] = str(r["method"]).upper()
    if r.get("site") not in (None, "api", "cdn"):
        raise ValueError('site must be "api" or "cdn"')
    if r.get("status") is not None and not (isinstance(r["status"], int) and 100 <= r["status"] <= 599):
        raise ValueError("status must be an HTTP status code")

    def count(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def seconds(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 300

    _check_fields(r, ("reset_after_bytes", "truncate_to_bytes", "gzip_of_zeros", "pad_to_bytes"), count,
                  "an integer >= 0")
    _check_fields(r, ("drip_bytes",), lambda v: count(v) and v > 0, "an integer > 0")
    _check_fields(r, ("delay_s", "drip_interval_s"), seconds, "a number of seconds in [0, 300]")
    _check_fields(r, ("gzip", "close_delimited", "bump_version"), lambda v: isinstance(v, bool), "true or false")
    _check_fields(r, ("headers",), lambda v: isinstance(v, dict), "an object")
    if sum(r.get(k) is not None for k in ("body", "body_b64", "gzip_of_zeros")) > 1:
        raise ValueError("give at most one of body, body_b64, gzip_of_zeros")
    if r.get("body_b64") is not None:
        try:
            base64.b64decode(r["body_b64"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ValueError("body_b64 must be standard base64") from None
    if r.get("pad_to_bytes") is not None and not isinstance(r.get("body"), dict):
        raise ValueError("pad_to_bytes needs a JSON object body")
    if r.get("reset_after_bytes") is not None and r.get("truncate_to_bytes") is not None:
        raise ValueError("give at most one of reset_after_bytes, truncate_to_bytes")
    return r


class State:
    """Everything both sites share: config, jobs, the request record and fault rules."""

    def __init__(self, config: dict[str, Any], log_requests: bool = False):
        self.startup_config = dict(config)
        self.config = dict(config)
        self.jobs: dict[str, Job] = {}
        self.by_name: dict[str, Job] = {}  # file id / cdn name -> job
        self.records: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
        self.seq = 0
        self.faults: list[dict[str, Any]] = []
        self.url = ""
        self.cdn_url = ""
        self.log_requests = log_requests

    def reset(self) -> None:
        self.config = dict(self.startup_config)
        self.jobs.clear()
        self.by_name.clear()
        self.records.clear()
        self.seq = 0
        self.faults.clear()

    def add_job(self, job: Job) -> Job:
        self.jobs[job.id] = job
        for rendition in job.renditions:
            self.by_name[rendition.name] = job
        return job

    def find_job(self, key: str) -> Job | None:
        return self.jobs.get(key) or self.by_name.get(key)

    def locate(self, key: str) -> tuple[Job, Rendition] | None:
        """The job with id ``key`` and its first video, or the job and video with file id ``key``."""
        job = self.find_job(key)
        return None if job is None else (job, job.rendition(None if key == job.id else key))

    def cdn_link(self, job: Job, rendition: Rendition | None = None) -> str:
        name = (rendition or job.renditions[0]).name
        return f"{self.cdn_url}/cdn/{job.cdn_token}/{name}.mp4"

    def take_fault(self, site: str, method: str, path: str) -> dict[str, Any] | None:
        """First matching rule (in order), consuming one of its ``times``."""
        for rule in self.faults:
            if rule.get("site") and rule["site"] != site:
                continue
            if rule.get("method") and rule["method"] != method:
                continue
            if not re.search(rule["path"], path):
                continue
            if rule["times"] > 0:
                rule["times"] -= 1
                if rule["times"] == 0:
                    self.faults.remove(rule)
            return rule
        return None


STATE = web.AppKey("videogen_emulator_state", State)
SITE = web.AppKey("videogen_emulator_site", str)
FAULT_RULE = web.RequestKey("videogen_emulator_fault_rule", dict)  # the fault rule matched for the request


def state_of(request: web.Request) -> State:
    return request.app[STATE]


BODY = web.RequestKey("videogen_emulator_body", tuple)  # (kind, value) of a parsed request body
INVALID = object()  # a JSON body that does not parse


async def read_body(request: web.Request) -> tuple[str, Any]:
    """The request body, parsed once and cached on the request.

    ``("json", value)`` (``INVALID`` if it does not parse), ``("multipart", {name: [str | Upload]})``,
    ``("form", {name: [str]})`` for application/x-www-form-urlencoded, ``("other", None)`` otherwise.
    File parts become ``Upload`` (size and sha256; the bytes are not kept).
    """
    if BODY in request:
        return request[BODY]
    ctype = media_type(request)
    if ctype == "application/json":
        try:
            parsed: tuple[str, Any] = ("json", json.loads(await request.read()))
        except (ValueError, UnicodeDecodeError):
            parsed = ("json", INVALID)
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form: dict[str, list[Any]] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                digest, size = hashlib.sha256(), 0
                while chunk := value.file.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                value = Upload(value.filename, value.content_type, size, digest.hexdigest())
            form.setdefault(key, []).append(value)
        parsed = ("multipart" if ctype == "multipart/form-data" else "form", form)
    else:
        parsed = ("other", None)
    request[BODY] = parsed
    return parsed


def body_shape(kind: str, value: Any) -> Any:
    """``body_shape`` of the request record: JSON -> ``shape``, multipart -> ``form_shape``, else None."""
    if kind == "json" and value is not INVALID:
        return shape(value)
    return form_shape(value) if kind == "multipart" else None


# ----------------------------------------------------------------------------- response helpers


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(obj).encode(), content_type="application/json",
                        headers=headers)


def media_type(request: web.Request) -> str | None:
    """The request's media type, lower-case, without parameters; None without a Content-Type."""
    if "Content-Type" not in request.headers:
        return None
    return request.headers["Content-Type"].split(";", 1)[0].strip().lower() or None


def shape(value: Any) -> Any:
    """The recursive shape of a parsed JSON value: objects map key -> shape, arrays list the shapes of
    their first three elements, scalars are their JSON type names."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:3]]
    return json_type(value)


def form_shape(form: dict[str, list[Any]]) -> dict[str, Any]:
    """Multipart fields: name -> "string" (text part) or "file" (file part); repeated -> a list."""
    kinds = {k: ["file" if isinstance(v, Upload) else "string" for v in vs] for k, vs in form.items()}
    return {k: vs[0] if len(vs) == 1 else vs for k, vs in kinds.items()}
