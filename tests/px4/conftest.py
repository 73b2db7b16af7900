"""The PX4 layer: real PX4 SITL (SIH quadrotor) flown by the project's own code.

Tests marked ``px4`` need PX4 (sitl.px4.find_px4: GS_PX4_HOME, else ../shared/px4-sitl) and
PX4's fixed ports 14540+i free: scripts/test runs this layer in a private network namespace
(``unshare -n``, loopback up) after the rest of the suite. Without PX4, or with those ports
taken, each such test is skipped with the reason: never counted as passed.
"""

from __future__ import annotations

import os
import socket

import pytest

from sitl.px4 import API_BASE_PORT, Px4Error, find_px4

SPEED_ENV = "GS_PX4_SPEED"
DEFAULT_SPEED = 2.0
"""PX4_SIM_SPEED_FACTOR of the layer (docs/px4.md: what was measured at 1, 2 and 5)."""
PORTS_NEEDED = 3


def layer_speed() -> float:
    return float(os.environ.get(SPEED_ENV, "") or DEFAULT_SPEED)


def _ports_busy(count: int) -> list[int]:
    busy = []
    for port in range(API_BASE_PORT, API_BASE_PORT + count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                busy.append(port)
    return busy


def why_not() -> str | None:
    """None when the PX4 layer can run here, else the reason it cannot."""
    try:
        find_px4()
    except Px4Error as exc:
        return str(exc)
    busy = _ports_busy(PORTS_NEEDED)
    if busy:
        return (f"PX4's fixed UDP ports {busy} are taken by another program: run the layer in a "
                "private network namespace (scripts/test does, as root)")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [i for i in items if i.get_closest_marker("px4") is not None]
    if not mine:
        return
    reason = why_not()
    if reason is None:
        return
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=f"PX4 layer not run: {reason}"))
