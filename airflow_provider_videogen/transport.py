"""The one transport every request goes through: requests on workers, aiohttp in the triggerer, one policy.

Every rule about talking to a gateway lives here, once, for both clients:

- **Which host gets the key.** The key header is added only when the URL that the HTTP client will
  actually connect to (parsed by that client: urllib3 for requests, yarl for aiohttp) has the gateway's
  own scheme, host and port. URLs handed over by a gateway (redirects, a JSON ``video_url``) are refused
  outright when they are not http(s) or hold user info, a backslash, whitespace or control characters;
  with ``block_private_addresses`` they may not resolve into private or loopback networks either.
- **Bounded reads.** Status and error bodies are decompressed by this module under a cap on their
  *decompressed* size (:data:`MAX_BODY_BYTES`); a status body that carries the whole video (a ``data:`` URL,
  Gemini ``encodedVideo``) is scanned as a stream with its long strings elided, never held whole.
  Media downloads ask for ``Accept-Encoding: identity``.
- **Time.** ``timeout`` (seconds, the connection's ``timeout`` extra) is the total deadline of one API
  request (submit, poll, test), checked between reads so a server that drips bytes cannot stretch it.
  A download may take longer, but must deliver at least :data:`MIN_DOWNLOAD_RATE` bytes/s averaged over
  every ``timeout``-second window.
- **Failures become typed errors**, built here with the key redacted from whatever the gateway said;
  a submit that may have reached the gateway is never reported as retryable (it may be billed), and one
  that certainly did not (DNS failure, connection refused) is.
- **The triggerer's shared aiohttp session** keeps no cookies (``DummyCookieJar``) and honours proxy
  settings from the environment (``HTTP(S)_PROXY``/``NO_PROXY``), as requests does on the worker: the
  proxy is looked up once per origin (:func:`env_proxy`), not per request as aiohttp's ``trust_env``
  does with two thread hops each. Neither client reads ``~/.netrc``: the connection's key is the credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import requests
import urllib3

from airflow_provider_videogen.exceptions import (
    GatewayAuthError,
    GatewayResponseError,
    InvalidConnection,
    ModelNotAvailable,
    SubmitOutcomeUnknown,
    TransientGatewayError,
    UnsafeURL,
    VideoGenError,
)
from airflow_provider_videogen.gateways.wire import (
    BodyTooLarge,
    BoundedDecoder,
    JsonScanner,
    error_for_status,
    gateway_message,
    redact,
)

if TYPE_CHECKING:
    import aiohttp
    import yarl

    from airflow_provider_videogen.gateways import HttpRequest, VideoProtocol

CONNECT_TIMEOUT = 10.0  # seconds
DEFAULT_TIMEOUT = 60.0  # seconds: the connection's ``timeout`` extra when it has none
MAX_BODY_BYTES = 4 * 1024 * 1024  # decompressed size of one status/submit answer (long strings elided)
MAX_ERROR_BYTES = 64 * 1024  # decompressed bytes of an error body that are read (the rest is ignored)
ELIDE_OVER = 64 * 1024  # strings longer than this in a status body are elided (inline videos)
MIN_DOWNLOAD_RATE = 16 * 1024  # bytes/s, averaged over each ``timeout``-second window of a download
READ_SIZE = 64 * 1024  # bytes per socket read
MAX_REDIRECTS = 5
USER_AGENT = "airflow-provider-videogen"
TRIGGER_USER_AGENT = "airflow-provider-videogen (triggerer)"  # polls from VideoOperationTrigger
MEDIA_HEADERS = {"Accept": "video/mp4, application/octet-stream, application/binary, application/json;q=0.5",
                 "Accept-Encoding": "identity"}


# ---------------------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Policy:
    """One gateway connection's rules: where the key may go, caps and deadlines (seconds, bytes).

    ``api_key`` never leaves this object except as the protocol's auth header to the gateway's origin.
    """

    gateway: str
    protocol: VideoProtocol
    base_url: str
    api_key: str = field(repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT
    block_private_addresses: bool = False
    conn_id: str = ""
    credentials: Credentials | None = field(default=None, repr=False, compare=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        if self.credentials is not None:
            return self.credentials.secrets()
        return (self.api_key,) if self.api_key else ()

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def key_headers(self) -> dict[str, str]:
        """The credential header(s) for the gateway's origin: the protocol's API-key header, or the
        ``credentials``' token (refreshed when needed) where the connection signs in another way."""
        if self.credentials is not None:
            return self.credentials.headers()
        if not self.api_key:
            raise GatewayAuthError(f"connection {self.conn_id!r} has no API key in Password", gateway=self.gateway)
        return self.protocol.auth_headers(self.api_key)

    def url(self, http: HttpRequest) -> str:
        return self.base_url + http.path

    def absolute(self, url: str) -> str:
        """A locator URL: relative ones (starting with ``/``) are on the gateway's base URL."""
        return self.base_url + url if url.startswith("/") else url

    def check_foreign_url(self, url: str, *, what: str, operation_id: str | None = None) -> str:
        """Refuse a URL handed over by the gateway (redirect, ``video_url``) that this provider won't fetch.

        :raises UnsafeURL: not http(s); user info, a backslash, whitespace or control characters in it; or,
            with ``block_private_addresses``, a host that resolves into a private or loopback network.
        """
        def refuse(reason: str) -> UnsafeURL:
            return UnsafeURL(f"{what}: refusing {safe_url(url)!r}: {reason}", gateway=self.gateway,
                             operation_id=operation_id)

        if not isinstance(url, str) or not url:
            raise refuse("not a URL")
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url) or "\\" in url:
            raise refuse("it holds a backslash, whitespace or control characters")
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            raise refuse("only http and https URLs are followed")
        authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        if "@" in authority or "%" in authority:
            raise refuse("user info or percent-encoding in the host is not allowed")
        try:
            parsed = urllib3.util.parse_url(url)
        except urllib3.exceptions.LocationParseError as err:
            raise refuse(f"unparseable ({type(err).__name__})") from None
        if parsed.auth or not parsed.host:
            raise refuse("no host, or user info")
        if self.block_private_addresses:
            self._check_public(parsed.host, refuse)
        return url

    @staticmethod
    def _check_public(host: str, refuse) -> None:
        try:
            infos = socket.getaddrinfo(host.strip("[]"), None)
        except OSError as err:
            raise refuse(f"its host does not resolve ({type(err).__name__})") from None
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if not address.is_global:
                raise refuse("it points into a private, loopback or link-local network "
                             "(block_private_addresses is on)")


class Credentials(Protocol):
    """A credential other than a static API key (an OAuth access token that expires, e.g. Vertex AI).

    ``headers()`` refreshes on the worker when needed; ``aheaders()`` does the same in the triggerer
    without blocking its event loop; ``secrets()`` are the strings every error is redacted of (the
    current and previous tokens).
    """

    def headers(self) -> dict[str, str]: ...

    async def aheaders(self) -> dict[str, str]: ...

    def secrets(self) -> tuple[str, ...]: ...


def safe_url(url: str) -> str:
    """A URL for messages: scheme, host and path only (signed query strings can hold tokens)."""
    try:
        parsed = urllib3.util.parse_url(url)
    except (urllib3.exceptions.LocationParseError, TypeError, ValueError):
        return "(unparseable URL)"
    host = parsed.host or ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path or ''}"


def requests_origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of the server requests will connect to for ``url``, by requests' own parsing."""
    prepared = requests.Request("GET", url).prepare().url or ""
    parsed = urllib3.util.parse_url(prepared)
    scheme = (parsed.scheme or "").lower()
    return scheme, (parsed.host or "").lower().rstrip("."), parsed.port or {"http": 80, "https": 443}.get(scheme, 0)


def aiohttp_origin(url: str | yarl.URL) -> tuple[str, str, int]:
    """(scheme, host, port) of the server aiohttp will connect to for ``url``, by yarl's parsing."""
    import yarl

    parsed = url if isinstance(url, yarl.URL) else yarl.URL(url)
    return (parsed.scheme or "").lower(), (parsed.raw_host or "").lower().rstrip("."), parsed.port or 0


# ------------------------------------------------------------------------------- answer reading


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if abs(value) >= 2**63:
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: bytes | str) -> Any:
    """``json.loads`` that refuses NaN, Infinity, numbers that overflow a float (``1e999``) and integers
    beyond 64 bits."""
    return json.loads(data, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constants)


class _Answer:
    """Collects one API answer under the policy: decoded with a cap, long strings elided, then parsed."""

    def __init__(self, policy: Policy, status: int, headers: Mapping[str, str], step: str,
                 operation_id: str | None, model: str | None):
        self.policy, self.status, self.headers = policy, status, dict(headers)
        self.step, self.operation_id, self.model = step, operation_id, model
        self.is_error = status >= 300
        encoding = self.headers.get("Content-Encoding") or self.headers.get("content-encoding")
        try:
            self.decoder = BoundedDecoder(encoding, None)
        except ValueError as err:
            raise self._bad(str(err)) from None
        # A body no longer than ELIDE_OVER cannot hold a string longer than that: it is kept as it comes (a
        # status answer is a few hundred bytes); only a longer one is scanned, with its long strings elided.
        self.scanner: JsonScanner | None = None
        self.parts: list[bytes] = []
        self.size = 0

    def _bad(self, what: str) -> VideoGenError:
        message = f"{self.step} answered HTTP {self.status}: {what}"
        if self.step == "submit" and not self.is_error:  # accepted, but no job id can be read from it
            return SubmitOutcomeUnknown.because(message, gateway=self.policy.gateway)
        return GatewayResponseError(message, gateway=self.policy.gateway, operation_id=self.operation_id)

    def feed(self, raw: bytes) -> bool:
        """Take raw (encoded) body bytes; returns False once enough of an error body was read."""
        try:
            return all(self.take(piece) for piece in self.decoder.feed(raw))
        except GatewayResponseError:
            raise
        except ValueError as err:  # corrupt compressed data
            raise self._bad(str(err)) from None

    def take(self, data: bytes) -> bool:
        """Take decoded body bytes; returns False once enough of an error body was read."""
        try:
            if self.is_error:
                self.parts.append(data[: MAX_ERROR_BYTES - self.size])
                self.size += len(data)
                return self.size < MAX_ERROR_BYTES
            if self.scanner is None:
                self.parts.append(data)
                self.size += len(data)
                if self.size <= ELIDE_OVER:
                    return True
                data, self.parts = b"".join(self.parts), []
                self.scanner = JsonScanner(elide_over=ELIDE_OVER, cap=MAX_BODY_BYTES)
            self.parts.append(self.scanner.feed(data))
        except BodyTooLarge:
            raise self._bad(f"the body is larger than {MAX_BODY_BYTES} bytes once decompressed "
                            "(long strings aside); refusing to read more") from None
        except ValueError as err:
            raise self._bad(str(err)) from None
        return True

    def result(self) -> tuple[Any, dict[str, str]]:
        if not self.is_error:
            with contextlib.suppress(ValueError):
                self.take(self.decoder.flush())
        text = b"".join(self.parts).decode("utf-8", "replace")
        if self.is_error:  # error_for_status redacts every piece of gateway text it puts in the error
            error = error_for_status(self.status, self.headers, text, protocol=self.policy.protocol,
                                     operation_id=self.operation_id, step=self.step,
                                     secrets=self.policy.secrets, model=self.model)
            if self.step == "submit" and (self.status >= 500 or self.status == 408) \
                    and not isinstance(error, ModelNotAvailable):
                raise SubmitOutcomeUnknown.because(error.reason, gateway=self.policy.gateway)
            raise error
        text = self.policy.redact(text)
        try:
            return parse_json(text), self.headers
        except (ValueError, RecursionError):
            raise self._bad(f"a non-JSON answer ({self.headers.get('Content-Type', 'no Content-Type')}): "
                            f"{gateway_message(text)}") from None


class _Deadline:
    """The total time one API request may take (seconds, monotonic)."""

    def __init__(self, policy: Policy, step: str, operation_id: str | None):
        self.policy, self.step, self.operation_id = policy, step, operation_id
        self.end = time.monotonic() + policy.timeout

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise self.expired()

    def expired(self) -> VideoGenError:
        message = f"{self.step} timed out: no complete answer within {self.policy.timeout:g} s"
        if self.step == "submit":
            return SubmitOutcomeUnknown.because(message, gateway=self.policy.gateway)
        return TransientGatewayError(message, gateway=self.policy.gateway, operation_id=self.operation_id)


# ------------------------------------------------------------------------------ sync (workers)


def _not_sent(err: BaseException) -> bool:
    """True when a requests error happened before any byte of the request left (DNS, refused, connect)."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError,
                              urllib3.exceptions.ConnectTimeoutError)):
            return True
        inner = getattr(cause, "reason", None)
        if inner is None and cause.args and isinstance(cause.args[0], BaseException):
            inner = cause.args[0]
        cause = inner if isinstance(inner, BaseException) else cause.__cause__ or cause.__context__
    return False


class MediaStream:
    """An open download response: ``status``, ``headers``, ``url`` and :meth:`pieces` under the policy."""

    def __init__(self, transport: SyncTransport, response: requests.Response, operation_id: str | None):
        self.transport, self.response, self.operation_id = transport, response, operation_id
        self.status = response.status_code
        self.headers = response.headers
        self.url = response.url
        encoding = response.headers.get("Content-Encoding")
        try:
            self.decoder = BoundedDecoder(encoding, None)
        except ValueError as err:
            response.close()
            raise GatewayResponseError(f"download: {err}", gateway=transport.policy.gateway,
                                       operation_id=operation_id) from None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    @property
    def declared_length(self) -> int | None:
        """Content-Length in bytes, when it describes the bytes we will see (no content coding)."""
        if not self.decoder.identity:
            return None
        try:
            value = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None
        return value if value >= 0 else None

    def pieces(self, cap: int | None = None) -> Iterator[bytes]:
        """The body in pieces of at most 64 KiB (decoded), enforcing the minimum transfer rate.

        :raises TransientGatewayError: the body arrives slower than the minimum rate.
        :raises requests.ConnectionError / OSError: the connection broke (the caller may resume).
        """
        policy = self.transport.policy
        window = policy.timeout
        window_start, window_bytes = time.monotonic(), 0
        raw = self.response.raw
        while True:
            data = raw.read1(READ_SIZE, decode_content=False)
            now = time.monotonic()
            window_bytes += len(data)
            if now - window_start >= window:
                if window_bytes < MIN_DOWNLOAD_RATE * (now - window_start):
                    raise TransientGatewayError(
                        f"download: {window_bytes} bytes in {now - window_start:.0f} s, below the minimum rate of "
                        f"{MIN_DOWNLOAD_RATE} bytes/s", gateway=policy.gateway, operation_id=self.operation_id)
                window_start, window_bytes = now, 0
            if not data:
                tail = self.decoder.flush()
                if tail:
                    yield tail
                return
            yield from self.decoder.feed(data)

    def read_json(self) -> Any:
        """The whole (small) JSON body, capped like an API answer (a gateway's JSON instead of a video)."""
        answer = _Answer(self.transport.policy, self.status, self.headers, "download", self.operation_id, None)
        for piece in self.pieces():
            answer.take(piece)
        return answer.result()[0]

    def close(self) -> None:
        self.response.close()


def _no_netrc(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """requests' ``auth`` that changes nothing: with ``trust_env`` (proxies, CA bundles from the
    environment) requests would otherwise read ``~/.netrc`` and replace the key's ``Authorization`` header."""
    return request


class SyncTransport:
    """requests, for workers: submit, poll and download under the connection's :class:`Policy`."""

    def __init__(self, policy: Policy, session: requests.Session | None = None):
        self.policy = policy
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.trust_env = True
        self._origin = requests_origin(policy.base_url)

    def headers_for(self, url: str) -> dict[str, str]:
        """The key header, only when requests will connect to the gateway's own origin."""
        return self.policy.key_headers() if requests_origin(url) == self._origin else {}

    def _send(self, method: str, url: str, *, step: str, operation_id: str | None, headers: dict[str, str],
              **kwargs: Any) -> requests.Response:
        policy = self.policy
        try:
            return self.session.request(method, url, headers=headers, stream=True, allow_redirects=False,
                                        timeout=(CONNECT_TIMEOUT, policy.timeout), verify=policy.verify,
                                        auth=_no_netrc, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as err:
            where = safe_url(policy.base_url) if url.startswith(policy.base_url) else safe_url(url)
            if _not_sent(err):
                raise TransientGatewayError(f"{step}: could not connect to {where} ({type(err).__name__}); "
                                            "nothing was sent", gateway=policy.gateway,
                                            operation_id=operation_id) from None
            if isinstance(err, requests.Timeout):
                raise _Deadline(policy, step, operation_id).expired() from None
            if step == "submit":
                raise SubmitOutcomeUnknown.because(f"submit failed after the request may have reached the gateway "
                                                   f"({type(err).__name__})", gateway=policy.gateway) from None
            raise TransientGatewayError(f"{step}: {type(err).__name__} talking to {where}", gateway=policy.gateway,
                                        operation_id=operation_id) from None

    def api(self, http: HttpRequest, *, step: str, operation_id: str | None = None,
            model: str | None = None) -> tuple[Any, dict[str, str]]:
        """Send one API request (submit, status, test) and return ``(JSON body, headers)``.

        Multipart fields always go out as ``multipart/form-data`` (never urlencoded), JSON as JSON.
        Redirects are not followed on API calls. Raises the typed errors of :func:`error_for_status`,
        :class:`SubmitOutcomeUnknown` for a submit that may have been billed, :class:`GatewayResponseError`
        for an unreadable or oversized body, :class:`TransientGatewayError` past the deadline.
        """
        deadline = _Deadline(self.policy, step, operation_id)
        url = self.policy.url(http)
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", **self.headers_for(url)}
        kwargs: dict[str, Any] = {"params": http.params}
        if http.form is not None or http.files:
            parts: list[tuple[str, Any]] = [(k, (None, v)) for k, v in (http.form or {}).items()]
            parts += list(http.files or [])
            kwargs["files"] = parts  # requests encodes multipart/form-data whenever ``files`` is given
        elif http.json is not None:
            kwargs["json"] = http.json
        response = self._send(http.method, url, step=step, operation_id=operation_id, headers=headers, **kwargs)
        answer = _Answer(self.policy, response.status_code, response.headers, step, operation_id, model)
        self._read(response, answer, deadline)
        return answer.result()

    def _read(self, response: requests.Response, answer: _Answer, deadline: _Deadline) -> None:
        """Read an answer's body into ``answer``, checking the deadline between reads; closes the response."""
        with response:
            try:
                while True:
                    data = response.raw.read1(READ_SIZE, decode_content=False)
                    deadline.check()
                    if not data or not answer.feed(data):
                        break
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
                if answer.is_error:  # the status already says what went wrong: report that
                    return
                raise self._broken(err, answer.step, answer.operation_id) from None

    def _broken(self, err: BaseException, step: str, operation_id: str | None) -> VideoGenError:
        if isinstance(err, (TimeoutError, socket.timeout, urllib3.exceptions.ReadTimeoutError)):
            return _Deadline(self.policy, step, operation_id).expired()
        if step == "submit":
            return SubmitOutcomeUnknown.because(f"submit: the connection broke while reading the answer "
                                                f"({type(err).__name__})", gateway=self.policy.gateway)
        return TransientGatewayError(f"{step}: the connection broke while reading the answer ({type(err).__name__})",
                                     gateway=self.policy.gateway, operation_id=operation_id)

    def open(self, url: str, *, operation_id: str | None, headers: dict[str, str] | None = None,
             step: str = "download", json: Any = None) -> MediaStream:
        """GET a media URL, following up to 5 redirects by hand, the key only to the gateway's origin.

        With ``json``, the first request is a POST of that JSON body (a status read again for the video it
        holds: Vertex AI's ``fetchPredictOperation``); a redirect is then followed with a GET.
        Redirect targets are checked with :meth:`Policy.check_foreign_url`. A 2xx answer is returned
        open; an error answer raises its typed error (body capped and redacted).
        """
        url = self.policy.absolute(url)
        if not url.startswith(self.policy.base_url):
            self.policy.check_foreign_url(url, what=step, operation_id=operation_id)
        body = {"json": json} if json is not None else {}
        for _ in range(MAX_REDIRECTS + 1):
            send = {**MEDIA_HEADERS, **(headers or {}), **self.headers_for(url)}
            response = self._send("POST" if body else "GET", url, step=step, operation_id=operation_id,
                                  headers=send, **body)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                target = requests.compat.urljoin(url, location)
                url = self.policy.check_foreign_url(target, what=f"{step} redirect", operation_id=operation_id)
                body = {}
                continue
            if response.status_code >= 300:
                answer = _Answer(self.policy, response.status_code, response.headers, step, operation_id, None)
                self._read(response, answer, _Deadline(self.policy, step, operation_id))
                answer.result()  # raises the typed error
            return MediaStream(self, response, operation_id)
        raise GatewayResponseError(f"{step}: more than {MAX_REDIRECTS} redirects", gateway=self.policy.gateway,
                                   operation_id=operation_id)


# --------------------------------------------------------------------------- async (triggerer)


_SHARED_SESSIONS: dict[Any, list] = {}  # event loop -> [aiohttp.ClientSession, number of users]


@contextlib.asynccontextmanager
async def shared_client_session():
    """One ``aiohttp.ClientSession`` (and keep-alive pool) per event loop, shared by every trigger in it.

    No state crosses connections: no cookie jar (``DummyCookieJar``), no default headers or auth (each
    request carries its own; ``~/.netrc`` is not read, the connection's key is the credential). Proxy
    settings from the environment are honoured per request by :meth:`AsyncTransport.api` (:func:`env_proxy`),
    so the session's own ``trust_env`` stays off. Bodies are decompressed by this module under a cap
    (``auto_decompress=False``). Closed when its last user leaves.
    """
    import aiohttp

    loop = asyncio.get_running_loop()
    entry = _SHARED_SESSIONS.get(loop)
    if entry is None or entry[0].closed:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60)
        session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                        auto_decompress=False)
        entry = _SHARED_SESSIONS[loop] = [session, 0]
    entry[1] += 1
    try:
        yield entry[0]
    finally:
        entry[1] -= 1
        if entry[1] == 0 and _SHARED_SESSIONS.get(loop) is entry:
            del _SHARED_SESSIONS[loop]
            with contextlib.suppress(Exception):
                await asyncio.shield(entry[0].close())


# The variables urllib (and so requests and aiohttp) read proxy settings from, in both spellings.
_PROXY_VARIABLES = tuple(spelling for name in ("http", "https", "all", "no")
                         for spelling in (f"{name}_proxy", f"{name.upper()}_PROXY"))
_PROXIES: dict[tuple, tuple[Any, Any]] = {}  # (scheme, host, port, the variables' values) -> (proxy, auth)
_MAX_PROXY_ENTRIES = 1024


async def env_proxy(url: yarl.URL) -> tuple[Any, Any]:
    """``(proxy URL, proxy auth)`` for ``url`` from ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` (and
    ``~/.netrc`` for the proxy's own credentials), or ``(None, None)`` for a direct connection.

    The same decision as aiohttp's ``trust_env=True`` (its ``get_env_proxy_for_url``, which requests' rules
    match on Linux), taken once per origin and environment instead of per request: aiohttp makes two
    thread hops for every request with ``trust_env``, which doubled the triggerer's CPU per poll
    (``make bench`` item 3). The first look-up of an origin still runs in a thread (it may read files).
    """
    from aiohttp.helpers import get_env_proxy_for_url

    key = (url.scheme, url.raw_host, url.port, tuple(os.environ.get(v) for v in _PROXY_VARIABLES))
    found = _PROXIES.get(key)
    if found is None:
        try:
            found = await asyncio.to_thread(get_env_proxy_for_url, url)
        except LookupError:  # no proxy for this scheme, or NO_PROXY covers the host
            found = (None, None)
        if len(_PROXIES) >= _MAX_PROXY_ENTRIES:
            _PROXIES.clear()
        _PROXIES[key] = found
    return found


def _ssl_for(verify: bool | str) -> Any:
    """aiohttp's ``ssl`` argument for a requests-style ``verify`` (True, False or a CA bundle path)."""
    if isinstance(verify, str):
        import ssl

        return ssl.create_default_context(cafile=verify)
    return True if verify else False


class AsyncTransport:
    """aiohttp, for the triggerer: status polls under the same :class:`Policy` as :class:`SyncTransport`."""

    def __init__(self, policy: Policy, session: aiohttp.ClientSession):
        import aiohttp

        self.policy = policy
        self.session = session
        self._origin = aiohttp_origin(policy.base_url)
        self._ssl = _ssl_for(policy.verify)
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout, sock_connect=CONNECT_TIMEOUT)
        self._proxy: tuple[Any, Any] | None = None  # every API request goes to the gateway's origin

    async def headers_for(self, url: str | yarl.URL) -> dict[str, str]:
        """The credential headers, only when aiohttp will connect to the gateway's own origin; a token is
        refreshed without blocking the event loop."""
        if aiohttp_origin(url) != self._origin:
            return {}
        if self.policy.credentials is not None:
            return await self.policy.credentials.aheaders()
        return self.policy.key_headers()

    async def api(self, http: HttpRequest, *, step: str, operation_id: str | None = None,
                  model: str | None = None) -> tuple[Any, dict[str, str]]:
        """One API request (GET/POST with a JSON body); same answers and errors as :meth:`SyncTransport.api`."""
        import aiohttp
        import yarl

        policy = self.policy
        deadline = _Deadline(policy, step, operation_id)
        url = yarl.URL(policy.url(http))  # parsed once: the key decision and aiohttp's request use this object
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate",
                   "User-Agent": TRIGGER_USER_AGENT, **await self.headers_for(url)}
        if self._proxy is None:
            self._proxy = await env_proxy(url)
        proxy, proxy_auth = self._proxy
        try:
            async with self.session.request(http.method, url, params=http.params, json=http.json, headers=headers,
                                            ssl=self._ssl, allow_redirects=False, timeout=self._timeout,
                                            proxy=proxy, proxy_auth=proxy_auth) as response:
                answer = _Answer(policy, response.status, response.headers, step, operation_id, model)
                length = response.content_length
                if length is not None and length <= ELIDE_OVER:  # a status answer: one read of a known length
                    answer.feed(await response.read())
                else:
                    async for data in response.content.iter_chunked(READ_SIZE):
                        deadline.check()
                        if not answer.feed(data):
                            break
        except TimeoutError:
            raise deadline.expired() from None
        except aiohttp.ClientConnectorError as err:
            raise TransientGatewayError(f"{step}: could not connect to {safe_url(policy.base_url)} "
                                        f"({type(err).__name__}); nothing was sent", gateway=policy.gateway,
                                        operation_id=operation_id) from None
        except aiohttp.ClientError as err:
            raise TransientGatewayError(f"{step}: {type(err).__name__} talking to {safe_url(policy.base_url)}",
                                        gateway=policy.gateway, operation_id=operation_id) from None
        return answer.result()


# ------------------------------------------------------------------------- connection settings

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_bool(value: Any, *, name: str, gateway: str) -> bool:
    """A boolean extra given as a JSON bool or as a string (connection URIs and secrets backends)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidConnection(
        f"connection extra {name!r} must be true or false, not {value!r}", gateway=gateway)


def parse_verify(value: Any, *, gateway: str) -> bool | str:
    """``verify``: a bool, ``"true"``/``"false"``/``"off"``..., or the path of a CA bundle that exists."""
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in _TRUE + _FALSE:
        return text.lower() in _TRUE
    if os.path.isfile(text):
        return text
    raise InvalidConnection(
        f"connection extra 'verify' must be true, false or the path of a CA bundle file; {text!r} is none of "
        "these", gateway=gateway)


def parse_timeout(value: Any, default: float, *, gateway: str) -> float:
    """``timeout`` in seconds: a positive number, or a string holding one (``"30"``)."""
    if value is None or value == "":
        return float(default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
        raise InvalidConnection(
            f"connection extra 'timeout' must be a positive number of seconds, not {value!r}", gateway=gateway)
    return seconds
