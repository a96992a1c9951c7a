"""The example DAGs, run through Airflow itself (``dag.test()``) against the emulator over loopback.

One end-to-end run per connection type: submit on the worker, wait deferred in the (inline) triggerer,
stream the video into storage; the written file's sha256 must equal what the emulator served.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from mp4check import video_track_present
from support import GATEWAYS, ROOT, TEST_KEY, fast

from airflow_provider_videogen.hooks.base import TRIGGER_USER_AGENT, USER_AGENT


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_example_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"videogen_text_to_video", "videogen_batch", "videogen_image_to_video_pipeline",
                                   "videogen_on_new_video", "videogen_takes"}
    for dag in dagbag.dags.values():
        assert dag.tags and "videogen" in dag.tags
        assert all(getattr(t, "conn_id", "videogen_default") == "videogen_default" for t in dag.tasks)
        for task in dag.tasks:  # mapped downloads too: the alias exists once the DAG is parsed
            if task.task_id == "download":
                assert [o.name for o in task.outlets if type(o).__name__ == "AssetAlias"] == ["videogen_videos"]


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_text_to_video_end_to_end(gateway, dagbag, use_gateway, emulator, tmp_path, monkeypatch):
    use_gateway(gateway)
    # The sensor's first poke (on the worker) reports "not yet" whatever the job's state, so that the wait
    # always moves to the trigger: how long dag.test() takes from one task to the next (about 2 s on
    # Airflow 3.1, more on a busy machine) must not decide which path is tested.
    from airflow.providers.common.compat.sdk import PokeReturnValue

    from airflow_provider_videogen.sensors.video import VideoOperationSensor

    real_poke, pokes = VideoOperationSensor.poke, []

    def first_poke_not_yet(self, context):
        result = real_poke(self, context)
        pokes.append(result.is_done)
        return result if len(pokes) > 1 else PokeReturnValue(False)

    monkeypatch.setattr(VideoOperationSensor, "poke", first_poke_not_yet)
    dag = fast(dagbag.get_dag("videogen_text_to_video"))
    run = dag.test(run_conf={"prompt": f"A {gateway} test clip", "duration_seconds": 4, "output_dir": str(tmp_path)})
    assert run.state == "success"

    jobs = emulator.ctl.jobs()
    assert len(jobs) == 1 and jobs[0]["prompt"] == f"A {gateway} test clip"  # exactly one paid submission
    files = list((tmp_path / "text_to_video").glob("*.mp4"))
    assert len(files) == 1 and not list((tmp_path / "text_to_video").glob(".*"))  # no temporary left behind
    assert sha256(files[0]) == emulator.ctl.sha256(jobs[0]["id"])["sha256"]
    import json

    sidecar = json.loads(files[0].with_suffix(".json").read_text())  # provenance, written with the video
    assert sidecar["prompt"] == f"A {gateway} test clip" and sidecar["operation_id"] == jobs[0]["id"]
    assert sidecar["video"]["sha256"] == sha256(files[0]) and sidecar["gateway"] == gateway
    assert video_track_present(files[0].read_bytes())

    record = emulator.ctl.requests()
    polls = [r for r in record if r["method"] == "GET" and r["site"] == "api" and "download" not in r["path"]
             and not r["path"].endswith("/content") and not r["path"].startswith("/_emulator")]
    agents = {r["headers"].get("User-Agent") for r in polls}
    assert USER_AGENT in agents  # the sensor's first poke, on the worker
    assert TRIGGER_USER_AGENT in agents  # then the wait ran in the trigger: the task deferred
    cdn = [r for r in record if r["site"] == "cdn"]
    for r in cdn:  # the key never reaches another host
        assert TEST_KEY not in str(r["headers"])


def test_batch_maps_one_task_per_prompt(dagbag, use_gateway, emulator, tmp_path):
    use_gateway("openai")
    prompts = ["first clip", "second clip", "third clip"]
    run = fast(dagbag.get_dag("videogen_batch")).test(run_conf={"prompts": prompts, "output_dir": str(tmp_path)})
    assert run.state == "success"
    jobs = {j["prompt"]: j for j in emulator.ctl.jobs()}
    assert sorted(jobs) == sorted(prompts)
    written = {p.stem: sha256(p) for p in tmp_path.glob("batch/*/*.mp4")}
    assert written == {j["id"]: emulator.ctl.sha256(j["id"])["sha256"] for j in jobs.values()}
    generate = run.get_dag().get_task("generate")
    assert generate.pool == "videogen_gateway"  # submits capped by an Airflow pool
    downloads = [ti for ti in run.get_task_instances() if ti.task_id == "download"]
    assert {ti.xcom_pull(task_ids="download", map_indexes=ti.map_index)["provenance"]["prompt"]
            for ti in downloads} == set(prompts)


def test_batch_spend_guard_refuses_before_paying(dagbag, use_gateway, emulator, tmp_path, monkeypatch):
    use_gateway("openai")
    monkeypatch.setenv("AIRFLOW_VAR_VIDEOGEN_PRICES", '{"veo-3.1-fast": 1.0}')  # $4 per 4 s clip > max_cost $2
    run = fast(dagbag.get_dag("videogen_batch")).test(run_conf={"prompts": ["too dear"], "output_dir": str(tmp_path)})
    assert run.state == "failed"
    assert emulator.ctl.jobs() == [] and not [r for r in emulator.ctl.requests() if r["method"] == "POST"]


def test_image_to_video_pipeline_sends_the_first_frame_and_feeds_downstream(dagbag, use_gateway, emulator,
                                                                            tmp_path):
    use_gateway("gemini")
    run = fast(dagbag.get_dag("videogen_image_to_video_pipeline")).test(
        run_conf={"product": "blue bicycle", "output_dir": str(tmp_path)})
    assert run.state == "success"
    (job,) = emulator.ctl.jobs()
    assert job["has_image"] and "blue bicycle" in job["prompt"]
    frame = next(tmp_path.glob("pipeline/first_frame_*.png")).read_bytes()
    assert job["image"]["sha256"] == hashlib.sha256(frame).hexdigest()
    last = next(tmp_path.glob("pipeline/last_frame_*.png")).read_bytes()
    assert job["last_frame"]["sha256"] == hashlib.sha256(last).hexdigest()  # first-and-last-frame generation
    (video,) = tmp_path.glob("pipeline/*.mp4")
    assert sha256(video) == emulator.ctl.sha256(job["id"])["sha256"]
    publish = run.get_task_instance("publish")
    assert publish.state == "success"


def test_the_readme_demo_writes_a_video_the_gateway_served(airflow_db, tmp_path):
    """``make demo`` as the README gives it (its default gateway): exit 0 and a playable MP4 whose sha256 the
    script checked against the emulator's."""
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "(matches the gateway's)" in result.stdout
    (video,) = (tmp_path / "text_to_video").glob("*.mp4")
    assert video_track_present(video.read_bytes())
