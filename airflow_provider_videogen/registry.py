"""The one catalogue of gateways: plain data, no imports, read by everything else.

``get_provider_info`` (connection forms), ``gateways/__init__`` (each gateway's protocol preset),
``hooks`` (hook classes by connection type) and the package's lazy exports all read this table, so
adding a gateway means one entry here, one protocol preset if it speaks something new, and one
three-line hook class in ``hooks/gateways.py``.

Fields: ``label``; ``default_host`` (None: the connection must give a Host; it may hold ``{location}``, filled
from the connection's location: Vertex AI's regional endpoints); ``default_model`` (None: the
operator or the connection's ``default_model`` must name one; otherwise a model the gateway's document
lists as current); ``hook_class``; ``docs_url`` (the gateway's own documentation); ``protocol`` and
``protocol_options`` (see ``gateways/__init__.py``); ``retired_models``: models refused before any paid
request, with the reason; ``auth``: ``"api_key"`` (the default: the key in the connection's Password) or
``"google"`` (Google Cloud credentials through the Google provider: a ``google_cloud_platform`` connection
named in the ``gcp_conn_id`` extra, or its key extras on this connection; no Password).
"""

from __future__ import annotations

SORA_RETIRED = ("OpenAI shut down its Videos API and the sora-2 models on 2026-09-24 "
                "(https://developers.openai.com/api/docs/models/sora-2)")

GATEWAYS: dict[str, dict] = {
    "thucchien": {
        "label": "AI Thực Chiến",
        "default_host": "https://api.thucchien.ai",
        # "Model được hỗ trợ: veo 3" (https://docs.thucchien.ai/docs/user-guide/video-generation-veo3)
        "default_model": "veo-3.0-generate-preview",
        "hook_class": "ThucChienVideoHook",
        "docs_url": "https://docs.thucchien.ai/docs/api-reference/video-generation-status",
        "protocol": "gemini",
        "protocol_options": {"api_prefix": "/gemini/v1beta", "download_prefix": "/gemini/download/v1beta"},
    },
    "hingnet": {
        "label": "HingNet",
        "default_host": "https://models.hingnet.com.cn",
        # https://docs.hingnet.com.cn/gemini/video.md lists veo-3.1-generate-preview and -fast-generate-preview
        "default_model": "veo-3.1-fast-generate-preview",
        "hook_class": "HingNetVideoHook",
        "docs_url": "https://docs.hingnet.com.cn/openai/video-generation",
        "protocol": "openai_videos",
        "protocol_options": {"encoding": "json", "veo_references": True},
    },
    "mixroute": {
        "label": "MixRoute",
        "default_host": "https://console.mixroute.io",
        # https://docs.mixroute.ai/en/api-reference/endpoint/submit-video-task (model list)
        "default_model": "veo-3.1-fast-generate-preview",
        "hook_class": "MixRouteVideoHook",
        "docs_url": "https://docs.mixroute.ai/en/api-reference/endpoint/submit-video-task",
        "protocol": "video_generations",
        "protocol_options": {},
    },
    "tokenops": {
        "label": "TokenOps (SkyEngine ModelHub)",
        "default_host": "https://model-api.skyengine.com.cn",
        # sora-2 (its /v1/videos example) is gone upstream; veo-3.1-generate-preview is its documented Veo model
        # (https://docs-model.skyengine.com.cn/api-reference/endpoint/predictLongRunning)
        "default_model": "veo-3.1-generate-preview",
        "hook_class": "TokenOpsVideoHook",
        "docs_url": "https://docs-model.skyengine.com.cn/api-reference/endpoint/videos-generations",
        "protocol": "openai_videos",
        "protocol_options": {"encoding": "multipart", "auth_error_status": 400},
    },
    "gemini": {
        "label": "Google Gemini API (Veo)",
        "default_host": "https://generativelanguage.googleapis.com",
        # https://ai.google.dev/gemini-api/docs/video (Veo 3.1 preview models)
        "default_model": "veo-3.1-generate-preview",
        "hook_class": "GeminiVideoHook",
        "docs_url": "https://ai.google.dev/gemini-api/docs/video",
        "protocol": "gemini",
        "protocol_options": {},
    },
    "openai": {
        "label": "OpenAI-compatible /v1/videos gateway",
        "default_host": None,  # OpenAI's own Videos API closed on 2026-09-24: name your gateway's URL
        "default_model": None,  # whatever the gateway serves through /v1/videos (Veo, Seedance, Wan...)
        "hook_class": "OpenAIVideoHook",
        "docs_url": "https://developers.openai.com/api/docs/guides/video-generation",
        "protocol": "openai_videos",
        "protocol_options": {"encoding": "multipart", "remix": True, "variants": True},
        "retired_models": dict.fromkeys(
            ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08"),
            SORA_RETIRED),
    },
    "vertex": {
        "label": "Vertex AI (Veo)",
        # https://{location}-aiplatform.googleapis.com (the "global" location: https://aiplatform.googleapis.com)
        "default_host": "https://{location}-aiplatform.googleapis.com",
        # Veo 3.1's GA id at Vertex AI (Veo models list, https://cloud.google.com/vertex-ai/generative-ai/docs/models)
        "default_model": "veo-3.1-generate-001",
        "hook_class": "VertexVideoHook",
        "docs_url": "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/veo-video-generation",
        "protocol": "vertex",
        "protocol_options": {},
        "auth": "google",
    },
}


def conn_type(name: str) -> str:
    """The Airflow connection type of a gateway (``videogen_openai``...)."""
    return f"videogen_{name}"


HOOK_MODULE = "airflow_provider_videogen.hooks.gateways"
