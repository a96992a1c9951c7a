"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Plain data, no Airflow imports: Airflow imports this module while it discovers providers.
The gateways come from ``registry.py`` (plain data too). Connection forms are declarative
(``conn-fields`` / ``ui-field-behaviour``, Airflow >= 3.2), so the API server draws them without importing any hook.
"""

from __future__ import annotations

from airflow_provider_videogen import registry

INTEGRATION = "Video generation"

GATEWAY_INFO = registry.GATEWAYS  # the one catalogue (registry.py)


def _connection_type(name: str, info: dict[str, str]) -> dict:
    return {
        "connection-type": f"videogen_{name}",
        "hook-class-name": f"airflow_provider_videogen.hooks.gateways.{info['hook_class']}",
        "hook-name": f"{info['label']} (video generation)",
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"password": "API Key", "host": "Base URL"},
            "placeholders": {"host": info["default_host"] or "https://your-gateway.example (required)",
                             "password": "your API key"},
        },
        "conn-fields": {
            "default_model": {
                "label": "Default model",
                "description": "Model used when the operator names none"
                               + (f" (default {info['default_model']})." if info["default_model"]
                                  else " (no default: name the model your gateway serves)."),
                "schema": {"type": ["string", "null"]},
            },
            "timeout": {
                "label": "Timeout (seconds)",
                "description": "Total seconds one request to the gateway (submit, status poll) may take, start to "
                               "end (default 60). A video download may take longer but fails over when it "
                               "delivers under 16 KiB/s averaged over this many seconds.",
                "schema": {"type": ["integer", "null"], "minimum": 1},
            },
            "verify": {
                "label": "Verify TLS certificates",
                "description": "Leave on unless the gateway is a local proxy with a self-signed certificate.",
                "schema": {"type": ["boolean", "null"], "default": True},
            },
            "block_private_addresses": {
                "label": "Block private addresses",
                "description": "Refuse redirects and video URLs that resolve to private, loopback or link-local "
                               "addresses (off by default, so local gateways and the emulator work).",
                "schema": {"type": ["boolean", "null"], "default": False},
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
