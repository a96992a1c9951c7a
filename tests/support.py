"""Constants and helpers shared by the test modules (imported by name; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_KEY = "test-key-123"
OPENAI_COMPATIBLE_MODEL = "veo-3.1-fast-generate-preview"  # served through /v1/videos by the emulator's "openai"
GATEWAYS = ("thucchien", "hingnet", "mixroute", "tokenops", "gemini", "openai")

# How the emulator plays each gateway in the end-to-end tests: its documented status vocabulary and
# download form (the gateways' documents; the emulator's config keys).
GATEWAY_PROFILES: dict[str, dict] = {
    "thucchien": {"gateway": "thucchien", "thucchien_download": "bytes"},
    "gemini": {"gateway": "gemini", "gemini_download": "redirect"},
    "openai": {"gateway": "openai", "status_vocab": "openai", "content_form": "bytes"},
    "hingnet": {"gateway": "hingnet", "status_vocab": "hingnet", "content_form": "redirect"},
    "tokenops": {"gateway": "tokenops", "status_vocab": "tokenops", "content_form": "json_url"},
    "mixroute": {"gateway": "mixroute", "mixroute_url_form": "cdn"},
    # Vertex AI: an OAuth bearer token (VERTEX_TOKEN), videos inline as base64 unless a job has storageUri
    "vertex": {"gateway": "vertex"},
}
VERTEX_TOKEN = "test-vertex-token"  # what the tests' Google credentials mint; the emulator's default vertex_token



def connection_uri_env(conn_id: str, gateway: str, host: str, key: str = TEST_KEY, **extra) -> tuple[str, str]:
    """``(name, value)`` of an ``AIRFLOW_CONN_...`` variable for a videogen connection, as JSON."""
    value = {"conn_type": f"videogen_{gateway}", "host": host, "password": key}
    if gateway == "openai":  # an OpenAI-compatible gateway has no default model: name one it serves
        extra.setdefault("default_model", OPENAI_COMPATIBLE_MODEL)
    if gateway == "vertex":  # Google credentials, not a key: a project and a location instead
        del value["password"]
        extra = {"project": "videogen-test", "location": "us-central1", **extra}
    if extra:
        value["extra"] = extra
    return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value)


def key_leaks(text: str) -> bool:
    """True if ``text`` holds the test key or the Vertex test token (run on every captured log, and tested on a
    planted leak)."""
    return TEST_KEY in text or VERTEX_TOKEN in text


def submit(hook, model: str | None = None, prompt: str = "a test clip", **fields) -> str:
    """Submit a 4 s job through ``hook`` (more ``GenerationRequest`` fields in ``fields``); its operation id."""
    from airflow_provider_videogen.gateways import GenerationRequest

    return hook.submit(GenerationRequest(prompt=prompt, model=model or hook.default_model(), duration_seconds=4,
                                         **fields))


def finished(hook, model: str | None = None, prompt: str = "a test clip", **fields):
    """Submit a job and poll it (bounded, 10 s) until it is done; returns the operation."""
    operation_id = submit(hook, model, prompt, **fields)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        op = hook.get_operation(operation_id)
        if op.done:
            return op
        time.sleep(0.05)
    raise AssertionError(f"{operation_id} did not finish")


def fast(dag, interval: float = 0.2):
    """``dag`` with every sensor poking each ``interval`` seconds instead of the examples' 10 s (the emulator's
    jobs take a second or a few)."""
    for task in dag.tasks:
        if hasattr(task, "poke_interval"):
            task.poke_interval = interval
    return dag
