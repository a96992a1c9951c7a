"""
### Several takes of one prompt, all kept

Veo can return up to four samples per job (`number_of_videos`, the Gemini API's `sampleCount`): one
paid job, several takes to choose from. `download` writes every take (`all_videos=True`) under a name
holding `{index}`, each with its provenance sidecar (`<name>.json`: prompt, model, parameters,
estimated cost) and one asset event, so an editor or a ranking DAG can pick the best.

Needs a gateway that documents several videos per job (the Gemini API, AI Thực Chiến); the others
refuse `number_of_videos` before anything is paid.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_videogen import VideoDownloadOperator, VideoGenerateOperator, VideoOperationSensor

CONN_ID = "videogen_default"

with DAG(
    dag_id="videogen_takes",
    description="One prompt, several takes in one job, every take downloaded with its provenance.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "prompt": Param("A red kite rising over sea cliffs, handheld", type="string", minLength=1, title="Prompt"),
        "takes": Param(2, type="integer", minimum=1, maximum=4, title="Number of takes"),
        "output_dir": Param("/tmp/videogen", type="string", title="Output folder or URI"),
    },
    tags=["videogen", "example"],
    doc_md=__doc__,
) as dag:
    generate = VideoGenerateOperator(
        task_id="generate", conn_id=CONN_ID, prompt="{{ params.prompt }}", duration_seconds=8,
        number_of_videos="{{ params.takes }}", person_generation="dont_allow",
    )
    wait = VideoOperationSensor(task_id="wait", conn_id=CONN_ID, operation_id=generate.output["operation_id"],
                                poke_interval=10, timeout=30 * 60, deferrable=True)
    VideoDownloadOperator(
        task_id="download", conn_id=CONN_ID, operation=wait.output, generation=generate.output,
        all_videos=True, sidecar=True,
        destination="{{ params.output_dir }}/takes/{{ run_id | replace(':', '-') | replace('+', '_') }}_{index}.mp4",
    )
