"""How the operators behave inside Airflow: retries, sensor modes, timeouts, soft_fail (via ``dag.test()``)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from support import ROOT

from airflow_provider_videogen.operators.video import VideoGenerateOperator


@pytest.fixture
def text_to_video(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(ROOT / "dags_examples")).get_dag("videogen_text_to_video")
    for task in dag.tasks:
        if hasattr(task, "poke_interval"):
            task.poke_interval = 0.2
    return dag


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_a_retried_generate_task_reattaches_instead_of_paying_twice(text_to_video, use_gateway, emulator, tmp_path,
                                                                    monkeypatch):
    """The worker dies after the submit (simulated: the first try raises after submitting)."""
    use_gateway("openai")
    original = VideoGenerateOperator.execute

    def dies_after_submit(self, context):
        result = original(self, context)
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost after the submit")
        return result

    monkeypatch.setattr(VideoGenerateOperator, "execute", dies_after_submit)
    generate = text_to_video.get_task("generate")
    generate.retries, generate.retry_delay = 2, timedelta(seconds=0)
    run = text_to_video.test(run_conf={"prompt": "pay once", "output_dir": str(tmp_path)})
    assert run.state == "success", states(run)
    assert run.get_task_instance("generate").try_number == 2  # it really was retried
    assert len(emulator.ctl.jobs()) == 1  # ...and submitted only once
    posts = [r for r in emulator.ctl.requests() if r["method"] == "POST"]
    assert len(posts) == 1
    (video,) = tmp_path.glob("text_to_video/*.mp4")
    assert hashlib.sha256(video.read_bytes()).hexdigest() == emulator.ctl.sha256(emulator.ctl.jobs()[0]["id"])["sha256"]


def test_a_retried_download_redownloads_and_never_regenerates(text_to_video, use_gateway, emulator, tmp_path):
    use_gateway("tokenops")
    emulator.ctl.add_fault(r"^/cdn/", site="cdn", times=-1, status=503)  # the CDN is down for a while
    download = text_to_video.get_task("download")
    download.retries, download.retry_delay = 1, timedelta(seconds=0)
    import airflow_provider_videogen.download as dl

    calls = {"n": 0}
    original = dl.VideoDownloader.download

    def heal_on_retry(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            emulator.ctl.clear_faults()
        return original(self, *args, **kwargs)

    dl.VideoDownloader.download = heal_on_retry
    try:
        text_to_video.get_task("generate").retries = 0
        run = text_to_video.test(run_conf={"prompt": "download twice", "output_dir": str(tmp_path)})
    finally:
        dl.VideoDownloader.download = original
    assert run.state == "success", states(run)
    assert run.get_task_instance("download").try_number == 2
    assert len(emulator.ctl.jobs()) == 1
    assert len(list(tmp_path.glob("text_to_video/*.mp4"))) == 1


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_works_without_deferral(mode, text_to_video, use_gateway, emulator, tmp_path):
    use_gateway("gemini")
    wait = text_to_video.get_task("wait")
    wait.deferrable, wait.mode = False, mode
    run = text_to_video.test(run_conf={"prompt": f"{mode} mode", "output_dir": str(tmp_path)})
    assert run.state == "success", states(run)
    agents = {r["headers"].get("User-Agent") for r in emulator.ctl.requests() if r["method"] == "GET"}
    assert "airflow-provider-videogen (triggerer)" not in agents  # never deferred
    assert len(list(tmp_path.glob("text_to_video/*.mp4"))) == 1


def test_failed_generation_fails_the_sensor_with_the_gateways_reason(text_to_video, use_gateway, emulator, tmp_path):
    use_gateway("hingnet")
    run = text_to_video.test(run_conf={"prompt": "[[fail]] clip", "output_dir": str(tmp_path)})
    assert run.state == "failed"
    assert states(run)["wait"] == "failed" and states(run)["download"] == "upstream_failed"
    assert not (tmp_path / "text_to_video").exists()


def test_sensor_execute_complete_maps_trigger_events():
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from airflow_provider_videogen.exceptions import GatewayAuthError, GatewayResponseError, VideoContentFiltered
    from airflow_provider_videogen.sensors.video import VideoOperationSensor

    sensor = VideoOperationSensor(task_id="w", operation_id="video_1")
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete({}, {"status": "timeout", "operation_id": "video_1", "message": "slow"})
    with pytest.raises(GatewayAuthError, match=r"\[gateway openai, operation video_1\] bad key"):
        sensor.execute_complete({}, {"status": "error", "operation_id": "video_1", "message": "bad key",
                                     "error_type": "GatewayAuthError", "gateway": "openai"})
    with pytest.raises(VideoContentFiltered, match="blocked"):
        sensor.execute_complete({}, {"status": "failed", "operation_id": "video_1", "operation": {
            "gateway": "openai", "operation_id": "video_1", "state": "failed", "error_code": "moderation_blocked",
            "error_message": "blocked"}})
    for garbage in (None, {"status": "weird"}, "success"):
        with pytest.raises(GatewayResponseError):
            sensor.execute_complete({}, garbage)
    done = {"gateway": "openai", "operation_id": "video_1", "state": "succeeded", "progress": 100,
            "videos": [{"kind": "binary", "url": "/v1/videos/video_1/content"}]}
    result = sensor.execute_complete({}, {"status": "success", "operation_id": "video_1", "operation": done})
    assert result["videos"] == done["videos"] and result["conn_id"] == "videogen_default"
    import json

    json.dumps(result)  # XCom-serialisable


def test_sensor_defers_with_its_timeout_and_soft_fail_skips(use_gateway, emulator):
    from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

    from airflow_provider_videogen.hooks.base import VideoGenHook
    from airflow_provider_videogen.sensors.video import VideoOperationSensor
    from airflow_provider_videogen.triggers.video import VideoOperationTrigger

    use_gateway("openai")
    emulator.ctl.set_config(job_seconds=60)
    from airflow_provider_videogen.gateways import GenerationRequest

    operation_id = VideoGenHook.for_connection("videogen_default").submit(GenerationRequest("slow", "sora-2"))
    sensor = VideoOperationSensor(task_id="w", operation_id=operation_id, timeout=120, poke_interval=7,
                                  deferrable=True, soft_fail=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.timeout == timedelta(seconds=120) and deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, VideoOperationTrigger) and trigger.serialize()[1]["poll_interval"] == 7.0
    assert "test-key-123" not in repr(trigger.serialize())
    from airflow.sdk.exceptions import TaskDeferralTimeout

    with pytest.raises(AirflowSkipException):  # the deferral timed out; soft_fail turns it into a skip
        sensor.resume_execution("__fail__", {"error": TaskDeferralTimeout("timed out")}, {})
