"""Suite-wide settings and the shared broker: Qt never needs a screen unless a test starts Xvfb
itself, MAVSDK's own log lines stay out of the test output, and ``mosquitto`` is a real broker
on a free loopback port per test."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator

import pytest

from groundstation.broker import Mosquitto

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
logging.getLogger("mavsdk").setLevel(logging.WARNING)


@pytest.fixture
async def mosquitto() -> AsyncIterator[Mosquitto]:
    async with Mosquitto(persistence=False) as m:
        yield m
