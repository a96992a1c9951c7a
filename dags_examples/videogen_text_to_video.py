"""
### Text to video, into local storage

Submit a prompt to a video-generation gateway, wait for the job in the triggerer (no worker slot
held), and stream the MP4 into storage. Trigger it from the UI with the form (prompt, model,
duration, output folder), or run it on your own schedule.

The gateway is whatever the `videogen_default` connection points to: the built-in emulator for
offline development (`python -m airflow_provider_videogen.emulator`), or a real gateway: change the
connection (type, Base URL, API key) and nothing in this file.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_videogen import VideoDownloadOperator, VideoGenerateOperator, VideoOperationSensor

CONN_ID = "videogen_default"

with DAG(
    dag_id="videogen_text_to_video",
    description="Prompt in, MP4 out: submit, deferred wait, streaming download.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    params={
        "prompt": Param("A paper boat drifting down a rain-soaked street at dusk, cinematic", type="string",
                        minLength=1, title="Prompt"),
        "model": Param(None, type=["null", "string"], title="Model",
                       description="Leave empty for the connection's default model."),
        "duration_seconds": Param(8, type="integer", minimum=1, maximum=60, title="Duration (seconds)"),
        "output_dir": Param("/tmp/videogen", type="string", title="Output folder or URI",
                            description="A local folder, or a URI such as s3://bucket/videos"),
    },
    tags=["videogen", "example"],
    doc_md=__doc__,
) as dag:
    generate = VideoGenerateOperator(
        task_id="generate",
        conn_id=CONN_ID,
        prompt="{{ params.prompt }}",
        model="{{ params.model or '' }}",
        duration_seconds="{{ params.duration_seconds }}",
        aspect_ratio="16:9",
    )
    wait = VideoOperationSensor(
        task_id="wait",
        conn_id=CONN_ID,
        operation_id=generate.output["operation_id"],
        poke_interval=10,
        timeout=30 * 60,
        deferrable=True,
    )
    download = VideoDownloadOperator(
        task_id="download",
        conn_id=CONN_ID,
        operation=wait.output,
        generation=generate.output,  # provenance: prompt, model, parameters, estimated cost
        sidecar=True,  # ...also as <name>.json next to the video
        destination="{{ params.output_dir }}/text_to_video/{{ run_id | replace(':', '-') | replace('+', '_') }}.mp4",
    )
