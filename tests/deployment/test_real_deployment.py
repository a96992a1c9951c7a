"""The example DAG in a real Airflow: triggered through the REST API, run by the scheduler's
LocalExecutor, waited on in the triggerer, written to storage, and followed by the asset consumer.

Asserts what a user would check: the run succeeded; the sensor was ``deferred`` and its polls came from
the triggerer process (its log is the triggerer's, the emulator saw the trigger's User-Agent); the
video on disk has the emulator's sha256; the task logs show the job's progress and the download's
MB/s; the download's asset event triggered ``videogen_on_new_video``, which ran after it and verified
the same file.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from mp4check import video_track_present

from airflow_provider_videogen.hooks.base import TRIGGER_USER_AGENT, USER_AGENT

from .deployment_support import (
    TEST_KEY,
    TRIGGER_CLASSPATH,
    asset_event_and_consumer_run,
    job_for_prompt,
    save_task_logs,
    sha256_file,
)

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(900)]

DAG_ID = "videogen_text_to_video"
CONSUMER_DAG_ID = "videogen_on_new_video"
VIDEO_BYTES = 12_000_000  # at the 2 MB/s link: ~6 s, so the download logs progress before the end
JOB_SECONDS = 15  # long enough for the sensor to defer and the trigger to see the job running


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_example_dag_runs_for_real_with_deferred_wait_storage_progress_and_asset_consumer(
        airflow, gateway, artifacts, tmp_path):
    api = airflow.api
    gateway.ctl.set_config(job_seconds=JOB_SECONDS, video_bytes=VIDEO_BYTES)
    prompt = f"A paper boat in a real deployment {uuid.uuid4().hex[:8]}"
    output_dir = tmp_path / "videos"
    run_id = api.trigger(DAG_ID, {"prompt": prompt, "duration_seconds": 4, "output_dir": str(output_dir)})

    run, seen = api.wait_for_run(DAG_ID, run_id, timeout=300, alive=airflow.check_alive)
    logs = save_task_logs(api, artifacts, DAG_ID, run_id, ("generate", "wait", "download"))
    tis = {ti["task_id"]: ti for ti in api.task_instances(DAG_ID, run_id)}
    assert run["state"] == "success", (
        f"run {run_id} ended {run['state']}; tasks: { {t: ti['state'] for t, ti in tis.items()} }\n"
        + "\n".join(f"--- {t} ---\n{text[-3000:]}" for t, text in logs.items()) + "\n" + airflow.logs())
    assert {t: (ti["state"], ti["try_number"]) for t, ti in tis.items()} == {
        "generate": ("success", 1), "wait": ("success", 1), "download": ("success", 1)}

    # -- the wait was deferred, and ran in the triggerer process ------------------------------------------
    deferred = [s for s in seen if s["task_id"] == "wait" and s["state"] == "deferred"]
    assert deferred, f"the sensor was never seen deferred: {[(s['task_id'], s['state']) for s in seen]}"
    assert deferred[0]["trigger"]["classpath"] == TRIGGER_CLASSPATH
    triggerers = {job["id"] for job in api.get("jobs", job_type="TriggererJob")["jobs"]}
    trigger_log = re.search(r"attempt=1\.log\.trigger\.(\d+)\.log", logs["wait"])
    assert trigger_log and int(trigger_log.group(1)) in triggerers, "the wait's log has no part from the triggerer"
    job = job_for_prompt(gateway.ctl, prompt)
    agents = [r["headers"].get("User-Agent") for r in gateway.ctl.requests(site="api")
              if r["method"] == "GET" and job["id"] in r["path"] and "content" not in r["path"]]
    assert agents.count(USER_AGENT) >= 1  # the sensor's first poke, on the worker
    assert agents.count(TRIGGER_USER_AGENT) >= 2  # then the trigger's polls, from the triggerer

    # -- progress in the logs, as the UI shows them --------------------------------------------------------
    progress = [(state, int(pct)) for state, pct in re.findall(
        rf"Video operation {re.escape(job['id'])}: (\w+), progress (\d+)%\.", logs["wait"])]
    assert progress and progress[-1] == ("succeeded", 100), progress
    waiting = [pct for state, pct in progress if state not in ("succeeded", "failed")]
    assert waiting and all(0 < pct < 100 for pct in waiting), progress  # the job seen moving, from the trigger
    assert [pct for _, pct in progress] == sorted({pct for _, pct in progress}), "logged only on change"
    during = re.findall(r"Downloading (\d+\.\d) MB of 12\.0 MB at (\d+\.\d) MB/s", logs["download"])
    final = re.findall(r"Downloaded 12\.0 MB of 12\.0 MB at (\d+\.\d) MB/s", logs["download"])
    assert during and len(final) == 1, logs["download"][-3000:]
    assert all(0 < float(done) < 12 and 0.5 < float(rate) < 10 for done, rate in during), during
    assert TEST_KEY not in "\n".join(logs.values())

    # -- the video in storage, byte for byte what the gateway served --------------------------------------
    folder = output_dir / "text_to_video"
    (video,) = folder.glob("*.mp4")
    # the video and its provenance sidecar, and no temporary file left behind
    assert sorted(p.name for p in folder.iterdir()) == sorted([video.name, f"{video.stem}.json"])
    served = gateway.ctl.sha256(job["id"])
    digest = sha256_file(video)
    assert digest == served["sha256"] and video.stat().st_size == served["size"] == VIDEO_BYTES
    assert video_track_present(video.read_bytes())
    xcom = api.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/download/xcomEntries/return_value")["value"]
    provenance = xcom.pop("provenance")
    assert xcom == {"uri": f"file://{video}", "size_bytes": VIDEO_BYTES, "sha256": digest,
                    "content_type": "video/mp4", "operation_id": job["id"], "video_index": 0,
                    "sidecar_uri": f"file://{folder / video.stem}.json"}
    assert provenance["prompt"] == prompt and provenance["operation_id"] == job["id"]

    # -- the asset event, and the data-aware DAG it triggered ---------------------------------------------
    assert api.get(f"dags/{CONSUMER_DAG_ID}/details")["asset_expression"]["alias"]["name"] == "videogen_videos"
    event, consumer_run_id = asset_event_and_consumer_run(api, DAG_ID, run_id)
    assert event["uri"] == f"file://{video}" and event["source_task_id"] == "download"
    assert event["extra"] == {"sha256": digest, "size_bytes": VIDEO_BYTES, "content_type": "video/mp4",
                              "operation_id": job["id"], "video_index": 0, "dest_conn_id": None,
                              "provenance": provenance, "estimated_cost_usd": provenance["estimated_cost_usd"]}
    consumer, _ = api.wait_for_run(CONSUMER_DAG_ID, consumer_run_id, timeout=180, alive=airflow.check_alive)
    consumer_logs = save_task_logs(api, artifacts, CONSUMER_DAG_ID, consumer_run_id, ("check_video",))
    assert consumer["state"] == "success", consumer_logs["check_video"][-3000:]
    assert consumer["run_type"] == "asset_triggered"
    assert _time(consumer["start_date"]) >= _time(tis["download"]["end_date"])  # after the producer
    upstream = api.get(f"dags/{CONSUMER_DAG_ID}/dagRuns/{consumer_run_id}/upstreamAssetEvents")["asset_events"]
    assert event["id"] in [e["id"] for e in upstream]
    checked = api.get(f"dags/{CONSUMER_DAG_ID}/dagRuns/{consumer_run_id}/taskInstances/check_video/"
                      "xcomEntries/return_value")["value"]
    assert checked == {"uri": f"file://{video}", "sha256": digest, "size_bytes": VIDEO_BYTES,
                       "operation_id": job["id"], "source_dag_id": DAG_ID, "source_run_id": run_id}
    assert Path(video).exists()
