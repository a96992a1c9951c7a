"""The two sites (gateway API and "CDN"), auth, request record, scripted faults, control API.

Order of work for every gateway/CDN request (middleware): record it -> apply a matching fault rule
-> check the key -> route. Control API requests (``/_emulator/...``) skip all of that.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import os
import sys
import threading
import time
from typing import Any

from aiohttp import web

from . import protocols
from .core import (
    BODY_FAULT,
    SITE,
    STATE,
    State,
    google_error,
    json_response,
    make_config,
    openai_error,
    send_stream,
    serve_video,
    state_of,
    validate_config,
    validate_fault,
)

CONTROL = "/_emulator/"


# ----------------------------------------------------------------------- middleware and auth


def auth_failure(request: web.Request, st: State) -> web.Response | None:
    """Reject a missing or wrong key in the gateway's own style.

    ``/v1/...``: ``Authorization: Bearer`` (OpenAI / New API style 401). ``/v1beta/...`` and
    ``/gemini/...``: ``x-goog-api-key`` or ``?key=`` (Google style 400, reference §1 "Auth", §5.1).
    With ``api_key`` configured only that key is accepted, otherwise any non-empty key.
    """
    path, expected = request.path, st.config["api_key"]

    def bad(key: str) -> bool:
        key = key.strip()
        return not key or (expected is not None and not hmac.compare_digest(key.encode(), expected.encode()))

    if path == "/v1" or path.startswith("/v1/"):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or bad(key):
            return openai_error(401, "Incorrect API key provided", "invalid_api_key")
    elif path.startswith(("/v1beta", "/gemini")):
        if bad(request.headers.get("x-goog-api-key") or request.query.get("key") or ""):
            return google_error(400, "API key not valid. Please pass a valid API key.")
    return None


def fault_response(rule: dict[str, Any]) -> web.Response:
    """The scripted answer of a fault rule with ``status`` (JSON body, or a string: HTML/text)."""
    body, headers = rule.get("body"), dict(rule.get("headers") or {})
    if body is None:
        data, ctype = b"", None
    elif isinstance(body, str):
        data, ctype = body.encode(), "text/html" if body.lstrip().startswith("<") else "text/plain"
    else:
        data, ctype = json.dumps(body).encode(), "application/json"
    if ctype and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = ctype
    return web.Response(status=rule["status"], body=data, headers=headers)


async def _dispatch(request: web.Request, handler, st: State, rec: dict[str, Any]) -> web.StreamResponse:
    resp = None
    rule = st.take_fault(rec["site"], request.method, request.path)
    if rule is not None:
        rec["fault"] = sorted(k for k in ("status", "delay_s", "reset_after_bytes", "truncate_to_bytes")
                              if rule.get(k) is not None)
        if rule.get("delay_s"):
            await asyncio.sleep(rule["delay_s"])
        for key, reset in (("reset_after_bytes", True), ("truncate_to_bytes", False)):
            if rule.get(key) is not None:
                request[BODY_FAULT] = (rule[key], reset)
        if rule.get("status") is not None:
            resp = fault_response(rule)
    if resp is None:
        resp = auth_failure(request, st) or await handler(request)
    if BODY_FAULT in request and isinstance(resp, web.Response) and not resp.prepared:
        body = resp.body if isinstance(resp.body, bytes) else b""
        stream = web.StreamResponse(status=resp.status, reason=resp.reason, headers=resp.headers)
        return await send_stream(request, stream, len(body), [body])
    return resp


@web.middleware
async def middleware(request: web.Request, handler) -> web.StreamResponse:
    st, site = state_of(request), request.app[SITE]
    if site == "api" and request.path.startswith(CONTROL):
        return await handler(request)
    st.seq += 1
    rec = {"seq": st.seq, "time": time.time(), "site": site, "method": request.method, "path": request.path,
           "query": dict(request.query), "headers": dict(request.headers), "status": None, "fault": None,
           "had_auth": "Authorization" in request.headers or "x-goog-api-key" in request.headers}
    st.records.append(rec)
    status = 500
    try:
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
    if request.path.startswith(("/v1beta", "/gemini")):
        return google_error(404, f"Method not found: {request.method} {request.path}")
    if request.path.startswith("/v1"):
        return openai_error(404, f"Invalid URL ({request.method} {request.path})", "not_found")
    return web.Response(status=404, text="Not Found")


# ------------------------------------------------------------------------------------- CDN


async def cdn_video(request: web.Request) -> web.StreamResponse:
    """``GET /cdn/{token}/{name}.mp4`` on the second host: the bytes, no auth (the record shows
    whether a key arrived anyway). Stands in for storage/CDN links (seed 002 "CDN", seed 004 video_url)."""
    st = state_of(request)
    job = st.by_name.get(request.match_info["name"])
    if job is None or job.cdn_token != request.match_info["token"] or job.state() != "succeeded":
        return web.Response(status=404, text="Not Found")
    return await serve_video(request, job)


# ------------------------------------------------------------------------------- control API


def _public_config(st: State) -> dict[str, Any]:
    return dict(st.config, api_key="***" if st.config["api_key"] else None)


async def ctl_info(request: web.Request) -> web.Response:
    st = state_of(request)
    return json_response({"url": st.url, "cdn_url": st.cdn_url, "pid": os.getpid(), "jobs": len(st.jobs)})


async def ctl_requests(request: web.Request) -> web.Response:
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


async def ctl_sha256(request: web.Request) -> web.Response:
    """``{"sha256","size"}`` of a job's video, computed on first request (off the loop) and cached."""
    job, err = _ctl_job(request)
    if err:
        return err
    if job.outcome != "succeeded":
        return json_response({"error": f"job {job.outcome}: it has no video"}, 404)
    if job.sha256 is None:
        job.sha256 = await asyncio.get_running_loop().run_in_executor(None, job.video().sha256)
    return json_response({"sha256": job.sha256, "size": job.video_bytes})


async def ctl_video(request: web.Request) -> web.StreamResponse:
    """A job's video bytes without auth (the expected download, for comparisons)."""
    job, err = _ctl_job(request)
    if err:
        return err
    if job.outcome != "succeeded":
        return json_response({"error": f"job {job.outcome}: it has no video"}, 404)
    return await serve_video(request, job)


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
    r.add_get(CONTROL + "jobs/{id:.+}/sha256", ctl_sha256)
    r.add_get(CONTROL + "jobs/{id:.+}/video", ctl_video)
    r.add_get(CONTROL + "jobs/{id:.+}", ctl_job)
    r.add_route("*", CONTROL + "config", ctl_config)
    r.add_post(CONTROL + "reset", ctl_reset)
    r.add_route("*", CONTROL + "faults", ctl_faults)
    protocols.add_routes(api)
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
