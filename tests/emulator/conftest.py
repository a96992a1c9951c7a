"""Fixtures for the emulator tests: one in-process emulator per module, reset before every test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: for ``import mp4check``

from airflow_provider_videogen.emulator import Emulator


@pytest.fixture(scope="module")
def emu():
    with Emulator(job_seconds=0) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def ctl(emu):
    with emu.client as client:
        client.reset()
        yield client
