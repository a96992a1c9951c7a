"""The gateways: each is a small preset (host, auth, defaults) over one of four wire protocols.

Pure code, no I/O and no Airflow imports beyond the exception types. The presets are the data in
``registry.py``; the protocols are the modules beside this one.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_videogen import registry
from airflow_provider_videogen.gateways.base import (
    GenerationRequest,
    HttpRequest,
    ImageInput,
    VideoLocator,
    VideoOperation,
    VideoProtocol,
)
from airflow_provider_videogen.gateways.gemini import GeminiProtocol
from airflow_provider_videogen.gateways.openai_videos import OpenAIVideosProtocol
from airflow_provider_videogen.gateways.vertex import VertexProtocol
from airflow_provider_videogen.gateways.video_generations import VideoGenerationsProtocol

PROTOCOLS: dict[str, type[VideoProtocol]] = {
    "gemini": GeminiProtocol,
    "openai_videos": OpenAIVideosProtocol,
    "video_generations": VideoGenerationsProtocol,
    "vertex": VertexProtocol,
}


@dataclass(frozen=True)
class Gateway:
    """A video-generation gateway: its Airflow connection type, default host and model, and protocol.

    ``default_host``/``default_model`` are None where the connection (or the operator) must name one.
    """

    name: str
    label: str
    default_host: str | None
    default_model: str | None
    hook_class: str
    docs_url: str
    protocol: VideoProtocol
    retired_models: dict[str, str]

    @property
    def conn_type(self) -> str:
        return registry.conn_type(self.name)


def _gateway(name: str, info: dict) -> Gateway:
    protocol = PROTOCOLS[info["protocol"]](name, **info.get("protocol_options", {}))
    return Gateway(name=name, label=info["label"], default_host=info["default_host"],
                   default_model=info["default_model"], hook_class=info["hook_class"], docs_url=info["docs_url"],
                   protocol=protocol, retired_models=dict(info.get("retired_models", {})))


GATEWAYS: dict[str, Gateway] = {name: _gateway(name, info) for name, info in registry.GATEWAYS.items()}
GATEWAY_BY_CONN_TYPE = {g.conn_type: g for g in GATEWAYS.values()}

__all__ = [
    "GATEWAYS",
    "GATEWAY_BY_CONN_TYPE",
    "PROTOCOLS",
    "Gateway",
    "GenerationRequest",
    "HttpRequest",
    "ImageInput",
    "VideoLocator",
    "VideoOperation",
    "VideoProtocol",
]
