"""Shared state of the emulator: config, jobs, request record, fault rules, response helpers.

Everything here is touched only from the event loop thread (handlers), so no locks are needed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import secrets
import socket
import string
import struct
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .videos import VideoSource, b64_len, default_video_bytes, min_video_bytes, parse_range

# --------------------------------------------------------------------------------------- config

VOCABS = {  # queued, running, succeeded, failed words per gateway (reference §0.1, §2, §4, §5.2)
    "openai": ("queued", "in_progress", "completed", "failed"),  # OpenAI Video object
    "hingnet": ("queued", "processing", "success", "failed"),  # HingNet /openai/video-query.md
    "hingnet_veo": ("queued", "in_progress", "completed", "failed"),  # HingNet /gemini/video-get.md
    "tokenops": ("pending", "in_progress", "completed", "failed"),  # TokenOps/apigo video-status
}
CHOICES = {
    "status_vocab": tuple(VOCABS),
    "content_form": ("bytes", "redirect", "json_url"),
    "gemini_download": ("redirect", "bytes"),
    "thucchien_download": ("bytes", "redirect"),
    "mixroute_url_form": ("cdn", "data_url"),
}
BUILTIN_DEFAULTS: dict[str, Any] = {
    "job_seconds": 2.0,
    "video_bytes": None,  # None -> sample clip + 1 KiB (filled in by make_config)
    "status_vocab": "openai",
    "content_form": "bytes",
    "gemini_download": "redirect",
    "thucchien_download": "bytes",
    "mixroute_url_form": "cdn",
    "mixroute_wrap": False,
    "poll_after_ms": 1000,
    "range_support": True,
    "api_key": None,
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
        elif key in ("mixroute_wrap", "range_support"):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
        elif key == "poll_after_ms":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError("poll_after_ms must be an integer >= 0 or null")
        elif key == "api_key":
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError("api_key must be a non-empty string or null")
        out[key] = value
    return out


def make_config(**overrides: Any) -> dict[str, Any]:
    """Built-in defaults merged with validated overrides."""
    cfg = dict(BUILTIN_DEFAULTS, video_bytes=default_video_bytes())
    cfg.update(validate_config(overrides))
    return cfg


# ----------------------------------------------------------------------------------------- jobs

FAIL_MESSAGE = "The video could not be generated (emulated failure)"
FILTER_MESSAGE = "The video was blocked by the emulated safety filter (moderation)"
RAI_REASON = "Video was not generated: emulated safety filter (Responsible AI policy)."
_ALNUM = string.ascii_lowercase + string.digits


def gemini_id() -> str:
    """A Google-style id: ``[a-z0-9]{12}`` like ``idrk08ltkg0a`` / ``3j6svp4106e7`` (seed 001)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(12))


@dataclass
class Job:
    """One emulated generation job; its outcome is scripted by magic words in the prompt."""

    id: str
    protocol: str  # "gemini" | "openai_videos" | "video_generations"
    model: str
    prompt: str
    params: dict[str, Any]
    image: dict[str, Any] | None
    job_seconds: float
    video_bytes: int
    file_id: str | None = None
    created: float = field(default_factory=time.time)
    mono: float = field(default_factory=time.monotonic)
    cdn_token: str = field(default_factory=lambda: secrets.token_hex(8))
    sha256: str | None = None
    _video: VideoSource | None = None

    @property
    def outcome(self) -> str:
        """``failed`` for ``[[fail]]``, ``filtered`` for ``[[filtered]]``, else ``succeeded``."""
        if "[[fail]]" in self.prompt:
            return "failed"
        return "filtered" if "[[filtered]]" in self.prompt else "succeeded"

    def fraction(self) -> float:
        if self.job_seconds <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self.mono) / self.job_seconds)

    def state(self) -> str:
        """``queued`` (first 10 % of the time), ``running``, then the outcome."""
        f = self.fraction()
        return self.outcome if f >= 1.0 else ("queued" if f < 0.1 else "running")

    def progress(self) -> int:
        return int(self.fraction() * 100)

    @property
    def completed_at(self) -> int:
        return int(self.created + self.job_seconds)

    @property
    def expires_at(self) -> int:
        return self.completed_at + 3600  # HingNet example: expires_at - completed_at = 3600 (§0.5)

    @property
    def cdn_name(self) -> str:
        return self.file_id or self.id

    def video(self) -> VideoSource:
        if self._video is None:
            self._video = VideoSource(self.id, self.video_bytes)
        return self._video

    def public(self) -> dict[str, Any]:
        d = {
            "id": self.id, "protocol": self.protocol, "model": self.model, "prompt": self.prompt,
            "params": self.params, "has_image": self.image is not None, "image": self.image,
            "created": self.created, "state": self.state(), "progress": self.progress(),
            "job_seconds": self.job_seconds, "video_bytes": self.video_bytes,
        }
        if self.file_id:
            d["file_id"] = self.file_id
        return d


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
    if isinstance(value, bytes):
        return {"size": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, list):
        return describe_image(value[0])
    if isinstance(value, dict):
        if "bytesBase64Encoded" in value:  # Gemini API image (reference §5.1)
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
FAULT_FIELDS = {"method", "path", "site", "times", "status", "headers", "body", "delay_s",
                "reset_after_bytes", "truncate_to_bytes"}


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
    for k in ("reset_after_bytes", "truncate_to_bytes"):
        if r.get(k) is not None and (not isinstance(r[k], int) or r[k] < 0):
            raise ValueError(f"{k} must be an integer >= 0")
    if r.get("delay_s") is not None and (not isinstance(r["delay_s"], (int, float)) or not 0 <= r["delay_s"] <= 300):
        raise ValueError("delay_s must be a number of seconds in [0, 300]")
    if r.get("headers") is not None and not isinstance(r["headers"], dict):
        raise ValueError("headers must be an object")
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
        self.by_name[job.cdn_name] = job
        return job

    def find_job(self, key: str) -> Job | None:
        return self.jobs.get(key) or self.by_name.get(key)

    def cdn_link(self, job: Job) -> str:
        return f"{self.cdn_url}/cdn/{job.cdn_token}/{job.cdn_name}.mp4"

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
BODY_FAULT = web.RequestKey("videogen_emulator_body_fault", tuple)  # (byte limit, reset: bool)


def state_of(request: web.Request) -> State:
    return request.app[STATE]


# ----------------------------------------------------------------------------- response helpers


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(obj).encode(), content_type="application/json",
                        headers=headers)


def openai_error(status: int, message: str, code: str | None, type_: str = "invalid_request_error") -> web.Response:
    """OpenAI / New API error body ``{"error":{"message","type","code"}}`` (seed 002 Error schema)."""
    return json_response({"error": {"message": message, "type": type_, "code": code}}, status)


_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


def google_error(status: int, message: str) -> web.Response:
    """google.rpc.Status error body ``{"error":{"code","message","status"}}`` (reference §5.1)."""
    return json_response({"error": {"code": status, "message": message,
                                     "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}, status)


def task_error(code: str, message: str, status: int = 400) -> web.Response:
    """New API task error ``{"code","message","data":null}`` (reference §3, §5.3)."""
    return json_response({"code": code, "message": message, "data": None}, status)


async def cut_connection(request: web.Request, reset: bool) -> None:
    """Close the connection after flushing what was written: FIN, or RST when ``reset``."""
    transport = request.transport
    if transport is None:
        return
    for _ in range(2000):  # bounded: up to ~2 s for the kernel to take the buffered bytes
        if transport.is_closing() or transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


async def send_stream(request: web.Request, resp: web.StreamResponse, total: int,
                      chunks: Iterable[bytes | memoryview]) -> web.StreamResponse:
    """Send ``total`` body bytes from ``chunks`` with an exact Content-Length.

    Honours a pending ``reset_after_bytes`` / ``truncate_to_bytes`` fault on this request.
    """
    resp.content_length = total
    await resp.prepare(request)
    if request.method == "HEAD":
        return resp
    fault = request.get(BODY_FAULT)
    limit = fault[0] if fault and fault[0] < total else None
    sent = 0
    try:
        for chunk in chunks:
            if limit is not None and sent + len(chunk) > limit:
                if limit > sent:
                    await resp.write(chunk[: limit - sent])
                await cut_connection(request, reset=fault[1])
                return resp
            await resp.write(chunk)
            sent += len(chunk)
    except ConnectionError:  # the client went away mid-body: nothing to answer
        pass
    return resp


B64_MARKER = "@@videogen-b64@@"


async def send_json_with_b64(request: web.Request, obj: Any, video: VideoSource,
                             headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Stream a JSON object in which every ``B64_MARKER`` inside a string is the video's base64.

    The JSON around the payload is tiny; the payload is encoded chunk by chunk while it is written
    (``VideoSource.b64_chunks``), with an exact Content-Length, so a 256 MiB video never sits in
    memory (MixRoute's download body, seed 003, carries it twice: ``base64`` and ``data_url``).
    """
    parts = json.dumps(obj).encode().split(B64_MARKER.encode())
    total = sum(len(p) for p in parts) + (len(parts) - 1) * b64_len(video.size)

    def pieces():
        for i, part in enumerate(parts):
            yield part
            if i < len(parts) - 1:
                yield from video.b64_chunks()

    resp = web.StreamResponse(headers={"Content-Type": "application/json", **(headers or {})})
    return await send_stream(request, resp, total, pieces())


async def serve_video(request: web.Request, job: Job) -> web.StreamResponse:
    """Serve a job's MP4 bytes: ``video/mp4``, Content-Length, single ``Range`` -> 206 (RFC 9110).

    With ``range_support`` false the Range header is ignored (200, whole body).
    """
    video = job.video()
    ranges = state_of(request).config["range_support"]
    headers = {"Content-Type": "video/mp4"}
    rng = parse_range(request.headers.get("Range"), video.size) if ranges else None
    if ranges:
        headers["Accept-Ranges"] = "bytes"
    if rng == "unsatisfiable":
        return web.Response(status=416, headers={"Content-Range": f"bytes */{video.size}"})
    start, end = rng or (0, video.size)
    if rng:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{video.size}"
    resp = web.StreamResponse(status=206 if rng else 200, headers=headers)
    return await send_stream(request, resp, end - start, video.chunks(start, end))


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})
