"""Item 4 of the benchmark: status requests per job and the delay to notice that a job finished.

Jobs last 30 to 300 s (evenly spread), in **real time**: the trigger's schedule uses the gateway's
``created_at`` (whole seconds) and absolute bounds in seconds, so running jobs faster than real time
would distort exactly what is measured. The run therefore goes on in the background (its own emulator
process, its own child) while items 1-3 run; it is light (a few hundred polls in 5 minutes).

* **Measured**: the real ``VideoOperationTrigger`` (OpenAI-style gateway, which sends
  ``openai-poll-after-ms`` and ``progress``), ``reps`` groups of jobs at once in one event loop, each
  trigger started right after its job was submitted. Requests per job come from the emulator's request
  record; the delay is the trigger's event time minus the job's end (``created + job_seconds`` as the
  emulator keeps them). ``--poll-strategy NAME`` passes ``poll_strategy=NAME`` to the trigger's
  constructor when it accepts one, to compare strategies with the real class.
* **Simulated** (same jobs, the emulator's progress model ``progress = floor(100·t/D)``, whole-second
  ``created_at``): fixed 10 s polling (the issue's baseline), the trigger module's own
  ``next_poll_delay`` if it has one (the schedule the real class uses), and :class:`AdaptiveSchedule`
  (this harness's proposal), also for progress curves the emulator does not produce (queue delay,
  front- or back-loaded progress, no progress at all).
"""

from __future__ import annotations

import inspect
import math
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
    run_child,
    table,
    videogen_conn,
)

BEARER = {"Authorization": f"Bearer {API_KEY}"}


# ------------------------------------------------------------------------------ proposed schedule


class AdaptiveSchedule:
    """Proposed polling schedule: poll at the earliest time the job can have finished, by its progress.

    Progress is an integer percent (``floor``), so at time ``t`` with progress ``p`` the job's true
    fraction is in ``[p, p+1)``. The reference ``(t_ref, p_ref)`` is the first poll after progress
    started to move (above the lowest value seen, so a queue at 0 % does not skew the rate). If progress
    is linear from there, the rate is at most ``(p + 1 - p_ref) / (t - t_ref)`` and the job cannot end
    before ``t + (100 - (p + 1)) / rate_max``: the next poll goes there. For linear progress it is never
    late, and each poll narrows the estimate (2 or 3 polls). Bounds:

    * no usable rate yet (no progress given, not moving yet, one moving sample): wait ``interval``
      (the current rule);
    * never shorter than ``floor`` (default ``interval / 2``) nor than the gateway's hint
      (``openai-poll-after-ms``, Retry-After);
    * never longer than ``max_wait`` (default ``6 × interval``): a bound on the damage when progress is
      not linear (back-loaded progress makes the estimate late).
    """

    def __init__(self, interval: float = 10.0, *, floor: float | None = None, max_wait: float | None = None):
        self.interval = interval
        self.floor = interval / 2 if floor is None else floor
        self.max_wait = 6 * interval if max_wait is None else max_wait
        self.lowest: int | None = None
        self.ref: tuple[float, int] | None = None

    def next_wait(self, t: float, progress: int | None, hint: float | None = None) -> float:
        """Seconds until the next poll, after a poll at ``t`` (seconds, any origin) saw ``progress``."""
        floor = max(self.floor, hint or 0.0)
        fallback = max(self.interval, floor)
        if progress is None:
            return fallback
        if self.lowest is None or progress < self.lowest:
            self.lowest, self.ref = progress, None
        if progress == self.lowest:
            return fallback  # not moving yet
        if self.ref is None or progress < self.ref[1]:
            self.ref = (t, progress)  # the first poll after progress started
            return fallback
        t_ref, p_ref = self.ref
        if progress == p_ref:
            return fallback
        rate_max = (progress + 1 - p_ref) / max(t - t_ref, 1e-9)  # percent per second, an upper bound
        earliest_end = (100 - (progress + 1)) / rate_max
        return min(max(earliest_end, floor), max(self.max_wait, floor))


class FixedSchedule:
    """The trigger's current rule: ``max(poll_interval, hint)``."""

    def __init__(self, interval: float = 10.0):
        self.interval = interval

    def next_wait(self, t: float, progress: int | None, hint: float | None = None) -> float:
        return max(self.interval, hint or 0.0)


# ------------------------------------------------------------------------------------- simulation

CURVES = {
    "linear (the emulator)": lambda f: f,
    "queued 20 % at 0 %, then linear": lambda f: 0.0 if f < 0.2 else (f - 0.2) / 0.8,
    "front-loaded (√t)": lambda f: math.sqrt(f),
    "back-loaded (t²)": lambda f: f * f,
    "no progress reported": None,
}


class TriggerSchedule:
    """Adapter for the trigger module's own schedule, whichever form it has:

    a class ``PollSchedule(poll_interval).next_delay(age, progress, hint)`` (one per trigger run) or a
    function ``next_poll_delay(age, progress, poll_interval, hint)``.
    """

    def __init__(self, impl, interval: float, created_frac: float):
        self.created_frac = created_frac
        if isinstance(impl, type):
            self.delay = impl(interval).next_delay
        else:
            self.delay = lambda age, progress, hint: impl(age, progress, interval, hint)

    def next_wait(self, t: float, progress: int | None, hint: float | None = None) -> float:
        # ``t`` is the job's true age; the trigger knows max(its own age, now - created_at), and
        # created_at is in whole seconds (OpenAI-style gateways): up to 1 s more than the true age
        return self.delay(t + self.created_frac, progress, hint)


def trigger_schedule_impl(module):
    """The trigger module's schedule (``PollSchedule`` class or ``next_poll_delay`` function), or None."""
    cls = getattr(module, "PollSchedule", None)
    if isinstance(cls, type) and callable(getattr(cls, "next_delay", None)):
        return cls
    fn = getattr(module, "next_poll_delay", None)
    if callable(fn) and len(inspect.signature(fn).parameters) >= 3:
        return fn
    return None


def simulate(schedule_factory, durations: list[float], curve=CURVES["linear (the emulator)"],
             hint: float | None = 1.0, starts: list[float] | None = None, latency: float = 0.005) -> dict[str, Any]:
    """Polls and notice delay per job. Trigger ``i`` starts ``starts[i]`` s after its job (the sensor's
    deferral); each poll takes ``latency``. ``schedule_factory(i)`` makes the schedule of job ``i``.
    """
    requests, delays = [], []
    for i, d in enumerate(durations):
        sched = schedule_factory(i)
        t, n = (starts[i] if starts else 0.0), 0
        while True:
            n += 1
            t_seen = t + latency
            if t_seen >= d:
                delays.append(t_seen - d)
                break
            progress = None if curve is None else int(100 * curve(t_seen / d))
            t = t_seen + max(sched.next_wait(t_seen, progress, hint), 0.05)
            if n > 10_000:
                raise RuntimeError("runaway schedule")
        requests.append(n)
    return {"requests": requests, "delays": delays}


def start_delays(n: int, spread: float) -> list[float]:
    """When each trigger starts after its job's submission (the sensor defers, the triggerer picks it up)."""
    return [spread * ((i * 7) % 11) / 10 for i in range(n)]


def simulate_all(durations: list[float], interval: float, hint: float | None, trigger_impl=None,
                 starts: list[float] | None = None) -> dict[str, Any]:
    """Every schedule on every progress curve: ``{curve: {schedule: summary}}``."""
    import random

    fracs = [random.Random(i).random() for i in range(len(durations))]
    factories = {"fixed": lambda i: FixedSchedule(interval), "proposed": lambda i: AdaptiveSchedule(interval)}
    if trigger_impl is not None:
        factories["trigger"] = lambda i: TriggerSchedule(trigger_impl, interval, fracs[i])
    return {name: {k: _summary(simulate(f, durations, curve, hint=hint, starts=starts), durations)
                   for k, f in factories.items()}
            for name, curve in CURVES.items()}


def _summary(sim: dict[str, Any], durations: list[float]) -> dict[str, float]:
    d = sorted(sim["delays"])
    rel = sorted(x / dur for x, dur in zip(sim["delays"], durations, strict=True))
    return {"req_mean": statistics.fmean(sim["requests"]), "delay_mean": statistics.fmean(d),
            "delay_p95": percentile(d, 0.95), "delay_max": d[-1], "rel_mean": statistics.fmean(rel),
            "rel_max": rel[-1]}


def durations_spread(n: int, lo: float = 30.0, hi: float = 300.0) -> list[float]:
    return [lo + (hi - lo) * i / max(1, n - 1) for i in range(n)]


# ------------------------------------------------------------------------------------------ child


def child(args: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import requests

    import airflow_provider_videogen.triggers.video as trigger_module
    from airflow_provider_videogen.triggers.video import VideoOperationTrigger

    url = args["url"]
    session = requests.Session()
    kwargs: dict[str, Any] = {}
    accepted = inspect.signature(VideoOperationTrigger.__init__).parameters
    if args.get("strategy"):
        if "poll_strategy" not in accepted:
            return {"unsupported": f"VideoOperationTrigger has no poll_strategy parameter ({list(accepted)[1:]})"}
        kwargs["poll_strategy"] = args["strategy"]
    seq0 = (session.get(f"{url}/_emulator/requests", timeout=60).json() or [{"seq": 0}])[-1]["seq"]
    events: dict[str, tuple[float, str]] = {}

    async def run_one(op_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        trigger = VideoOperationTrigger("videogen_bench", op_id, poll_interval=args["poll_interval"],
                                        timeout=2 * max(args["durations"]) + 60, **kwargs)
        agen = trigger.run()
        try:
            async for event in agen:
                events[op_id] = (time.time(), event.payload["status"])
                return
        finally:
            await agen.aclose()

    async def main() -> list[str]:
        ids, tasks = [], []
        for d, delay in zip(args["durations"], args["starts"], strict=True):  # submit, start its trigger
            session.post(f"{url}/_emulator/config", json={"job_seconds": d}, timeout=30).raise_for_status()
            r = session.post(f"{url}/v1/videos", json={"model": "veo-3.1-generate-preview", "prompt": "bench"},
                             headers=BEARER, timeout=30)
            r.raise_for_status()
            ids.append(r.json()["id"])
            tasks.append(asyncio.create_task(run_one(ids[-1], delay)))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
        return ids

    ids = asyncio.run(main())
    jobs = {j["id"]: j for j in session.get(f"{url}/_emulator/jobs", timeout=60).json()}
    records = session.get(f"{url}/_emulator/requests", timeout=60).json()
    counts: dict[str, int] = {}
    for r in records:
        if r["seq"] > seq0 and r["method"] == "GET" and r["path"].startswith("/v1/videos/"):
            counts[r["path"]] = counts.get(r["path"], 0) + 1
    out = []
    for op_id, d in zip(ids, args["durations"], strict=True):
        job = jobs[op_id]
        when, status = events.get(op_id, (None, "none"))
        out.append({"duration": d, "requests": counts.get(f"/v1/videos/{op_id}", 0), "status": status,
                    "delay": None if when is None else when - (job["created"] + job["job_seconds"])})
    impl = trigger_schedule_impl(trigger_module)
    group = args["group"]
    sims = simulate_all(args["durations"][::len(args["durations"]) // group], args["poll_interval"], args["hint"],
                        impl, args["starts"][::len(args["durations"]) // group])
    return {"jobs": out, "record_complete": bool(records) and records[0]["seq"] <= seq0 + 1,
            "strategy": args.get("strategy") or "current", "sims": sims,
            "trigger_schedule": getattr(impl, "__name__", None)}


# ------------------------------------------------------------------------------------ orchestrator


def bench_polls(work, cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs in its own emulator process (it may run in the background while the other items run)."""
    import subprocess

    from airflow_provider_videogen.emulator import EmulatorProcess

    lo, hi = cfg["durations"]
    group = durations_spread(cfg["n"], lo, hi)
    durations = [d for i in range(cfg["n"]) for d in [group[i]] * cfg["reps"]]  # the groups interleaved
    starts = start_delays(len(durations), cfg["start_spread"])
    with EmulatorProcess("--quiet", stderr=subprocess.DEVNULL) as emu:
        from benchcommon import proc_cpu_s

        emu.client.set_config(status_vocab="openai", poll_after_ms=round(cfg["hint"] * 1000))
        env = child_env(work, {"videogen_bench": videogen_conn("openai", emu.url)})
        log(f"polls: {cfg['reps']} × {cfg['n']} jobs of {lo:.0f}–{hi:.0f} s in real time (background)"
            + (f", strategy {cfg['strategy']}" if cfg.get("strategy") else ""))
        cpu0 = proc_cpu_s(emu.pid)
        res = run_child("bench_polls", {"url": emu.url, "poll_interval": cfg["interval"], "hint": cfg["hint"],
                                        "durations": durations, "starts": starts, "group": cfg["n"],
                                        "strategy": cfg.get("strategy")}, work, env, timeout=2 * hi + 300)
        res["emulator_cpu_s"] = proc_cpu_s(emu.pid) - cpu0
    if "unsupported" in res:
        log(res["unsupported"])
        return res
    jobs = res.pop("jobs")
    res["runs"] = [{"jobs": jobs[g::cfg["reps"]]} for g in range(cfg["reps"])]
    res["cfg"] = cfg
    return res


# ----------------------------------------------------------------------------------------- report


def _measured(run: dict[str, Any]) -> dict[str, float]:
    jobs = [j for j in run["jobs"] if j["delay"] is not None]
    delays = sorted(j["delay"] for j in jobs)
    rel = sorted(j["delay"] / j["duration"] for j in jobs)
    return {"req_mean": statistics.fmean(j["requests"] for j in jobs), "delay_mean": statistics.fmean(delays),
            "delay_p95": percentile(delays, 0.95), "delay_max": delays[-1], "rel_mean": statistics.fmean(rel),
            "rel_max": rel[-1], "fired": len(jobs), "n": len(run["jobs"])}


def report_polls(res: dict[str, Any]) -> tuple[str, list[tuple[str, str, bool]]]:
    if "unsupported" in res:
        return res["unsupported"], []
    cfg = res["cfg"]
    head = ["schedule", "source", "status requests / job", "vs fixed 10 s", "notice delay mean / p95 / max s",
            "delay / job duration mean / max"]
    rows = []
    measured = [_measured(r) for r in res["runs"]]
    sims = res["sims"]
    base = sims["linear (the emulator)"]["fixed"]
    strategy = res["strategy"]

    def row(name, source, ms, ref):
        rows.append([name, source, fmt_range([m["req_mean"] for m in ms], 1),
                     fmt_range([m["req_mean"] / ref["req_mean"] for m in ms], 2),
                     " / ".join(fmt_range([m[k] for m in ms], 1) for k in ("delay_mean", "delay_p95", "delay_max")),
                     " / ".join(fmt_range([100 * m[k] for m in ms], 1, "%") for k in ("rel_mean", "rel_max"))])

    label = "`VideoOperationTrigger` as it is" if strategy == "current" else f"`poll_strategy={strategy!r}`"
    lo, hi = cfg["durations"]
    row(label, f"measured: {cfg['reps']} × {cfg['n']} jobs of {lo:.0f}–{hi:.0f} s, emulator (linear progress), "
        f"trigger started 0–{cfg['start_spread']:g} s after the submit", measured, base)
    names = {"fixed": "fixed 10 s (baseline)", "trigger": f"the trigger's `{res.get('trigger_schedule')}`",
             "proposed": "harness proposal `AdaptiveSchedule`"}
    for curve, by in sims.items():
        for key, label in names.items():
            if key in by:
                row(label, f"simulated: {curve}", [by[key]], by["fixed"])
    m_ratio = median(m["req_mean"] for m in measured) / base["req_mean"]
    m_delay = median(m["delay_mean"] for m in measured) / base["delay_mean"]
    m_rel = median(m["rel_mean"] for m in measured)
    ok = m_ratio <= 0.5 and m_rel <= 0.1
    scope = "" if (lo, hi) == (30, 300) else f"; smoke run: jobs of {lo:.0f}–{hi:.0f} s, the target is for 30–300 s"
    targets = [(f"4. polls per job ≤ 0.5× fixed 10 s at ≤ 10 % added delay (measured, {strategy}{scope})",
                f"{m_ratio:.2f}× requests; delay {median(m['delay_mean'] for m in measured):.1f} s mean = "
                f"{100 * m_rel:.1f} % of the job's duration ({m_delay:.2f}× fixed 10 s's)", ok)]
    return table(head, rows), targets


if __name__ == "__main__":
    child_entry(child)
