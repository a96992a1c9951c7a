"""Shared fixtures: an Airflow home with a migrated DB, the gateway emulator as a real process on
loopback, and connections pointing at it (``AIRFLOW_CONN_*``, as a user would configure them)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest
from support import GATEWAY_PROFILES, ROOT, connection_uri_env, key_leaks

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for ``import mp4check``

# Airflow reads its configuration at import time: set it before anything imports airflow. One home (sqlite
# DB) per Airflow minor version: each has its own DB schema (`make test` sets it explicitly per venv).
AIRFLOW_VERSION = tuple(int(part) for part in version("apache-airflow-core").split(".")[:2])
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / (".airflow-home" if AIRFLOW_VERSION >= (3, 3) else
                                                  f".airflow-home-af{AIRFLOW_VERSION[0]}{AIRFLOW_VERSION[1]}")))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags_examples")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "http://127.0.0.1:8080/execution/")

@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the Airflow metadata DB once per session (sqlite in ``AIRFLOW_HOME``)."""
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   timeout=600)


@pytest.fixture(scope="session")
def dagbag_class(airflow_db):
    """Airflow's ``DagBag`` (``airflow.dag_processing.dagbag`` on newer Airflow, ``airflow.models`` on 3.1)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag


@pytest.fixture(scope="module")
def dagbag(dagbag_class):
    """The example DAGs (``dags_examples``), parsed once per test module."""
    return dagbag_class(str(Path(__file__).resolve().parents[1] / "dags_examples"))


@pytest.fixture(scope="session")
def emulator_process():
    """The emulator as users run it: ``python -m airflow_provider_videogen.emulator`` on loopback."""
    from airflow_provider_videogen.emulator import EmulatorProcess

    log = tempfile.TemporaryFile()
    with EmulatorProcess(job_seconds=1.0, stderr=log) as emu:
        yield emu


@pytest.fixture
def emulator(emulator_process):
    """The emulator, reset (jobs, record, faults, config) before each test; ``.client`` controls it."""
    with emulator_process.client as client:
        client.reset()
        client.set_config(job_seconds=1.0)
        emulator_process.ctl = client
        yield emulator_process


@pytest.fixture
def use_gateway(emulator, monkeypatch):
    """Point ``videogen_default`` at the emulator as the given gateway, and play that gateway's profile."""

    def configure(gateway: str, **config) -> None:
        monkeypatch.setenv(*connection_uri_env("videogen_default", gateway, emulator.url))
        emulator.ctl.set_config(**{**GATEWAY_PROFILES[gateway], **config})

    return configure


# -- the API key must never appear in any log the suite captures -------------------------------------------
_KEY_LEAKS: list[str] = []


def pytest_runtest_logreport(report):
    captured = "".join(content for _, content in report.sections) + (report.longreprtext or "")
    if key_leaks(captured) and report.passed:
        _KEY_LEAKS.append(f"{report.nodeid} ({report.when})")


def pytest_sessionfinish(session, exitstatus):
    """Scan what the tests printed and logged, and Airflow's task logs; fail the session on a leak."""
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    for path in logs.rglob("*") if logs.exists() else []:
        if path.is_file() and key_leaks(path.read_text(errors="replace")):
            _KEY_LEAKS.append(str(path))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if _KEY_LEAKS:
        if reporter:
            reporter.write_line(f"API KEY LEAKED into captured logs: {_KEY_LEAKS}", red=True)
        session.exitstatus = 1
    elif reporter:
        reporter.write_line("Key scan: the test key appears in none of the captured logs.")
