"""One real deployment for the whole package: the gateway emulator behind a throttled link, moto's S3
server, and Airflow (API server, scheduler, DAG processor, triggerer) started with connections to both.

Everything binds loopback on free ports and is stopped (process groups killed) when the package's
tests are done, also when one of them fails. Component logs, task logs and screenshots go to
``test-artifacts/deployment/`` (git-ignored), kept for CI's inspection.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from support import OPENAI_COMPATIBLE_MODEL

from .deployment_support import (
    ARTIFACTS,
    LINK_RATE,
    S3_CONN_ID,
    S3_KEY_ID,
    S3_SECRET,
    TEST_KEY,
    AirflowDeployment,
    MotoS3Server,
    ThrottlingProxy,
)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # pytest then runs the fixtures' teardown


@pytest.fixture(scope="package")
def artifacts() -> Path:
    folder = ARTIFACTS / "deployment"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="package")
def gateway(artifacts):
    """The emulator (``python -m airflow_provider_videogen.emulator``) and a throttling proxy in front."""
    from airflow_provider_videogen.emulator import EmulatorProcess

    with open(artifacts / "emulator.log", "wb") as log, EmulatorProcess(job_seconds=5, stderr=log) as emulator:
        proxy = ThrottlingProxy(emulator.url, rate=LINK_RATE).start()
        try:
            with emulator.client as client:
                emulator.ctl = client
                emulator.proxy = proxy
                yield emulator
        finally:
            proxy.stop()


@pytest.fixture(scope="package")
def s3_server(artifacts):
    server = MotoS3Server(artifacts).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def s3_client(s3_server):
    import boto3

    return boto3.client("s3", endpoint_url=s3_server.url, region_name="us-east-1",
                        aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET)


@pytest.fixture(scope="package")
def airflow(gateway, s3_server, artifacts):
    """Airflow started for real with the package installed; the example DAGs parsed and unpaused."""
    home = Path(tempfile.mkdtemp(prefix="videogen-airflow-home-"))
    connections = {
        # the example DAGs' gateway connection: the emulator (through the throttled link) as OpenAI
        "AIRFLOW_CONN_VIDEOGEN_DEFAULT": json.dumps(
            {"conn_type": "videogen_openai", "host": gateway.proxy.url, "password": TEST_KEY,
             "extra": {"default_model": OPENAI_COMPATIBLE_MODEL}}),  # an OpenAI-compatible gateway: no default
        # an `aws` connection to the S3 server; the only place its address is configured
        f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(
            {"conn_type": "aws", "login": S3_KEY_ID, "password": S3_SECRET,
             "extra": {"endpoint_url": s3_server.url, "region_name": "us-east-1"}}),
    }
    deployment = AirflowDeployment(home, artifacts, connections)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a terminated test run still stops Airflow
    try:
        deployment.start()
        for dag_id in ("videogen_text_to_video", "videogen_on_new_video"):
            deployment.api.wait_for_dag(dag_id)
            deployment.api.unpause(dag_id)
        yield deployment
    finally:
        deployment.stop()
        signal.signal(signal.SIGTERM, previous)
        logs = home / "logs"
        if logs.is_dir():  # task and trigger logs, for CI's inspection
            shutil.copytree(logs, artifacts / "airflow-logs", dirs_exist_ok=True)
        shutil.rmtree(home, ignore_errors=True)
        alive = [p.name for p in deployment.processes if p.group_alive()]
        assert not alive, f"Airflow components still running after stop: {alive}"
        leaks = [str(f.relative_to(artifacts)) for f in artifacts.rglob("*") if f.is_file() and f.suffix != ".png"
                 and any(secret in f.read_text(errors="replace") for secret in (TEST_KEY, S3_SECRET))]
        assert not leaks, f"a key or secret was written to these logs: {leaks}"
