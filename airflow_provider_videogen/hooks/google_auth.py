"""Google Cloud credentials for the transport: OAuth access tokens from the Google provider's connection.

:class:`GoogleTokenCredentials` implements the transport's ``Credentials`` hook point over a
``google.auth.credentials.Credentials`` object (a service account key, a key JSON, the machine's default
credentials, an impersonated account: whatever ``GoogleBaseHook`` built from the connection):

- ``headers()`` (worker): ``{"Authorization": "Bearer <token>"}`` (and ``x-goog-user-project`` when the
  credentials name a quota project), refreshing the token first when it is
  missing or about to expire (``google.auth.transport.requests.Request``);
- ``aheaders()`` (triggerer): the same, the refresh in a worker thread (``asyncio.to_thread``), so the event
  loop never waits on Google's token endpoint; a valid token is returned without leaving the loop;
- ``secrets()``: every token handed out (the last few), which the transport redacts from every error.

Refresh failures become the provider's typed errors: a rejected credential is ``GatewayAuthError``, a
token endpoint that cannot be reached is ``TransientGatewayError``.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

from airflow_provider_videogen.exceptions import GatewayAuthError, TransientGatewayError
from airflow_provider_videogen.gateways.wire import redact

KEPT_TOKENS = 8  # tokens remembered for redaction (the current one and a few before it)


class GoogleTokenCredentials:
    """The transport's ``Credentials`` over google-auth credentials (see the module docstring).

    :param credentials: a ``google.auth.credentials.Credentials`` (from ``GoogleBaseHook.get_credentials()``).
    :param gateway: the gateway's name, for errors.
    """

    def __init__(self, credentials: Any, *, gateway: str):
        self.credentials = credentials
        self.gateway = gateway
        self._lock = threading.Lock()
        self._tokens: deque[str] = deque(maxlen=KEPT_TOKENS)

    def __repr__(self) -> str:  # never the token
        return f"GoogleTokenCredentials({type(self.credentials).__name__}, gateway={self.gateway!r})"

    def _current(self) -> str | None:
        """The token when it is valid for a while yet (google-auth refreshes ahead of expiry), else None."""
        token = getattr(self.credentials, "token", None)
        if token and self.credentials.valid:
            self._remember(token)
            return token
        return None

    def _remember(self, token: str) -> None:
        if token not in self._tokens:
            self._tokens.append(token)

    def token(self) -> str:
        """A valid access token, refreshed (blocking, in this thread) when needed."""
        with self._lock:
            token = self._current()
            if token is not None:
                return token
            import google.auth.exceptions
            import google.auth.transport.requests

            try:
                self.credentials.refresh(google.auth.transport.requests.Request())
            except google.auth.exceptions.RefreshError as err:
                raise GatewayAuthError(f"Google refused the connection's credentials: {self._words(err)}",
                                       gateway=self.gateway) from None
            except google.auth.exceptions.TransportError as err:
                raise TransientGatewayError(f"could not reach Google's token endpoint: {self._words(err)}",
                                            gateway=self.gateway) from None
            token = getattr(self.credentials, "token", None)
            if not token:
                raise GatewayAuthError("the connection's Google credentials gave no access token",
                                       gateway=self.gateway)
            self._remember(token)
            return token

    def _words(self, err: BaseException) -> str:
        return redact(" ".join(str(err).split())[:300], self.secrets())

    def _headers(self, token: str) -> dict[str, str]:
        """The headers google-auth's ``Credentials.apply()`` sets: the token, and the quota project
        (``x-goog-user-project``) when the credentials carry one (the Google connection's
        ``quota_project_id`` extra, or a ``gcloud auth application-default login`` file)."""
        headers = {"Authorization": f"Bearer {token}"}
        if quota_project := getattr(self.credentials, "quota_project_id", None):
            headers["x-goog-user-project"] = quota_project
        return headers

    def headers(self) -> dict[str, str]:
        return self._headers(self.token())

    async def aheaders(self) -> dict[str, str]:
        token = self._current()  # no lock, no I/O: safe on the event loop
        if token is None:
            token = await asyncio.to_thread(self.token)
        return self._headers(token)

    def secrets(self) -> tuple[str, ...]:
        current = getattr(self.credentials, "token", None)
        return tuple(self._tokens) + ((current,) if current and current not in self._tokens else ())
