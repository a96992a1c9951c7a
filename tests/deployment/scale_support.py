"""A scaled-out Airflow on loopback for the scale-out tests and ``benchmarks/bench_scale.py``.

- :class:`PostgresServer`: a private PostgreSQL cluster (``initdb`` + ``postgres``) in a temporary
  directory on a free port, run as an unprivileged user (``postgres``, when the tests run as root:
  PostgreSQL refuses to run as root). Airflow's sqlite cannot serve a Celery executor, two triggerers
  and their workers at once.
- :class:`RedisServer`: Debian's ``redis-server`` with its own config file (no persistence) on a free
  port: the Celery broker.
- :class:`ScaleCluster`: ``airflow api-server``, ``scheduler`` (CeleryExecutor), ``dag-processor``,
  N × ``airflow triggerer`` and N × ``airflow celery worker``, each its own process group, sharing one
  ``AIRFLOW_HOME`` whose DAGs folder holds ``scale_dags/``. Components can be killed (SIGKILL of the
  whole process tree, by pid: what a lost machine looks like), stopped and started again.
- :class:`MetaDb` (psycopg2) to read what Airflow's REST API does not show: which triggerer holds which
  trigger, the TriggererJob heartbeats.
- :class:`ProcSampler`: ``/proc`` readings (task processes alive = busy worker slots, RSS and CPU of
  the triggerers and the scheduler).

Every process started here carries ``VIDEOGEN_SCALE_RUN=<token>`` in its environment, inherited by
every child (Celery pool processes, task processes in their own process groups): :func:`kill_marked`
finds and kills whatever is left by pid, even orphans. Everything binds 127.0.0.1; every wait is
bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from .deployment_support import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    JWT_SECRET,
    SIMPLE_AUTH_MANAGER,
    AirflowApi,
    ManagedProcess,
    free_port,
    tail,
    wait_reaped,
    wait_until,
)

MARKER = "VIDEOGEN_SCALE_RUN"
SCALE_DAGS = Path(__file__).resolve().parent / "scale_dags"
DAG_ID = "videogen_scale"
POKE_DAG_ID = "videogen_scale_poke"
POOL = "videogen_gateway"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TASK_TITLE = "airflow worker -- "  # the task process's title (task-sdk task_runner.py: setproctitle)
# Triggerer HA (Airflow 3.3 `Trigger.assign_unassigned`): a triggerer takes the triggers whose triggerer's
# last heartbeat is older than `[triggerer] triggerer_health_check_threshold` (an int), at most
# `max_trigger_to_select_per_loop` (50) per loop of about 1 s. Heartbeats every `job_heartbeat_sec`.
TRIGGERER_HEARTBEAT_S = 2
TRIGGERER_HEALTH_THRESHOLD_S = 10
# A killed worker's task: no heartbeat for this long -> failed -> retried (default 300 s).
TASK_HEARTBEAT_TIMEOUT_S = 15


# ---------------------------------------------------------------------------------------- /proc


def _proc_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _read(path: str, binary: bool = False) -> Any:
    try:
        with open(path, "rb" if binary else "r") as f:
            return f.read()
    except (OSError, ValueError):
        return None


def parent_map() -> dict[int, int]:
    """pid -> ppid of every process (one scan of /proc)."""
    parents = {}
    for pid in _proc_pids():
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def descendants(pid: int, parents: dict[int, int] | None = None) -> list[int]:
    """Every live descendant of ``pid`` (children first found first)."""
    parents = parent_map() if parents is None else parents
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    raw = _read(f"/proc/{pid}/cmdline", binary=True) or b""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def marked_pids(token: str) -> list[int]:
    """Processes whose environment carries ``VIDEOGEN_SCALE_RUN=<token>`` (this run's, orphans included)."""
    needle = f"{MARKER}={token}".encode()
    return [pid for pid in _proc_pids() if pid != os.getpid()
            and needle in (_read(f"/proc/{pid}/environ", binary=True) or b"").split(b"\0")]


def kill_pids(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_marked(token: str, rounds: int = 10) -> list[int]:
    """SIGKILL every process of this run still alive (bounded rounds); returns the pids killed."""
    killed: list[int] = []
    for _ in range(rounds):
        pids = marked_pids(token)
        if not pids:
            break
        kill_pids(pids)
        killed += pids
        time.sleep(0.3)
    return killed


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process plus its waited-for children (``/proc/<pid>/stat``), 0 if gone."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of all its live descendants (each counting its reaped children)."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    status = _read(f"/proc/{pid}/status") or ""
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else 0


_BOOT_TIME: float | None = None


def start_time(pid: int) -> float | None:
    """Wall-clock start of a process (``/proc/<pid>/stat`` starttime + boot time)."""
    global _BOOT_TIME
    if _BOOT_TIME is None:
        _BOOT_TIME = float(re.search(r"^btime (\d+)", _read("/proc/stat"), re.M).group(1))
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    return _BOOT_TIME + int(stat.rsplit(")", 1)[1].split()[19]) / CLK_TCK


def task_processes() -> dict[int, str]:
    """pid -> task instance id of every Airflow task process alive (one per busy worker slot)."""
    found = {}
    for pid in _proc_pids():
        title = cmdline(pid)
        if title.startswith(TASK_TITLE):
            found[pid] = title[len(TASK_TITLE):].split()[0]
    return found


# -------------------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path | None:
    """Debian keeps ``initdb`` and ``postgres`` in /usr/lib/postgresql/<major>/bin (not on PATH)."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                         if p.parent.name.isdigit() else 0, reverse=True)
    return next((d for d in candidates if (d / "initdb").exists() and (d / "postgres").exists()), None)


def missing_services() -> list[str]:
    """What the scale-out deployment needs from the machine and does not find (Debian package names)."""
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None and not Path("/usr/bin/redis-server").exists():
        missing.append("redis-server")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("the 'postgres' user (created by Debian's postgresql package)")
    return missing


class PostgresServer:
    """A private PostgreSQL cluster in ``workdir/postgres`` on 127.0.0.1, database ``airflow``, trust auth."""

    def __init__(self, workdir: Path, log_dir: Path, env: dict[str, str]):
        self.bin = postgres_bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (make test does)")
        self.dir = workdir / "postgres"
        self.port = free_port()
        self.env = dict(env)
        self.ids: tuple[int, int] | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the package's unprivileged user
            entry = pwd.getpwnam("postgres")
            self.ids = (entry.pw_uid, entry.pw_gid)
        self.url = f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"
        self.dsn = f"host=127.0.0.1 port={self.port} user=airflow dbname=airflow"
        self.process = ManagedProcess("postgres", self._as_user([
            str(self.bin / "postgres"), "-D", str(self.dir / "data"),
            "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
            "-c", f"unix_socket_directories={self.dir}", "-c", "max_connections=500",
            "-c", "shared_buffers=256MB", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "log_min_messages=warning"]), self.env, log_dir / "postgres.log",
            cwd=self.dir)

    def _as_user(self, cmd: list[str]) -> list[str]:
        if self.ids is None:
            return cmd
        uid, gid = self.ids
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *cmd]

    def start(self) -> PostgresServer:
        self.dir.mkdir(parents=True)
        if self.ids is not None:
            os.chown(self.dir, *self.ids)
        init = subprocess.run(self._as_user([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "airflow",
                                             "--auth=trust", "-E", "UTF8", "--no-locale"]),
                              env=self.env, cwd=self.dir, capture_output=True, text=True, timeout=120)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr[-2000:]}")
        self.process.start()
        import psycopg2

        def ready():
            try:
                conn = psycopg2.connect(f"host=127.0.0.1 port={self.port} user=airflow dbname=postgres",
                                        connect_timeout=2)
            except psycopg2.OperationalError:
                return False  # not listening yet
            with contextlib.closing(conn):
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("CREATE DATABASE airflow")
            return True

        wait_until("PostgreSQL accepting connections", ready, timeout=60, interval=0.3,
                   alive=self.process.check_alive)
        return self

    def stop(self) -> None:
        if self.process.proc is None:
            return
        self.process.signal_group(signal.SIGINT)  # "fast" shutdown: clients disconnected, no waiting for them
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.proc.wait(20)
        self.process.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.proc.wait(5)


class MetaDb:
    """Read-only queries on Airflow's metadata DB (what the REST API does not show)."""

    def __init__(self, dsn: str):
        import psycopg2

        self.conn = psycopg2.connect(dsn, connect_timeout=5)
        self.conn.autocommit = True
        self.lock = threading.Lock()

    def rows(self, sql: str, *args: Any) -> list[tuple]:
        with self.lock, self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    def triggerer_jobs(self) -> list[dict[str, Any]]:
        """Every TriggererJob: id, whether it heartbeated within the health threshold, still running."""
        return [{"id": r[0], "fresh": bool(r[1]), "ended": r[2] is not None, "state": r[3]} for r in self.rows(
            "SELECT id, latest_heartbeat > now() - make_interval(secs => %s), end_date, state FROM job "
            "WHERE job_type = 'TriggererJob' ORDER BY id", TRIGGERER_HEALTH_THRESHOLD_S)]

    def task_states(self, dag_id: str, run_id: str, task_id: str) -> dict[int, dict[str, Any]]:
        """map_index -> state, try number, trigger id and the triggerer holding that trigger."""
        return {r[0]: {"state": r[1], "try_number": r[2], "trigger_id": r[3], "triggerer_id": r[4], "ti_id": str(r[5])}
                for r in self.rows(
                    "SELECT ti.map_index, ti.state, ti.try_number, ti.trigger_id, t.triggerer_id, ti.id "
                    "FROM task_instance ti LEFT JOIN trigger t ON t.id = ti.trigger_id "
                    "WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = %s", dag_id, run_id, task_id)}

    def ti_ids(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int, int]]:
        """Task instance id (every try, history included) -> (task_id, map_index, try_number)."""
        found = {}
        for table in ("task_instance_history", "task_instance"):
            id_col = "task_instance_id" if table == "task_instance_history" else "id"
            for r in self.rows(f"SELECT {id_col}, task_id, map_index, try_number FROM {table} "
                               "WHERE dag_id = %s AND run_id = %s", dag_id, run_id):
                found[str(r[0])] = (r[1], r[2], r[3])
        return found

    def asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return [{"id": r[0], "uri": r[1], "task_id": r[2], "map_index": r[3], "extra": r[4]} for r in self.rows(
            "SELECT e.id, a.uri, e.source_task_id, e.source_map_index, e.extra FROM asset_event e "
            "JOIN asset a ON a.id = e.asset_id WHERE e.source_dag_id = %s AND e.source_run_id = %s ORDER BY e.id",
            dag_id, run_id)]


# ------------------------------------------------------------------------------------------- Redis


class RedisServer:
    """Debian's ``redis-server`` on 127.0.0.1 with its own config file in ``workdir/redis``."""

    def __init__(self, workdir: Path, log_dir: Path, env: dict[str, str]):
        self.dir = workdir / "redis"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = ManagedProcess("redis", [binary, str(self.dir / "redis.conf")], env, log_dir / "redis.log",
                                      cwd=self.dir)

    def start(self) -> RedisServer:
        self.dir.mkdir(parents=True)
        (self.dir / "redis.conf").write_text("\n".join([
            "bind 127.0.0.1", f"port {self.port}", "protected-mode yes", "daemonize no", f"dir {self.dir}",
            'save ""', "appendonly no", "databases 2", "loglevel warning", 'logfile ""', ""]))
        self.process.start()
        wait_until("redis answering PING", self.ping, timeout=30, interval=0.2, alive=self.process.check_alive)
        return self

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    def stop(self) -> None:
        from .deployment_support import stop_all

        stop_all([self.process], grace=10)


# ------------------------------------------------------------------------------------ the cluster


class ScaleCluster:
    """Airflow with the CeleryExecutor: API server, scheduler, DAG processor, triggerers, Celery workers."""

    def __init__(self, workdir: Path, log_dir: Path, *, token: str, gateway_url: str, gateway_key: str,
                 db: PostgresServer, broker_url: str, workers: int = 2, concurrency: int = 4, triggerers: int = 2,
                 pool_slots: int = 4, extra_env: dict[str, str] | None = None):
        self.home = workdir / "airflow-home"
        self.log_dir = log_dir
        self.token = token
        self.db = db
        self.pool_slots = pool_slots
        self.concurrency = concurrency
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST", "AWS_"))},
            MARKER: token,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            # as many task slots as the workers have: no task waits in the broker's queue (its workload
            # token lives for [scheduler] task_queued_timeout)
            "AIRFLOW__CORE__PARALLELISM": str(workers * concurrency),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "10000",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db.url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db.url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "180",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "3",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": str(TRIGGERER_HEARTBEAT_S),
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD_S),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(
                {"conn_type": "videogen_openai", "host": gateway_url, "password": gateway_key}),
            **(extra_env or {}),
        }
        self.commands: dict[str, list[str]] = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
        }
        for i in range(1, triggerers + 1):
            self.commands[f"triggerer-{i}"] = ["triggerer", "--skip-serve-logs"]
        for i in range(1, workers + 1):
            self.commands[f"worker-{i}"] = ["celery", "worker", "--concurrency", str(concurrency),
                                            "--celery-hostname", f"worker{i}@%h", "--pid",
                                            str(self.home / f"worker-{i}.pid"), "--skip-serve-logs",
                                            "--without-mingle", "--without-gossip"]
        self.processes: dict[str, ManagedProcess] = {}
        self.generation: dict[str, int] = {}
        self.api = AirflowApi(self.url)
        self.metadb: MetaDb | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    @property
    def triggerers(self) -> list[str]:
        return [n for n in self.commands if n.startswith("triggerer-")]

    @property
    def workers(self) -> list[str]:
        return [n for n in self.commands if n.startswith("worker-")]

    def start_component(self, name: str) -> ManagedProcess:
        gen = self.generation[name] = self.generation.get(name, 0) + 1
        log = self.log_dir / (f"{name}.log" if gen == 1 else f"{name}.{gen}.log")
        env = self.env
        if name in self.triggerers:  # its TriggererJob row names it: `hostname` = the component's name
            env = {**env, "VIDEOGEN_SCALE_COMPONENT": name,
                   "PYTHONPATH": os.pathsep.join(p for p in (str(self.home / "support"), env.get("PYTHONPATH")) if p),
                   "AIRFLOW__CORE__HOSTNAME_CALLABLE": "videogen_scale_hostname.hostname"}
        proc = ManagedProcess(name, [sys.executable, "-m", "airflow", *self.commands[name]], env, log, cwd=self.home)
        self.processes[name] = proc.start()
        return proc

    def triggerer_job(self, name: str) -> int | None:
        """The id of the TriggererJob that triggerer component runs as now (heartbeating, not ended)."""
        rows = self.metadb.rows(
            "SELECT id FROM job WHERE job_type = 'TriggererJob' AND hostname = %s AND end_date IS NULL AND "
            "latest_heartbeat > now() - make_interval(secs => %s) ORDER BY id DESC LIMIT 1", name,
            TRIGGERER_HEALTH_THRESHOLD_S)
        return rows[0][0] if rows else None

    def triggerer_of_job(self, job_id: int) -> str:
        return self.metadb.rows("SELECT hostname FROM job WHERE id = %s", job_id)[0][0]

    def start(self, timeout: float = 300) -> ScaleCluster:
        (self.home / "dags").mkdir(parents=True)
        for dag_file in SCALE_DAGS.glob("*.py"):
            shutil.copy(dag_file, self.home / "dags" / dag_file.name)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        (self.home / "support").mkdir()
        (self.home / "support" / "videogen_scale_hostname.py").write_text(
            "import os\n\n\ndef hostname():\n    return os.environ['VIDEOGEN_SCALE_COMPONENT']\n")
        migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env, cwd=self.home,
                                 capture_output=True, text=True, timeout=600)
        (self.log_dir / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({migrate.returncode}):\n{migrate.stderr[-3000:]}")
        self.metadb = MetaDb(self.db.dsn)
        self.start_components(list(self.commands), timeout)
        self.api.login()
        self.api.call("POST", "pools", expect=(201,), json={
            "name": POOL, "slots": self.pool_slots, "include_deferred": False,
                                             "description": "the gateway's concurrency: generate tasks only"})
        return self

    def start_components(self, names: list[str], timeout: float = 300) -> None:
        """Start components at once and wait until all are healthy."""
        for name in names:
            self.start_component(name)
        self.wait_healthy(timeout)

    def check_alive(self) -> None:
        for p in self.processes.values():
            p.check_alive()

    def celery_workers(self) -> list[str]:
        """Celery node names answering a ping through the broker."""
        from celery import Celery

        app = Celery(broker=self.env["AIRFLOW__CELERY__BROKER_URL"])
        try:
            replies = app.control.ping(timeout=1.0) or []
        finally:
            app.close()
        return sorted(name for reply in replies for name in reply)

    def live_triggerers(self) -> list[int]:
        return [j["id"] for j in self.metadb.triggerer_jobs() if j["fresh"] and not j["ended"]]

    def wait_healthy(self, timeout: float = 300) -> None:
        """Until the API server answers healthy for everything and every triggerer and worker is up."""
        def healthy():
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            if not all((health.get(part) or {}).get("status") == "healthy"
                       for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                return False
            return (all(self.triggerer_job(name) for name in self.triggerers if name in self.processes)
                    and len(self.celery_workers()) >= len([w for w in self.workers if w in self.processes]))

        wait_until("scale-out cluster healthy (API server, scheduler, DAG processor, triggerers, Celery workers)",
                   healthy, timeout, interval=1.0, alive=self.check_alive)

    def kill_tree(self, name: str) -> list[int]:
        """SIGKILL a component and every process under it, by pid (the machine it ran on is gone)."""
        proc = self.processes.pop(name)  # no longer expected alive (start_component brings a new one)
        parents = parent_map()
        pids = [proc.proc.pid, *descendants(proc.proc.pid, parents)]
        kill_pids(pids)  # the leader first: a Celery worker would fork new pool processes otherwise
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.proc.wait(10)
        wait_until(f"{name}'s processes gone", lambda: not any(os.path.exists(f"/proc/{p}") and cmdline(p)
                                                               for p in pids), timeout=15, interval=0.1)
        return pids

    def stop_components(self, names: Iterable[str], grace: float = 30) -> None:
        """SIGTERM (a graceful stop, as a service manager does), then SIGKILL whatever is left of their trees."""
        procs = [self.processes[n] for n in names if n in self.processes]
        trees = {p.name: descendants(p.proc.pid) for p in procs}
        for p in procs:
            p.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.proc.wait(max(deadline - time.monotonic(), 0.1))
        for p in procs:
            leftovers = [pid for pid in trees[p.name] if os.path.exists(f"/proc/{pid}")]
            while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in leftovers):
                time.sleep(0.2)
            p.signal_group(signal.SIGKILL)
            kill_pids(pid for pid in leftovers if os.path.exists(f"/proc/{pid}"))
            if p.proc.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.proc.wait(5)
        wait_reaped(procs)

    def stop(self) -> None:
        self.stop_components(list(self.processes))
        if self.metadb is not None:
            self.metadb.close()

    def worker_of(self, pid: int) -> str | None:
        """The worker component whose process tree holds ``pid``."""
        parents = parent_map()
        leaders = {p.proc.pid: name for name, p in self.processes.items() if name.startswith("worker-")}
        for _ in range(64):
            if pid in leaders:
                return leaders[pid]
            pid = parents.get(pid, 0)
            if pid <= 1:
                return None
        return None

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"----- {name} -----\n{tail(p.log_path, lines)}" for name, p in self.processes.items())

    # -- runs ----------------------------------------------------------------------------------------------
    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        return self.api.trigger(dag_id, conf)

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api.get(f"dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, alive: Callable[[], None] | None = None,
                     interval: float = 2.0) -> str:
        return wait_until(f"run {dag_id}/{run_id} finished",
                          lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
                          timeout, interval=interval, alive=alive or self.check_alive)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run through the REST API (paged: mapped runs have many)."""
        found: list[dict[str, Any]] = []
        for _ in range(1000):  # bounded: 100,000 task instances, far beyond any run here
            page = self.api.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100, offset=len(found))
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found
        raise RuntimeError(f"run {dag_id}/{run_id}: more than {len(found)} task instances")


# --------------------------------------------------------------------------------------- sampling


class ProcSampler:
    """A thread reading /proc every ``interval`` s: task processes alive (busy worker slots) with their
    lifetimes, and the RSS of each named process tree (e.g. each triggerer)."""

    def __init__(self, trees: dict[str, int] | None = None, interval: float = 0.2):
        self.trees = dict(trees or {})
        self.interval = interval
        self.tasks: dict[int, dict[str, Any]] = {}  # pid -> {"ti_id", "start", "last"}
        self.peak_rss_kib: dict[str, int] = {}
        self.peak_busy = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proc-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            procs = task_processes()
            self.peak_busy = max(self.peak_busy, len(procs))
            for pid, ti_id in procs.items():
                entry = self.tasks.get(pid)
                if entry is None or entry["ti_id"] != ti_id:
                    self.tasks[pid] = {"ti_id": ti_id, "start": start_time(pid) or now, "last": now}
                else:
                    entry["last"] = now
            for name, root in self.trees.items():
                total = rss_kib(root) + sum(rss_kib(child) for child in descendants(root))
                self.peak_rss_kib[name] = max(self.peak_rss_kib.get(name, 0), total)
            self._stop.wait(self.interval)

    def start(self) -> ProcSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def slot_seconds(self) -> dict[str, float]:
        """Task process lifetime per task instance id (start from /proc, end = last seen + interval/2)."""
        out: dict[str, float] = {}
        for entry in self.tasks.values():
            out[entry["ti_id"]] = out.get(entry["ti_id"], 0.0) + max(
                0.0, entry["last"] + self.interval / 2 - entry["start"])
        return out


def new_token() -> str:
    return uuid.uuid4().hex[:12]


ALIAS = "videogen_videos"


def declare_asset_alias(cluster: ScaleCluster) -> bool:
    """Whether the DAG processor declared the download's asset alias; if not, declare it in the DB.

    Works around finding 1 of ``test_scale_out.py`` (mapped downloads race to create the alias), so the
    other measurements are about what they measure."""
    if cluster.metadb.rows("SELECT id FROM asset_alias WHERE name = %s", ALIAS):
        return True
    cluster.metadb.rows("INSERT INTO asset_alias (name, \"group\") VALUES (%s, '') RETURNING id", ALIAS)
    return False


@contextlib.contextmanager
def scale_deployment(workdir: Path, log_dir: Path, *, token: str, job_seconds: float, gateway_key: str,
                     emulator_args: Iterable[str] = (), **cluster_kwargs: Any):
    """The emulator, PostgreSQL, Redis and a started :class:`ScaleCluster` (``.ctl``: the emulator's control
    client); everything stopped on exit, then whatever carries this run's marker is killed by pid."""
    from airflow_provider_videogen.emulator import EmulatorProcess

    env = {**os.environ, MARKER: token}
    servers: list[Any] = []
    try:
        with open(log_dir / "emulator.log", "wb") as emulator_log:
            emulator = EmulatorProcess(*emulator_args, job_seconds=job_seconds, stderr=emulator_log, env=env).start()
            servers.append(emulator)
            pg = PostgresServer(workdir, log_dir, env)
            servers.append(pg.start())
            redis = RedisServer(workdir, log_dir, env)
            servers.append(redis.start())
            cluster = ScaleCluster(workdir, log_dir, token=token, gateway_url=emulator.url, gateway_key=gateway_key,
                                   db=pg, broker_url=redis.url, **cluster_kwargs)
            servers.append(cluster)
            cluster.start()
            with emulator.client as ctl:
                cluster.ctl = ctl
                yield cluster
    finally:
        try:
            for server in reversed(servers):
                server.stop()
        finally:
            cluster_leftovers = kill_marked(token)
            if cluster_leftovers:
                raise RuntimeError(f"processes of the deployment still alive after it stopped: {cluster_leftovers}")
