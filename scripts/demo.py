"""``make demo``: generate a real MP4 with an Airflow DAG, offline, in about half a minute.

1. starts the built-in gateway emulator on loopback (``python -m airflow_provider_videogen.emulator``);
2. points the ``videogen_default`` connection at it (``AIRFLOW_CONN_VIDEOGEN_DEFAULT``), playing the
   gateway named by ``--gateway`` (any of the six connection types);
3. runs ``airflow dags test videogen_text_to_video`` (submit, deferred wait in the triggerer run
   in-line by ``dags test``, streaming download);
4. prints the video's path, size and sha256, and checks them against what the emulator served.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from airflow_provider_videogen.emulator import EmulatorProcess
from airflow_provider_videogen.emulator.rules import MODELS_BY_GATEWAY
from airflow_provider_videogen.registry import GATEWAYS

DAG_ID = "videogen_text_to_video"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--output-dir", default="output", help="where the MP4 goes (default ./output)")
    parser.add_argument("--gateway", default="openai",
                        choices=["thucchien", "hingnet", "mixroute", "tokenops", "gemini", "openai"])
    parser.add_argument("--prompt", default="A paper boat drifting down a rain-soaked street at dusk")
    args = parser.parse_args()
    output = Path(args.output_dir).resolve()
    started = time.monotonic()
    with EmulatorProcess(job_seconds=3, stderr=subprocess.DEVNULL) as emulator:
        print(f"Gateway emulator on {emulator.url} (CDN {emulator.cdn_url}), playing {args.gateway}.")
        conn = {"conn_type": f"videogen_{args.gateway}", "host": emulator.url, "password": "demo-key-not-secret"}
        if GATEWAYS[args.gateway]["default_model"] is None:  # an OpenAI-compatible gateway: name a model it serves
            conn["extra"] = {"default_model": MODELS_BY_GATEWAY[args.gateway][0]}
        env = {**os.environ, "AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(conn)}
        conf = {"prompt": args.prompt, "duration_seconds": 4, "output_dir": str(output)}
        before = set(output.glob("text_to_video/*.mp4"))
        command = [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "-c", json.dumps(conf)]
        print("Running:", " ".join(command[2:]))
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
            print(f"airflow dags test failed with exit code {result.returncode}")
            return 1
        written = sorted(set(output.glob("text_to_video/*.mp4")) - before)
        if len(written) != 1:
            print(f"expected one new MP4 under {output}, found {written}")
            return 1
        video = written[0]
        digest = hashlib.sha256(video.read_bytes()).hexdigest()
        (job,) = emulator.client.jobs()
        served = emulator.client.sha256(job["id"])["sha256"]
    if digest != served:
        print(f"sha256 mismatch: wrote {digest}, the emulator served {served}")
        return 1
    print(f"\nVideo:  {video}\nSize:   {video.stat().st_size} bytes\nsha256: {digest} (matches the gateway's)\n"
          f"Done in {time.monotonic() - started:.1f} s. Play it with any video player, e.g. ffplay {video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
