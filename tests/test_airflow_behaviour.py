"""How the operators behave inside Airflow: retries, sensor modes, timeouts, soft_fail (via ``dag.test()``)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from importlib.metadata import version

import pytest
from support import ROOT, fast

from airflow_provider_videogen import _compat
from airflow_provider_videogen.operators.video import VideoGenerateOperator


@pytest.fixture
def text_to_video(dagbag_class):
    return fast(dagbag_class(str(ROOT / "dags_examples")).get_dag("videogen_text_to_video"))


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def videogen_variables() -> dict[str, str]:
    """The Variables in Airflow's DB that keep submitted operations (Airflow without ``task_state_store``)."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return {v.key: v.val for v in session.scalars(select(Variable).where(Variable.key.startswith(
            _compat.STATE_KEY)))}


def test_a_retried_generate_task_reattaches_instead_of_paying_twice(text_to_video, use_gateway, emulator, tmp_path,
                                                                    monkeypatch):
    """The worker dies after the submit (simulated: the first try raises after submitting).

    Where Airflow has ``task_state_store`` (3.3) the operation is kept there; elsewhere (3.1, 3.2) in a
    Variable, which the download deletes once the video is written.
    """
    use_gateway("openai")
    original = VideoGenerateOperator.execute
    kept, variables_before = [], videogen_variables()

    def dies_after_submit(self, context):
        record = _compat.operation_record(context)
        kept.append((context["ti"].try_number, type(record).__name__, record.get()))  # before this try's execute
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
    (job,) = emulator.ctl.jobs()
    has_task_state_store = tuple(int(n) for n in version("apache-airflow-core").split(".")[:2]) >= (3, 3)
    durable = "_TaskStateStoreRecord" if has_task_state_store else "_VariableRecord"
    found = [(n, kind, {k: v[k] for k in ("conn_id", "operation_id", "gateway")} if v else v) for n, kind, v in kept]
    assert found == [(1, durable, None),  # the second try found the first try's operation in durable state:
                     (2, durable, {"conn_id": "videogen_default", "operation_id": job["id"], "gateway": "openai"})]
    assert kept[1][2]["provenance"]["prompt"] == "pay once"  # the whole XCom record came back
    assert videogen_variables() == variables_before  # 3.1/3.2: deleted after the download; 3.3: never written


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
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout

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
    from airflow.providers.common.compat.sdk import AirflowSkipException, TaskDeferred

    from airflow_provider_videogen.hooks.base import VideoGenHook
    from airflow_provider_videogen.sensors.video import VideoOperationSensor
    from airflow_provider_videogen.triggers.video import VideoOperationTrigger

    use_gateway("openai")
    emulator.ctl.set_config(job_seconds=60)
    from airflow_provider_videogen.gateways import GenerationRequest

    operation_id = VideoGenHook.for_connection("videogen_default").submit(
        GenerationRequest("slow", "veo-3.1-fast-generate-preview"))
    sensor = VideoOperationSensor(task_id="w", operation_id=operation_id, timeout=120, poke_interval=7,
                                  deferrable=True, soft_fail=True)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert deferred.value.timeout == timedelta(seconds=120) and deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, VideoOperationTrigger) and trigger.serialize()[1]["poll_interval"] == 7.0
    assert "test-key-123" not in repr(trigger.serialize())
    import airflow.sdk.exceptions

    # not in common.compat: airflow.sdk.exceptions where Airflow has it there (3.3), else airflow.exceptions (3.1)
    TaskDeferralTimeout = getattr(airflow.sdk.exceptions, "TaskDeferralTimeout", None)
    if TaskDeferralTimeout is None:
        from airflow.exceptions import TaskDeferralTimeout
    with pytest.raises(AirflowSkipException):  # the deferral timed out; soft_fail turns it into a skip
        sensor.resume_execution("__fail__", {"error": TaskDeferralTimeout("timed out")}, {})


_FORM_SCRIPT = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
print("FORMS " + json.dumps({m.connection_type: m.model_dump(mode="json") for m in HookMetaService.hook_meta_data()
                             if m.connection_type.startswith("videogen_")}))
"""


def test_connection_forms_relabel_hide_and_offer_the_extra_fields():
    """The connection form the UI gets from Airflow's API server (``HookMetaService``, in its own process: it
    stubs WTForms into ``sys.modules``). Airflow 3.2+ draws it from ``get_provider_info()``; 3.1 ignores
    those keys and calls the hook classes' own methods (``_compat.BaseHook``): the same form either way."""
    import json
    import subprocess
    import sys

    from airflow_provider_videogen.get_provider_info import get_provider_info

    out = subprocess.run([sys.executable, "-c", _FORM_SCRIPT], capture_output=True, text=True, timeout=300, check=True)
    forms = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("FORMS "))[6:])
    expected = get_provider_info()["connection-types"]
    assert set(forms) == {item["connection-type"] for item in expected}
    for item in expected:
        form, behaviour = forms[item["connection-type"]], item["ui-field-behaviour"]
        standard = {("schema" if name == "url_schema" else name): field for name, field in
                    form["standard_fields"].items()}
        assert all(standard[name]["hidden"] for name in behaviour["hidden-fields"])
        assert {name: standard[name]["title"] for name in behaviour["relabeling"]} == behaviour["relabeling"]
        assert {name: standard[name]["placeholder"] for name in behaviour["placeholders"]} == behaviour["placeholders"]
        assert set(form["extra_fields"]) == set(item["conn-fields"])  # stored in Extra under these names
        for name, field in item["conn-fields"].items():
            shown = form["extra_fields"][name]
            assert shown["schema"]["title"] == field["label"] and shown["description"] == field["description"]
            assert shown["schema"]["type"] == field["schema"]["type"]
            assert shown["value"] == field["schema"].get("default")
