"""Flight logs and the report: a real mosquitto per integration test (the stack itself comes
from tests/controller/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from groundstation.broker import Mosquitto


@pytest.fixture
async def mosquitto() -> AsyncIterator[Mosquitto]:
    async with Mosquitto(persistence=False) as m:
        yield m
