"""Suite-wide settings and the shared broker: Qt never needs a screen unless a test starts Xvfb
itself, MAVSDK's own log lines stay out of the test output, and ``mosquitto`` is a real broker
on a free loopback port per test. The longest tests run first (tests/slow-tests.txt), so that
pytest-xdist's two workers finish together instead of one waiting on a late long test."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from groundstation.adapters.broker import Mosquitto

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
logging.getLogger("mavsdk").setLevel(logging.WARNING)

SLOW_TESTS = Path(__file__).with_name("slow-tests.txt")
# A test not in SLOW_TESTS is weighed by its marker: processes end to end are long, loopback
# integration and console tests shorter, unit tests shortest (they fill the workers' tails).
MARKER_WEIGHT_S = (("e2e", 20.0), ("integration", 2.0), ("console", 2.0))


def measured_seconds(path: Path = SLOW_TESTS) -> dict[str, float]:
    """Node id (without parameters) -> seconds, from the measured list."""
    weights: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            seconds, node = line.split(maxsplit=1)
            weights[node.strip()] = float(seconds)
    return weights


def expected_seconds(item: pytest.Item, measured: dict[str, float]) -> float:
    known = measured.get(item.nodeid.split("[", 1)[0])
    if known is not None:
        return known
    for marker, seconds in MARKER_WEIGHT_S:
        if item.get_closest_marker(marker) is not None:
            return seconds
    return 0.0


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first (a stable sort: equals keep their order). pytest-xdist hands tests out in
    this order, so the long ones start at once on both workers and short ones fill the ends."""
    measured = measured_seconds()
    items.sort(key=lambda item: -expected_seconds(item, measured))


@pytest.fixture
async def mosquitto() -> AsyncIterator[Mosquitto]:
    async with Mosquitto(persistence=False) as m:
        yield m
