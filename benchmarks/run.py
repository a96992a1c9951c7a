"""``make bench``: the provider's performance, measured side by side in one run (issue 5).

Starts the gateway emulator in its own process, runs every measured client in its own child process,
and prints one Markdown table per item plus a summary of the targets (paste it into the README):

1. a 1 GiB binary download through ``VideoDownloader.download`` vs ``curl -o`` (and the memory of
   ``requests.get(...).content``), memory growth at 64 MiB, 256 MiB and 1 GiB;
2. MixRoute's base64-in-JSON download (256 MiB video) vs ``curl -o`` of the JSON body;
3. 1000 concurrent ``VideoOperationTrigger``s vs ``HttpSensorTrigger`` in one event loop, then against
   endpoints answering 429 / 500;
4. status requests per job and notice delay for jobs of 30–300 s, current rule vs the proposed schedule;
5. the mapped batch (100 and 500 jobs) through a real deployment (PostgreSQL, Redis, Celery workers, two
   triggerers), deferrable vs poke sensor: wall time, worker-slot seconds, polls, triggerer RSS and CPU,
   and a triggerer failover (``bench_scale.py``; runs last, alone).

Usage: ``python benchmarks/run.py [--quick] [--only download,base64,triggers,errors,polls,scale] [--reps N]
[--poll-strategy NAME] [--scale-sizes 100,500] [--scale-poke 100] [--json FILE]``. Everything big lives in a
temporary directory under /tmp, removed at the end; child processes are ended by their pid.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_download
import bench_polls
import bench_scale
import bench_triggers
from benchcommon import GIB, MIB, Workdir, kill_children, machine_info, proc_cpu_s

ITEMS = ("download", "base64", "triggers", "errors", "polls", "scale")


def config(quick: bool, reps: int | None) -> dict[str, dict]:
    """Sizes, counts and repetitions: full (~15 min) or quick (~2 min smoke run)."""
    if quick:
        return {
            "download": {"binary_bytes": GIB, "reps": reps or 2, "warmup": False, "null_reps": 1,
                         "flat_sizes": [64 * MIB], "ref_reps": 0},
            "base64": {"b64_bytes": 256 * MIB, "reps": reps or 2, "warmup": False, "ref_reps": 0},
            "triggers": {"n": 300, "poll_interval": 5, "durations": [5, 25], "start_spread": 3, "window": 60,
                         "idle_seconds": 1, "reps": reps or 1},
            "errors": {"n": 300, "n_httpsensor": 50, "poll_interval": 5, "start_spread": 3, "window": 8,
                       "window_httpsensor": 4, "idle_seconds": 1, "durations": [3600, 3600],
                       "cases": [["videogen", 429, None], ["videogen", 500, 2], ["httpsensor", 429, None]]},
            "polls": {"n": 20, "durations": [30, 90], "start_spread": 5, "interval": 10.0, "hint": 1.0,
                      "reps": reps or 1},
            "scale": scale_config([20], poke_n=8, job_seconds=60),
        }
    return {
        "download": {"binary_bytes": GIB, "reps": reps or 5, "warmup": True, "null_reps": 2,
                     "flat_sizes": [64 * MIB, 256 * MIB], "ref_reps": 1},
        "base64": {"b64_bytes": 256 * MIB, "reps": reps or 5, "warmup": True, "ref_reps": 1},
        "triggers": {"n": 1000, "poll_interval": 5, "durations": [5, 65], "start_spread": 5, "window": 120,
                     "idle_seconds": 2, "reps": reps or 3},
        "errors": {"n": 1000, "n_httpsensor": 100, "poll_interval": 5, "start_spread": 5, "window": 30,
                   "window_httpsensor": 10, "idle_seconds": 1, "durations": [3600, 3600]},
        "polls": {"n": 100, "durations": [30, 300], "start_spread": 5, "interval": 10.0, "hint": 1.0,
                  "reps": reps or 3},
        "scale": scale_config([100, 500], poke_n=40),
    }


def scale_config(sizes: list[int], poke_n: int, job_seconds: float = 300) -> dict:
    """Item 5: the poke baseline first, then the deferrable batches; a triggerer failover in the last one.

    Jobs must outlast the batch's submissions (about 1 s of both cores per task run here), or every job is
    done before its sensor first looks and nothing waits: 30-s jobs with 100 prompts measured exactly that."""
    runs = [{"sensor": "poke", "n": poke_n}] if poke_n else []
    runs += [{"sensor": "deferrable", "n": n, "failover": i == len(sizes) - 1} for i, n in enumerate(sizes)]
    return {"job_seconds": job_seconds, "workers": 2, "concurrency": 4, "pool": 8, "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (~2 min): fewer repetitions, fewer triggers")
    parser.add_argument("--only", default=",".join(ITEMS), help=f"comma-separated subset of {','.join(ITEMS)}")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per measurement (default 5/3, quick 1-2)")
    parser.add_argument("--poll-strategy", default=None,
                        help="item 4: pass poll_strategy=NAME to VideoOperationTrigger (if it accepts it)")
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    parser.add_argument("--scale-sizes", default=None,
                        help="item 5: deferrable batch sizes, e.g. 100,500 (default 100,500; quick 20)")
    parser.add_argument("--scale-poke", type=int, default=None, help="item 5: poke-sensor batch size (0: none)")
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ITEMS)
    if unknown:
        parser.error(f"unknown item(s): {', '.join(sorted(unknown))}")
    cfg = config(args.quick, args.reps)
    if args.poll_strategy:
        cfg["polls"]["strategy"] = args.poll_strategy
    if args.scale_sizes is not None or args.scale_poke is not None:
        sizes = [int(x) for x in (args.scale_sizes or "").split(",") if x.strip()] or [
            r["n"] for r in cfg["scale"]["runs"] if r["sensor"] == "deferrable"]
        poke = args.scale_poke if args.scale_poke is not None else next(
            (r["n"] for r in cfg["scale"]["runs"] if r["sensor"] == "poke"), 0)
        cfg["scale"] = scale_config(sizes, poke_n=poke, job_seconds=cfg["scale"]["job_seconds"])

    from airflow_provider_videogen.emulator import EmulatorProcess

    # SIGTERM ends the run like Ctrl-C: children killed by pid, emulators stopped, temp files removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    info = machine_info()
    work = Workdir()
    raw: dict = {"machine": info, "config": cfg, "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    sections: list[str] = []
    targets: list[tuple[str, str, bool]] = []
    polls: dict = {}
    background = None
    if "polls" in only:  # real time (5 min for 300 s jobs), its own emulator: runs while the others run
        def run_polls() -> None:
            try:
                polls["result"] = bench_polls.bench_polls(work, cfg["polls"])
            except Exception as err:  # noqa: BLE001  (reported with the results)
                polls["error"] = err

        background = threading.Thread(target=run_polls, name="bench-polls", daemon=True)
        background.start()
    try:
        with EmulatorProcess("--quiet", stderr=subprocess.DEVNULL) as emu:
            emu_cpu0 = proc_cpu_s(emu.pid)
            steps = [
                ("download", "1. Download: 1 GiB video → `file://`, provider vs `curl -o` on the same URL",
                 bench_download.bench_binary, bench_download.report_binary),
                ("base64", "2. Base64-in-JSON download (MixRoute Sora `/v1/video/generations/download`)",
                 bench_download.bench_base64, bench_download.report_base64),
                ("triggers", "3. Many waiting jobs: N triggers in one asyncio loop, polling the emulator",
                 bench_triggers.bench_triggers, bench_triggers.report_triggers),
                ("errors", "3b. Endpoints answering 429 / 500 (fixed window; the same triggers)",
                 bench_triggers.bench_errors, bench_triggers.report_errors),
            ]
            for name, title, bench, report in steps:
                if name not in only:
                    continue
                t0 = time.monotonic()
                res = bench(emu, work, cfg[name])
                raw[name] = res
                text, tg = report(res)
                sections.append(f"### {title}\n\n{text}\n\n_{time.monotonic() - t0:.0f} s_")
                targets += tg
            raw["emulator_cpu_s"] = proc_cpu_s(emu.pid) - emu_cpu0
        if background is not None:
            background.join()
            if "error" in polls:
                raise polls["error"]
            res = raw["polls"] = polls["result"]
            text, tg = bench_polls.report_polls(res)
            lo, hi = cfg["polls"]["durations"]
            sections.append(f"### 4. Status requests per job and notice delay (jobs of {lo:.0f}–{hi:.0f} s, "
                            f"real time; emulator CPU {res.get('emulator_cpu_s', 0):.1f} s)\n\n{text}")
            targets += tg
        if "scale" in only:  # last and alone: a whole Airflow deployment saturates both cores
            t0 = time.monotonic()
            res = raw["scale"] = bench_scale.bench_scale(work, cfg["scale"])
            text, tg = bench_scale.report_scale(res)
            sections.append("### 5. The mapped batch through a real deployment: Celery workers, two triggerers, "
                            f"PostgreSQL; deferrable vs poke sensor\n\n{text}\n\n_{time.monotonic() - t0:.0f} s_")
            targets += tg
    finally:
        if sys.exc_info()[0] is not None:  # interrupted or failed: stop the background item's child too
            kill_children()
        if background is not None:
            background.join(timeout=30)
        work.close()
    elapsed = time.monotonic() - started
    out = [f"## Benchmark {raw['date']}{' (--quick)' if args.quick else ''}",
           f"Machine: {info['cpu']}, {info['memory']} RAM, {info['os']}, kernel {info['kernel']}, "
           f"Python {info['python']}, curl {info['curl']}. Medians over the repetitions, (min–max) ranges; "
           "ratios are per pair or per run in the same call.", *sections]
    out.append("### Targets\n\n" + "\n".join(
        f"- [{'x' if ok else ' '}] {name}: **{value}**" for name, value, ok in targets))
    out.append(f"Emulator CPU over the whole run: {raw.get('emulator_cpu_s', 0):.1f} s; "
               f"wall time {elapsed / 60:.1f} min.")
    print("\n\n".join(out))
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
