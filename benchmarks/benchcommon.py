"""Shared helpers of the benchmark harness: environment, child processes, /proc readings, statistics.

Everything here is stdlib only, so the orchestrator (``run.py``) never imports Airflow: every measured
client runs in its own child process, whose peak RSS and CPU are read from ``os.wait4`` (the kernel's
accounting of that one process) and, inside the child, from ``/proc/self/status`` (``VmHWM`` reset
with ``/proc/self/clear_refs`` right before the measured step, so the peak is the step's own).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
PYTHON = sys.executable
API_KEY = "bench-key-123456"
MIB = 1 << 20
GIB = 1 << 30
MB = 1e6
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------ environment


class Workdir:
    """A temporary directory under /tmp for sinks and Airflow's home; removed on ``close``."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="videogen-bench-", dir="/tmp"))
        self.airflow_home = self.path / "airflow-home"
        self.airflow_home.mkdir()

    def file(self, name: str) -> Path:
        return self.path / name

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def child_env(work: Workdir, connections: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """The environment Airflow needs in a child (as tests/conftest.py sets it), plus connections."""
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(work.airflow_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(work.path / "no-dags"),
        "PYTHONUNBUFFERED": "1",
    })
    for conn_id, conn in (connections or {}).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(BENCH_DIR)) if p)
    return env


def videogen_conn(gateway: str, url: str) -> dict[str, Any]:
    return {"conn_type": f"videogen_{gateway}", "host": url, "password": API_KEY}


# ---------------------------------------------------------------------------------- child processes

LIVE: set[subprocess.Popen] = set()  # measured children still running (killed by pid on interruption)


def kill_children() -> None:
    """Kill the measured children still running (each by its own pid), e.g. after SIGTERM or Ctrl-C."""
    for proc in list(LIVE):
        if proc.poll() is None:
            proc.kill()


def run_measured(cmd: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 600,
                 stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL) -> dict[str, Any]:
    """Run ``cmd`` to completion; wall time, CPU seconds and peak RSS of that one process (``wait4``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, stdout=stdout, stderr=stderr)
    LIVE.add(proc)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # interrupted: do not leave the child behind
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        LIVE.discard(proc)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_mib": usage.ru_maxrss / 1024, "timed_out": wall >= timeout}


def run_child(module: str, args: dict[str, Any], work: Workdir, env: dict[str, str], *, timeout: float = 600,
              log_name: str | None = None) -> dict[str, Any]:
    """Run ``benchmarks/<module>.py child`` with ``args`` as JSON; returns the child's JSON result.

    The child writes its result to a file (its stdout/stderr are Airflow's logs, kept in ``log_name``).
    The result gets ``proc`` (wall, CPU, peak RSS of the whole process) and ``log_lines``.
    """
    result_path = work.file(f"result-{module}-{time.monotonic_ns()}.json")
    log_path = work.file(log_name or f"log-{module}-{time.monotonic_ns()}.txt")
    cmd = [PYTHON, str(BENCH_DIR / f"{module}.py"), "child", json.dumps(args), str(result_path)]
    with open(log_path, "wb") as log:
        proc = run_measured(cmd, env=env, timeout=timeout, stdout=log, stderr=subprocess.STDOUT)
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        tail = log_path.read_bytes()[-3000:].decode("utf-8", "replace")
        raise RuntimeError(f"{module} child failed (rc={proc['rc']}):\n{tail}") from None
    finally:
        result_path.unlink(missing_ok=True)
    with open(log_path, "rb") as log:
        result["log_lines"] = sum(1 for _ in log)
    result["log_bytes"] = log_path.stat().st_size
    log_path.unlink(missing_ok=True)
    result["proc"] = proc
    return result


def child_entry(main) -> None:
    """``python benchmarks/X.py child '<json args>' <result path>``: run ``main(args)``, write its result."""
    if len(sys.argv) != 4 or sys.argv[1] != "child":
        sys.exit(f"usage: {sys.argv[0]} child '<json args>' <result file> (started by benchmarks/run.py)")
    result = main(json.loads(sys.argv[2]))
    tmp = sys.argv[3] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, sys.argv[3])


# ------------------------------------------------------------------------------------ /proc readings


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM (KiB) of a process."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(v) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M)}


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (for the emulator's CPU)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_s() -> float:
    return time.process_time()


def machine_info() -> dict[str, str]:
    cpu = "?"
    try:
        cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    mem = "?"
    try:
        kib = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
        mem = f"{kib / (1 << 20):.0f} GiB"
    except (OSError, AttributeError):
        pass
    os_name = "?"
    try:
        os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)', Path("/etc/os-release").read_text(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    curl = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n")[0].split()[:2]
    return {"cpu": f"{os.cpu_count()} vCPU {cpu}", "memory": mem, "os": os_name, "kernel": os.uname().release,
            "python": sys.version.split()[0], "curl": " ".join(curl[1:])}


# --------------------------------------------------------------------------------------- statistics


def median(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else float("nan")


def spread(values: Iterable[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return (float("nan"),) * 3
    return statistics.median(vals), min(vals), max(vals)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


def fmt_range(values: Iterable[float], digits: int = 2, unit: str = "") -> str:
    """``median (min–max)``, or just the value when there is one."""
    med, lo, hi = spread(values)
    if med != med:  # nan
        return "–"
    if lo == hi:
        return f"{med:.{digits}f}{unit}"
    return f"{med:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pasted as is into the README)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
