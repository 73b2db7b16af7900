"""The fault suite: a real mosquitto per test (helpers in faults_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from groundstation.broker import Mosquitto


@pytest.fixture
async def mosquitto() -> AsyncIterator[Mosquitto]:
    async with Mosquitto(persistence=False) as m:
        yield m
