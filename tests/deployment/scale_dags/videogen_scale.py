"""
### The batch of `videogen_batch`, with an Airflow pool for the gateway (scale-out tests and benchmark)

The same mapped generate → wait → download per prompt as `dags_examples/videogen_batch.py`, plus:

- `generate` runs in the pool `videogen_gateway`: at most that pool's slots submit at once, whatever
  the number of workers (the gateway's concurrency limit belongs to Airflow, not to each worker);
- every task has retries (a killed worker's task is retried; a retried `generate` reattaches to the
  operation it already submitted instead of paying for a second job);
- `videogen_scale` waits deferrably (the triggerer); `videogen_scale_poke` is the same DAG with a
  classic poke sensor that holds a worker slot for the whole job (the benchmark's baseline).

Run conf: `prompts` (list), `output_dir`, and for the tests only `hold_map_indexes` / `hold_s`: those
map indexes of `generate` stay in their first try for `hold_s` seconds *after* the submit returned (so
the operation id is already kept for retries), writing `<output_dir>/held-generate-<map index>` so the
test knows when to kill the worker.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_videogen import VideoDownloadOperator, VideoGenerateOperator, VideoOperationSensor

CONN_ID = "videogen_default"
POOL = "videogen_gateway"
MODEL = "seedance-2.0"  # one of the OpenAI-compatible gateway's models (the emulator's list)
POKE_INTERVAL = 5  # seconds: the trigger's first wait; the poke sensor's fixed interval


def operation_id_of(submitted: dict) -> str:
    return submitted["operation_id"]


def download_kwargs(operation: dict) -> dict:
    name = operation["operation_id"].rsplit("/", 1)[-1]
    return {"operation": operation, "destination": "{{ params.output_dir }}/" + name + ".mp4"}


def hold_after_submit(context, result) -> None:
    """Test hook (``post_execute``): keep the chosen first tries alive after a successful submit."""
    params, ti = context["params"], context["ti"]
    if ti.try_number != 1 or ti.map_index not in (params.get("hold_map_indexes") or []):
        return
    marker = Path(params["output_dir"]) / f"held-generate-{ti.map_index}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{os.getpid()} {result['operation_id']}")
    time.sleep(float(params.get("hold_s") or 60))


def build(dag_id: str, *, deferrable: bool) -> DAG:
    with DAG(
        dag_id=dag_id,
        description="videogen_batch with a gateway pool and retries (scale-out tests and benchmark).",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_tasks=10_000,  # the pools and worker slots limit concurrency, not the DAG
        params={
            "prompts": Param(["A lighthouse in a storm"], type="array", items={"type": "string"}, minItems=1),
            "output_dir": Param("/tmp/videogen-scale", type="string"),
            "hold_map_indexes": Param([], type="array", items={"type": "integer"}),
            "hold_s": Param(0, type="number"),
        },
        default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
        tags=["videogen", "test"],
        doc_md=__doc__,
    ) as dag:

        @task
        def prompts(params: dict | None = None) -> list[str]:
            return list(params["prompts"])

        generate = VideoGenerateOperator.partial(
            task_id="generate", conn_id=CONN_ID, model=MODEL, duration_seconds=4, pool=POOL,
            post_execute=hold_after_submit,
        ).expand(prompt=prompts())
        sensor_mode = {"deferrable": True} if deferrable else {"deferrable": False, "mode": "poke"}
        wait = VideoOperationSensor.partial(
            task_id="wait", conn_id=CONN_ID, poke_interval=POKE_INTERVAL, timeout=60 * 60, **sensor_mode,
        ).expand(operation_id=generate.output.map(operation_id_of))
        VideoDownloadOperator.partial(task_id="download", conn_id=CONN_ID).expand_kwargs(
            wait.output.map(download_kwargs))
    return dag


videogen_scale = build("videogen_scale", deferrable=True)
videogen_scale_poke = build("videogen_scale_poke", deferrable=False)
