"""The shared hook: connection settings, HTTP transport (requests for workers, aiohttp for the
triggerer) and the mapping of HTTP failures onto the provider's typed errors.

One subclass per connection type (``hooks/gateways.py``) only names its gateway; everything a
gateway does differently lives in its protocol (``gateways/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from airflow.sdk import BaseHook

from airflow_provider_videogen import retries
from airflow_provider_videogen.exceptions import (
    GatewayAuthError,
    GatewayRequestRejected,
    GatewayResponseError,
    SubmitOutcomeUnknown,
    TransientGatewayError,
    VideoGenError,
    VideoNotFound,
)
from airflow_provider_videogen.gateways import GATEWAY_BY_CONN_TYPE, GATEWAYS, Gateway

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_videogen.gateways import GenerationRequest, HttpRequest, VideoOperation, VideoProtocol

CONNECT_TIMEOUT = 10.0  # seconds
USER_AGENT = "airflow-provider-videogen"
TRIGGER_USER_AGENT = "airflow-provider-videogen (triggerer)"  # polls from VideoOperationTrigger


@dataclass(frozen=True)
class GatewaySettings:
    """What a hook needs from its connection. ``api_key`` never leaves the hook except as a header."""

    base_url: str
    api_key: str
    verify: bool | str
    default_model: str | None
    timeout: float

    def __repr__(self) -> str:  # never print the key
        return f"GatewaySettings(base_url={self.base_url!r}, verify={self.verify!r})"


def settings_from_connection(conn: Any, extra: dict[str, Any], gateway: Gateway, timeout: float) -> GatewaySettings:
    """Build settings from an Airflow ``Connection`` and its extra.

    Host may be a full URL (``http://127.0.0.1:8080``) or a host name (then Schema is the scheme,
    ``https`` by default); empty Host means the gateway's default. Extra keys: ``verify`` (bool or CA
    bundle path; TLS verification stays on unless this turns it off), ``default_model``, ``timeout``.
    """
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        base_url = gateway.default_host
    elif "://" in host:
        base_url = host
    else:
        base_url = f"{conn.schema or 'https'}://{host}"
    if conn.port and base_url.count(":") < 2:
        base_url = f"{base_url}:{conn.port}"
    verify = extra.get("verify", True)
    if isinstance(verify, str) and verify.lower() in ("false", "0", "no"):
        verify = False
    return GatewaySettings(
        base_url=base_url,
        api_key=conn.password or "",
        verify=verify,
        default_model=extra.get("default_model") or None,
        timeout=float(extra.get("timeout") or timeout),
    )


def gateway_message(text: str) -> str:
    """The gateway's own words from an error body: ``error.message``, ``message``, or the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300] or "(empty body)"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str) and err:
            return err
        if body.get("message"):
            return str(body["message"])
    return json.dumps(body)[:300]


def error_for_status(status: int, headers: Any, text: str, *, protocol: VideoProtocol, operation_id: str | None,
                     step: str, api_key: str = "") -> VideoGenError:
    """Map an HTTP error answer onto a typed error (the one place that decides, sync and async alike).

    The protocol may name the kind first (``VideoProtocol.error_kind``) for gateway-specific answers,
    such as Google's 400 for a bad key or New API's 400 ``task_not_exist``.
    """
    gateway = protocol.gateway
    words = gateway_message(text)
    if api_key:
        words = words.replace(api_key, "***")
    message = f"{step} answered HTTP {status}: {words}"
    kind = protocol.error_kind(status, text)
    if kind == "auth" or status in (401, 403):
        return GatewayAuthError(f"{message} (check the connection's API key)", gateway=gateway,
                                operation_id=operation_id)
    if status in retries.RETRYABLE_STATUS:
        return TransientGatewayError(message, gateway=gateway, operation_id=operation_id, status=status,
                                     retry_after=retries.retry_after(dict(headers or {})))
    if kind == "not_found" or (status in (404, 410) and step != "submit"):
        return VideoNotFound(message, gateway=gateway, operation_id=operation_id)
    return GatewayRequestRejected(message, gateway=gateway, operation_id=operation_id)


def _ssl_for(verify: bool | str) -> Any:
    """aiohttp's ``ssl`` argument for a requests-style ``verify`` (True, False or a CA bundle path)."""
    if isinstance(verify, str):
        import ssl

        return ssl.create_default_context(cafile=verify)
    return True if verify else False


_SHARED_SESSIONS: dict[Any, list] = {}  # event loop -> [aiohttp.ClientSession, number of users]


@contextlib.asynccontextmanager
async def shared_client_session():
    """One ``aiohttp.ClientSession`` (and connection pool) per event loop, shared by every trigger in it.

    The triggerer runs all its triggers in one loop: sharing the session keeps one keep-alive pool
    instead of one per trigger (fewer TCP connections, less memory and CPU per poll). The session is
    closed when its last user leaves. No credentials live in it: each request carries its own headers.
    """
    import aiohttp

    loop = asyncio.get_running_loop()
    entry = _SHARED_SESSIONS.get(loop)
    if entry is None or entry[0].closed:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60)
        entry = _SHARED_SESSIONS[loop] = [aiohttp.ClientSession(connector=connector), 0]
    entry[1] += 1
    try:
        yield entry[0]
    finally:
        entry[1] -= 1
        if entry[1] == 0 and _SHARED_SESSIONS.get(loop) is entry:
            del _SHARED_SESSIONS[loop]
            with contextlib.suppress(Exception):
                await asyncio.shield(entry[0].close())


class VideoGenHook(BaseHook):
    """Talks to one video-generation gateway through an Airflow connection.

    The connection holds the API key in Password and, optionally, a Host overriding the gateway's
    default URL (e.g. the built-in emulator). Subclasses set :attr:`gateway_name`.

    :param conn_id: Airflow connection id.
    :param timeout: read timeout of one HTTP request, in seconds (connect timeout: 10 s).
    :param max_attempts: tries for one status poll, submit or download request before a transient
        error is raised.
    :param retry_initial: first backoff wait in seconds (doubling, with jitter, up to 60 s) when the
        gateway gives no ``Retry-After``.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "videogen_default"
    conn_type = "videogen"
    hook_name = "Video generation"
    gateway_name: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[VideoGenHook]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.gateway_name:
            gateway = GATEWAYS[cls.gateway_name]
            cls.conn_type = gateway.conn_type
            cls.hook_name = f"{gateway.label} (video generation)"
            VideoGenHook._registry[gateway.conn_type] = cls

    def __init__(self, conn_id: str = default_conn_name, *, timeout: float = 60.0,
                 max_attempts: int = retries.DEFAULT_MAX_ATTEMPTS, retry_initial: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_initial = retry_initial
        self._async_settings: GatewaySettings | None = None
        self._async_request_kwargs: dict[str, Any] | None = None

    # -- choosing the hook for a connection ------------------------------------------------------
    @classmethod
    def class_for_conn_type(cls, conn_type: str | None) -> type[VideoGenHook]:
        import airflow_provider_videogen.hooks.gateways  # noqa: F401  (registers the subclasses)

        try:
            return cls._registry[conn_type or ""]
        except KeyError:
            known = ", ".join(sorted(GATEWAY_BY_CONN_TYPE))
            raise GatewayRequestRejected(
                f"connection type {conn_type!r} is not a video-generation gateway (expected one of: {known})"
            ) from None

    @classmethod
    def for_connection(cls, conn_id: str, **kwargs) -> VideoGenHook:
        """The hook subclass matching the connection's type (``videogen_openai`` -> OpenAIVideoHook...)."""
        return cls.class_for_conn_type(cls.get_connection(conn_id).conn_type)(conn_id, **kwargs)

    @classmethod
    async def afor_connection(cls, conn_id: str, **kwargs) -> VideoGenHook:
        """Async :meth:`for_connection`: one connection look-up, with Airflow's deadlock-safe helpers."""
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn = await get_async_connection(conn_id, hook=cls)
        hook = cls.class_for_conn_type(conn.conn_type)(conn_id, **kwargs)
        extra = await get_async_extra_dejson(conn)
        hook._async_settings = settings_from_connection(conn, extra, hook.gateway, hook.timeout)
        return hook

    # -- settings ---------------------------------------------------------------------------------
    @property
    def gateway(self) -> Gateway:
        return GATEWAYS[self.gateway_name]

    @property
    def protocol(self):
        return self.gateway.protocol

    @cached_property
    def settings(self) -> GatewaySettings:
        conn = self.get_connection(self.conn_id)
        return settings_from_connection(conn, conn.extra_dejson, self.gateway, self.timeout)

    async def asettings(self) -> GatewaySettings:
        """Settings read with Airflow's deadlock-safe async connection helpers (for the triggerer)."""
        if self._async_settings is None:
            from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

            conn = await get_async_connection(self.conn_id, hook=self)
            extra = await get_async_extra_dejson(conn)
            self._async_settings = settings_from_connection(conn, extra, self.gateway, self.timeout)
        return self._async_settings

    def auth_headers(self, settings: GatewaySettings) -> dict[str, str]:
        if not settings.api_key:
            raise GatewayAuthError(f"connection {self.conn_id!r} has no API key in Password", gateway=self.gateway_name)
        return self.protocol.auth_headers(settings.api_key)

    def default_model(self) -> str:
        return self.settings.default_model or self.gateway.default_model

    # -- sync transport (workers) -----------------------------------------------------------------
    @cached_property
    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        return session

    def _send(self, req: HttpRequest, *, step: str, operation_id: str | None = None) -> requests.Response:
        settings = self.settings
        try:
            response = self.session.request(
                req.method, settings.base_url + req.path, params=req.params, json=req.json, data=req.form,
                files=req.files, headers={"Accept": "application/json", **self.auth_headers(settings)},
                timeout=(CONNECT_TIMEOUT, settings.timeout), verify=settings.verify, allow_redirects=False,
            )
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
            refused = isinstance(err, requests.ConnectTimeout) or "NewConnectionError" in repr(err)
            if step == "submit" and not refused:
                raise SubmitOutcomeUnknown(
                    f"submit failed after the request may have reached the gateway ({type(err).__name__}); "
                    "the job may exist and be billed: check the gateway before retrying",
                    gateway=self.gateway_name) from None
            raise TransientGatewayError(f"{step}: {type(err).__name__} talking to {settings.base_url}",
                                        gateway=self.gateway_name, operation_id=operation_id) from None
        except requests.Timeout:
            if step == "submit":
                raise SubmitOutcomeUnknown(
                    f"submit timed out after {settings.timeout:.0f} s; the gateway may have accepted (and billed) "
                    "the job: check the gateway before retrying", gateway=self.gateway_name) from None
            raise TransientGatewayError(f"{step}: no answer within {settings.timeout:.0f} s",
                                        gateway=self.gateway_name, operation_id=operation_id) from None
        if response.status_code >= 300:
            error = error_for_status(response.status_code, response.headers, response.text, protocol=self.protocol,
                                     operation_id=operation_id, step=step, api_key=settings.api_key)
            if step == "submit" and (response.status_code >= 500 or response.status_code == 408):
                raise SubmitOutcomeUnknown(f"{error.reason}; the gateway may have accepted (and billed) the job: "
                                           "check the gateway before retrying", gateway=self.gateway_name)
            raise error
        return response

    def _json(self, response: requests.Response, *, step: str, operation_id: str | None = None) -> Any:
        try:
            return response.json()
        except ValueError:
            raise GatewayResponseError(f"{step} answered non-JSON ({response.headers.get('Content-Type')}): "
                                       f"{gateway_message(response.text)}", gateway=self.gateway_name,
                                       operation_id=operation_id) from None

    def retrying(self):
        """The tenacity policy for one sync call (see ``retries.py``)."""
        return retries.retrying(max_attempts=self.max_attempts, initial=self.retry_initial, log=self.log)

    def submit(self, request: GenerationRequest) -> str:
        """Submit one generation job and return its operation id.

        Retried only while the job certainly does not exist (connection refused, HTTP 429). A timeout or
        5xx raises :class:`SubmitOutcomeUnknown` and is never retried: the job may be billed.

        :raises GatewayAuthError: key rejected. :raises GatewayRequestRejected: bad model/parameters.
        """
        http = self.protocol.build_submit(request)
        for attempt in self.retrying():
            with attempt:
                response = self._send(http, step="submit")
        return self.protocol.parse_submit(self._json(response, step="submit"))

    def get_operation(self, operation_id: str) -> VideoOperation:
        """Poll the job once (transient errors retried) and return it normalised.

        :raises VideoNotFound: unknown operation id. :raises TransientGatewayError: retries exhausted.
        """
        http = self.protocol.build_status(operation_id)
        for attempt in self.retrying():
            with attempt:
                response = self._send(http, step="status", operation_id=operation_id)
                body = self._json(response, step="status", operation_id=operation_id)
        return self.protocol.parse_status(operation_id, body, dict(response.headers))

    def test_connection(self) -> tuple[bool, str]:
        """Check the key with the gateway's model list (the Test button in the Airflow UI)."""
        try:
            self._send(self.protocol.build_test_connection(), step="connection test")
        except Exception as err:  # noqa: BLE001  (reported to the UI, not raised)
            return False, str(err)
        return True, f"Connected to {self.gateway.label} at {self.settings.base_url}"

    # -- async transport (triggerer) --------------------------------------------------------------
    async def aget_operation(self, operation_id: str, session: aiohttp.ClientSession) -> VideoOperation:
        """Poll the job once through ``session`` (one try; the trigger owns the retry loop).

        :raises TransientGatewayError: 408/429/5xx, connection error or timeout (``retry_after`` set
            from the gateway's hint). Other errors as in :meth:`get_operation`.
        """
        import aiohttp

        settings = await self.asettings()
        if self._async_request_kwargs is None:  # built once per hook: headers, TLS, timeout
            self._async_request_kwargs = {
                "headers": {"Accept": "application/json", "User-Agent": TRIGGER_USER_AGENT,
                            **self.auth_headers(settings)},
                "ssl": _ssl_for(settings.verify),
                "allow_redirects": False,
                "timeout": aiohttp.ClientTimeout(total=settings.timeout, sock_connect=CONNECT_TIMEOUT),
            }
        http = self.protocol.build_status(operation_id)
        try:
            async with session.request(http.method, settings.base_url + http.path, params=http.params,
                                       **self._async_request_kwargs) as response:
                raw = await response.read()
                headers = dict(response.headers)
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            raise TransientGatewayError(f"status: {type(err).__name__} talking to {settings.base_url}",
                                        gateway=self.gateway_name, operation_id=operation_id) from None
        text = raw.decode("utf-8", "replace")
        if status >= 300:
            raise error_for_status(status, headers, text, protocol=self.protocol, operation_id=operation_id,
                                   step="status", api_key=settings.api_key)
        try:
            body = json.loads(text)
        except ValueError:
            raise GatewayResponseError(f"status answered non-JSON: {gateway_message(text)}",
                                       gateway=self.gateway_name, operation_id=operation_id) from None
        return self.protocol.parse_status(operation_id, body, headers)
