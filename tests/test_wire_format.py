"""What goes on the wire at each gateway, as its document states it, seen in the strict emulator's record.

For each connection type: text-to-video and image-to-video submits, the exact Content-Type and the type of
each field; then the connection's honesty about what it needs (a Host, a model) and the UI's Test button.
"""

from __future__ import annotations

import pytest
from support import GATEWAY_PROFILES, TEST_KEY, connection_uri_env

from airflow_provider_videogen.exceptions import InvalidConnection, InvalidVideoRequest, ModelNotAvailable
from airflow_provider_videogen.gateways import GenerationRequest, ImageInput
from airflow_provider_videogen.hooks.base import VideoGenHook

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OPENAI_STYLE_TEXT = {"model": "string", "prompt": "string", "seconds": "string", "size": "string"}
GEMINI_TEXT = {"instances": [{"prompt": "string"}],
               "parameters": {"durationSeconds": "integer", "aspectRatio": "string", "resolution": "string"}}
GEMINI_IMAGE = {"instances": [{"prompt": "string", "image": {"bytesBase64Encoded": "string", "mimeType": "string"}}],
                "parameters": {"durationSeconds": "integer", "aspectRatio": "string", "resolution": "string"}}
MIXROUTE_TEXT = {"model": "string", "prompt": "string", "durationSeconds": "integer", "aspectRatio": "string",
                 "resolution": "string"}

# connection type -> (text-to-video, image-to-video): (Content-Type, body shape), from each gateway's document:
# openai-python videos.create (multipart/form-data, seconds as a string); TokenOps CreateVideoFormRequest
# (multipart only); HingNet's examples (JSON; a file goes multipart); MixRoute's Veo page (JSON, integer
# durationSeconds, base64 image); Gemini API / AI Thực Chiến predictLongRunning (JSON instances/parameters).
EXPECTED = {
    "openai": (("multipart/form-data", OPENAI_STYLE_TEXT),
               ("multipart/form-data", {**OPENAI_STYLE_TEXT, "input_reference": "file"})),
    "tokenops": (("multipart/form-data", OPENAI_STYLE_TEXT),
                 ("multipart/form-data", {**OPENAI_STYLE_TEXT, "input_reference": "file"})),
    "hingnet": (("application/json", OPENAI_STYLE_TEXT),
                ("multipart/form-data", {**OPENAI_STYLE_TEXT, "input_reference": "file"})),
    "mixroute": (("application/json", MIXROUTE_TEXT), ("application/json", {**MIXROUTE_TEXT, "image": "string"})),
    "gemini": (("application/json", GEMINI_TEXT), ("application/json", GEMINI_IMAGE)),
    "thucchien": (("application/json", GEMINI_TEXT), ("application/json", GEMINI_IMAGE)),
}


@pytest.fixture
def hook_for(emulator, monkeypatch):
    def make(gateway: str, **extra) -> VideoGenHook:
        emulator.ctl.set_config(**GATEWAY_PROFILES[gateway])
        monkeypatch.setenv(*connection_uri_env("videogen_wire", gateway, emulator.url, **extra))
        return VideoGenHook.for_connection("videogen_wire", retry_initial=0.01)

    return make


@pytest.mark.parametrize("with_image", [False, True], ids=["text-to-video", "image-to-video"])
@pytest.mark.parametrize("gateway", sorted(EXPECTED))
def test_submit_speaks_the_gateways_documented_wire_format(gateway, with_image, hook_for, emulator):
    hook = hook_for(gateway)
    request = GenerationRequest(prompt="a red kite over the sea", model=hook.default_model(), duration_seconds=8,
                                aspect_ratio="16:9", resolution="720p",
                                image=ImageInput(PNG, "image/png") if with_image else None)
    hook.submit(request)
    (post,) = [r for r in emulator.ctl.requests() if r["method"] == "POST"]
    content_type, shape = EXPECTED[gateway][with_image]
    assert post["content_type"] == content_type
    assert post["headers"]["Content-Type"].startswith(content_type)  # never application/x-www-form-urlencoded
    if content_type == "multipart/form-data":
        assert "boundary=" in post["headers"]["Content-Type"]
    assert post["body_shape"] == shape
    assert len(emulator.ctl.jobs()) == 1


def test_an_openai_compatible_connection_needs_a_host(monkeypatch):
    monkeypatch.setenv(*connection_uri_env("videogen_nohost", "openai", ""))
    with pytest.raises(InvalidConnection, match="needs a Host"):
        _ = VideoGenHook.for_connection("videogen_nohost").settings


def test_an_openai_compatible_connection_has_no_default_model(emulator, monkeypatch):
    name, value = connection_uri_env("videogen_nomodel", "openai", emulator.url)
    monkeypatch.setenv(name, value.replace('"default_model"', '"unused"'))
    with pytest.raises(InvalidVideoRequest, match="no default model"):
        VideoGenHook.for_connection("videogen_nomodel").default_model()


@pytest.mark.parametrize("model", ["sora-2", "sora-2-pro"])
def test_a_retired_model_is_refused_by_name_before_anything_is_paid(model, hook_for, emulator):
    hook = hook_for("openai")
    with pytest.raises(ModelNotAvailable, match=f"'{model}'.*2026-09-24"):
        hook.submit(GenerationRequest(prompt="a clip", model=model, duration_seconds=4))
    assert emulator.ctl.jobs() == [] and not [r for r in emulator.ctl.requests() if r["method"] == "POST"]


@pytest.mark.parametrize("gateway", sorted(EXPECTED))
def test_an_unknown_model_gets_an_error_naming_the_model_and_the_gateway(gateway, hook_for, emulator):
    hook = hook_for(gateway)
    with pytest.raises(ModelNotAvailable) as err:
        hook.submit(GenerationRequest(prompt="a clip", model="no-such-model-9", duration_seconds=4))
    assert "no-such-model-9" in str(err.value) and f"gateway {gateway}" in str(err.value)
    assert emulator.ctl.jobs() == []


@pytest.mark.parametrize("gateway", sorted(EXPECTED))
def test_the_test_button_tells_ok_key_rejected_and_unreachable_apart(gateway, hook_for, emulator, monkeypatch):
    ok, message = hook_for(gateway).test_connection()
    assert ok and message.startswith("OK")
    emulator.ctl.set_config(api_key="the-right-key-456")
    ok, message = hook_for(gateway).test_connection()
    assert not ok and message.startswith("Key rejected") and TEST_KEY not in message
    monkeypatch.setenv(*connection_uri_env("videogen_wire", gateway, "http://127.0.0.1:1"))
    ok, message = VideoGenHook.for_connection("videogen_wire", retry_initial=0.01).test_connection()
    assert not ok and message.startswith("Gateway unreachable")
    assert len([r for r in emulator.ctl.requests() if r["method"] != "GET"]) == 0  # one cheap GET per test


@pytest.mark.parametrize("with_image", [False, True], ids=["text-to-video", "image-to-video"])
@pytest.mark.parametrize("gateway", sorted(EXPECTED))
def test_end_to_end_against_the_strict_emulator(gateway, with_image, hook_for, emulator, tmp_path):
    """Submit, poll until done (bounded), download: the file is exactly the video the gateway served."""
    import time

    from airflow.sdk import ObjectStoragePath

    from airflow_provider_videogen.download import VideoDownloader

    hook = hook_for(gateway)
    emulator.ctl.set_config(job_seconds=0.2)
    operation_id = hook.submit(GenerationRequest(
        prompt="a lighthouse at dusk", model=hook.default_model(), duration_seconds=8, aspect_ratio="16:9",
        resolution="720p", image=ImageInput(PNG, "image/png") if with_image else None))
    deadline = time.monotonic() + 15
    op = hook.get_operation(operation_id)
    while not op.done and time.monotonic() < deadline:
        time.sleep(0.1)
        op = hook.get_operation(operation_id)
    assert op.state == "succeeded"
    result = VideoDownloader(hook).download(op, ObjectStoragePath(f"file://{tmp_path}/v.mp4"))
    assert result.sha256 == emulator.ctl.sha256(operation_id)["sha256"]
    (job,) = emulator.ctl.jobs()
    assert job["has_image"] is with_image
