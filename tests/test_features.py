"""Beyond one clip: Veo controls, several videos per job, extend and remix, previews, provenance with a
sidecar, the spend guard and cancel on kill, through the emulator over real HTTP."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import ObjectStoragePath
from support import GATEWAY_PROFILES, connection_uri_env, finished

from airflow_provider_videogen.download import VideoDownloader
from airflow_provider_videogen.exceptions import InvalidVideoRequest
from airflow_provider_videogen.gateways import GenerationRequest, ImageInput
from airflow_provider_videogen.gateways.base import ReferenceImage, SourceVideo
from airflow_provider_videogen.hooks.base import VideoGenHook

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture
def hook_for(emulator, monkeypatch):
    emulator.ctl.set_config(job_seconds=0, video_bytes=400_000)

    def make(gateway: str, **extra) -> VideoGenHook:
        emulator.ctl.set_config(**GATEWAY_PROFILES[gateway])
        monkeypatch.setenv(*connection_uri_env("videogen_feat", gateway, emulator.url, **extra))
        return VideoGenHook.for_connection("videogen_feat", retry_initial=0.01)

    return make


def files_in(path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


# -- provenance sidecar: written with its video, never one without the other ------------------------------

def test_the_sidecar_is_written_next_to_the_video(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    result = VideoDownloader(hook).download(op, ObjectStoragePath(f"file://{tmp_path}/out/clip.mp4"),
                                            sidecar={"prompt": "a test clip", "model": "m"})
    assert files_in(tmp_path / "out") == ["clip.json", "clip.mp4"]
    sidecar = json.loads((tmp_path / "out" / "clip.json").read_text())
    assert sidecar["prompt"] == "a test clip" and sidecar["video"]["sha256"] == result.sha256
    assert result.sidecar_uri == f"file://{tmp_path}/out/clip.json"


def test_a_failed_video_leaves_no_sidecar(hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    emulator.ctl.add_fault(r"/content$", times=-1, truncate_to_bytes=100_000)
    with pytest.raises(Exception):  # noqa: B017  (the transport's typed error after its retries)
        VideoDownloader(hook).download(op, ObjectStoragePath(f"file://{tmp_path}/out/clip.mp4"), sidecar={"a": 1})
    assert files_in(tmp_path / "out") == []


def test_a_sidecar_that_cannot_be_moved_takes_its_video_back(hook_for, emulator, tmp_path, monkeypatch):
    hook = hook_for("openai")
    op = finished(hook)
    real_rename = ObjectStoragePath.rename

    def rename(self, target, *args, **kwargs):
        if str(target).endswith(".json"):
            raise OSError("disk full (injected)")
        return real_rename(self, target, *args, **kwargs)

    monkeypatch.setattr(ObjectStoragePath, "rename", rename)
    with pytest.raises(OSError, match="injected"):
        VideoDownloader(hook).download(op, ObjectStoragePath(f"file://{tmp_path}/out/clip.mp4"), sidecar={"a": 1})
    assert files_in(tmp_path / "out") == []


# -- Veo controls: mapped where documented, refused before paying elsewhere -------------------------------

def test_gemini_takes_last_frame_reference_images_and_the_veo_parameters(hook_for, emulator):
    hook = hook_for("gemini")
    hook.submit(GenerationRequest(
        "a kite", "veo-3.1-generate-preview", duration_seconds=8, resolution="4k", image=ImageInput(PNG),
        last_frame=ImageInput(JPEG, "image/jpeg"), person_generation="allow_adult", enhance_prompt=True,
        number_of_videos=2))
    (post,) = [r for r in emulator.ctl.requests() if r["method"] == "POST"]
    instance = post["body_shape"]["instances"][0]
    assert set(instance) == {"prompt", "image", "lastFrame"}
    assert post["body_shape"]["parameters"] == {"durationSeconds": "integer", "resolution": "string",
                                                "personGeneration": "string", "enhancePrompt": "boolean",
                                                "sampleCount": "integer"}
    hook.submit(GenerationRequest("a kite", "veo-3.1-generate-preview", reference_images=(
        ReferenceImage(ImageInput(PNG), "asset"), ReferenceImage(ImageInput(JPEG, "image/jpeg"), "style"))))
    last = [r for r in emulator.ctl.requests() if r["method"] == "POST"][-1]
    assert last["body_shape"]["instances"][0]["referenceImages"] == [
        {"image": {"bytesBase64Encoded": "string", "mimeType": "string"}, "referenceType": "string"}] * 2


@pytest.mark.parametrize(("gateway", "change", "words"), [
    ("gemini", {"seed": 7}, "seed"),  # Vertex AI only: the Gemini API (and its SDK) refuse it
    ("gemini", {"generate_audio": True}, "generate_audio"),
    ("gemini", {"resolution": "4k", "model": "veo-3.0-generate-001"}, "4k"),
    ("openai", {"last_frame": ImageInput(PNG)}, "last_frame"),
    ("tokenops", {"number_of_videos": 2}, "number_of_videos"),
    ("mixroute", {"number_of_videos": 2}, "number_of_videos"),
    ("mixroute", {"last_frame": ImageInput(PNG), "model": "veo-3.0-generate-preview"}, "last_frame"),
    ("hingnet", {"reference_images": tuple(ReferenceImage(ImageInput(PNG)) for _ in range(4)),
                 "model": "veo-3.1-generate-preview"}, "at most 3"),
    ("gemini", {"number_of_videos": 5}, "number_of_videos"),
    ("gemini", {"person_generation": "everyone"}, "person_generation"),
])
def test_controls_a_gateway_does_not_document_are_refused_before_paying(gateway, change, words, hook_for,
                                                                          emulator):
    hook = hook_for(gateway)
    model = change.pop("model", None) or hook.default_model()
    with pytest.raises(InvalidVideoRequest, match=words):
        hook.submit(GenerationRequest("a clip", model, duration_seconds=8, **change))
    assert emulator.ctl.jobs() == [] and not [r for r in emulator.ctl.requests() if r["method"] == "POST"]


def test_mixroute_veo_31_takes_a_last_frame_seed_and_audio(hook_for, emulator):
    hook = hook_for("mixroute")
    hook.submit(GenerationRequest("a kite", "veo-3.1-fast-generate-preview", duration_seconds=6,
                                  image=ImageInput(PNG), last_frame=ImageInput(PNG), seed=42, generate_audio=False,
                                  person_generation="allow_all"))
    (post,) = [r for r in emulator.ctl.requests() if r["method"] == "POST"]
    assert {k: post["body_shape"][k] for k in ("lastFrame", "seed", "generateAudio", "personGeneration")} == {
        "lastFrame": "string", "seed": "integer", "generateAudio": "boolean", "personGeneration": "string"}


def test_hingnet_veo_sends_first_and_last_frame_as_two_input_references(hook_for, emulator):
    hook = hook_for("hingnet")
    hook.submit(GenerationRequest("a kite", "veo-3.1-fast-generate-preview", duration_seconds=6,
                                  image=ImageInput(PNG), last_frame=ImageInput(JPEG, "image/jpeg")))
    (post,) = [r for r in emulator.ctl.requests() if r["method"] == "POST"]
    assert post["content_type"] == "multipart/form-data"
    assert post["body_shape"]["input_reference"] == ["file", "file"]


def test_a_bad_preview_variant_is_refused_where_none_is_served(hook_for, emulator, tmp_path):
    hook = hook_for("tokenops")
    op = finished(hook)
    with pytest.raises(InvalidVideoRequest, match="thumbnail"):
        VideoDownloader(hook).download_preview(op, "thumbnail", ObjectStoragePath(f"file://{tmp_path}/t.webp"))


def test_extension_needs_the_source_videos_uri(hook_for, emulator):
    hook = hook_for("gemini")
    with pytest.raises(InvalidVideoRequest, match="uri"):
        hook.submit(GenerationRequest("longer", hook.default_model(), source=SourceVideo("operations/x")))

