"""
### Runs on every new video (data-aware scheduling)

`VideoDownloadOperator` adds an asset event to the asset alias `videogen_videos` for every video it
writes: the asset is the written URI (`file:///...`, `s3://bucket/key.mp4`...) and the event's extra
carries `sha256`, `size_bytes`, `content_type`, `operation_id` and `dest_conn_id`. This DAG is
scheduled on that alias, so it runs after any DAG that downloads a video, with no sensor and no
polling.

`check_video` takes the newest video among the events that triggered the run (or, when you trigger
this DAG by hand, the newest event ever recorded for the alias), reads it back from storage through
the connection it was written with, and checks its size and sha256 against the event: the place to
catalogue, transcode or publish it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAlias, ObjectStoragePath, task

VIDEOS = AssetAlias("videogen_videos")  # VideoDownloadOperator's default asset_alias

with DAG(
    dag_id="videogen_on_new_video",
    description="Data-aware: runs when any DAG writes a new video (asset alias videogen_videos).",
    schedule=VIDEOS,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["videogen", "example", "assets"],
    doc_md=__doc__,
) as dag:

    @task(inlets=[VIDEOS])
    def check_video(triggering_asset_events=None, inlet_events=None) -> dict:
        events = list(triggering_asset_events.get(VIDEOS, ())) if triggering_asset_events else []
        if not events:  # triggered by hand: the newest video ever recorded for the alias
            events = list(inlet_events[VIDEOS].ascending(False).limit(1))
        if not events:
            raise ValueError("no video has been written yet (no event on asset alias videogen_videos)")
        newest = max(events, key=lambda e: e.timestamp)
        extra = dict(newest.extra or {})
        video = ObjectStoragePath(newest.asset.uri, conn_id=extra.get("dest_conn_id"))

        import hashlib

        digest, size = hashlib.sha256(), 0
        with video.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        if size != extra.get("size_bytes") or digest.hexdigest() != extra.get("sha256"):
            raise ValueError(f"{newest.asset.uri} is {size} bytes, sha256 {digest.hexdigest()}; the event says "
                             f"{extra.get('size_bytes')} bytes, sha256 {extra.get('sha256')}")
        print(f"New video {newest.asset.uri} from {newest.source_dag_id}/{newest.source_run_id}: {size} bytes, "
              f"sha256 {digest.hexdigest()} verified ({len(events)} event(s) in this run).")
        return {"uri": newest.asset.uri, "sha256": digest.hexdigest(), "size_bytes": size,
                "operation_id": extra.get("operation_id"), "source_dag_id": newest.source_dag_id,
                "source_run_id": newest.source_run_id}

    check_video()
