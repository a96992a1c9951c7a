"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Plain data, no Airflow imports: Airflow imports this module while it discovers providers.
:data:`GATEWAY_INFO` is the one catalogue of gateways; ``gateways/__init__.py`` pairs each entry
with its wire protocol. Connection forms are declarative (``conn-fields`` / ``ui-field-behaviour``,
Airflow >= 3.2), so the API server draws them without importing any hook.
"""

from __future__ import annotations

INTEGRATION = "Video generation"

# name -> label, default host, default model, hook class (in hooks/gateways.py), documentation.
GATEWAY_INFO: dict[str, dict[str, str]] = {
    "thucchien": {"label": "AI Thực Chiến", "default_host": "https://api.thucchien.ai",
                  "default_model": "veo-3.0-generate-preview", "hook_class": "ThucChienVideoHook",
                  "docs_url": "https://docs.thucchien.ai/docs/api-reference/video-generation-status"},
    "hingnet": {"label": "HingNet", "default_host": "https://models.hingnet.com.cn",
                "default_model": "veo-3.1-fast-generate-preview", "hook_class": "HingNetVideoHook",
                "docs_url": "https://docs.hingnet.com.cn/openai/video-generation"},
    "mixroute": {"label": "MixRoute", "default_host": "https://console.mixroute.io",
                 "default_model": "veo-3.1-fast-generate-preview", "hook_class": "MixRouteVideoHook",
                 "docs_url": "https://docs.mixroute.ai/en/api-reference/endpoint/submit-video-task"},
    "tokenops": {"label": "TokenOps (SkyEngine ModelHub)", "default_host": "https://model-api.skyengine.com.cn",
                 "default_model": "sora-2", "hook_class": "TokenOpsVideoHook",
                 "docs_url": "https://docs-model.skyengine.com.cn/api-reference/endpoint/videos-generations"},
    "gemini": {"label": "Google Gemini API (Veo)", "default_host": "https://generativelanguage.googleapis.com",
               "default_model": "veo-3.0-generate-preview", "hook_class": "GeminiVideoHook",
               "docs_url": "https://ai.google.dev/gemini-api/docs/video"},
    "openai": {"label": "OpenAI Videos API", "default_host": "https://api.openai.com",
               "default_model": "sora-2", "hook_class": "OpenAIVideoHook",
               "docs_url": "https://platform.openai.com/docs/guides/video-generation"},
}


def _connection_type(name: str, info: dict[str, str]) -> dict:
    return {
        "connection-type": f"videogen_{name}",
        "hook-class-name": f"airflow_provider_videogen.hooks.gateways.{info['hook_class']}",
        "hook-name": f"{info['label']} (video generation)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"password": "API Key", "host": "Base URL"},
            "placeholders": {"host": info["default_host"], "password": "your API key"},
        },
        "conn-fields": {
            "default_model": {
                "label": "Default model",
                "description": f"Model used when the operator names none (default {info['default_model']}).",
                "schema": {"type": ["string", "null"]},
            },
            "timeout": {
                "label": "Request timeout (seconds)",
                "description": "Read timeout of one HTTP request to the gateway (default 60).",
                "schema": {"type": ["integer", "null"], "minimum": 1},
            },
            "verify": {
                "label": "Verify TLS certificates",
                "description": "Leave on unless the gateway is a local proxy with a self-signed certificate.",
                "schema": {"type": ["boolean", "null"], "default": True},
            },
        },
    }


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-videogen",
        "name": "Video generation (AI Thực Chiến, HingNet, MixRoute, TokenOps, Gemini, OpenAI)",
        "description": "Submit, wait for (deferrable) and download AI-generated videos into any storage.",
        "integrations": [{"integration-name": INTEGRATION, "tags": ["ai", "generative-ai"]}],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": [
            "airflow_provider_videogen.hooks.base", "airflow_provider_videogen.hooks.gateways"]}],
        "operators": [{"integration-name": INTEGRATION,
                       "python-modules": ["airflow_provider_videogen.operators.video"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_videogen.sensors.video"]}],
        "triggers": [{"integration-name": INTEGRATION,
                      "python-modules": ["airflow_provider_videogen.triggers.video"]}],
        "connection-types": [_connection_type(name, info) for name, info in GATEWAY_INFO.items()],
    }
