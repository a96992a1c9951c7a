"""The fault matrix: each fault class x each gateway, against the emulator's scripted faults.

Outcomes asserted: survived with identical bytes / a typed error with nothing written / no retry loop
on permanent errors / exactly one submission per job in the emulator's request record.
"""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from airflow.sdk import ObjectStoragePath
from support import GATEWAYS, connection_uri_env, finished, submit

from airflow_provider_videogen.download import VideoDownloader
from airflow_provider_videogen.exceptions import (
    GatewayAuthError,
    GatewayResponseError,
    SubmitOutcomeUnknown,
    TransientGatewayError,
    VideoContentFiltered,
    VideoGenerationFailed,
    VideoNotFound,
)
from airflow_provider_videogen.hooks.base import VideoGenHook
from airflow_provider_videogen.sensors.video import failure_error
from airflow_provider_videogen.triggers.video import VideoOperationTrigger

# Where each gateway's video bytes come from in the emulator, and how to fault that request.
DOWNLOADS = {
    "openai": ({"content_form": "bytes"}, None, r"/content$", "api"),
    "thucchien": ({"thucchien_download": "bytes"}, None, r":download$", "api"),
    "gemini": ({"gemini_download": "bytes"}, None, r":download$", "api"),
    "hingnet": ({"status_vocab": "hingnet", "content_form": "redirect"}, None, r"^/cdn/", "cdn"),
    "tokenops": ({"status_vocab": "tokenops", "content_form": "json_url"}, None, r"^/cdn/", "cdn"),
    "mixroute": ({"mixroute_url_form": "cdn"}, "veo-3.1-fast-generate-preview", r"^/cdn/", "cdn"),
}
STATUS_PATH = {"openai": r"^/v1/videos/[^/]+$", "hingnet": r"^/v1/videos/[^/]+$", "tokenops": r"^/v1/videos/[^/]+$",
               "thucchien": r"/operations/", "gemini": r"/operations/", "mixroute": r"^/v1/video/generations/[^/]+$"}
SUBMIT_PATH = {"openai": r"^/v1/videos$", "hingnet": r"^/v1/videos$", "tokenops": r"^/v1/videos$",
               "thucchien": r":predictLongRunning$", "gemini": r":predictLongRunning$",
               "mixroute": r"^/v1/video/generations$"}

TRANSIENT_STATUS_FAULTS = {
    "429-retry-after-ms": {"status": 429, "headers": {"retry-after-ms": "50"}, "body": {"error": {"message": "slow"}}},
    "429-new-api-no-header": {"status": 429,
                              "body": {"error": {"message": "您已达到请求数限制", "type": "new_api_error"}}},
    "408": {"status": 408},
    "500": {"status": 500},
    "502": {"status": 502, "body": "<html>bad gateway</html>"},
    "503": {"status": 503, "headers": {"Retry-After": "0"}},
    "504": {"status": 504},
    "reset": {"reset_after_bytes": 0},
    "stall": {"delay_s": 2.5},
}
DOWNLOAD_FAULTS = {
    "reset-mid-body": {"reset_after_bytes": 700_000},
    "truncated-body": {"truncate_to_bytes": 900_000},
    "503-before-body": {"status": 503},
    "429-before-body": {"status": 429, "headers": {"Retry-After": "0"}},
    "stall": {"delay_s": 2.5},
}


@pytest.fixture
def hook_for(emulator, monkeypatch):
    emulator.ctl.set_config(job_seconds=0, video_bytes=2_000_000)

    def make(gateway: str, key: str = "test-key-123", **extra) -> VideoGenHook:
        monkeypatch.setenv(*connection_uri_env("videogen_test", gateway, emulator.url, key=key,
                                               timeout=extra.pop("timeout", 2), **extra))
        return VideoGenHook.for_connection("videogen_test", retry_initial=0.01)

    return make


def posts(emulator) -> list[dict]:
    return [r for r in emulator.ctl.requests() if r["method"] == "POST" and r["site"] == "api"]


# -- transient faults on status polls: survived ------------------------------------------------------------
@pytest.mark.parametrize("fault", TRANSIENT_STATUS_FAULTS)
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_status_poll_survives_transient_faults(gateway, fault, hook_for, emulator):
    hook = hook_for(gateway)
    operation_id = submit(hook)
    emulator.ctl.add_fault(STATUS_PATH[gateway], method="GET", times=2, **TRANSIENT_STATUS_FAULTS[fault])
    op = hook.get_operation(operation_id)
    assert op.state == "succeeded"
    polls = [r for r in emulator.ctl.requests() if r["method"] == "GET" and r["site"] == "api"]
    assert len(polls) == 3  # two faulted, then the answer
    assert len(posts(emulator)) == 1


def test_status_poll_gives_up_after_bounded_retries_with_a_clear_error(hook_for, emulator):
    hook = hook_for("openai")
    operation_id = submit(hook)
    emulator.ctl.add_fault(STATUS_PATH["openai"], method="GET", times=-1, status=503)
    with pytest.raises(TransientGatewayError, match="HTTP 503") as err:
        hook.get_operation(operation_id)
    assert err.value.operation_id == operation_id and err.value.gateway == "openai"
    assert len([r for r in emulator.ctl.requests() if r["method"] == "GET"]) == hook.max_attempts


def test_retry_after_seconds_is_honoured(hook_for, emulator):
    hook = hook_for("gemini")
    operation_id = submit(hook)
    emulator.ctl.add_fault(STATUS_PATH["gemini"], method="GET", status=429, headers={"Retry-After": "1"},
                           body={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}})
    started = time.monotonic()
    assert hook.get_operation(operation_id).state == "succeeded"
    assert time.monotonic() - started >= 1.0


# -- transient faults on downloads: identical bytes --------------------------------------------------------
@pytest.mark.parametrize("fault", DOWNLOAD_FAULTS)
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_download_survives_transient_faults_with_identical_bytes(gateway, fault, hook_for, emulator, tmp_path):
    config, model, path, site = DOWNLOADS[gateway]
    emulator.ctl.set_config(**config)
    hook = hook_for(gateway)
    op = finished(hook, model)
    emulator.ctl.add_fault(path, site=site, method="GET", **DOWNLOAD_FAULTS[fault])
    result = VideoDownloader(hook, chunk_size=128 * 1024).download(op, ObjectStoragePath(f"file://{tmp_path}/v.mp4"))
    expected = emulator.ctl.sha256(op.operation_id)
    assert result.sha256 == expected["sha256"] == hashlib.sha256((tmp_path / "v.mp4").read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    if fault in ("reset-mid-body", "truncated-body"):  # resumed with a Range request, not restarted
        ranged = [r for r in emulator.ctl.requests() if "Range" in r["headers"]]
        assert len(ranged) == 1
        if fault == "truncated-body":  # (after an RST the client may have lost unread bytes: any start)
            start = int(ranged[0]["headers"]["Range"].removeprefix("bytes=").rstrip("-"))
            assert 0 < start <= 900_000  # from the last whole chunk written
    assert len(posts(emulator)) == 1


def test_download_restarts_when_the_server_ignores_range(hook_for, emulator, tmp_path):
    emulator.ctl.set_config(range_support=False)
    hook = hook_for("openai")
    op = finished(hook)
    emulator.ctl.add_fault(r"/content$", reset_after_bytes=700_000)
    result = VideoDownloader(hook, chunk_size=128 * 1024).download(op, ObjectStoragePath(f"file://{tmp_path}/v.mp4"))
    assert result.sha256 == emulator.ctl.sha256(op.operation_id)["sha256"]


@pytest.mark.parametrize("fault", ["reset-mid-body", "truncated-body", "503-before-body"])
def test_base64_download_restarts_with_identical_bytes(fault, hook_for, emulator, tmp_path):
    hook = hook_for("mixroute")
    op = finished(hook, "sora-2")
    emulator.ctl.add_fault(r"/v1/video/generations/download", method="GET", **DOWNLOAD_FAULTS[fault])
    result = VideoDownloader(hook, chunk_size=64 * 1024).download(op, ObjectStoragePath(f"file://{tmp_path}/v.mp4"))
    assert result.sha256 == emulator.ctl.sha256(op.operation_id)["sha256"]
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_download_that_keeps_breaking_leaves_nothing(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    emulator.ctl.add_fault(r"/content$", times=-1, reset_after_bytes=100_000)
    with pytest.raises(TransientGatewayError):
        VideoDownloader(hook, chunk_size=64 * 1024).download(op, ObjectStoragePath(f"file://{tmp_path}/v.mp4"))
    assert list(tmp_path.iterdir()) == []


# -- permanent failures: typed, final, no retry loop --------------------------------------------------------
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_failed_and_filtered_jobs_raise_typed_errors_with_the_gateways_words(gateway, hook_for, emulator):
    hook = hook_for(gateway)
    failed = finished(hook, prompt="[[fail]] a clip")
    assert failed.state == "failed"
    err = failure_error(failed)
    assert type(err) is VideoGenerationFailed
    assert gateway in str(err) and failed.operation_id in str(err) and "emulated failure" in str(err)
    filtered = finished(hook, prompt="[[filtered]] a clip")
    err = failure_error(filtered)
    assert isinstance(err, VideoContentFiltered), filtered
    assert filtered.operation_id in str(err)


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_unknown_operation_is_not_found_after_one_request(gateway, hook_for, emulator):
    hook = hook_for(gateway)
    unknown = "models/veo-3.0-generate-preview/operations/zzzz9999" if gateway in ("gemini", "thucchien") \
        else "video_0000000000000000"
    with pytest.raises((VideoNotFound, GatewayResponseError)) as err:
        hook.get_operation(unknown)
    assert unknown in str(err.value) and gateway in str(err.value)
    assert len(emulator.ctl.requests()) == 1


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_rejected_key_fails_fast_and_the_message_has_no_key(gateway, hook_for, emulator):
    emulator.ctl.set_config(api_key="the-right-key-456")
    hook = hook_for(gateway, key="test-key-123")
    with pytest.raises(GatewayAuthError) as err:
        submit(hook)
    assert "test-key-123" not in str(err.value) and gateway in str(err.value)
    assert len(emulator.ctl.requests()) == 1  # no retry loop
    ok, message = hook.test_connection()
    assert not ok and "test-key-123" not in message


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_malformed_status_is_a_typed_error(gateway, hook_for, emulator):
    hook = hook_for(gateway)
    operation_id = submit(hook)
    emulator.ctl.add_fault(STATUS_PATH[gateway], method="GET", status=200, body="<html>maintenance</html>")
    with pytest.raises(GatewayResponseError, match="non-JSON"):
        hook.get_operation(operation_id)


# -- submits: never a second paid job ---------------------------------------------------------------------
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_submit_retries_a_429_and_creates_exactly_one_job(gateway, hook_for, emulator):
    hook = hook_for(gateway)
    emulator.ctl.add_fault(SUBMIT_PATH[gateway], method="POST", times=2, status=429, headers={"retry-after-ms": "10"})
    operation_id = submit(hook)
    assert [j["id"] for j in emulator.ctl.jobs()] == [operation_id]
    assert len(posts(emulator)) == 3


@pytest.mark.parametrize(("fault", "words"), [({"status": 503}, "HTTP 503"), ({"status": 500}, "HTTP 500"),
                                              ({"delay_s": 3.0}, "timed out"), ({"reset_after_bytes": 0}, "may have")])
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_submit_is_never_retried_once_it_may_have_reached_the_gateway(gateway, fault, words, hook_for, emulator):
    hook = hook_for(gateway)
    emulator.ctl.add_fault(SUBMIT_PATH[gateway], method="POST", **fault)
    with pytest.raises(SubmitOutcomeUnknown, match=words) as err:
        submit(hook)
    assert "check the gateway before retrying" in str(err.value)
    assert len(posts(emulator)) == 1


UNREADABLE_SUBMIT_ANSWERS = {
    "not-json": ("<html>ok</html>", "non-JSON"),
    "no-id": ({"object": "video", "status": "queued"}, "has no"),
    "unsafe-id": ({"id": "video_1/../../admin", "task_id": "../admin", "name": "models/x/../../admin",
                   "object": "video", "status": "queued"}, "unsafe"),
}


@pytest.mark.parametrize("answer", sorted(UNREADABLE_SUBMIT_ANSWERS))
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_an_accepted_submit_without_a_readable_job_id_says_the_job_may_be_billed(gateway, answer, hook_for,
                                                                                emulator):
    """A 200 whose job id cannot be read (HTML, no id, an id unsafe for a URL path) is not a plain malformed
    answer: the gateway took the request, so the job may exist. One POST, and the error says to check."""
    body, words = UNREADABLE_SUBMIT_ANSWERS[answer]
    hook = hook_for(gateway)
    emulator.ctl.add_fault(SUBMIT_PATH[gateway], method="POST", status=200, body=body)
    with pytest.raises(SubmitOutcomeUnknown, match=words) as err:
        submit(hook)
    assert "may have accepted (and billed) the job" in str(err.value) and f"gateway {gateway}" in str(err.value)
    assert len(posts(emulator)) == 1


def test_submit_to_a_closed_port_is_retried_then_reported(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: connections are refused
    monkeypatch.setenv(*connection_uri_env("videogen_test", "openai", f"http://127.0.0.1:{port}"))
    hook = VideoGenHook.for_connection("videogen_test", retry_initial=0.01, max_attempts=3)
    with pytest.raises(TransientGatewayError, match="ConnectionError"):
        submit(hook)


# -- the trigger: backoff, never a hot loop; one terminal event ---------------------------------------------
def run_trigger(trigger: VideoOperationTrigger) -> list:
    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), 30))


def test_trigger_backs_off_on_429_and_500_then_succeeds(hook_for, emulator):
    hook = hook_for("openai")
    operation_id = submit(hook)
    emulator.ctl.add_fault(STATUS_PATH["openai"], method="GET", times=2, status=429, headers={"Retry-After": "1"})
    emulator.ctl.add_fault(STATUS_PATH["openai"], method="GET", times=2, status=500)
    started = time.monotonic()
    events = run_trigger(VideoOperationTrigger("videogen_test", operation_id, poll_interval=0.1, timeout=20))
    assert [e.payload["status"] for e in events] == ["success"]
    assert time.monotonic() - started >= 2.0  # two Retry-After: 1 waits honoured
    polls = [r for r in emulator.ctl.requests() if r["method"] == "GET"]
    assert len(polls) == 5


def test_trigger_gives_up_after_consecutive_failures_without_a_hot_loop(hook_for, emulator):
    hook = hook_for("mixroute")
    operation_id = submit(hook)
    emulator.ctl.add_fault(STATUS_PATH["mixroute"], method="GET", times=-1, status=429)
    events = run_trigger(VideoOperationTrigger("videogen_test", operation_id, poll_interval=0.05, timeout=20,
                                               max_consecutive_failures=4))
    assert [(e.payload["status"], e.payload["error_type"]) for e in events] == [("error", "TransientGatewayError")]
    assert "4 failed polls in a row" in events[0].payload["message"]
    assert len([r for r in emulator.ctl.requests() if r["method"] == "GET"]) == 4


@pytest.mark.parametrize(("setup", "status", "error_type"), [
    ("bad-key", "error", "GatewayAuthError"), ("unknown-id", "error", "VideoNotFound"),
    ("filtered", "failed", None), ("timeout", "timeout", None)])
def test_trigger_fires_exactly_one_terminal_event(setup, status, error_type, hook_for, emulator):
    hook = hook_for("gemini")
    operation_id = submit(hook, prompt="[[filtered]] x" if setup == "filtered" else "x")
    if setup == "bad-key":
        emulator.ctl.set_config(api_key="the-right-key-456")
    if setup == "unknown-id":
        operation_id = "models/veo-3.0-generate-preview/operations/unknown0"
    if setup == "timeout":
        emulator.ctl.set_config(job_seconds=60)
        operation_id = submit(hook)
    events = run_trigger(VideoOperationTrigger("videogen_test", operation_id, poll_interval=0.2, timeout=1.0))
    assert len(events) == 1 and events[0].payload["status"] == status
    assert events[0].payload.get("error_type") == error_type
    if setup in ("bad-key", "unknown-id"):
        assert len([r for r in emulator.ctl.requests() if r["method"] == "GET"]) == 1


def test_trigger_serialises_ids_and_numbers_only():
    trigger = VideoOperationTrigger("videogen_default", "video_1", poll_interval=5, timeout=600)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_videogen.triggers.video.VideoOperationTrigger"
    assert kwargs == {"conn_id": "videogen_default", "operation_id": "video_1", "poll_interval": 5.0,
                      "timeout": 600.0, "max_consecutive_failures": 10, "cancel_on_kill": True}
    assert VideoOperationTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_killing_the_process_mid_download_leaves_no_file_at_the_destination(emulator, tmp_path):
    """SIGKILL while the body streams: the destination must hold the whole video or nothing."""
    import json
    import os
    import signal
    import subprocess
    import sys

    emulator.ctl.set_config(job_seconds=0, video_bytes=400_000_000)
    env = {**os.environ, "AIRFLOW_CONN_VIDEOGEN_KILL": json.dumps(
        {"conn_type": "videogen_openai", "host": emulator.url, "password": "test-key-123"})}
    script = f"""
from airflow.sdk import ObjectStoragePath
from airflow_provider_videogen.download import VideoDownloader
from airflow_provider_videogen.gateways import GenerationRequest
from airflow_provider_videogen.hooks.base import VideoGenHook
import time
hook = VideoGenHook.for_connection("videogen_kill")
op_id = hook.submit(GenerationRequest("kill me", "veo-3.1-fast-generate-preview"))
op = hook.get_operation(op_id)
VideoDownloader(hook, chunk_size=64 * 1024).download(op, ObjectStoragePath("file://{tmp_path}/v.mp4"))
"""
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the temporary file has some bytes
            partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
            if partial and partial[0].stat().st_size > 5_000_000:
                break
            assert proc.poll() is None, "the download finished or failed before it could be killed"
            time.sleep(0.02)
        else:
            raise AssertionError("the download never started")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (tmp_path / "v.mp4").exists()  # only the hidden temporary file may remain
    assert all(p.name.startswith(".v.mp4.") and p.name.endswith(".partial") for p in tmp_path.iterdir())
