"""One hook per connection type (one per entry of ``registry.py``). Each only names its gateway; see ``gateways/``."""

from __future__ import annotations

from airflow_provider_videogen.hooks.base import VideoGenHook


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


__all__ = [
    "GeminiVideoHook",
    "HingNetVideoHook",
    "MixRouteVideoHook",
    "OpenAIVideoHook",
    "ThucChienVideoHook",
    "TokenOpsVideoHook",
]
