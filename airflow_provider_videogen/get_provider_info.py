"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

Plain data, no Airflow imports: Airflow imports this module while it discovers providers.
The gateways come from ``registry.py`` (plain data too). Connection forms are declarative
(``conn-fields`` / ``ui-field-behaviour``, Airflow >= 3.2), so the API server draws them without importing any hook.
"""

from __future__ import annotations

from airflow_provider_videogen import registry

INTEGRATION = "Video generation"
DOCS = "https://github.com/airflow-provider-videogen/airflow-provider-videogen/blob/main/README.md"
HOW_TO = (  # README headings' anchors (tests/test_packaging.py checks that each one exists)
    "configure-a-gateway",
    "write-to-s3-gcs-azure-sftp-or-anywhere-else",
    "new-videos-as-asset-events-data-aware-dags",
    "public-api",
    "example-dags-dags_examples",
)

GATEWAY_INFO = registry.GATEWAYS  # the one catalogue (registry.py)


# Connections signing in with Google Cloud credentials (registry ``auth: "google"``): where the project, the
# location and the credentials come from. The key extras are the Google provider's own (GoogleBaseHook reads them).
GOOGLE_FIELDS = {
    "project": {"label": "Project Id", "description": "Google Cloud project that runs (and pays for) the jobs "
                "(default: the credentials' project).", "schema": {"type": ["string", "null"]}},
    "location": {"label": "Location", "description": "Region of the Vertex AI endpoint, e.g. us-central1 (the "
                 "default) or europe-west4; Base URL is derived from it unless set.",
                 "schema": {"type": ["string", "null"]}},
    "gcp_conn_id": {"label": "Google Cloud connection id", "description": "A google_cloud_platform connection "
                    "holding the credentials (it also reads storage_uri outputs). Leave empty to use the key "
                    "fields below, or the machine's default credentials.", "schema": {"type": ["string", "null"]}},
    "key_path": {"label": "Keyfile Path", "description": "Path of a service account key file (when no Google "
                 "Cloud connection id is given).", "schema": {"type": ["string", "null"]}},
    "keyfile_dict": {"label": "Keyfile JSON", "description": "A service account key's JSON (when no Google Cloud "
                     "connection id is given).", "schema": {"type": ["string", "null"], "format": "password"}},
    "impersonation_chain": {"label": "Impersonation Chain", "description": "Service account(s) to impersonate, "
                            "comma separated.", "schema": {"type": ["string", "null"]}},
}


def _ui_field_behaviour(info: dict) -> dict:
    if info.get("auth") == "google":
        return {
            "hidden-fields": ["schema", "port", "login", "password"],
            "relabeling": {"host": "Base URL"},
            "placeholders": {"host": info["default_host"]},  # the {location} template, filled from Location
        }
    return {
        "hidden-fields": ["schema", "port", "login"],
        "relabeling": {"password": "API Key", "host": "Base URL"},
        "placeholders": {"host": info["default_host"] or "https://your-gateway.example (required)",
                         "password": "your API key"},
    }


def _connection_type(name: str, info: dict[str, str]) -> dict:
    return {
        "connection-type": f"videogen_{name}",
        "hook-class-name": f"airflow_provider_videogen.hooks.gateways.{info['hook_class']}",
        "hook-name": f"{info['label']} (video generation)",
        "ui-field-behaviour": _ui_field_behaviour(info),
        "conn-fields": {
            **(GOOGLE_FIELDS if info.get("auth") == "google" else {}),
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
        "name": "Video generation (AI Thực Chiến, HingNet, MixRoute, TokenOps, Gemini, OpenAI-compatible, Vertex AI)",
        "description": "Submit, wait for (deferrable) and download AI-generated videos into any storage.",
        "integrations": [{
            "integration-name": INTEGRATION,
            "external-doc-url": f"{DOCS}#readme",
            # how-to sections of the README, as official providers link their how-to guides
            "how-to-guide": [f"{DOCS}#{anchor}" for anchor in HOW_TO],
            "tags": ["ai", "generative-ai"],
        }],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": [
            "airflow_provider_videogen.hooks.base", "airflow_provider_videogen.hooks.gateways"]}],
        "operators": [{"integration-name": INTEGRATION,
                       "python-modules": ["airflow_provider_videogen.operators.video"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_videogen.sensors.video"]}],
        "triggers": [{"integration-name": INTEGRATION,
                      "python-modules": ["airflow_provider_videogen.triggers.video"]}],
        "connection-types": [_connection_type(name, info) for name, info in GATEWAY_INFO.items()],
        "extra-links": ["airflow_provider_videogen.ui.links.WatchVideoLink"],  # "Watch video" on downloads
    }
