"""Control-API client (``requests``) and a subprocess runner for the emulator."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote


class EmulatorError(RuntimeError):
    """The control API answered with an error."""


class EmulatorClient:
    """Small client for the emulator's control API (``/_emulator/...``, no auth)."""

    def __init__(self, url: str, timeout: float = 10.0):
        import requests  # lazy: the emulator itself needs only aiohttp

        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.session.request(method, f"{self.url}/_emulator/{path}", timeout=self.timeout,
                                    json=body if body is not None else None)
        if resp.status_code >= 400:
            raise EmulatorError(f"{method} /_emulator/{path}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.json()

    def info(self) -> dict[str, Any]:
        return self._call("GET", "info")

    def requests(self, site: str | None = None) -> list[dict[str, Any]]:
        """Recorded gateway/CDN requests (oldest first), optionally only one site's."""
        recs = self._call("GET", "requests")
        return [r for r in recs if site is None or r["site"] == site]

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def jobs(self) -> list[dict[str, Any]]:
        return self._call("GET", "jobs")

    def job(self, job_id: str) -> dict[str, Any]:
        """One job by its id (Gemini: the full operation name) or its Gemini file id."""
        return self._call("GET", f"jobs/{quote(job_id, safe='/')}")

    def sha256(self, job_id: str) -> dict[str, Any]:
        """``{"sha256", "size"}`` of the job's (first) video, or of the sample a Gemini file id names."""
        return self._call("GET", f"jobs/{quote(job_id, safe='/')}/sha256")

    def videos(self, job_id: str) -> list[dict[str, Any]]:
        """Every video of the job: ``[{"index", "file_id" (or None), "sha256", "size"}]`` (a Gemini
        operation has one per ``sampleCount``; other jobs one)."""
        return self._call("GET", f"jobs/{quote(job_id, safe='/')}/videos")

    def variant_sha256(self, job_id: str, variant: str) -> dict[str, Any]:
        """``{"sha256", "size", "content_type"}`` of a ``/v1/videos`` content variant: ``video``,
        ``thumbnail`` (WebP) or ``spritesheet`` (JPEG)."""
        return self._call("GET", f"jobs/{quote(job_id, safe='/')}/variants/{quote(variant, safe='')}/sha256")

    def video(self, job_id: str) -> bytes:
        """The job's whole video (small sizes only)."""
        resp = self.session.get(f"{self.url}/_emulator/jobs/{quote(job_id, safe='/')}/video", timeout=self.timeout)
        if resp.status_code != 200:
            raise EmulatorError(f"video of {job_id}: HTTP {resp.status_code}: {resp.text[:500]}")
        return resp.content

    def config(self) -> dict[str, Any]:
        return self._call("GET", "config")

    def set_config(self, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into the config; returns the whole config (api_key shown as ``***``)."""
        return self._call("POST", "config", changes)

    def reset(self) -> dict[str, Any]:
        """Clear jobs, requests and faults; restore the startup config."""
        return self._call("POST", "reset")

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "faults")

    def add_fault(self, path: str, *, times: int = 1, **fields: Any) -> list[dict[str, Any]]:
        """Append a fault rule (``path`` is a regex searched in the request path); returns all rules.

        ``fields`` are the rule's other fields (``method``, ``site``, ``status``, ``headers``, ``body``,
        ``body_b64``, ``gzip``, ``gzip_of_zeros``, ``pad_to_bytes``, ``delay_s``, ``truncate_to_bytes``,
        ``reset_after_bytes``, ``drip_bytes``, ``drip_interval_s``, ``close_delimited``, ``bump_version``;
        see ``POST /_emulator/faults``); None values are left out.
        """
        rule = {"path": path, "times": times, **fields}
        return self._call("POST", "faults", {k: v for k, v in rule.items() if v is not None})

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_CLI_FLAGS = {"job_seconds": "--job-seconds", "video_bytes": "--video-bytes"}
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


class EmulatorProcess:
    """Run ``python -m airflow_provider_videogen.emulator`` as a child process.

    ``with EmulatorProcess(job_seconds=1) as emu: emu.url, emu.cdn_url, emu.pid, emu.client``.
    Config keys become CLI flags (``--config`` JSON for the rest); an ``api_key`` is passed through
    the environment so it does not show in the process list. Stderr (the request log) is inherited
    unless ``stderr`` is given (a file object or ``subprocess.DEVNULL``).
    """

    def __init__(self, *extra_args: str, host: str = "127.0.0.1", port: int = 0, cdn_host: str = "127.0.0.2",
                 cdn_port: int = 0, python: str | None = None, startup_timeout: float = 20.0,
                 stderr: Any = None, env: dict[str, str] | None = None, **config: Any):
        self.cmd = [python or sys.executable, "-m", "airflow_provider_videogen.emulator", "--host", host,
                    "--port", str(port), "--cdn-host", cdn_host, "--cdn-port", str(cdn_port)]
        self.env = dict(os.environ if env is None else env)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, self.env.get("PYTHONPATH")) if p)
        if config.get("api_key"):
            self.env["VIDEOGEN_EMULATOR_API_KEY"] = config.pop("api_key")
        rest = {}
        for key, value in config.items():
            if key in _CLI_FLAGS and value is not None:
                self.cmd += [_CLI_FLAGS[key], str(value)]
            else:
                rest[key] = value
        if rest:
            self.cmd += ["--config", json.dumps(rest)]
        self.cmd += list(extra_args)
        self.startup_timeout = startup_timeout
        self.stderr = stderr
        self.proc: subprocess.Popen | None = None
        self.ready: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return self.ready["url"]

    @property
    def cdn_url(self) -> str:
        return self.ready["cdn_url"]

    @property
    def pid(self) -> int:
        return self.ready["pid"]

    @property
    def client(self) -> EmulatorClient:
        return EmulatorClient(self.url)

    def start(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.stderr, env=self.env)
        try:
            self.ready = json.loads(self._ready_line())
        except BaseException:
            self.stop()
            raise
        return self

    def _ready_line(self) -> bytes:
        """Read the first stdout line within ``startup_timeout`` seconds (bounded, non-blocking)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd, buf = self.proc.stdout.fileno(), b""
        deadline = time.monotonic() + self.startup_timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"emulator printed no ready line within {self.startup_timeout} s")
                if sel.select(remaining):
                    data = os.read(fd, 65536)
                    if not data:
                        code = self.proc.wait(timeout=5)
                        raise RuntimeError(f"emulator exited (code {code}) before it was ready")
                    buf += data
        return buf.split(b"\n", 1)[0]

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
