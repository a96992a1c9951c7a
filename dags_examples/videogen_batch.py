"""
### A batch of prompts, one mapped task per video

Every day, generate one video per prompt with dynamic task mapping: `generate`, `wait` and
`download` are each expanded over the list, so the jobs run side by side and one failed prompt does
not stop the others. The list comes from the run's `prompts` param (editable in the trigger form).

Spending stays in bounds:
- the submits run in the Airflow pool `videogen_gateway` (create it once: `airflow pools set
  videogen_gateway 2 "video gateway submits"`), so at most that many jobs are submitted at once,
  whatever the number of prompts, which keeps under the gateway's rate limits;
- each job is refused before it is paid if its estimated cost is over `max_cost` (US dollars), and the
  connection's daily `budget` caps the day's total (see the README's spend guard section).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_videogen import VideoDownloadOperator, VideoGenerateOperator, VideoOperationSensor

CONN_ID = "videogen_default"


def operation_id_of(submitted: dict) -> str:
    return submitted["operation_id"]


POOL = "videogen_gateway"


def download_kwargs(pair: tuple[dict, dict]) -> dict:
    operation, generation = pair
    name = operation["operation_id"].rsplit("/", 1)[-1]  # Gemini ids are "models/.../operations/<id>"
    return {"operation": operation, "generation": generation,
            "destination": "{{ params.output_dir }}/batch/{{ ds }}/" + name + ".mp4"}


with DAG(
    dag_id="videogen_batch",
    description="A list of prompts, generated in parallel with dynamic task mapping.",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "prompts": Param(
            ["A lighthouse in a storm, aerial shot", "Time-lapse of a city waking up", "A cat chasing a laser dot"],
            type="array", items={"type": "string"}, minItems=1, title="Prompts"),
        "output_dir": Param("/tmp/videogen", type="string", title="Output folder or URI"),
    },
    tags=["videogen", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def prompts(params: dict | None = None) -> list[str]:
        return list(params["prompts"])

    generate = VideoGenerateOperator.partial(
        task_id="generate", conn_id=CONN_ID, duration_seconds=4, pool=POOL,
        max_cost=2.0, budget={"usd": 20.0, "period": "day"},  # US dollars; checked before each submit
    ).expand(prompt=prompts())
    wait = VideoOperationSensor.partial(
        task_id="wait", conn_id=CONN_ID, poke_interval=15, timeout=60 * 60, deferrable=True,
    ).expand(operation_id=generate.output.map(operation_id_of))
    VideoDownloadOperator.partial(task_id="download", conn_id=CONN_ID).expand_kwargs(
        wait.output.zip(generate.output).map(download_kwargs))
