"""The gateways: each is a small preset (host, auth, defaults) over one of three wire protocols.

Pure code, no I/O and no Airflow imports beyond the exception types. See design.md §2 for the table.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from airflow_provider_videogen.gateways.video_generations import VideoGenerationsProtocol
from airflow_provider_videogen.get_provider_info import GATEWAY_INFO


@dataclass(frozen=True)
class Gateway:
    """A video-generation gateway: its Airflow connection type, default host and model, and protocol."""

    name: str
    label: str
    default_host: str
    default_model: str
    hook_class: str
    docs_url: str
    protocol: VideoProtocol

    @property
    def conn_type(self) -> str:
        return f"videogen_{self.name}"


# Which wire protocol each gateway speaks (design.md §2); the rest of the preset is GATEWAY_INFO.
_PROTOCOLS: dict[str, VideoProtocol] = {
    "thucchien": GeminiProtocol("thucchien", api_prefix="/gemini/v1beta", download_prefix="/gemini/download/v1beta"),
    "hingnet": OpenAIVideosProtocol("hingnet", encoding="json"),
    "mixroute": VideoGenerationsProtocol("mixroute"),
    "tokenops": OpenAIVideosProtocol("tokenops"),
    "gemini": GeminiProtocol("gemini"),
    "openai": OpenAIVideosProtocol("openai"),
}

GATEWAYS: dict[str, Gateway] = {
    name: Gateway(name=name, protocol=_PROTOCOLS[name], **info) for name, info in GATEWAY_INFO.items()
}

GATEWAY_BY_CONN_TYPE = {g.conn_type: g for g in GATEWAYS.values()}

__all__ = [
    "GATEWAYS",
    "GATEWAY_BY_CONN_TYPE",
    "Gateway",
    "GenerationRequest",
    "HttpRequest",
    "ImageInput",
    "VideoLocator",
    "VideoOperation",
    "VideoProtocol",
]
