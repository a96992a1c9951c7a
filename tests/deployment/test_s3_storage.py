"""Real object storage: the example DAG writes its video to ``s3://`` on moto's S3 server, through an
Airflow ``aws`` connection (the Amazon provider's S3 filesystem behind ``ObjectStoragePath``).

The connection is named in the URI (``s3://<conn_id>@bucket/...``, ObjectStoragePath's syntax), so
the unchanged example DAG takes it from its ``output_dir`` param; the connection is the only place
the S3 server's address is configured, so a written object proves it was used. The test reads the
object back with boto3 and checks its sha256, and the asset consumer reads it back through the same
connection.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest
from mp4check import video_track_present

from .deployment_support import S3_CONN_ID, asset_event_and_consumer_run, job_for_prompt, save_task_logs

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(900)]

DAG_ID = "videogen_text_to_video"
CONSUMER_DAG_ID = "videogen_on_new_video"
BUCKET = "videogen-test"
VIDEO_BYTES = 3_000_000


def test_download_writes_to_s3_through_an_aws_connection(airflow, gateway, s3_client, artifacts):
    api = airflow.api
    s3_client.create_bucket(Bucket=BUCKET)
    gateway.ctl.set_config(job_seconds=10, video_bytes=VIDEO_BYTES)  # see test_browser_ui: no race with the executor
    prompt = f"A lighthouse stored in S3 {uuid.uuid4().hex[:8]}"
    run_id = api.trigger(DAG_ID, {"prompt": prompt, "duration_seconds": 4,
                                  "output_dir": f"s3://{S3_CONN_ID}@{BUCKET}/videos"})
    run, _ = api.wait_for_run(DAG_ID, run_id, timeout=300, alive=airflow.check_alive)
    logs = save_task_logs(api, artifacts, DAG_ID, run_id, ("generate", "wait", "download"))
    assert run["state"] == "success", logs["download"][-4000:] + "\n" + airflow.logs()

    job = job_for_prompt(gateway.ctl, prompt)
    served = gateway.ctl.sha256(job["id"])
    key = f"videos/text_to_video/{run_id.replace(':', '-').replace('+', '_')}.mp4"
    listed = s3_client.list_objects_v2(Bucket=BUCKET, Prefix="videos/")
    sidecar = key.removesuffix(".mp4") + ".json"  # the provenance sidecar; and no temporary .partial object left
    assert sorted(o["Key"] for o in listed.get("Contents", [])) == sorted([key, sidecar])
    body = s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    assert digest == served["sha256"] and len(body) == served["size"] == VIDEO_BYTES
    assert video_track_present(body)

    xcom = api.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/download/xcomEntries/return_value")["value"]
    assert xcom.pop("provenance")["prompt"] == prompt
    assert xcom == {"uri": f"s3://{S3_CONN_ID}@{BUCKET}/{key}", "size_bytes": VIDEO_BYTES, "sha256": digest,
                    "content_type": "video/mp4", "operation_id": job["id"], "video_index": 0,
                    "sidecar_uri": f"s3://{S3_CONN_ID}@{BUCKET}/{sidecar}"}

    # the asset is the object's URI (without the connection id); the consumer reads it back from S3
    event, consumer_run_id = asset_event_and_consumer_run(api, DAG_ID, run_id)
    assert event["uri"] == f"s3://{BUCKET}/{key}"
    assert event["extra"]["sha256"] == digest and event["extra"]["dest_conn_id"] == S3_CONN_ID
    consumer, _ = api.wait_for_run(CONSUMER_DAG_ID, consumer_run_id, timeout=180, alive=airflow.check_alive)
    consumer_logs = save_task_logs(api, artifacts, CONSUMER_DAG_ID, consumer_run_id, ("check_video",))
    assert consumer["state"] == "success", consumer_logs["check_video"][-3000:]
    checked = api.get(f"dags/{CONSUMER_DAG_ID}/dagRuns/{consumer_run_id}/taskInstances/check_video/"
                      "xcomEntries/return_value")["value"]
    assert checked["uri"] == f"s3://{BUCKET}/{key}" and checked["sha256"] == digest
