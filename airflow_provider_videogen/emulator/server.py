"""The two sites (gateway API and "CDN"), auth, request record, scripted faults, control API.

Order of work for every gateway/CDN request (middleware): record it -> apply a matching fault rule
-> check the key -> route. Control API requests (``/_emulator/...``) skip all of that.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from typing import Any

from aiohttp import web

from . import protocols, vertex
from .core import (
    BODY_FIELDS,
    FAULT_RULE,
    SCRIPTED_FIELDS,
    SITE,
    STATE,
    Job,
    Rendition,
    State,
    body_shape,
    json_response,
    make_config,
    media_type,
    read_body,
    state_of,
    validate_config,
    validate_fault,
)
from .previews import CONTENT_TYPES as PREVIEW_TYPES
from .previews import preview
from .refusals import auth_failure as refused_auth
from .refusals import unknown_route
from .rules import style_for_path
from .transport import plain_body, rendition_sha256, scripted_body, send_body, serve_video

CONTROL = "/_emulator/"


# ----------------------------------------------------------------------- middleware and auth


def auth_failure(request: web.Request, st: State) -> web.Response | None:
    """Reject a missing or wrong key in the style of the gateway the path belongs to.

    ``/v1beta/...`` and ``/gemini/...`` take ``x-goog-api-key`` or ``?key=`` (Gemini API; AI Thực
    Chiến's user guide; LiteLLM's pass-through reads both), ``/v1/...`` ``Authorization: Bearer``.
    With ``api_key`` configured only that key is accepted, otherwise any non-empty key. The
    refusal is the gateway's own (``refusals.auth_failure``).
    """
    style = style_for_path(request.path, st.config["gateway"])
    if style is None:
        return None
    if style == "vertex":  # an OAuth token, never an API key (vertex.py)
        return vertex.auth_failure(request, st.config)
    if request.path.startswith(("/v1beta", "/gemini")):
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
    else:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key if scheme.lower() == "bearer" else None
    key = (key or "").strip() or None
    expected = st.config["api_key"]
    if key is not None and (expected is None or hmac.compare_digest(key.encode(), expected.encode())):
        return None
    return refused_auth(style, key, bearer="Authorization" in request.headers)


async def fault_response(request: web.Request, rule: dict[str, Any]) -> web.StreamResponse:
    """The scripted answer of a fault rule (``status``, default 200, with ``headers`` and a body)."""
    body, ctype = scripted_body(rule)
    headers = dict(rule.get("headers") or {})
    if ctype and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = ctype
    if rule.get("gzip") or rule.get("gzip_of_zeros") is not None:
        headers["Content-Encoding"] = "gzip"
    return await send_body(request, rule.get("status") or 200, headers, body)


# Fault fields listed in the request record's "fault"
_RECORDED = ("status", "delay_s", "reset_after_bytes", "truncate_to_bytes", "drip_bytes", "close_delimited",
             "bump_version", "gzip", "gzip_of_zeros", "body_b64", "pad_to_bytes")


def _given(rule: dict[str, Any], key: str) -> bool:
    """The rule sets ``key`` (0 counts: ``reset_after_bytes: 0`` resets before the first body byte)."""
    value = rule.get(key)
    return value is not None and value is not False


async def _dispatch(request: web.Request, handler, st: State, rec: dict[str, Any]) -> web.StreamResponse:
    rule = st.take_fault(rec["site"], request.method, request.path)
    if rule is not None:
        rec["fault"] = sorted(k for k in _RECORDED if _given(rule, k))
        if rule.get("delay_s"):
            await asyncio.sleep(rule["delay_s"])
        request[FAULT_RULE] = rule
        if any(rule.get(k) is not None for k in SCRIPTED_FIELDS):
            return await fault_response(request, rule)
    resp = auth_failure(request, st) or await handler(request)
    if rule is not None and any(_given(rule, k) for k in BODY_FIELDS) and isinstance(resp, web.Response) \
            and not resp.prepared:  # a handler's small body, written under the fault's rules
        body = resp.body if isinstance(resp.body, bytes) else b""
        return await send_body(request, resp.status, dict(resp.headers), plain_body(body))
    return resp


@web.middleware
async def middleware(request: web.Request, handler) -> web.StreamResponse:
    st, site = state_of(request), request.app[SITE]
    if site == "api" and request.path.startswith(CONTROL):
        return await handler(request)
    st.seq += 1
    rec = {"seq": st.seq, "time": time.time(), "site": site, "method": request.method, "path": request.path,
           "query": dict(request.query), "headers": dict(request.headers), "status": None, "fault": None,
           "had_auth": "Authorization" in request.headers or "x-goog-api-key" in request.headers,
           "content_type": media_type(request)}
    st.records.append(rec)
    status = 500
    try:
        if request.method == "POST":  # what was sent, without values (file parts: sizes in the job)
            rec["body_shape"], rec["body_bytes"] = body_shape(*await read_body(request)), request.content_length
        resp = await _dispatch(request, handler, st, rec)
        status = resp.status
        return resp
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        rec["status"] = status
        if st.log_requests:  # method, path, status only: never header values or the query (?key=)
            print(f"videogen-emulator {site} {request.method} {request.path} {status}", file=sys.stderr, flush=True)


async def not_found(request: web.Request) -> web.Response:
    """Unknown path, answered in the style of the gateway family the prefix belongs to."""
    return unknown_route(request.method, request.path)


# ------------------------------------------------------------------------------------- CDN


async def cdn_video(request: web.Request) -> web.StreamResponse:
    """``GET /cdn/{token}/{name}.mp4`` on the second host: the bytes, no auth (the record shows
    whether a key arrived anyway). Stands in for storage/CDN links (HingNet 视频下载: "视频文件可能托管在
    CDN 上"; TokenOps VideoContentResponse ``video_url``)."""
    st = state_of(request)
    name = request.match_info["name"]
    job = st.by_name.get(name)
    if job is None or job.cdn_token != request.match_info["token"] or job.state() != "succeeded":
        return web.Response(status=404, text="Not Found")
    return await serve_video(request, job.rendition(name))


# ------------------------------------------------------------------------------- control API


def _public_config(st: State) -> dict[str, Any]:
    return dict(st.config, api_key="***" if st.config["api_key"] else None, vertex_token="***")


async def ctl_info(request: web.Request) -> web.Response:
    st = state_of(request)
    return json_response({"url": st.url, "cdn_url": st.cdn_url, "pid": os.getpid(), "jobs": len(st.jobs)})


async def ctl_requests(request: web.Request) -> web.Response:
    """The request record (``DELETE`` clears it), oldest first; one object per gateway/CDN request:

    ``seq``, ``time``, ``site`` ("api" | "cdn"), ``method``, ``path``, ``query``, ``headers``, ``had_auth``,
    ``status``, ``fault`` (the fault fields applied, or null), ``content_type`` (the request's media
    type, lower-case, without parameters, or null) and, for POST, ``body_bytes`` (Content-Length or null)
    and ``body_shape``: for JSON the recursive shape (objects key -> shape, arrays the shapes of their
    first three elements, scalars "string" | "integer" | "number" | "boolean" | "null"); for
    multipart/form-data field name -> "string" (text part) or "file" (file part), a repeated field a
    list of those; null for any other body. No body values (nor image bytes) are recorded.
    """
    st = state_of(request)
    if request.method == "DELETE":
        n = len(st.records)
        st.records.clear()
        return json_response({"cleared": n})
    return json_response(list(st.records))


async def ctl_jobs(request: web.Request) -> web.Response:
    return json_response([job.public() for job in state_of(request).jobs.values()])


def _ctl_job(request: web.Request):
    job = state_of(request).find_job(request.match_info["id"])
    if job is None:
        return None, json_response({"error": "unknown job"}, 404)
    return job, None


async def ctl_job(request: web.Request) -> web.Response:
    job, err = _ctl_job(request)
    return err or json_response(job.public())


def _ctl_videos(request: web.Request) -> tuple[Job | None, Rendition | None, web.Response | None]:
    """The job ``{id}`` names (a job id, or a Gemini file id) and the video it means (the first one,
    or the file id's sample), or an error answer when there is no such job or it has no video."""
    found = state_of(request).locate(request.match_info["id"])
    if found is None:
        return None, None, json_response({"error": "unknown job"}, 404)
    job, rendition = found
    if not job.has_video:
        reason = "cancelled" if job.cancelled else job.outcome
        return None, None, json_response({"error": f"job {reason}: it has no video"}, 404)
    return job, rendition, None


async def ctl_sha256(request: web.Request) -> web.Response:
    """``{"sha256","size"}`` of a job's (first) video, or of the sample a Gemini file id names; computed
    on first request (off the loop) and cached."""
    _job, video, err = _ctl_videos(request)
    if err:
        return err
    return json_response({"sha256": await rendition_sha256(video), "size": video.size})


async def ctl_videos(request: web.Request) -> web.Response:
    """Every video of a job: ``[{"index", "file_id" (null outside Gemini), "sha256", "size"}]``, one
    entry per ``generatedSamples`` item of a Gemini operation, one for any other job."""
    job, _video, err = _ctl_videos(request)
    if err:
        return err
    return json_response([{"index": v.index, "file_id": v.file_id, "sha256": await rendition_sha256(v),
                           "size": v.size} for v in job.renditions])


async def ctl_variant_sha256(request: web.Request) -> web.Response:
    """``{"sha256","size","content_type"}`` of one ``?variant=`` asset of ``/v1/videos/{id}/content``:
    ``video`` (as ``/sha256``), ``thumbnail`` or ``spritesheet`` (``previews.py``; ``/v1/videos`` jobs)."""
    job, video, err = _ctl_videos(request)
    if err:
        return err
    variant = request.match_info["variant"]
    if variant == "video":
        return json_response({"sha256": await rendition_sha256(video), "size": video.size,
                              "content_type": "video/mp4"})
    if variant not in PREVIEW_TYPES or job.protocol != "openai_videos":
        return json_response({"error": f"no {variant} variant for this job"}, 404)
    data = preview(variant, job.id)
    return json_response({"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                          "content_type": PREVIEW_TYPES[variant]})


async def ctl_video(request: web.Request) -> web.StreamResponse:
    """A job's (first) video bytes without auth, or the sample a Gemini file id names (the expected
    download, for comparisons)."""
    _job, video, err = _ctl_videos(request)
    return err or await serve_video(request, video, compress=False)


async def _json_or_400(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"invalid JSON: {exc}"}),
                                 content_type="application/json") from None


async def ctl_config(request: web.Request) -> web.Response:
    st = state_of(request)
    if request.method == "POST":
        try:
            st.config.update(validate_config(await _json_or_400(request)))
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
    return json_response(_public_config(st))


async def ctl_reset(request: web.Request) -> web.Response:
    """Clear jobs, the record and faults; restore the config the emulator was started with."""
    st = state_of(request)
    st.reset()
    return json_response(_public_config(st))


async def ctl_faults(request: web.Request) -> web.Response:
    """``GET`` the pending rules, ``DELETE`` them all, ``POST`` one rule or a list of rules (appended).

    A rule applies to the first matching gateway/CDN request(s), in order, ``times`` times (-1: always):

    * matching: ``path`` (regex searched in the request path, required), ``method``, ``site``
      (``"api"`` | ``"cdn"``), ``times`` (default 1).
    * ``delay_s``: wait this long (0-300 s) before answering.
    * scripted answer instead of the gateway's (any of these fields; the handler does not run):
      ``status`` (default 200), ``headers`` (object; a ``302`` with ``Location`` is a redirect) and at most
      one body: ``body`` (JSON value, or a string: text/html when it starts with ``<``, else
      text/plain), ``body_b64`` (raw bytes as standard base64; application/octet-stream) or
      ``gzip_of_zeros: N`` (a gzip stream inflating to N zero bytes, Content-Encoding: gzip).
      ``pad_to_bytes: N`` grows a JSON-object ``body`` with a ``"pad"`` string of spaces to exactly N
      bytes (e.g. ``{"status":"in_progress","pad":"    …"}``); ``gzip: true`` gzip-compresses the body
      and sets ``Content-Encoding: gzip``. Big bodies are generated while sent: 1 GiB of padding gzip'd
      is about 1 MB on the wire and is never built in memory.
    * body writing (scripted bodies and the gateway's own):
      ``truncate_to_bytes: N`` (send N bytes of the announced body, then FIN) or ``reset_after_bytes: N``
      (then RST); ``drip_bytes: N`` + ``drip_interval_s: S`` (N bytes every S seconds; stops when the client
      leaves, closes after 300 s at most); ``close_delimited: true`` (media answered with neither
      Content-Length nor chunked encoding, ``Connection: close``, the end marked only by the close:
      with ``truncate_to_bytes`` a truncation the client cannot see in the framing).
    * ``bump_version: true`` on a media download: once this response is sent (or cut) the job's video
      is replaced by a different one of the same size (new bytes, ETag and Last-Modified), so a resume
      with ``Range`` but without ``If-Range`` splices two versions; ``/_emulator/jobs/{id}/sha256`` then
      gives the new version's.
    """
    st = state_of(request)
    if request.method == "DELETE":
        st.faults.clear()
    elif request.method == "POST":
        body = await _json_or_400(request)
        try:
            rules = [validate_fault(r) for r in (body if isinstance(body, list) else [body])]
        except (ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)
        st.faults.extend(rules)
    return json_response(st.faults)


# ---------------------------------------------------------------------------- apps and sites


def build_apps(st: State) -> tuple[web.Application, web.Application]:
    """The API application (gateways + control API) and the CDN application, sharing ``st``."""
    api = web.Application(middlewares=[middleware], client_max_size=64 << 20)
    api[STATE], api[SITE] = st, "api"
    r = api.router
    r.add_get(CONTROL + "info", ctl_info)
    r.add_route("*", CONTROL + "requests", ctl_requests)
    r.add_get(CONTROL + "jobs", ctl_jobs)
    r.add_get(CONTROL + "jobs/{id:.+}/variants/{variant}/sha256", ctl_variant_sha256)
    r.add_get(CONTROL + "jobs/{id:.+}/videos", ctl_videos)
    r.add_get(CONTROL + "jobs/{id:.+}/sha256", ctl_sha256)
    r.add_get(CONTROL + "jobs/{id:.+}/video", ctl_video)
    r.add_get(CONTROL + "jobs/{id:.+}", ctl_job)
    r.add_route("*", CONTROL + "config", ctl_config)
    r.add_post(CONTROL + "reset", ctl_reset)
    r.add_route("*", CONTROL + "faults", ctl_faults)
    protocols.add_routes(api)
    vertex.add_routes(api)  # Vertex AI: /v1/projects/{project}/locations/{location}/... (vertex.py)
    r.add_route("*", "/{tail:.*}", not_found)
    cdn = web.Application(middlewares=[middleware])
    cdn[STATE], cdn[SITE] = st, "cdn"
    cdn.router.add_get("/cdn/{token}/{name}.mp4", cdn_video)
    cdn.router.add_route("*", "/{tail:.*}", not_found)
    return api, cdn


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]


async def start_servers(st: State, host: str = "127.0.0.1", port: int = 0, cdn_host: str = "127.0.0.2",
                        cdn_port: int = 0) -> list[web.AppRunner]:
    """Start both sites; sets ``st.url`` / ``st.cdn_url`` to the actual addresses.

    If ``cdn_host`` cannot be bound (e.g. macOS has no 127.0.0.2 by default) the CDN falls back to
    ``host`` on its own port, with a warning: still a different origin for redirect handling.
    """
    api_app, cdn_app = build_apps(st)
    api_runner, api_port = await _serve(api_app, host, port)
    try:
        try:
            cdn_runner, real_cdn_port = await _serve(cdn_app, cdn_host, cdn_port)
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL or cdn_host == host:
                raise
            print(f"videogen-emulator: cannot bind CDN host {cdn_host}; using {host}", file=sys.stderr, flush=True)
            cdn_host = host
            cdn_runner, real_cdn_port = await _serve(cdn_app, cdn_host, cdn_port)
    except BaseException:
        await api_runner.cleanup()
        raise
    st.url, st.cdn_url = _base_url(host, api_port), _base_url(cdn_host, real_cdn_port)
    return [api_runner, cdn_runner]


async def stop_servers(runners: list[web.AppRunner]) -> None:
    """Stop both sites; in-flight downloads get ``shutdown_timeout`` (1 s) before they are cancelled."""
    await asyncio.gather(*(runner.cleanup() for runner in runners))


class Emulator:
    """The emulator on a background thread with its own event loop (for tests and notebooks).

    ``with Emulator(job_seconds=0.5) as emu: requests.get(emu.url + "/v1/models", ...)``.
    Keyword arguments other than the addresses are config keys (see ``core.BUILTIN_DEFAULTS``).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, cdn_host: str = "127.0.0.2",
                 cdn_port: int = 0, log_requests: bool = False, **config: Any):
        self.state = State(make_config(**config), log_requests=log_requests)
        self._addr = (host, port, cdn_host, cdn_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def cdn_url(self) -> str:
        return self.state.cdn_url

    @property
    def client(self):
        """An ``EmulatorClient`` for the control API (needs ``requests``)."""
        from .client import EmulatorClient

        return EmulatorClient(self.url)

    def start(self, timeout: float = 15.0) -> Emulator:
        self._thread = threading.Thread(target=self._run, name="videogen-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"emulator did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"emulator failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            runners = loop.run_until_complete(start_servers(self.state, *self._addr))
        except Exception as exc:  # noqa: BLE001  (re-raised by start())
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(stop_servers(runners))
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
