"""Beyond one clip: Veo controls, several videos per job, extend and remix, previews, provenance with a
sidecar, the spend guard and cancel on kill, through the emulator over real HTTP."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import ObjectStoragePath
from support import GATEWAY_PROFILES, ROOT, connection_uri_env, finished

from airflow_provider_videogen.download import VideoDownloader
from airflow_provider_videogen.exceptions import InvalidVideoRequest, TransientGatewayError
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
    emulator.ctl.add_fault(r"/content$", times=-1, truncate_to_bytes=1000)  # breaks more often than it resumes
    with pytest.raises(TransientGatewayError):
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



# -- several videos per operation ---------------------------------------------------------------------------

@pytest.mark.parametrize("inline", [False, True], ids=["files", "inline-base64"])
def test_every_sample_of_a_gemini_job_downloads_to_its_own_exact_bytes(inline, hook_for, emulator, tmp_path):
    hook = hook_for("gemini")
    if inline:
        emulator.ctl.set_config(gemini_download="inline")
    operation_id = hook.submit(GenerationRequest("three takes", hook.default_model(), duration_seconds=8,
                                                 number_of_videos=3))
    op = hook.get_operation(operation_id)
    assert op.state == "succeeded" and len(op.videos) == 3
    expected = [v["sha256"] for v in emulator.ctl.videos(operation_id)]
    assert len(set(expected)) == 3
    got = [VideoDownloader(hook).download(op, ObjectStoragePath(f"file://{tmp_path}/take_{i}.mp4"),
                                          video_index=i).sha256 for i in range(3)]
    assert got == expected


# -- extend and remix ---------------------------------------------------------------------------------------

def test_a_gemini_video_is_extended_from_its_uri(hook_for, emulator):
    hook = hook_for("gemini")
    first = finished(hook)
    source = SourceVideo(first.operation_id, uri=first.videos[0].uri)
    second = hook.submit(GenerationRequest("and then it flies away", hook.default_model(), source=source))
    jobs = {j["id"]: j for j in emulator.ctl.jobs()}
    assert jobs[second]["source_video"] == jobs[first.operation_id]["file_id"]


def test_an_openai_compatible_video_is_remixed(hook_for, emulator):
    hook = hook_for("openai")
    first = finished(hook)
    second = hook.submit(GenerationRequest("same, at night", hook.default_model(),
                                           source=SourceVideo(first.operation_id)))
    jobs = {j["id"]: j for j in emulator.ctl.jobs()}
    assert jobs[second]["remixed_from"] == first.operation_id
    (remix,) = [r for r in emulator.ctl.requests() if r["path"].endswith("/remix")]
    assert remix["content_type"] == "application/json" and remix["body_shape"] == {"prompt": "string"}


@pytest.mark.parametrize("gateway", ["hingnet", "tokenops", "mixroute"])
def test_remix_is_refused_where_no_gateway_document_keeps_it(gateway, hook_for, emulator):
    hook = hook_for(gateway)
    with pytest.raises(InvalidVideoRequest, match="source"):
        hook.submit(GenerationRequest("same, at night", hook.default_model(), source=SourceVideo("video_1")))
    assert emulator.ctl.jobs() == []


# -- previews -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("variant", "magic"), [("thumbnail", b"RIFF"), ("spritesheet", b"\xff\xd8\xff")])
def test_previews_are_downloaded_where_the_gateway_serves_them(variant, magic, hook_for, emulator, tmp_path):
    hook = hook_for("openai")
    op = finished(hook)
    result = VideoDownloader(hook).download_preview(op, variant, ObjectStoragePath(f"file://{tmp_path}/p.img"))
    assert result.sha256 == emulator.ctl.variant_sha256(op.operation_id, variant)["sha256"]
    assert (tmp_path / "p.img").read_bytes().startswith(magic)


# -- cancel -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("gateway", "method"), [("gemini", "POST"), ("thucchien", "POST"), ("openai", "DELETE")])
def test_cancel_calls_the_documented_endpoint_and_the_job_reports_failed(gateway, method, hook_for, emulator):
    hook = hook_for(gateway)
    emulator.ctl.set_config(job_seconds=60)
    operation_id = hook.submit(GenerationRequest("to be cancelled", hook.default_model(), duration_seconds=8))
    assert hook.cancel(operation_id) is True
    assert [r["method"] for r in emulator.ctl.requests()][-1] == method
    op = hook.get_operation(operation_id)
    assert op.state == "failed"
    (job,) = emulator.ctl.jobs()
    assert job["cancelled"] is True


@pytest.mark.parametrize("gateway", ["mixroute", "hingnet", "tokenops"])
def test_cancel_sends_nothing_where_no_cancel_is_documented(gateway, hook_for, emulator):
    hook = hook_for(gateway)
    operation_id = hook.submit(GenerationRequest("keeps running", hook.default_model(), duration_seconds=8))
    emulator.ctl.clear_requests()
    assert hook.cancel(operation_id) is False
    assert emulator.ctl.requests() == []


# -- cancel on kill -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("gateway", ["gemini", "openai"])
async def test_the_triggers_on_kill_cancels_the_job_at_the_gateway(gateway, hook_for, emulator):
    from airflow_provider_videogen.triggers.video import VideoOperationTrigger

    hook = hook_for(gateway)
    emulator.ctl.set_config(job_seconds=60)
    operation_id = hook.submit(GenerationRequest("killed from the UI", hook.default_model(), duration_seconds=8))
    await VideoOperationTrigger("videogen_feat", operation_id, poll_interval=1).on_kill()
    (job,) = emulator.ctl.jobs()
    assert job["cancelled"] is True


async def test_on_kill_does_nothing_when_cancel_on_kill_is_off(hook_for, emulator):
    from airflow_provider_videogen.triggers.video import VideoOperationTrigger

    hook = hook_for("openai")
    emulator.ctl.set_config(job_seconds=60)
    operation_id = hook.submit(GenerationRequest("keep it", hook.default_model(), duration_seconds=8))
    emulator.ctl.clear_requests()
    await VideoOperationTrigger("videogen_feat", operation_id, cancel_on_kill=False).on_kill()
    assert emulator.ctl.requests() == [] and emulator.ctl.jobs()[0]["cancelled"] is False


def test_the_sensors_on_kill_cancels_a_job_it_was_polling(hook_for, emulator):
    from airflow_provider_videogen.sensors.video import VideoOperationSensor

    hook = hook_for("openai")
    emulator.ctl.set_config(job_seconds=60)
    operation_id = hook.submit(GenerationRequest("killed while poking", hook.default_model(), duration_seconds=8))
    VideoOperationSensor(task_id="wait", conn_id="videogen_feat", operation_id=operation_id, mode="poke",
                         deferrable=False).on_kill()
    assert emulator.ctl.jobs()[0]["cancelled"] is True


# -- the operators, run by Airflow (dag.test): all samples, one asset event each, provenance everywhere -----

def test_all_videos_of_a_job_are_written_with_one_asset_event_each(dagbag_class, use_gateway, emulator, tmp_path):
    """The ``videogen_takes`` example DAG, run by Airflow (dag.test): three samples of one job."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    use_gateway("gemini", job_seconds=0.5)
    dag = dagbag_class(str(ROOT / "dags_examples")).get_dag("videogen_takes")
    dag.get_task("wait").poke_interval = 0.2
    run = dag.test(run_conf={"prompt": "three takes of a kite", "takes": 3, "output_dir": str(tmp_path)})
    assert run.state == "success"
    (job,) = emulator.ctl.jobs()
    expected = [v["sha256"] for v in emulator.ctl.videos(job["id"])]
    written = run.get_task_instance("download").xcom_pull(task_ids="download")
    assert [w["sha256"] for w in written] == expected and [w["video_index"] for w in written] == [0, 1, 2]
    assert all(w["provenance"]["prompt"] == "three takes of a kite" for w in written)
    names = sorted(p.name.rsplit("_", 1)[-1] for p in (tmp_path / "takes").iterdir())
    assert names == ["0.json", "0.mp4", "1.json", "1.mp4", "2.json", "2.mp4"]
    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).all()
    assert sorted(e.extra["video_index"] for e in events) == [0, 1, 2]
    assert {e.extra["sha256"] for e in events} == set(expected)
    assert all(e.extra["provenance"]["model"] == job["model"] for e in events)


def test_all_videos_needs_an_index_template_or_a_folder(tmp_path):
    from airflow_provider_videogen.exceptions import InvalidDestination
    from airflow_provider_videogen.gateways import VideoLocator, VideoOperation
    from airflow_provider_videogen.operators.video import VideoDownloadOperator

    op = VideoOperation("gemini", "models/m/operations/abc", "succeeded",
                        videos=[VideoLocator("binary", "/a"), VideoLocator("binary", "/b")])
    operator = VideoDownloadOperator(task_id="d", operation_id="x", all_videos=True, destination=f"{tmp_path}/v.mp4")
    with pytest.raises(InvalidDestination, match="index"):
        operator.destinations(op)
    operator.destination = f"{tmp_path}/videos/"
    assert [str(p) for _, p in operator.destinations(op)] == [f"file://{tmp_path}/videos/abc_{i}.mp4" for i in (0, 1)]


def test_the_download_operator_writes_previews_next_to_the_video(hook_for, emulator, tmp_path):
    from airflow_provider_videogen.operators.video import VideoDownloadOperator

    op = finished(hook_for("openai"))
    result = VideoDownloadOperator(task_id="d", conn_id="videogen_feat", operation_id=op.operation_id,
                                   destination=f"{tmp_path}/clip.mp4", previews=["thumbnail", "spritesheet"]
                                   ).execute({})
    assert result["previews"] == {"thumbnail": f"file://{tmp_path}/clip.thumbnail.webp",
                                  "spritesheet": f"file://{tmp_path}/clip.spritesheet.jpg"}
    thumb = emulator.ctl.variant_sha256(op.operation_id, "thumbnail")["sha256"]
    import hashlib

    assert hashlib.sha256((tmp_path / "clip.thumbnail.webp").read_bytes()).hexdigest() == thumb


def test_previews_are_refused_before_downloading_where_none_are_served(hook_for, emulator, tmp_path):
    from airflow_provider_videogen.operators.video import VideoDownloadOperator

    op = finished(hook_for("tokenops"))
    emulator.ctl.clear_requests()
    with pytest.raises(InvalidVideoRequest, match="thumbnail"):
        VideoDownloadOperator(task_id="d", conn_id="videogen_feat", operation_id=op.operation_id,
                              destination=f"{tmp_path}/clip.mp4", previews=["thumbnail"]).execute({})
    assert not [r for r in emulator.ctl.requests() if r["path"].endswith("/content")] and files_in(tmp_path) == []
