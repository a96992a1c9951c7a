"""
### Image to video inside a small pipeline

1. `prepare` (upstream data step): builds the prompt from a product record and writes the first-frame
   image to storage (here a small PNG it draws itself; in real life, your catalogue's image).
2. `generate` → `wait` → `download`: the video job, with a first and a last frame passed as storage
   paths (Veo 3.1 first-and-last-frame generation, at gateways that document it).
3. `publish` (downstream consumer): reads the downloaded video's XCom (URI, size, sha256) and
   records it, as a catalogue update or a notification would.

Nothing runs at parse time; all storage goes through `ObjectStoragePath`, so `output_dir` may be a
local folder or any Airflow-supported store (`s3://...` with `dest_conn_id`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_videogen import VideoDownloadOperator, VideoGenerateOperator, VideoOperationSensor

CONN_ID = "videogen_default"


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written with the standard library only."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


with DAG(
    dag_id="videogen_image_to_video_pipeline",
    description="Prepare a prompt and first frame, animate it, then hand the video downstream.",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "product": Param("Ceramic teapot, glossy teal", type="string", title="Product"),
        "output_dir": Param("/tmp/videogen", type="string", title="Output folder or URI"),
    },
    tags=["videogen", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def prepare(params: dict | None = None, run_id: str | None = None) -> dict:
        folder = ObjectStoragePath(params["output_dir"] if "://" in params["output_dir"]
                                   else "file://" + params["output_dir"]) / "pipeline"
        folder.mkdir(parents=True, exist_ok=True)
        stem = run_id.replace(':', '-').replace('+', '_')
        first, last = folder / f"first_frame_{stem}.png", folder / f"last_frame_{stem}.png"
        first.write_bytes(_png(64, 36, (0, 128, 128)))
        last.write_bytes(_png(64, 36, (240, 240, 240)))
        prompt = f"A slow 360° turntable shot of a {params['product']} on a white studio background"
        return {"prompt": prompt, "first_frame": str(first), "last_frame": str(last)}

    prepared = prepare()
    generate = VideoGenerateOperator(
        task_id="generate",
        conn_id=CONN_ID,
        prompt=prepared["prompt"],
        image=prepared["first_frame"],
        last_frame=prepared["last_frame"],
        duration_seconds=8,
        aspect_ratio="16:9",
    )
    wait = VideoOperationSensor(task_id="wait", conn_id=CONN_ID, operation_id=generate.output["operation_id"],
                                poke_interval=10, timeout=30 * 60, deferrable=True)
    download = VideoDownloadOperator(
        task_id="download", conn_id=CONN_ID, operation=wait.output, generation=generate.output,
        destination="{{ params.output_dir }}/pipeline/{{ run_id | replace(':', '-') | replace('+', '_') }}.mp4")

    @task
    def publish(video: dict) -> dict:
        """The downstream consumer: checks what arrived and records it."""
        path = ObjectStoragePath(video["uri"])
        if path.stat().st_size != video["size_bytes"]:
            raise ValueError(f"{video['uri']} is not the size the download reported")
        print(f"Published {video['uri']} ({video['size_bytes']} bytes, sha256 {video['sha256']})")
        return {"uri": video["uri"], "sha256": video["sha256"]}

    publish(download.output)
