"""Every download form the gateways use, through the real hook and downloader, against the emulator.

Each test checks the bytes (sha256 equal to what the emulator served), that nothing but the final file
is left at the destination, and that the key never reached the CDN host.
"""

from __future__ import annotations

import hashlib

import pytest
from airflow.sdk import ObjectStoragePath
from mp4check import video_track_present
from support import TEST_KEY, connection_uri_env, finished

from airflow_provider_videogen.download import VideoDownloader
from airflow_provider_videogen.exceptions import (
    DestinationExists,
    VideoIntegrityError,
    VideoNotFound,
)
from airflow_provider_videogen.hooks.base import VideoGenHook


@pytest.fixture
def gateway_hook(emulator, monkeypatch):
    """``make(gateway, **extra)``: a hook for a ``videogen_<gateway>`` connection pointing at the emulator."""
    emulator.ctl.set_config(job_seconds=0)

    def make(gateway: str, **extra) -> VideoGenHook:
        monkeypatch.setenv(*connection_uri_env("videogen_test", gateway, emulator.url, **extra))
        return VideoGenHook.for_connection("videogen_test", retry_initial=0.01)

    return make


def dest(tmp_path, name="video.mp4") -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/out/{name}")


def assert_clean(tmp_path, expected: set[str]):
    assert {p.name for p in (tmp_path / "out").iterdir()} == expected  # no temporary files left


def assert_key_not_at_cdn(emulator):
    cdn = [r for r in emulator.ctl.requests() if r["site"] == "cdn"]
    assert all(TEST_KEY not in str(r["headers"]) for r in cdn)
    return cdn


FORMS = [
    # (gateway, emulator config, model, expect CDN traffic)
    ("openai", {"content_form": "bytes"}, None, False),
    ("hingnet", {"status_vocab": "hingnet", "content_form": "redirect"}, None, True),
    ("tokenops", {"status_vocab": "tokenops", "content_form": "json_url"}, None, True),
    ("gemini", {"gemini_download": "redirect"}, None, True),
    ("thucchien", {"thucchien_download": "bytes"}, None, False),
    ("thucchien", {"thucchien_download": "redirect"}, None, True),
    ("mixroute", {"mixroute_url_form": "cdn"}, "veo-3.1-fast-generate-preview", True),
    ("mixroute", {"mixroute_url_form": "data_url", "mixroute_wrap": True}, "veo-3.1-fast-generate-preview", False),
    ("mixroute", {}, "sora-2", False),  # base64 download endpoint (MixRoute "Download video")
]


@pytest.mark.parametrize(("gateway", "config", "model", "via_cdn"), FORMS,
                         ids=[f"{g}-{'-'.join(map(str, c.values())) or m}" for g, c, m, _ in FORMS])
def test_each_download_form_writes_the_exact_video(gateway, config, model, via_cdn, gateway_hook, emulator,
                                                   tmp_path):
    emulator.ctl.set_config(video_bytes=3_000_000, **config)
    hook = gateway_hook(gateway)
    op = finished(hook, model)
    assert op.state == "succeeded"
    result = VideoDownloader(hook, chunk_size=256 * 1024).download(op, dest(tmp_path))
    served = emulator.ctl.sha256(op.operation_id)
    data = (tmp_path / "out" / "video.mp4").read_bytes()
    assert result.sha256 == served["sha256"] == hashlib.sha256(data).hexdigest()
    assert result.size_bytes == served["size"] == 3_000_000
    assert result.uri == f"file://{tmp_path}/out/video.mp4" and result.content_type.startswith("video/")
    assert video_track_present(data)
    assert_clean(tmp_path, {"video.mp4"})
    assert bool(assert_key_not_at_cdn(emulator)) == via_cdn


def test_download_by_operation_id_with_the_operator(gateway_hook, emulator, tmp_path):
    from airflow_provider_videogen.operators.video import VideoDownloadOperator

    op = finished(gateway_hook("openai"))
    operator = VideoDownloadOperator(task_id="d", conn_id="videogen_test", operation_id=op.operation_id,
                                     destination=str(tmp_path / "out" / "v.mp4"))
    result = operator.execute({})
    provenance = result.pop("provenance")
    assert result == {"uri": f"file://{tmp_path}/out/v.mp4", "size_bytes": emulator.ctl.sha256(op.operation_id)["size"],
                      "sha256": emulator.ctl.sha256(op.operation_id)["sha256"], "content_type": "video/mp4",
                      "operation_id": op.operation_id, "video_index": 0}
    # without the generate task's record, the provenance holds what the operation itself says
    assert provenance["operation_id"] == op.operation_id and provenance["gateway"] == "openai"
    assert provenance["prompt"] is None and provenance["finished_at"]


def test_html_error_page_with_status_200_writes_nothing(gateway_hook, emulator, tmp_path):
    op = finished(gateway_hook("openai"))
    emulator.ctl.add_fault(r"/content$", status=200, body="<html><body>Service unavailable</body></html>")
    with pytest.raises(VideoIntegrityError, match="not an MP4"):
        VideoDownloader(gateway_hook("openai")).download(op, dest(tmp_path))
    assert_clean(tmp_path, set())


def test_json_error_with_status_200_writes_nothing(gateway_hook, emulator, tmp_path):
    op = finished(gateway_hook("tokenops"))
    emulator.ctl.add_fault(r"/content$", status=200, body={"error": {"code": 500, "message": "storage offline"}})
    with pytest.raises(VideoIntegrityError, match="storage offline"):
        VideoDownloader(gateway_hook("tokenops")).download(op, dest(tmp_path))
    assert_clean(tmp_path, set())


def test_declared_size_mismatch_writes_nothing(gateway_hook, emulator, tmp_path):
    hook = gateway_hook("mixroute")
    op = finished(hook, "sora-2")
    body = emulator.ctl.video(op.operation_id)
    import base64

    lie = {"success": True, "task_id": op.operation_id, "format": "mp4", "size": len(body) + 10,
           "base64": base64.b64encode(body).decode()}
    emulator.ctl.add_fault(r"/v1/video/generations/download", status=200, body=lie)
    with pytest.raises(VideoIntegrityError, match="declared size is"):
        VideoDownloader(hook).download(op, dest(tmp_path))
    assert_clean(tmp_path, set())


def test_max_bytes_guards_storage(gateway_hook, emulator, tmp_path):
    emulator.ctl.set_config(video_bytes=2_000_000)
    hook = gateway_hook("openai")
    op = finished(hook)
    with pytest.raises(VideoIntegrityError, match="max_bytes"):
        VideoDownloader(hook, max_bytes=1_000_000).download(op, dest(tmp_path))
    assert_clean(tmp_path, set())


def test_expired_video_is_video_not_found(gateway_hook, emulator, tmp_path):
    hook = gateway_hook("hingnet")
    op = finished(hook)
    emulator.ctl.add_fault(r"/content$", status=404, body={"error": {"message": "video expired", "code": "expired"}})
    with pytest.raises(VideoNotFound, match="video expired"):
        VideoDownloader(hook).download(op, dest(tmp_path))
    assert_clean(tmp_path, set())


def test_overwrite_false_keeps_the_existing_file(gateway_hook, emulator, tmp_path):
    hook = gateway_hook("openai")
    op = finished(hook)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "video.mp4").write_bytes(b"keep me")
    with pytest.raises(DestinationExists):
        VideoDownloader(hook).download(op, dest(tmp_path), overwrite=False)
    assert (tmp_path / "out" / "video.mp4").read_bytes() == b"keep me"
    VideoDownloader(hook).download(op, dest(tmp_path), overwrite=True)
    assert hashlib.sha256((tmp_path / "out" / "video.mp4").read_bytes()).hexdigest() == \
        emulator.ctl.sha256(op.operation_id)["sha256"]
