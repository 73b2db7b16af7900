"""The fault suite: a real mosquitto per test (helpers in faults_helpers.py); the separate-process
tests (broker restart, controller kill) reuse tests/e2e's ``procs`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from groundstation.broker import Mosquitto
from tests.e2e.conftest import procs

__all__ = ["mosquitto", "procs"]


@pytest.fixture
async def mosquitto() -> AsyncIterator[Mosquitto]:
    async with Mosquitto(persistence=False) as m:
        yield m
