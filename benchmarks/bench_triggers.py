"""Item 3 of the benchmark: many waiting jobs, as the triggerer runs them.

One child process = one asyncio event loop running N triggers concurrently, each iterated until its
first event (then ``aclose()``d), like Airflow's triggerer does. Two implementations poll the same
emulator process and the same Gemini-style jobs:

* ``videogen``: the provider's ``VideoOperationTrigger`` polling the operation
  (``GET /v1beta/models/.../operations/{id}``, JSON with ``progressPercent``);
* ``httpsensor``: ``HttpSensorTrigger`` (apache-airflow-providers-http) polling the job's file
  (``GET /v1beta/files/{id}:download``), which answers 404 until the job is done, the way
  ``HttpSensor`` is used to wait for a result to exist.

The child submits the jobs itself (durations spread evenly, start order shuffled) right before the
window, then measures over the window: CPU seconds of the process (``time.process_time``), the same
for the idle samplers alone (subtracted in the "net" figures), peak RSS growth over the baseline
taken after a warm-up trigger (``VmHWM`` reset), TCP connections opened (``loop.create_connection``
calls), ``aiohttp.ClientSession`` objects created, connection look-ups, event-loop lag (a 10 ms
sleeper's overshoot), the requests the emulator received (its request counter) and its CPU.

``mode="errors"`` makes every poll answer a scripted status (429, 500, with or without Retry-After)
for a fixed window, and compares the requests each trigger made with its backoff schedule
(``retries.next_wait``, simulated for the same start times and window).
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import time
from typing import Any

from benchcommon import (
    API_KEY,
    child_entry,
    child_env,
    fmt_range,
    log,
    median,
    percentile,
    proc_cpu_s,
    proc_status,
    reset_peak_rss,
    run_child,
    table,
    videogen_conn,
)

MODEL = "veo-3.1-generate-preview"  # one the emulator serves as Gemini (emulator/rules.py)
GOOG = {"x-goog-api-key": API_KEY}
STATUS_PATH_RE = r"^/v1beta/models/[^/]+/operations/"
FILE_PATH_RE = r"^/v1beta/files/[a-z0-9]+:download$"


# ------------------------------------------------------------------------------------------ child


def _submit_jobs(session, url: str, durations: list[float]) -> list[dict[str, Any]]:
    """Submit one Gemini job per duration (job_seconds set per group); returns name, file id, due time."""
    names = []
    current = None
    for d in durations:
        if d != current:
            session.post(f"{url}/_emulator/config", json={"job_seconds": d}, timeout=30).raise_for_status()
            current = d
        r = session.post(f"{url}/v1beta/models/{MODEL}:predictLongRunning", headers=GOOG, timeout=30,
                         json={"instances": [{"prompt": "bench"}]})
        r.raise_for_status()
        names.append(r.json()["name"])
    jobs = {j["id"]: j for j in session.get(f"{url}/_emulator/jobs", timeout=60).json()}
    return [{"name": n, "file_id": jobs[n]["file_id"], "due": jobs[n]["created"] + jobs[n]["job_seconds"]}
            for n in names]


def _last_seq(session, url: str) -> tuple[int, list[dict[str, Any]]]:
    records = session.get(f"{url}/_emulator/requests", timeout=60).json()
    return (records[-1]["seq"] if records else 0), records


def _install_counters() -> dict[str, int]:
    """Count TCP connections opened, ClientSessions created and connection look-ups in this process."""
    import asyncio.base_events

    import aiohttp
    import airflow.providers.common.compat.connection as compat

    counts = {"tcp": 0, "sessions": 0, "lookups": 0}
    create_connection = asyncio.base_events.BaseEventLoop.create_connection

    async def counted_create_connection(self, *a, **kw):
        counts["tcp"] += 1
        return await create_connection(self, *a, **kw)

    asyncio.base_events.BaseEventLoop.create_connection = counted_create_connection
    session_init = aiohttp.ClientSession.__init__

    def counted_init(self, *a, **kw):
        counts["sessions"] += 1
        session_init(self, *a, **kw)

    aiohttp.ClientSession.__init__ = counted_init
    get_async_connection = compat.get_async_connection

    async def counted_lookup(*a, **kw):
        counts["lookups"] += 1
        return await get_async_connection(*a, **kw)

    compat.get_async_connection = counted_lookup
    return counts


def _expected_requests(starts: list[float], window: float, args: dict[str, Any], latency: float) -> list[int]:
    """Requests each trigger should make in ``window`` by the provider's backoff schedule (simulated)."""
    from airflow_provider_videogen import retries

    hint = args.get("retry_after")
    initial = min(args["poll_interval"], 1.0) or 1.0
    out = []
    for s in starts:
        t, n, failures = s, 0, 0
        while t < window:
            n += 1
            failures += 1
            if failures >= args["max_failures"]:
                break
            t += max(retries.next_wait(failures, hint, initial=initial), 0.05) + latency
        out.append(n)
    return out


def child(args: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import requests

    counts = _install_counters()
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    from airflow_provider_videogen.triggers.video import VideoOperationTrigger

    url, n, impl, poll = args["url"], args["n"], args["impl"], args["poll_interval"]
    session = requests.Session()
    rng = random.Random(args.get("seed", 1))

    def make(job: dict[str, Any]):
        if impl == "videogen":
            return VideoOperationTrigger("videogen_bench", job["name"], poll_interval=poll,
                                         timeout=args["window"] + 60, max_consecutive_failures=args["max_failures"])
        # alt=media: the documented download query; the strict emulator answers 400 without it
        return HttpSensorTrigger(endpoint=f"v1beta/files/{job['file_id']}:download?alt=media",
                                 http_conn_id="http_bench", method="GET", headers=dict(GOOG), poke_interval=poll)

    async def run_one(trigger, delay: float, events: list, index: int):
        await asyncio.sleep(delay)
        agen = trigger.run()
        try:
            async for event in agen:
                payload = event.payload
                status = payload.get("status") if isinstance(payload, dict) else str(payload)
                events[index] = (time.time(), status)
                return
        finally:
            await agen.aclose()

    async def main() -> dict[str, Any]:
        # warm-up: one trigger through a finished job (imports, connection cache, first session)
        (warm,) = _submit_jobs(session, url, [0.0])
        await run_one(make(warm), 0.0, [None], 0)
        # the jobs: durations spread evenly, start order shuffled (independent of duration)
        lo, hi = args["durations"]
        durations = [round(lo + (hi - lo) * i / max(1, n - 1), 1) for i in range(n)]
        jobs = _submit_jobs(session, url, durations)
        order = list(range(n))
        rng.shuffle(order)
        starts = [args["start_spread"] * order[i] / n for i in range(n)]
        if args.get("fault"):
            session.post(f"{url}/_emulator/faults", json=args["fault"], timeout=30).raise_for_status()
        seq0, _ = _last_seq(session, url)
        gc.collect()
        base = proc_status()
        reset_peak_rss()
        for k in counts:
            counts[k] = 0
        # samplers: event-loop lag (10 ms sleeper) and RSS (0.25 s)
        lags: list[float] = []
        lag_times: list[float] = []
        gc_pauses: list[tuple[int, float]] = []
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                gc_pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

        rss_peak = [base["VmRSS"]]
        stop = asyncio.Event()

        async def lag_sampler():
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - t - 0.01)
                lag_times.append(t)

        async def rss_sampler():
            while not stop.is_set():
                rss_peak[0] = max(rss_peak[0], proc_status()["VmRSS"])
                await asyncio.sleep(0.25)

        samplers = [asyncio.create_task(lag_sampler()), asyncio.create_task(rss_sampler())]
        cpu_a = time.process_time()
        await asyncio.sleep(args["idle_seconds"])
        idle_rate = (time.process_time() - cpu_a) / args["idle_seconds"]
        lags.clear()
        lag_times.clear()
        gc.callbacks.append(on_gc)
        emu0, cpu0, t0, wall0 = proc_cpu_s(args["emu_pid"]), time.process_time(), time.monotonic(), time.time()
        events: list = [None] * n
        prof = None
        if args.get("profile"):  # cProfile over the window (to find what limits a trigger); slows it down
            import cProfile

            prof = cProfile.Profile(time.process_time)  # CPU time: the idle epoll wait does not count
            prof.enable()
        tasks = [asyncio.create_task(run_one(make(job), starts[i], events, i)) for i, job in enumerate(jobs)]
        done, pending = await asyncio.wait(tasks, timeout=args["window"])
        cpu1, t1, emu1 = time.process_time(), time.monotonic(), proc_cpu_s(args["emu_pid"])
        if prof is not None:
            prof.disable()
            prof.dump_stats(args["profile"])
        gc.callbacks.remove(on_gc)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        stop.set()
        await asyncio.gather(*samplers)
        after = proc_status()
        seq1, records = _last_seq(session, url)
        errors = [repr(t.exception()) for t in done if t.exception() is not None]
        statuses: dict[str, int] = {}
        for e in events:
            key = "none" if e is None else str(e[1])
            statuses[key] = statuses.get(key, 0) + 1
        delays = sorted(e[0] - job["due"] for e, job in zip(events, jobs, strict=True) if e is not None)
        steady_from = time.perf_counter() - (time.monotonic() - t0) + args["start_spread"] + 1
        steady = sorted(lag for lag, t in zip(lags, lag_times, strict=True) if t >= steady_from)
        lags.sort()
        window = t1 - t0
        gen2 = [p for g, p in gc_pauses if g == 2]
        res = {
            "impl": impl, "n": n, "window_s": window, "cpu_s": cpu1 - cpu0, "idle_cpu_per_s": idle_rate,
            "requests": seq1 - seq0, "tcp": counts["tcp"], "sessions": counts["sessions"],
            "lookups": counts["lookups"], "emulator_cpu_s": emu1 - emu0,
            "rss_base_mib": base["VmRSS"] / 1024,
            "peak_growth_mib": (max(after["VmHWM"], rss_peak[0]) - base["VmRSS"]) / 1024,
            "lag_ms": [percentile(lags, 0.5) * 1e3, percentile(lags, 0.99) * 1e3, (lags[-1] if lags else 0) * 1e3],
            "lag_steady_ms": [percentile(steady, 0.5) * 1e3, percentile(steady, 0.99) * 1e3,
                              (steady[-1] if steady else 0) * 1e3],
            "gc": {"collections": len(gc_pauses), "pause_total_s": sum(p for _, p in gc_pauses),
                   "max_pause_ms": 1e3 * max((p for _, p in gc_pauses), default=0),
                   "gen2": len(gen2), "gen2_max_ms": 1e3 * max(gen2, default=0)},
            "statuses": statuses, "task_errors": errors[:5], "pending": len(pending),
            "notice_delay_s": [percentile(delays, 0.5), percentile(delays, 0.99)] if delays else None,
            "all_fired_s": (max(e[0] for e in events if e) - wall0) if any(events) else None,
        }
        if args.get("fault"):
            path_re = args["fault"]["path"]
            import re

            polled = [r for r in records if r["seq"] > seq0 and re.search(path_re, r["path"])]
            per_path: dict[str, int] = {}
            for r in polled:
                per_path[r["path"]] = per_path.get(r["path"], 0) + 1
            key = (lambda j: f"/v1beta/{j['name']}") if impl == "videogen" else (
                lambda j: f"/v1beta/files/{j['file_id']}:download")
            observed = [per_path.get(key(j), 0) for j in jobs]
            res["observed_per_trigger"] = observed if seq1 - seq0 <= len(records) else None
            if impl == "videogen":
                sims = [_expected_requests(starts, window, args, latency=0.002) for _ in range(20)]
                res["expected_total"] = [sum(s) for s in sims]
                res["expected_max"] = max(max(s) for s in sims)
        return res

    return asyncio.run(main())


# ------------------------------------------------------------------------------------ orchestrator


def _env(work, emu) -> dict[str, str]:
    host, port = emu.url.rsplit(":", 1)
    return child_env(work, {
        "videogen_bench": videogen_conn("gemini", emu.url),
        "http_bench": {"conn_type": "http", "host": host.split("//", 1)[1], "port": int(port), "schema": "http"},
    })


def _args(emu, cfg: dict[str, Any], impl: str, n: int, **extra) -> dict[str, Any]:
    return {"url": emu.url, "emu_pid": emu.pid, "impl": impl, "n": n, "poll_interval": cfg["poll_interval"],
            "durations": cfg["durations"], "start_spread": cfg["start_spread"], "window": cfg["window"],
            "idle_seconds": cfg["idle_seconds"], "max_failures": 10, **extra}


def bench_triggers(emu, work, cfg: dict[str, Any]) -> dict[str, Any]:
    """N concurrent triggers of each implementation, interleaved, ``reps`` times."""
    env = _env(work, emu)
    runs: dict[str, list[dict[str, Any]]] = {"videogen": [], "httpsensor": []}
    for rep in range(cfg["reps"]):
        order = ("videogen", "httpsensor") if rep % 2 == 0 else ("httpsensor", "videogen")
        for impl in order:
            emu.client.reset()
            emu.client.set_config(gemini_download="bytes")  # the file answers 200 at once when done
            log(f"triggers: {cfg['n']} × {impl}, run {rep + 1}/{cfg['reps']}")
            res = run_child("bench_triggers", _args(emu, cfg, impl, cfg["n"], seed=rep + 1), work, env,
                            timeout=cfg["window"] + 180)
            runs[impl].append(res)
    return runs


def bench_errors(emu, work, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Every poll answers 429 or 500 for a fixed window: requests must follow the backoff schedule."""
    env = _env(work, emu)
    out = []
    cases = cfg.get("cases") or [("videogen", 429, None), ("videogen", 429, 3), ("videogen", 500, None),
                                 ("httpsensor", 429, None), ("httpsensor", 500, None)]
    for impl, status, retry_after in cases:
        emu.client.reset()
        emu.client.set_config(gemini_download="bytes")
        n = cfg["n"] if impl == "videogen" else cfg["n_httpsensor"]
        window = cfg["window"] if impl == "videogen" else cfg["window_httpsensor"]
        fault = {"path": STATUS_PATH_RE if impl == "videogen" else FILE_PATH_RE, "method": "GET", "times": -1,
                 "status": status, "body": {"error": {"code": status, "message": "scripted by the benchmark"}}}
        if retry_after:
            fault["headers"] = {"Retry-After": str(retry_after)}
        log(f"errors: {n} × {impl} against HTTP {status}{f' + Retry-After {retry_after}' if retry_after else ''}")
        args = _args(emu, {**cfg, "window": window}, impl, n, fault=fault, retry_after=retry_after,
                     durations=[3600, 3600], start_spread=cfg["start_spread"])
        res = run_child("bench_triggers", args, work, env, timeout=window + 180)
        res.update(status=status, retry_after=retry_after)
        out.append(res)
    return out


# ----------------------------------------------------------------------------------------- report


def _net_cpu(r: dict[str, Any]) -> float:
    return max(0.0, r["cpu_s"] - r["idle_cpu_per_s"] * r["window_s"])


def report_triggers(runs: dict[str, list[dict[str, Any]]]) -> tuple[str, list[tuple[str, str, bool]]]:
    head = ["trigger (N concurrent, one loop)", "polls", "CPU s / 1000 polls (net of samplers)", "ratio to HttpSensor",
            "CPU ms / trigger (net)",
            "TCP conns opened", "ClientSessions", "conn look-ups", "log lines", "RSS / trigger KiB",
            "loop lag p50 / p99 / max ms", "emulator CPU s", "notice delay p50 / p99 s"]
    rows = []
    ref = runs["httpsensor"]
    ratios_net = [(_net_cpu(a) / a["requests"]) / (_net_cpu(b) / b["requests"])
                  for a, b in zip(runs["videogen"], ref, strict=True)]
    ratios_raw = [(a["cpu_s"] / a["requests"]) / (b["cpu_s"] / b["requests"])
                  for a, b in zip(runs["videogen"], ref, strict=True)]
    for impl, label in (("videogen", "`VideoOperationTrigger`"), ("httpsensor", "`HttpSensorTrigger` (http 6.3.0)")):
        rs = runs[impl]
        n = rs[0]["n"]
        ratio = (f"{fmt_range(ratios_net)} (raw {fmt_range(ratios_raw)})" if impl == "videogen" else "1")
        rows.append([
            f"{label} × {n}", fmt_range([r["requests"] for r in rs], 0),
            f"{fmt_range([1000 * _net_cpu(r) / r['requests'] for r in rs], 3)} "
            f"(raw {fmt_range([1000 * r['cpu_s'] / r['requests'] for r in rs], 3)})",
            ratio, fmt_range([1000 * _net_cpu(r) / r["n"] for r in rs], 2), fmt_range([r["tcp"] for r in rs], 0),
            fmt_range([r["sessions"] for r in rs], 0),
            fmt_range([r["lookups"] for r in rs], 0), fmt_range([r["log_lines"] for r in rs], 0),
            fmt_range([1024 * r["peak_growth_mib"] / n for r in rs], 1),
            " / ".join(fmt_range([r["lag_ms"][i] for r in rs], 1) for i in range(3)),
            fmt_range([r["emulator_cpu_s"] for r in rs]),
            " / ".join(fmt_range([r["notice_delay_s"][i] for r in rs if r["notice_delay_s"]], 1) for i in range(2)),
        ])
    vg = runs["videogen"]
    fired_ok = all(r["statuses"].get("success", 0) == r["n"] for r in vg)
    kib = median(1024 * r["peak_growth_mib"] / r["n"] for r in vg)
    lag99 = median(r["lag_ms"][1] for r in vg)
    targets = [
        ("3. CPU per poll ≤ 0.4× HttpSensorTrigger's (net of samplers)",
         f"{median(ratios_net):.2f}× (raw {median(ratios_raw):.2f}×)", median(ratios_net) <= 0.4),
        ("3. memory ≤ 25 KiB per trigger", f"{kib:.1f} KiB", kib <= 25),
        ("3. loop lag p99 ≤ 5 ms", f"{lag99:.2f} ms", lag99 <= 5),
        ("3. every trigger fired once, success", "yes" if fired_ok else json.dumps([r["statuses"] for r in vg]),
         fired_ok),
    ]
    return table(head, rows), targets


def report_errors(runs: list[dict[str, Any]]) -> tuple[str, list[tuple[str, str, bool]]]:
    head = ["trigger", "endpoint answers", "N", "window s", "requests", "req / trigger / s",
            "per trigger p50 / max", "schedule: expected total (20 simulations)", "CPU s",
            "CPU ms / request (net)", "vs `HttpSensorTrigger`, same answer", "TCP conns", "log lines", "events"]
    rows, ok = [], True
    # the reference for the CPU per answer: HttpSensorTrigger against the same status, in the same run (CPU
    # seconds differ from one machine or day to the next; the ratio is what compares across runs)
    per_request = {id(r): _net_cpu(r) / max(1, r["requests"]) for r in runs}
    reference = {r["status"]: per_request[id(r)] for r in runs if r["impl"] == "httpsensor" and not r["retry_after"]}
    for r in runs:
        obs = r.get("observed_per_trigger")
        per = f"{statistics.median(obs):.0f} / {max(obs)}" if obs else "–"
        exp = "–"
        if r.get("expected_total"):
            lo, hi = min(r["expected_total"]), max(r["expected_total"])
            exp = f"{statistics.median(r['expected_total']):.0f} ({lo}–{hi}); max/trigger {r['expected_max']}"
            within = 0.85 * lo <= r["requests"] <= 1.15 * hi and (obs is None or max(obs) <= r["expected_max"] + 1)
            ok = ok and within
        answer = f"HTTP {r['status']}" + (f" + Retry-After: {r['retry_after']}" if r["retry_after"] else "")
        name = "`VideoOperationTrigger`" if r["impl"] == "videogen" else "`HttpSensorTrigger`"
        rows.append([name, answer, r["n"], f"{r['window_s']:.0f}", r["requests"],
                     f"{r['requests'] / r['n'] / r['window_s']:.2f}", per, exp, f"{r['cpu_s']:.2f}",
                     f"{1000 * per_request[id(r)]:.3f}",
                     "1 (reference)" if r["impl"] == "httpsensor" else (
                         f"{per_request[id(r)] / reference[r['status']]:.2f}×" if reference.get(r["status"]) else "–"),
                     r["tcp"], r["log_lines"], ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))])
    return table(head, rows), [("3. 429/500: requests follow the backoff schedule (no hot loop)",
                                "within the simulated schedule" if ok else "outside the schedule", ok)]


if __name__ == "__main__":
    child_entry(child)
