"""Items 1 and 2 of the benchmark: binary and base64-in-JSON downloads, side by side with curl.

The emulator (its own process) serves the video; each measured client is its own child process:

* ``provider``: the real download path: ``VideoGenHook.for_connection`` -> ``hook.get_operation`` ->
  ``VideoDownloader(hook).download(operation, ObjectStoragePath("file://..."))`` (MP4 check, sizes,
  sha256, temporary name and rename included);
* ``requests_content``: the seed-style ``requests.get(url).content`` then one ``write`` (memory reference);
* ``b64_seed``: the gateway sample for MixRoute: ``requests.get(url).json()`` + ``b64decode`` + write;
* ``curl -o`` on the same URL, same sink directory, run alternately with the provider.

Throughput is bytes of video per second of the transfer itself: the provider's ``download()`` call
(measured in the child, Airflow already imported as in a worker) against curl's ``time_total``. Peak
memory growth is the child's ``VmHWM`` (reset right before the transfer) minus its RSS at that moment.
"""

from __future__ import annotations

import gc
import hashlib
import subprocess
import time
from typing import Any

from benchcommon import (
    API_KEY,
    GIB,
    MB,
    MIB,
    child_entry,
    child_env,
    fmt_range,
    log,
    median,
    proc_cpu_s,
    proc_status,
    reset_peak_rss,
    run_child,
    run_measured,
    spread,
    table,
    videogen_conn,
)

BEARER = {"Authorization": f"Bearer {API_KEY}"}
# The emulator's OpenAI-compatible /v1/videos requires a model it serves (emulator/rules.py MODELS_BY_GATEWAY).
OPENAI_MODEL = "veo-3.1-generate-preview"


# ------------------------------------------------------------------------------------------ child


def _measure(step) -> dict[str, Any]:
    gc.collect()
    before = proc_status()
    peak_reset = reset_peak_rss()
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = step()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    after = proc_status()
    growth_kib = after["VmHWM"] - (before["VmRSS"] if peak_reset else before["VmHWM"])
    return {"seconds": elapsed, "cpu_s": cpu, "rss_before_mib": before["VmRSS"] / 1024,
            "peak_growth_mib": growth_kib / 1024, "peak_reset": peak_reset, **out}


def child(args: dict[str, Any]) -> dict[str, Any]:
    mode = args["mode"]
    if mode == "provider":
        from airflow.sdk import ObjectStoragePath

        from airflow_provider_videogen.download import VideoDownloader
        from airflow_provider_videogen.hooks.base import VideoGenHook

        hook = VideoGenHook.for_connection("videogen_bench")
        operation = hook.get_operation(args["operation_id"])  # a real status poll gives the locator
        destination = ObjectStoragePath("file://" + args["dest"])
        downloader = VideoDownloader(hook)
        # Airflow's one-time set-up of ObjectStoragePath on first use in a process (provider filesystem
        # discovery; the hook-lineage collector that ObjectStoragePath's file writes report to, which imports
        # every provider's asset factories): timed apart, so the transfer is measured as in a worker that has
        # already paid it.
        from airflow.sdk.lineage import get_hook_lineage_collector

        t0 = time.perf_counter()
        _ = destination.parent.fs
        get_hook_lineage_collector()
        fs_init = time.perf_counter() - t0

        def step():
            if args.get("profile"):
                import cProfile

                prof = cProfile.Profile()
                res = prof.runcall(downloader.download, operation, destination)
                prof.dump_stats(args["profile"])
            else:
                res = downloader.download(operation, destination)
            return {"bytes": res.size_bytes, "sha256": res.sha256}

        return {**_measure(step), "fs_init_s": fs_init}
    import requests

    if mode == "requests_content":  # the seed style: the whole body in memory, then one write
        def step():
            data = requests.get(args["url"], headers=BEARER, timeout=600).content
            with open(args["dest"], "wb") as f:
                f.write(data)
            return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

        return _measure(step)
    if mode == "b64_seed":  # the gateway's sample: .json(), b64decode, write
        import base64

        def step():
            body = requests.get(args["url"], headers=BEARER, timeout=600).json()
            data = base64.b64decode(body["base64"])
            with open(args["dest"], "wb") as f:
                f.write(data)
            return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

        return _measure(step)
    raise ValueError(f"unknown mode {mode}")


# ------------------------------------------------------------------------------------ orchestrator


def curl(url: str, dest: str, work, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """``curl -sS -o dest`` with its own ``time_total``; the process's CPU and peak RSS from wait4."""
    out = work.file(f"curl-{time.monotonic_ns()}.txt")
    cmd = ["curl", "-sS", "--fail", "-o", dest, "-w", "%{time_total} %{size_download}"]
    for k, v in (headers or BEARER).items():
        cmd += ["-H", f"{k}: {v}"]
    with open(out, "wb") as f:
        proc = run_measured([*cmd, url], stdout=f, stderr=subprocess.STDOUT, timeout=300)
    text = out.read_text().strip()
    out.unlink(missing_ok=True)
    if proc["rc"] != 0:
        raise RuntimeError(f"curl failed: {text}")
    seconds, size = text.split()[-2:]
    return {"seconds": float(seconds), "bytes": int(size), "cpu_s": proc["cpu_s"], "maxrss_mib": proc["maxrss_mib"]}


def _timed(emu, fn, *a, **kw) -> dict[str, Any]:
    """Run one measured client; add the emulator's CPU seconds over it."""
    cpu0 = proc_cpu_s(emu.pid)
    res = fn(*a, **kw)
    res["emulator_cpu_s"] = proc_cpu_s(emu.pid) - cpu0
    return res


def _remove(*paths) -> None:
    from pathlib import Path

    for p in paths:
        Path(p).unlink(missing_ok=True)
    for leftover in Path(paths[0]).parent.glob(".*.partial"):
        leftover.unlink(missing_ok=True)


def _submit_openai(ctl, url: str, size: int) -> str:
    import requests

    ctl.set_config(job_seconds=0, status_vocab="openai", content_form="bytes", video_bytes=size)
    r = requests.post(f"{url}/v1/videos", json={"model": OPENAI_MODEL, "prompt": f"bench {size}"},
                      headers=BEARER, timeout=30)
    r.raise_for_status()
    return r.json()["id"]


def _submit_mixroute_sora(ctl, url: str, size: int) -> str:
    import requests

    ctl.set_config(job_seconds=0, video_bytes=size)
    r = requests.post(f"{url}/v1/video/generations", json={"model": "sora-2", "prompt": f"bench {size}"},
                      headers=BEARER, timeout=30)
    r.raise_for_status()
    return r.json()["task_id"]


def _pairs(emu, work, env, op_id: str, url: str, reps: int, warmup: bool, expect_sha: str,
           size: int) -> tuple[list[dict], list[dict]]:
    """Provider and curl alternately (A B, B A, ...); returns (provider runs, curl runs)."""
    dest_p, dest_c = str(work.file("provider.mp4")), str(work.file("curl.out"))
    prov_runs, curl_runs = [], []

    def provider():
        res = run_child("bench_download", {"mode": "provider", "operation_id": op_id, "dest": dest_p}, work, env)
        if res["sha256"] != expect_sha or res["bytes"] != size:
            raise RuntimeError(f"provider download mismatch: {res['bytes']} bytes, sha256 {res['sha256']}")
        return res

    def curl_run():
        return curl(url, dest_c, work)

    for i in range(reps + (1 if warmup else 0)):
        order = (("p", provider), ("c", curl_run)) if i % 2 == 0 else (("c", curl_run), ("p", provider))
        pair = {}
        for name, fn in order:
            pair[name] = _timed(emu, fn)
            _remove(dest_p, dest_c)
        if warmup and i == 0:
            continue
        prov_runs.append(pair["p"])
        curl_runs.append(pair["c"])
    return prov_runs, curl_runs


def _row(name: str, runs: list[dict], size: int, curl_runs: list[dict] | None, *, rss_key: str) -> list[str]:
    mbps = [size / MB / r["seconds"] for r in runs]
    ratio = "–"
    if curl_runs:
        ratio = fmt_range([c["seconds"] / r["seconds"] for r, c in zip(runs, curl_runs, strict=True)])
    return [name, fmt_range(mbps, 0), ratio, fmt_range([r["cpu_s"] for r in runs]),
            fmt_range([r[rss_key] for r in runs], 1), fmt_range([r["emulator_cpu_s"] for r in runs])]


def bench_binary(emu, work, cfg: dict[str, Any]) -> dict[str, Any]:
    """Item 1: a 1 GiB video, provider vs curl -o, memory growth flat from 64 MiB to 1 GiB."""
    ctl, size = emu.client, cfg["binary_bytes"]
    ctl.reset()
    env = child_env(work, {"videogen_bench": videogen_conn("openai", emu.url)})
    op_big = _submit_openai(ctl, emu.url, size)
    url = f"{emu.url}/v1/videos/{op_big}/content"
    sha_big = ctl.sha256(op_big)["sha256"]
    log(f"download: {size / MIB:.0f} MiB, {cfg['reps']} provider/curl pairs")
    prov, crl = _pairs(emu, work, env, op_big, url, cfg["reps"], cfg["warmup"], sha_big, size)
    # the source's ceiling: curl to /dev/null (the emulator must not be the bottleneck)
    null = [_timed(emu, curl, url, "/dev/null", work) for _ in range(cfg["null_reps"])]
    # memory growth at smaller videos: flat?
    flat = {}
    for small in cfg["flat_sizes"]:
        op = _submit_openai(ctl, emu.url, small)
        sha = ctl.sha256(op)["sha256"]
        runs, _ = _pairs(emu, work, env, op, f"{emu.url}/v1/videos/{op}/content", 1, False, sha, small)
        flat[small] = runs[0]
    # the seed-style reference: requests.get(url).content
    ref = []
    for _ in range(cfg["ref_reps"]):
        dest = str(work.file("naive.mp4"))
        res = _timed(emu, run_child, "bench_download", {"mode": "requests_content", "url": url, "dest": dest},
                     work, env)
        _remove(dest)
        if res["sha256"] != sha_big:
            raise RuntimeError("requests.get().content returned other bytes")
        ref.append(res)
    return {"size": size, "provider": prov, "curl": crl, "null": null, "flat": flat, "reference": ref}


def bench_base64(emu, work, cfg: dict[str, Any]) -> dict[str, Any]:
    """Item 2: MixRoute's Sora download (the whole MP4 as base64 in JSON, twice), provider vs curl."""
    ctl, size = emu.client, cfg["b64_bytes"]
    ctl.reset()
    env = child_env(work, {"videogen_bench": videogen_conn("mixroute", emu.url)})
    op = _submit_mixroute_sora(ctl, emu.url, size)
    url = f"{emu.url}/v1/video/generations/download?id={op}"
    sha = ctl.sha256(op)["sha256"]
    log(f"base64: {size / MIB:.0f} MiB video, {cfg['reps']} provider/curl pairs")
    prov, crl = _pairs(emu, work, env, op, url, cfg["reps"], cfg["warmup"], sha, size)
    ref = []
    for _ in range(cfg["ref_reps"]):
        dest = str(work.file("seed.mp4"))
        res = _timed(emu, run_child, "bench_download", {"mode": "b64_seed", "url": url, "dest": dest}, work, env)
        _remove(dest)
        if res["sha256"] != sha:
            raise RuntimeError("the seed-style base64 download returned other bytes")
        ref.append(res)
    return {"size": size, "json_bytes": crl[0]["bytes"], "provider": prov, "curl": crl, "reference": ref}


# ----------------------------------------------------------------------------------------- report


def report_binary(res: dict[str, Any]) -> tuple[str, list[tuple[str, str, bool]]]:
    size = res["size"]
    head = ["client (→ file on /tmp)", "MB/s", "throughput vs curl (same pair)", "CPU s", "peak RSS growth MiB",
            "emulator CPU s"]
    rows = [
        _row(f"provider `VideoDownloader.download` ({size / GIB:g} GiB, sha256 incl.)", res["provider"], size,
             res["curl"], rss_key="peak_growth_mib"),
        _row("`curl -o` (no hash; peak RSS = whole process)", res["curl"], size, None, rss_key="maxrss_mib"),
        _row("`curl -o /dev/null` (source ceiling)", res["null"], size, None, rss_key="maxrss_mib"),
    ]
    for small, run in sorted(res["flat"].items()):
        rows.append(_row(f"provider, {small / MIB:.0f} MiB video", [run], small, None, rss_key="peak_growth_mib"))
    if res["reference"]:
        rows.append(_row("seed style `requests.get(url).content` (reference)", res["reference"], size, None,
                         rss_key="peak_growth_mib"))
    ratio = median(c["seconds"] / p["seconds"] for p, c in zip(res["provider"], res["curl"], strict=True))
    growths = [median(r["peak_growth_mib"] for r in res["provider"])]
    growths += [r["peak_growth_mib"] for r in res["flat"].values()]
    flat_spread = max(growths) - min(growths)
    targets = [
        ("1. download throughput ≥ 0.9× curl", f"{ratio:.2f}×", ratio >= 0.9),
        ("1. peak memory growth ≤ 64 MiB", f"{max(growths):.1f} MiB", max(growths) <= 64),
        ("1. memory flat 64 MiB → 1 GiB video", f"growth varies by {flat_spread:.1f} MiB", flat_spread <= 8),
    ]
    return table(head, rows), targets


def report_base64(res: dict[str, Any]) -> tuple[str, list[tuple[str, str, bool]]]:
    size, jbytes = res["size"], res["json_bytes"]
    head = ["client", "video MB/s", "throughput vs curl (same pair)", "CPU s", "peak RSS growth MiB",
            "emulator CPU s"]
    rows = [
        _row(f"provider `VideoDownloader.download` (base64 field → file, {size / MIB:.0f} MiB video)",
             res["provider"], size, res["curl"], rss_key="peak_growth_mib"),
        _row(f"`curl -o` the JSON body ({jbytes / MB:.0f} MB)", res["curl"], size, None, rss_key="maxrss_mib"),
    ]
    if res["reference"]:
        rows.append(_row("gateway sample `requests.get().json()` + `b64decode` (reference)", res["reference"], size,
                         None, rss_key="peak_growth_mib"))
    ratio = median(c["seconds"] / p["seconds"] for p, c in zip(res["provider"], res["curl"], strict=True))
    growth = spread(r["peak_growth_mib"] for r in res["provider"])[2]
    targets = [
        ("2. base64 throughput ≥ 0.8× curl (JSON body)", f"{ratio:.2f}×", ratio >= 0.8),
        ("2. base64 peak memory growth ≤ 64 MiB", f"{growth:.1f} MiB (max)", growth <= 64),
    ]
    return table(head, rows), targets


if __name__ == "__main__":
    child_entry(child)
