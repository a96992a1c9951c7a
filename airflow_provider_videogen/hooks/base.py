"""The shared hook: reads the Airflow connection, and runs the gateway's protocol over the one transport.

Every HTTP rule (which host gets the key, caps, deadlines, redaction) lives in ``transport.py``; every
difference between gateways lives in their protocol (``gateways/``). This module only joins the two to
Airflow: connections (sync on workers, deadlock-safe async in the triggerer), retries and the UI's Test
button. One subclass per connection type (``hooks/gateways.py``) only names its gateway.
"""

from __future__ import annotations

import importlib
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import Variable

from airflow_provider_videogen._compat import BaseHook  # isort: skip  (compat BaseHook + 3.1 connection form)

from airflow_provider_videogen import registry, retries, spend
from airflow_provider_videogen.exceptions import (
    GatewayAuthError,
    GatewayResponseError,
    InvalidConnection,
    InvalidIdentifier,
    InvalidVideoRequest,
    ModelNotAvailable,
    SubmitOutcomeUnknown,
    TransientGatewayError,
    VideoGenError,
)
from airflow_provider_videogen.gateways import GATEWAY_BY_CONN_TYPE, GATEWAYS, Gateway
from airflow_provider_videogen.transport import (
    CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    TRIGGER_USER_AGENT,
    USER_AGENT,
    AsyncTransport,
    Policy,
    SyncTransport,
    parse_bool,
    parse_timeout,
    parse_verify,
    shared_client_session,
)

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_videogen.gateways import GenerationRequest, HttpRequest, VideoOperation
    from airflow_provider_videogen.spend import CostEstimate

__all__ = ["CONNECT_TIMEOUT", "TRIGGER_USER_AGENT", "USER_AGENT", "VideoGenHook", "settings_from_connection",
           "shared_client_session"]


def settings_from_connection(conn: Any, extra: dict[str, Any], gateway: Gateway, timeout: float,
                             conn_id: str = "", default_host: str | None = None) -> Policy:
    """The transport :class:`~airflow_provider_videogen.transport.Policy` of an Airflow ``Connection``.

    Host may be a full URL (``http://127.0.0.1:8080``) or a host name (then Schema is the scheme, ``https``
    by default); empty Host means the gateway's default, and is an error for a gateway without one (an
    OpenAI-compatible gateway). Extras, as JSON values or as strings (connection URIs and secrets backends
    deliver strings): ``verify`` (bool or CA bundle path), ``timeout`` (seconds), ``default_model``,
    ``block_private_addresses`` (bool). ``default_host`` replaces the gateway's default for this connection
    (one derived from the connection, e.g. Vertex AI's regional endpoint).

    :raises InvalidConnection: no usable Host, or an extra that is not what it should be (names the field).
    """
    name = gateway.name
    if not isinstance(extra, dict):
        raise InvalidConnection(f"connection {conn_id!r}: Extra must be a JSON object", gateway=name)
    host = (conn.host or "").strip().rstrip("/")
    default_host = default_host or gateway.default_host
    if not host:
        if not default_host:
            raise InvalidConnection(
                f"connection {conn_id!r} ({gateway.label}) needs a Host: the base URL of your gateway, e.g. "
                "https://gateway.example (OpenAI's own Videos API closed on 2026-09-24)", gateway=name)
        base_url = default_host
    elif "://" in host:
        base_url = host
    else:
        base_url = f"{conn.schema or 'https'}://{host}"
    if conn.port and base_url.count(":") < 2:
        base_url = f"{base_url}:{conn.port}"
    return Policy(
        gateway=name,
        protocol=gateway.protocol,
        base_url=base_url,
        api_key=conn.password or "",
        verify=parse_verify(extra.get("verify"), gateway=name),
        timeout=parse_timeout(extra.get("timeout"), timeout, gateway=name),
        block_private_addresses=parse_bool(extra.get("block_private_addresses", False),
                                           name="block_private_addresses", gateway=name),
        conn_id=conn_id,
    )


def _default_model(extra: dict[str, Any]) -> str | None:
    value = extra.get("default_model") if isinstance(extra, dict) else None
    return str(value).strip() or None if value else None


class VideoGenHook(BaseHook):
    """Talks to one video-generation gateway through an Airflow connection.

    The connection holds the API key in Password and, optionally, a Host overriding the gateway's
    default URL (e.g. the built-in emulator). Subclasses set :attr:`gateway_name`.

    :param conn_id: Airflow connection id.
    :param timeout: seconds one API request may take in total, when the connection's ``timeout`` extra
        does not say (connect timeout: 10 s); see ``transport.py`` for what it means for downloads.
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
    credential_name: ClassVar[str] = "the API key"  # what signs the requests, in the Test button's words

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.gateway_name:
            gateway = GATEWAYS[cls.gateway_name]
            cls.conn_type = gateway.conn_type
            cls.hook_name = f"{gateway.label} (video generation)"

    def __init__(self, conn_id: str = default_conn_name, *, timeout: float = DEFAULT_TIMEOUT,
                 max_attempts: int = retries.DEFAULT_MAX_ATTEMPTS, retry_initial: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_initial = retry_initial
        self._async_policy: Policy | None = None
        self._atransport: AsyncTransport | None = None
        self._status_request: tuple[str, HttpRequest] | None = None  # (operation id, its status request)
        self._default_model: str | None = None
        self._prices: Any = None

    # -- choosing the hook for a connection ------------------------------------------------------
    @classmethod
    def class_for_conn_type(cls, conn_type: str | None) -> type[VideoGenHook]:
        gateway = GATEWAY_BY_CONN_TYPE.get(conn_type or "")
        if gateway is None:
            known = ", ".join(sorted(GATEWAY_BY_CONN_TYPE))
            raise InvalidConnection(
                f"connection type {conn_type!r} is not a video-generation gateway (expected one of: {known})")
        return getattr(importlib.import_module(registry.HOOK_MODULE), gateway.hook_class)

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
        hook._async_policy = await hook.apolicy_from_connection(conn, extra)
        return hook

    # -- settings ---------------------------------------------------------------------------------
    @property
    def gateway(self) -> Gateway:
        return GATEWAYS[self.gateway_name]

    @property
    def protocol(self):
        return self.gateway.protocol

    @cached_property
    def settings(self) -> Policy:
        """The connection's transport policy (base URL, key, TLS, timeout); read once per hook."""
        conn = self.get_connection(self.conn_id)
        extra = conn.extra_dejson
        self._default_model = _default_model(extra)
        self._prices = extra.get("prices") if isinstance(extra, dict) else None
        return self.policy_from_connection(conn, extra)

    def policy_from_connection(self, conn: Any, extra: dict[str, Any]) -> Policy:
        """The transport policy of this hook's connection (a subclass adds what its gateway needs, e.g.
        credentials); blocking I/O is allowed here (the triggerer calls :meth:`apolicy_from_connection`)."""
        return settings_from_connection(conn, extra, self.gateway, self.timeout, self.conn_id)

    async def apolicy_from_connection(self, conn: Any, extra: dict[str, Any]) -> Policy:
        """:meth:`policy_from_connection` in the triggerer: never blocks the event loop (the base reads nothing
        more than the connection it is given)."""
        return self.policy_from_connection(conn, extra)

    def storage_conn_id(self) -> str | None:
        """The Airflow connection that reads videos the gateway writes into the user's own object store
        (``gcs`` locators: Vertex AI's ``storageUri``); None for a gateway that writes none."""
        return None

    def default_model(self) -> str:
        """The connection's ``default_model`` extra, else the gateway's documented default.

        :raises InvalidVideoRequest: neither exists (an OpenAI-compatible gateway has no default model).
        """
        _ = self.settings  # reads the connection (and its default_model extra)
        model = self._default_model or self.gateway.default_model
        if not model:
            raise InvalidVideoRequest(f"no model given, and connection {self.conn_id!r} has no default_model "
                                      f"extra: {self.gateway.label} has no default model", gateway=self.gateway_name)
        return model

    @cached_property
    def transport(self) -> SyncTransport:
        """The worker-side transport (requests) under this connection's policy."""
        return SyncTransport(self.settings)

    def retrying(self):
        """The tenacity policy for one sync call (see ``retries.py``)."""
        return retries.retrying(max_attempts=self.max_attempts, initial=self.retry_initial, log=self.log)

    # -- the three steps --------------------------------------------------------------------------
    def check_request(self, request: GenerationRequest) -> None:
        """Refuse, before anything is paid, what this gateway certainly cannot do: a retired model, or
        parameters its protocol does not document (``VideoProtocol.check``).

        :raises ModelNotAvailable: a retired model. :raises InvalidVideoRequest: a bad or unsupported parameter.
        """
        reason = self.gateway.retired_models.get(request.model)
        if reason:
            raise ModelNotAvailable(f"model {request.model!r} is retired at {self.gateway.label}: {reason}",
                                    gateway=self.gateway_name)
        self.protocol.check(request)

    def estimate_cost(self, request: GenerationRequest) -> CostEstimate:
        """The job's estimated cost in US dollars (``spend.py``): the connection extra ``prices``, else the
        Variable ``videogen_prices``, else the list prices; ``usd`` is None for a model without a price."""
        _ = self.settings  # reads the connection (and its prices extra)

        def variable(key: str) -> Any:
            try:
                return Variable.get(key, default=None)
            except Exception:  # noqa: BLE001  (no Airflow metadata to ask, e.g. outside a task): defaults
                return None

        table, source = spend.price_table(self._prices, variable)
        return spend.estimate(request.model, seconds=request.duration_seconds, resolution=request.resolution,
                              videos=request.number_of_videos, table=table, price_source=source)

    def submit(self, request: GenerationRequest) -> str:
        """Submit one generation job and return its operation id.

        Retried only while the job certainly does not exist (DNS failure, connection refused, HTTP 429). A
        timeout or 5xx raises :class:`SubmitOutcomeUnknown` and is never retried: the job may be billed.

        :raises GatewayAuthError: key rejected. :raises ModelNotAvailable: unknown or retired model.
        :raises GatewayRequestRejected: bad parameters. :raises InvalidVideoRequest: refused before sending.
        :raises SubmitOutcomeUnknown: timeout, 5xx, broken connection, or an accepted answer without a
            readable job id (not JSON, no id, an unsafe id): the job may exist and be billed.
        """
        self.check_request(request)
        http = self.protocol.build_submit(request)
        for attempt in self.retrying():
            with attempt:
                body, _ = self.transport.api(http, step="submit", model=request.model)
        try:
            return self.protocol.parse_submit(body)
        except (GatewayResponseError, InvalidIdentifier) as err:
            raise SubmitOutcomeUnknown.because(f"submit was accepted but {err.reason}",
                                               gateway=self.gateway_name) from None

    def _parse_status(self, operation_id: str, body: Any, headers: dict[str, str]) -> VideoOperation:
        """The protocol's parse, with any surprise in the body's shape reported as GatewayResponseError."""
        try:
            return self.protocol.parse_status(operation_id, body, headers)
        except VideoGenError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError) as err:
            raise GatewayResponseError(f"status answer has an unexpected shape ({type(err).__name__}: "
                                       f"{self.settings_redact(str(err))[:200]})", gateway=self.gateway_name,
                                       operation_id=operation_id) from None

    def settings_redact(self, text: str) -> str:
        policy = self._async_policy or self.settings
        return policy.redact(text)

    def get_operation(self, operation_id: str) -> VideoOperation:
        """Poll the job once (transient errors retried) and return it normalised.

        :raises VideoNotFound: unknown operation id. :raises TransientGatewayError: retries exhausted.
        :raises GatewayResponseError: the answer is unreadable or oversized.
        """
        http = self.protocol.build_status(operation_id)
        for attempt in self.retrying():
            with attempt:
                body, headers = self.transport.api(http, step="status", operation_id=operation_id)
        return self._parse_status(operation_id, body, headers)

    def cancel(self, operation_id: str) -> bool:
        """Cancel (or delete) the job where the gateway documents how; one try, errors logged, not raised.

        Returns True when the gateway accepted the cancellation, False when it documents no way to cancel
        or refused. Whether a cancelled job is still billed is the gateway's rule (see the README).
        """
        http = self.protocol.build_cancel(operation_id)
        if http is None:
            self.log.info("%s documents no way to cancel a job; operation %s keeps running.", self.gateway.label,
                          operation_id)
            return False
        try:
            self.transport.api(http, step="cancel", operation_id=operation_id)
        except VideoGenError as err:
            self.log.warning("Could not cancel operation %s: %s", operation_id, err)
            return False
        self.log.info("Cancelled operation %s at %s.", operation_id, self.gateway.label)
        return True

    async def acancel(self, operation_id: str, session: aiohttp.ClientSession) -> bool:
        """:meth:`cancel` from the triggerer (``VideoOperationTrigger.on_kill``)."""
        http = self.protocol.build_cancel(operation_id)
        if http is None:
            return False
        policy = self._async_policy or await self._aload_policy()
        try:
            await AsyncTransport(policy, session).api(http, step="cancel", operation_id=operation_id)
        except VideoGenError as err:
            self.log.warning("Could not cancel operation %s: %s", operation_id, err)
            return False
        return True

    async def _aload_policy(self) -> Policy:
        from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson

        conn = await get_async_connection(self.conn_id, hook=self)
        extra = await get_async_extra_dejson(conn)
        self._async_policy = await self.apolicy_from_connection(conn, extra)
        return self._async_policy

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: one cheap authenticated call (the model list), in words a user understands.

        Tells apart "OK", "key rejected" and "gateway unreachable" (and says so for anything else).
        """
        try:
            policy = self.settings
            self.transport.api(self.protocol.build_test_connection(), step="connection test")
        except GatewayAuthError as err:
            return False, f"Key rejected: {self.gateway.label} refused {self.credential_name} ({err.reason})"
        except TransientGatewayError as err:
            return False, f"Gateway unreachable: {err.reason}"
        except VideoGenError as err:
            return False, f"Unexpected answer from the gateway: {err.reason}"
        return True, f"OK: connected to {self.gateway.label} at {policy.base_url}; it accepted {self.credential_name}"

    # -- async (triggerer) ------------------------------------------------------------------------
    async def aget_operation(self, operation_id: str, session: aiohttp.ClientSession) -> VideoOperation:
        """Poll the job once through ``session`` (one try; the trigger owns the retry loop).

        :raises TransientGatewayError: 408/429/5xx, connection error or deadline (``retry_after`` set from
            the gateway's hint). Other errors as in :meth:`get_operation`.
        """
        if self._async_policy is None:
            await self._aload_policy()
        if self._atransport is None or self._atransport.session is not session:
            self._atransport = AsyncTransport(self._async_policy, session)  # built once per session: TLS, timeout
        if self._status_request is None or self._status_request[0] != operation_id:  # one per trigger
            self._status_request = (operation_id, self.protocol.build_status(operation_id))
        body, headers = await self._atransport.api(self._status_request[1], step="status",
                                                   operation_id=operation_id)
        return self._parse_status(operation_id, body, headers)
