"""One hook per connection type (one per entry of ``registry.py``). Each only names its gateway (see ``gateways/``);
Vertex AI's also reads its Google credentials, project and location."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from airflow_provider_videogen.exceptions import InvalidConnection
from airflow_provider_videogen.gateways import vertex
from airflow_provider_videogen.hooks.base import VideoGenHook, settings_from_connection
from airflow_provider_videogen.hooks.google_auth import GoogleTokenCredentials
from airflow_provider_videogen.transport import Policy


class ThucChienVideoHook(VideoGenHook):
    """AI Thực Chiến (Veo through its ``/gemini/`` proxy); key sent as ``x-goog-api-key``."""

    gateway_name = "thucchien"


class HingNetVideoHook(VideoGenHook):
    """HingNet's OpenAI-style ``/v1/videos``; ``Authorization: Bearer``."""

    gateway_name = "hingnet"


class MixRouteVideoHook(VideoGenHook):
    """MixRoute's task-style ``/v1/video/generations``; ``Authorization: Bearer``."""

    gateway_name = "mixroute"


class TokenOpsVideoHook(VideoGenHook):
    """TokenOps (SkyEngine ModelHub) OpenAI-style ``/v1/videos``; ``Authorization: Bearer``."""

    gateway_name = "tokenops"


class GeminiVideoHook(VideoGenHook):
    """Google's Gemini API (Veo long-running operations); key sent as ``x-goog-api-key``."""

    gateway_name = "gemini"


class OpenAIVideoHook(VideoGenHook):
    """OpenAI's Videos API, or any OpenAI-compatible ``/v1/videos`` gateway; ``Authorization: Bearer``."""

    gateway_name = "openai"


class VertexVideoHook(VideoGenHook):
    """Veo on Google Cloud's Vertex AI; an OAuth access token from the Google provider, never an API key.

    The connection (``videogen_vertex``) names ``project`` and ``location`` (default ``us-central1``; Host
    overrides the regional endpoint, e.g. for the emulator) and its credentials: ``gcp_conn_id``, a
    ``google_cloud_platform`` connection, or else the Google provider's own extras on this connection
    (``key_path``, ``keyfile_dict``, ``credential_config_file``, ``impersonation_chain``...; none of them:
    the machine's default credentials). ``GoogleBaseHook`` turns either into credentials; the transport
    gets a token from them (:class:`~airflow_provider_videogen.hooks.google_auth.GoogleTokenCredentials`).
    Needs ``apache-airflow-providers-google`` (``pip install "airflow-provider-videogen[google]"``).
    """

    gateway_name = "vertex"
    credential_name = "the Google credentials"
    DEFAULT_LOCATION = "us-central1"
    _gcp_conn_id: str | None = None

    def policy_from_connection(self, conn: Any, extra: dict[str, Any]) -> Policy:
        if not isinstance(extra, dict):
            raise InvalidConnection(f"connection {self.conn_id!r}: Extra must be a JSON object",
                                    gateway=self.gateway_name)
        location = str(extra.get("location") or self.DEFAULT_LOCATION).strip()
        self._gcp_conn_id = str(extra.get("gcp_conn_id") or "").strip() or self.conn_id
        try:
            from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
        except ImportError:
            raise InvalidConnection("Vertex AI needs the Google provider: pip install "
                                    "'airflow-provider-videogen[google]'", gateway=self.gateway_name) from None
        credentials, found_project = GoogleBaseHook(gcp_conn_id=self._gcp_conn_id).get_credentials_and_project_id()
        project = str(extra.get("project") or found_project or "").strip()
        if not project:
            raise InvalidConnection(f"connection {self.conn_id!r} names no Google Cloud project (extra 'project'), "
                                    f"and connection {self._gcp_conn_id!r}'s credentials name none either",
                                    gateway=self.gateway_name)
        policy = settings_from_connection(conn, extra, self.gateway, self.timeout, self.conn_id,
                                          default_host=vertex.base_url(self.gateway.default_host, location))
        return dataclasses.replace(policy, protocol=self.gateway.protocol.bind(project, location),
                                   credentials=GoogleTokenCredentials(credentials, gateway=self.gateway_name))

    async def apolicy_from_connection(self, conn: Any, extra: dict[str, Any]) -> Policy:
        # GoogleBaseHook reads a connection and may ask the metadata server: in a worker thread, off the loop
        return await asyncio.to_thread(self.policy_from_connection, conn, extra)

    @property
    def protocol(self) -> vertex.VertexProtocol:
        """The protocol bound to this connection's project and location."""
        return (self._async_policy or self.settings).protocol

    def storage_conn_id(self) -> str | None:
        """``gcp_conn_id`` (or this connection, holding the Google extras itself): it reads ``storageUri``."""
        _ = self._async_policy or self.settings
        return self._gcp_conn_id


__all__ = [
    "GeminiVideoHook",
    "HingNetVideoHook",
    "MixRouteVideoHook",
    "OpenAIVideoHook",
    "ThucChienVideoHook",
    "TokenOpsVideoHook",
    "VertexVideoHook",
]
