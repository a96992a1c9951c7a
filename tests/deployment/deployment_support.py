"""A real Airflow deployment on loopback for the deployment tests, and the servers around it.

- :class:`AirflowDeployment`: ``airflow db migrate``, then the API server, scheduler (LocalExecutor),
  DAG processor and triggerer as four processes, as a user runs them, in a temporary ``AIRFLOW_HOME``
  with this package installed; each in its own process group, all killed on :meth:`stop`.
- :class:`MotoS3Server`: moto's standalone S3 server (``python -m moto.server``) on 127.0.0.1.
- :class:`ThrottlingProxy`: an HTTP reverse proxy in front of the gateway emulator that streams bodies
  at a fixed rate, like a real gateway over the internet, so the download's periodic progress lines
  show in the task log.
- :class:`AirflowApi`: a small REST client (``/api/v2``) with a JWT from the simple auth manager.

Every server binds 127.0.0.1 on a free port, every wait is bounded in time, and no key is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "test-password-123"  # an obviously fake password for the throw-away deployment
JWT_SECRET = "test-jwt-secret-123-not-a-real-secret"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
TRIGGER_CLASSPATH = "airflow_provider_videogen.triggers.video.VideoOperationTrigger"
TEST_KEY = "test-key-123"  # the gateway key: obviously fake, and never logged
S3_CONN_ID = "aws_videogen_s3"  # the `aws` connection the S3 test writes through
S3_KEY_ID, S3_SECRET = "test-access-key-id", "test-secret-key-123"
LINK_RATE = 2_000_000  # bytes/s between Airflow and the gateway: a 12 MB video takes ~6 s


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5,
               alive: Callable[[], None] | None = None) -> Any:
    """Call ``check`` until it returns a truthy value; fail after ``timeout`` seconds (monotonic clock).

    ``alive`` is called on each round and should raise if a process we depend on died (fail fast).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if alive is not None:
            alive()
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, OSError, ValueError, KeyError) as err:
            last_error = err
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last_error!r})"
                                                                          if last_error else ""))
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ManagedProcess:
    """A child process in its own process group (session); stopped by signalling the whole group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None):
        self.name, self.cmd, self.env, self.log_path, self.cwd = name, cmd, env, log_path, cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}; its log ends:\n"
                               f"{tail(self.log_path)}")

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)  # the group id is the leader's pid (start_new_session)

    def group_alive(self) -> bool:
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True


def stop_all(processes: Iterable[ManagedProcess], grace: float = 20.0) -> None:
    """SIGTERM every group, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    processes = [p for p in processes if p.proc is not None]
    for p in processes:
        p.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.proc.wait(max(deadline - time.monotonic(), 0.1))
    while time.monotonic() < deadline and any(p.group_alive() for p in processes):
        time.sleep(0.2)  # children of the leaders (task supervisors, uvicorn workers) may still exit
    for p in processes:
        p.signal_group(signal.SIGKILL)
        if p.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.proc.wait(5)
    wait_reaped(processes)


def wait_reaped(processes: Iterable[ManagedProcess], timeout: float = 10.0) -> None:
    """Wait up to ``timeout`` seconds for SIGKILLed groups to be gone: killed children are reaped by init,
    on a loaded machine not at once."""
    processes = list(processes)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.group_alive() for p in processes):
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------- S3 (moto)

class MotoS3Server:
    """``python -m moto.server`` on 127.0.0.1 (an S3 API with in-memory buckets)."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        self.process = ManagedProcess("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                               "-p", str(self.port)], env, log_dir / "moto.log")

    def start(self) -> MotoS3Server:
        self.process.start()
        wait_until("moto S3 server answering", lambda: requests.get(self.url, timeout=2).status_code < 500,
                   timeout=60, interval=0.3, alive=self.process.check_alive)
        return self

    def stop(self) -> None:
        stop_all([self.process], grace=10)


# ---------------------------------------------------------------------------------- throttling proxy

class ThrottlingProxy:
    """Reverse proxy on 127.0.0.1 to ``target``; response bodies stream at ``rate`` bytes per second.

    Everything else (method, path, query, headers, body, status, redirects) passes through unchanged,
    so the provider sees the emulator exactly as before, only over a slower link.
    """

    HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                   "proxy-authorization", "proxy-authenticate", "host", "content-length"}

    def __init__(self, target: str, rate: float):
        self.target = target.rstrip("/")
        self.rate = rate  # bytes per second; the tests may change it between runs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    async def _handle(self, request):
        from aiohttp import ClientSession, ClientTimeout, web

        headers = {k: v for k, v in request.headers.items() if k.lower() not in self.HOP_HEADERS}
        body = await request.read()
        async with ClientSession(timeout=ClientTimeout(total=300), auto_decompress=False) as session, \
                session.request(request.method, self.target + request.rel_url.raw_path_qs, headers=headers,
                                data=body or None, allow_redirects=False) as upstream:
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in self.HOP_HEADERS}
            response = web.StreamResponse(status=upstream.status, headers=out_headers)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            started, sent = time.monotonic(), 0
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                await response.write(chunk)
                sent += len(chunk)
                ahead = sent / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await response.write_eof()
            return response

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as err:  # noqa: BLE001  (reported to start())
            self._error = err
            self._ready.set()
        finally:
            self._loop.close()

    def start(self) -> ThrottlingProxy:
        self._thread = threading.Thread(target=self._run, name="throttling-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(20) or self._error is not None:
            raise RuntimeError(f"throttling proxy did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)


# ------------------------------------------------------------------------------------------ REST API

class AirflowApi:
    """The public REST API (``/api/v2``) as a user calls it, with a token from ``POST /auth/token``."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def login(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> None:
        resp = self.session.post(f"{self.base_url}/auth/token", json={"username": username, "password": password},
                                 timeout=30)
        resp.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"

    def call(self, method: str, path: str, expect: Iterable[int] = (200,), **kwargs: Any) -> Any:
        resp = self.session.request(method, f"{self.base_url}/api/v2/{path.lstrip('/')}", timeout=30, **kwargs)
        if resp.status_code not in tuple(expect):
            raise AssertionError(f"{method} /api/v2/{path}: HTTP {resp.status_code}: {resp.text[:1000]}")
        if resp.status_code >= 400:
            return None
        return resp.json() if resp.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None)

    # -- conveniences ----------------------------------------------------------------------------------
    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """Until the DAG processor has parsed and serialised ``dag_id``."""
        def parsed():
            resp = self.session.get(f"{self.base_url}/api/v2/dags/{dag_id}/details", timeout=30)
            return resp.json() if resp.status_code == 200 else None
        return wait_until(f"DAG {dag_id} parsed", parsed, timeout)

    def unpause(self, dag_id: str) -> None:
        dag = self.call("PATCH", f"dags/{dag_id}", json={"is_paused": False})
        assert dag["is_paused"] is False

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.call("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        assert run["conf"] == conf and run["run_type"] == "manual"
        return run["dag_run_id"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300,
                     alive: Callable[[], None] | None = None) -> tuple[dict, list[dict]]:
        """Poll the run until it ends; returns it and every task-instance snapshot seen on the way."""
        seen: list[dict] = []

        def finished():
            for ti in self.task_instances(dag_id, run_id):
                if not seen or {k: ti.get(k) for k in ("task_id", "state")} not in [
                        {k: s.get(k) for k in ("task_id", "state")} for s in seen]:
                    seen.append(ti)
            run = self.get(f"dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = wait_until(f"run {dag_id}/{run_id} finished", finished, timeout, interval=0.5, alive=alive)
        return run, seen

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's whole log as the UI shows it (worker log plus the triggerer's), one line per event."""
        data = self.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                        full_content="true")
        lines = []
        for item in data.get("content") or []:
            if isinstance(item, dict):
                text = item.get("event", "")
                rest = {k: v for k, v in item.items() if k not in ("event", "timestamp", "level", "logger")}
                lines.append(f"{item.get('timestamp', '')} {item.get('level', '')} {text}"
                             + (f" {json.dumps(rest, default=str)}" if rest else ""))
            else:
                lines.append(str(item))
        return "\n".join(lines)


# ------------------------------------------------------------------------------------ Airflow itself

class AirflowDeployment:
    """API server, scheduler, DAG processor and triggerer on loopback, sharing one ``AIRFLOW_HOME``."""

    COMPONENTS = (
        ("api-server", ["api-server", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"]),
        ("scheduler", ["scheduler", "--skip-serve-logs"]),
        ("dag-processor", ["dag-processor"]),
        ("triggerer", ["triggerer", "--skip-serve-logs"]),
    )

    def __init__(self, home: Path, log_dir: Path, env: dict[str, str], dags_folder: Path = ROOT / "dags_examples"):
        self.home, self.log_dir = home, log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST", "AWS_"))},
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # the tests unpause what they run
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **env,
        }
        self.processes = [
            ManagedProcess(name, [sys.executable, "-m", "airflow", *(a.format(port=self.port) for a in args)],
                           self.env, log_dir / f"{name}.log", cwd=home)
            for name, args in self.COMPONENTS
        ]
        self.api = AirflowApi(self.url)

    def check_alive(self) -> None:
        for p in self.processes:
            p.check_alive()

    def start(self, timeout: float = 240) -> AirflowDeployment:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env, cwd=self.home,
                                 capture_output=True, text=True, timeout=600)
        (self.log_dir / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({migrate.returncode}):\n{migrate.stderr[-3000:]}")
        for p in self.processes:
            p.start()
        wait_until("Airflow API server, scheduler, DAG processor and triggerer healthy", self._healthy, timeout,
                   interval=1.0, alive=self.check_alive)
        self.api.login()
        return self

    def _healthy(self) -> bool:
        health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        return all((health.get(part) or {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"))

    def stop(self) -> None:
        stop_all(self.processes)

    def logs(self, lines: int = 30) -> str:
        """The end of every component's log, for failure messages."""
        return "\n".join(f"----- {p.name} -----\n{tail(p.log_path, lines)}" for p in self.processes)


# ------------------------------------------------------------------------------------ shared checks

def sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def job_for_prompt(ctl, prompt: str) -> dict:
    """The one emulator job submitted with ``prompt`` (exactly one: nothing was paid twice)."""
    jobs = [j for j in ctl.jobs() if j["prompt"] == prompt]
    assert len(jobs) == 1, f"expected one job for {prompt!r}, the emulator has {len(jobs)}"
    return jobs[0]


def asset_event_and_consumer_run(api: AirflowApi, dag_id: str, run_id: str, timeout: float = 120) -> tuple[dict, str]:
    """The asset event the run's download emitted, and the consumer DAG run it created (waits for it)."""
    def created():
        # Airflow 3.3.2 answers 500 here while a run the event created is still queued (its start_date is
        # NULL; apache/airflow#71360, fixed by #71379 in a later release): that only means "not yet".
        data = api.call("GET", "assets/events", expect=(200, 500),
                        params={"source_dag_id": dag_id, "source_run_id": run_id})
        events = (data or {}).get("asset_events")
        return events if events and all(e["created_dagruns"] for e in events) else None

    events = wait_until(f"asset event of {dag_id}/{run_id} and the run it triggers", created, timeout)
    assert len(events) == 1, events
    (event,) = events
    (consumer,) = event["created_dagruns"]
    return event, consumer["run_id"]


def save_task_logs(api: AirflowApi, artifacts: Path, dag_id: str, run_id: str, task_ids: Iterable[str]) -> dict:
    logs = {}
    for task_id in task_ids:
        try:
            logs[task_id] = api.task_log(dag_id, run_id, task_id)
        except AssertionError as err:  # e.g. the task never ran: keep going, the test says why
            logs[task_id] = f"(no log: {err})"
        safe = run_id.replace(":", "-").replace("+", "_")
        (artifacts / f"{dag_id}.{safe}.{task_id}.log").write_text(logs[task_id])
    return logs
