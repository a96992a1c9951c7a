"""Item 5 of ``make bench``: the mapped batch through a real scaled-out Airflow, deferrable vs poke.

The deployment of ``tests/deployment/test_scale_out.py`` (``tests/deployment/scale_support.py``):
PostgreSQL, Redis, the emulator, and Airflow's API server, scheduler (CeleryExecutor), DAG processor,
two triggerers and two Celery workers (4 slots each), all on loopback, started once for all the runs
of the item. Each run triggers ``videogen_scale`` (deferrable sensor) or ``videogen_scale_poke``
(``deferrable=False, mode="poke"``) with N prompts, jobs of ``job_seconds`` in the emulator, and reads:

- wall time from the trigger to the run's end, and that minus the emulator's job time;
- worker-slot seconds per job: lifetimes of the task processes (``airflow worker -- <ti id>``, read
  from /proc every 0.2 s: start from ``/proc/<pid>/stat``, end = last seen), summed per task;
- status polls per job (the emulator's request record);
- peak RSS of each triggerer's process tree (supervisor + trigger runner, /proc every 0.2 s);
- scheduler and triggerer CPU per job (``/proc/<pid>/stat`` utime+stime, the process tree);
- optionally a triggerer failover: once half the batch waits in the triggerers, the triggerer holding more
  triggers is SIGKILLed; time until the other one holds all its orphans, and until each orphan's first poll.

Not part of ``make test``; it needs Debian's postgresql and redis-server (``make test`` installs them).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchcommon import ROOT, log, percentile, table

sys.path.insert(0, str(ROOT))

KEY = "test-key-123"


def _run(cluster, ctl, dag_id: str, n: int, job_seconds: float, failover: bool, out_dir: Path) -> dict[str, Any]:
    from tests.deployment.scale_support import TRIGGERER_HEALTH_THRESHOLD_S, ProcSampler, tree_cpu_seconds

    ctl.clear_faults()
    ctl.clear_requests()
    ctl.set_config(job_seconds=job_seconds, video_bytes=None)
    cluster.api.unpause(dag_id)
    watched = {name: cluster.processes[name].proc.pid for name in ("scheduler", *cluster.triggerers)}
    cpu0 = {name: tree_cpu_seconds(pid) for name, pid in watched.items()}
    sampler = ProcSampler({name: pid for name, pid in watched.items() if name != "scheduler"}).start()
    prompts = [f"Scale benchmark clip {dag_id} {n} {time.time_ns()} #{i}" for i in range(n)]
    started = time.time()
    run_id = cluster.trigger(dag_id, {"prompts": prompts, "output_dir": str(out_dir)})
    failover_res: dict[str, Any] = {}
    try:
        if failover:
            failover_res = _failover(cluster, dag_id, run_id, n)
        cpu_end: dict[str, float] = {}

        def done() -> bool:
            for name, pid in watched.items():  # the last reading before a killed triggerer vanished counts
                if name in cluster.processes:
                    cpu_end[name] = tree_cpu_seconds(pid)
            return cluster.run_state(dag_id, run_id) in ("success", "failed")

        from tests.deployment.deployment_support import wait_until

        wait_until(f"{dag_id} run of {n}", done, timeout=6 * 3600, interval=3.0)
        ended = time.time()
    finally:
        sampler.stop()
    state = cluster.run_state(dag_id, run_id)
    run = cluster.api.get(f"dags/{dag_id}/dagRuns/{run_id}")
    tis = cluster.task_instances(dag_id, run_id)
    by_state = Counter((t["task_id"], t["state"]) for t in tis)
    ti_ids = cluster.metadb.ti_ids(dag_id, run_id)
    slots: dict[str, float] = {}
    for ti_id, seconds in sampler.slot_seconds().items():
        task = ti_ids.get(ti_id, ("other", -1, 0))[0]
        slots[task] = slots.get(task, 0.0) + seconds
    jobs = [j for j in ctl.jobs() if j["prompt"] in set(prompts)]
    ids = {j["id"] for j in jobs}
    records = ctl.requests(site="api")
    polls = Counter(r["path"].rsplit("/", 1)[-1] for r in records
                    if r["method"] == "GET" and r["path"].startswith("/v1/videos/video_")
                    and not r["path"].endswith("/content"))
    downloads_end = {t["map_index"]: t["end_date"] for t in tis if t["task_id"] == "download" and t["end_date"]}
    from datetime import datetime

    created = {j["prompt"]: j["created"] for j in jobs}
    per_job_extra = sorted(
        datetime.fromisoformat(downloads_end[i].replace("Z", "+00:00")).timestamp() - created[p] - job_seconds
        for i, p in enumerate(prompts) if i in downloads_end and p in created)
    cpu = {name: cpu_end.get(name, cpu0[name]) - cpu0[name] for name in watched}
    res = {
        "dag_id": dag_id, "n": n, "job_seconds": job_seconds, "state": state, "run_id": run_id,
        "tasks": {f"{t}:{s}": c for (t, s), c in sorted(by_state.items())},
        "wall_s": ended - started,
        "airflow_run_s": (datetime.fromisoformat(run["end_date"].replace("Z", "+00:00"))
                          - datetime.fromisoformat(run["start_date"].replace("Z", "+00:00"))).total_seconds(),
        "jobs_submitted": len(jobs), "jobs_per_prompt_max": max(Counter(j["prompt"] for j in jobs).values()),
        "slot_s_per_job": {task: s / n for task, s in sorted(slots.items())},
        "slot_s_per_job_total": sum(slots.values()) / n,
        "peak_busy_slots": sampler.peak_busy,
        "polls_per_job": sum(polls[i] for i in ids) / n,
        "extra_s_per_job": {"p50": percentile(per_job_extra, 0.5), "p95": percentile(per_job_extra, 0.95),
                            "max": per_job_extra[-1] if per_job_extra else None},
        "peak_rss_mib": {name: kib / 1024 for name, kib in sampler.peak_rss_kib.items()},
        "cpu_s": cpu, "cpu_ms_per_job": {name: 1000 * s / n for name, s in cpu.items()},
        "failover": failover_res, "threshold_s": TRIGGERER_HEALTH_THRESHOLD_S,
    }
    shutil.rmtree(out_dir, ignore_errors=True)
    log(f"scale: {dag_id} n={n}: {state} in {res['wall_s']:.0f} s; slot-s/job {res['slot_s_per_job_total']:.1f}; "
        f"polls/job {res['polls_per_job']:.1f}")
    return res


def _failover(cluster, dag_id: str, run_id: str, n: int) -> dict[str, Any]:
    """Once half the batch waits in the triggerers: SIGKILL the triggerer holding more; time the takeover."""
    from tests.deployment.deployment_support import wait_until

    def deferred():  # half the batch waiting in the triggerers at once (or, for short batches, all submitted)
        waits = cluster.metadb.task_states(dag_id, run_id, "wait")
        held = sum(w["state"] == "deferred" and w["triggerer_id"] is not None for w in waits.values())
        submitted = all(g["state"] == "success" for g in cluster.metadb.task_states(dag_id, run_id,
                                                                                     "generate").values())
        if held >= max(1, n // 2) or (held and submitted and len(waits) == n):
            return waits
        return {} if cluster.run_state(dag_id, run_id) in ("success", "failed") else None

    waits = wait_until("half the waits deferred", deferred, timeout=3600, interval=0.5)
    if not waits:  # every job finished before its wait deferred (jobs too short for the batch): no failover
        log("scale: no wait ever deferred long enough for a failover")
        return {}
    held = Counter(w["triggerer_id"] for w in waits.values() if w["state"] == "deferred")
    victim_job, orphans_n = held.most_common(1)[0]
    victim = cluster.triggerer_of_job(victim_job)
    orphans = [i for i, w in waits.items() if w["state"] == "deferred" and w["triggerer_id"] == victim_job]
    killed_at = time.time()
    cluster.kill_tree(victim)

    def moved():
        now = cluster.metadb.task_states(dag_id, run_id, "wait")
        return all(now[i]["state"] != "deferred" or now[i]["triggerer_id"] not in (None, victim_job) for i in orphans)

    wait_until("orphans taken over", moved, timeout=600, interval=0.25)
    moved_at = time.time()
    ops = _ops_of(cluster, dag_id, run_id, orphans)
    log(f"scale: failover of {victim} ({len(orphans)} triggers): all reassigned after {moved_at - killed_at:.1f} s")
    return {"victim": victim, "orphans": orphans_n, "reassigned_s": moved_at - killed_at, "killed_at": killed_at,
            "ops": ops}


def _ops_of(cluster, dag_id: str, run_id: str, map_indexes: list[int]) -> list[str]:
    out = []
    for i in map_indexes:
        value = cluster.api.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/generate/xcomEntries/operation_id",
                                map_index=i)
        out.append(value["value"])
    return out


def _first_polls_after(ctl, ops: list[str], after: float) -> list[float]:
    firsts: dict[str, float] = {}
    for r in ctl.requests(site="api"):
        op = r["path"].rsplit("/", 1)[-1]
        if op in ops and r["method"] == "GET" and r["time"] > after and op not in firsts:
            firsts[op] = r["time"] - after
    return sorted(firsts.values())


def bench_scale(work, cfg: dict[str, Any]) -> dict[str, Any]:
    """Start the deployment once, run each configured batch in turn, stop everything (also on failure)."""
    from tests.deployment.scale_support import (
        DAG_ID,
        POKE_DAG_ID,
        declare_asset_alias,
        missing_services,
        new_token,
        scale_deployment,
    )

    missing = missing_services()
    if missing:
        return {"unsupported": f"skipped: needs Debian's {', '.join(missing)} (make test installs them)"}
    workdir = Path(tempfile.mkdtemp(prefix="videogen-bench-scale-", dir=str(work.path)))
    os.chmod(work.path, 0o711)  # PostgreSQL's unprivileged user reaches its own subfolder
    os.chmod(workdir, 0o711)
    logs = workdir / "logs"
    logs.mkdir()
    runs = []
    started = time.monotonic()
    try:
        with scale_deployment(workdir, logs, token=new_token(), job_seconds=cfg["job_seconds"], gateway_key=KEY,
                              emulator_args=("--quiet",), workers=cfg["workers"], concurrency=cfg["concurrency"],
                              triggerers=2, pool_slots=cfg["pool"]) as cluster:
            startup_s = time.monotonic() - started
            log(f"scale: deployment up in {startup_s:.0f} s")
            for dag_id in (DAG_ID, POKE_DAG_ID):
                cluster.api.wait_for_dag(dag_id)
            declare_asset_alias(cluster)  # finding 1 of tests/deployment/test_scale_out.py
            for spec in cfg["runs"]:
                dag_id = POKE_DAG_ID if spec["sensor"] == "poke" else DAG_ID
                res = _run(cluster, cluster.ctl, dag_id, spec["n"], cfg["job_seconds"], spec.get("failover", False),
                           workdir / f"out-{len(runs)}")
                if res["failover"]:
                    fo = res["failover"]
                    fo["first_poll_s"] = _first_polls_after(cluster.ctl, fo.pop("ops"), fo.pop("killed_at"))
                res["sensor"] = spec["sensor"]
                runs.append(res)
    finally:
        if os.environ.get("VIDEOGEN_BENCH_KEEP_LOGS"):
            shutil.copytree(logs, os.environ["VIDEOGEN_BENCH_KEEP_LOGS"], dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return {"cfg": cfg, "runs": runs, "startup_s": startup_s}


def report_scale(res: dict[str, Any]) -> tuple[str, list[tuple[str, str, bool]]]:
    if "unsupported" in res:
        return res["unsupported"], []
    cfg, runs = res["cfg"], res["runs"]
    head = ["sensor", "jobs", "run", "wall s", "wall − job time s", "per job: done − submit − job time s p50 / p95",
            "worker-slot s / job (generate + wait + download)", "polls / job", "triggerer peak RSS MiB",
            "CPU ms / job: scheduler", "CPU ms / job: triggerers"]
    rows = []
    for r in runs:
        slot = r["slot_s_per_job"]
        parts = " + ".join(f"{slot.get(t, 0):.1f}" for t in ("generate", "wait", "download"))
        trig = [k for k in r["peak_rss_mib"] if k.startswith("triggerer")]
        rows.append([
            r["sensor"], r["n"], r["state"], f"{r['wall_s']:.0f}", f"{r['wall_s'] - r['job_seconds']:.0f}",
            f"{r['extra_s_per_job']['p50']:.1f} / {r['extra_s_per_job']['p95']:.1f}",
            f"{r['slot_s_per_job_total']:.1f} ({parts})", f"{r['polls_per_job']:.1f}",
            " / ".join(f"{r['peak_rss_mib'][k]:.0f}" for k in sorted(trig)),
            f"{r['cpu_ms_per_job'].get('scheduler', 0):.0f}",
            f"{sum(v for k, v in r['cpu_ms_per_job'].items() if k.startswith('triggerer')):.0f}"])
    text = table(head, rows)
    notes = [f"Deployment: 2 Celery workers × {cfg['concurrency']} slots, 2 triggerers, pool of {cfg['pool']} for "
             f"`generate`, emulator jobs of {cfg['job_seconds']:.0f} s, started in {res['startup_s']:.0f} s."]
    targets = []
    for r in runs:
        fo = r.get("failover") or {}
        if fo:
            firsts = fo.get("first_poll_s") or []
            notes.append(f"Failover ({r['sensor']}, {r['n']} jobs): SIGKILL of {fo['victim']} holding {fo['orphans']} "
                         f"triggers; all reassigned after {fo['reassigned_s']:.1f} s "
                         f"(`triggerer_health_check_threshold` = {r['threshold_s']} s); first poll of each orphan "
                         f"after the kill: p50 {statistics.median(firsts):.1f} s, max {max(firsts):.1f} s."
                         if firsts else f"Failover: {fo}")
    deferred = [r for r in runs if r["sensor"] == "deferrable"]
    poke = [r for r in runs if r["sensor"] == "poke"]
    if deferred and poke:
        d = min(deferred, key=lambda r: abs(r["n"] - poke[0]["n"]))
        ratio = d["slot_s_per_job_total"] / poke[0]["slot_s_per_job_total"]
        targets.append(("5. worker-slot seconds per job, deferrable vs poke", f"{ratio:.2f}×", ratio < 0.5))
    for r in runs:
        targets.append((f"5. {r['sensor']} × {r['n']}: every run succeeded, one job per prompt",
                        f"{r['state']}, {r['jobs_submitted']} jobs, max {r['jobs_per_prompt_max']} per prompt",
                        r["state"] == "success" and r["jobs_submitted"] == r["n"] and r["jobs_per_prompt_max"] == 1))
    return text + "\n\n" + "\n".join(f"- {n}" for n in notes), targets
