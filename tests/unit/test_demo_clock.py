"""The demo's times to scene on the simulator's clock, not wall time x the nominal speed-up."""

from __future__ import annotations

import asyncio

import pytest

from groundstation.harness.demo import DemoResult, SimClock, _read_clock, sim_duration_s

pytestmark = pytest.mark.unit


def slipping_clock() -> SimClock:
    """Speed-up 10 for 10 s, then 5 for 10 s (a simulator that dropped time under load)."""
    clock = SimClock()
    for t in range(21):
        clock.add(1000.0 + t, 10.0 * min(t, 10) + 5.0 * max(0, t - 10))
    return clock


def test_a_slipping_simulator_is_read_on_its_own_clock() -> None:
    clock = slipping_clock()
    # 15 wall seconds: 150 simulated at the nominal 10x, 115 on the simulator's clock.
    assert sim_duration_s(clock, 1_002_000, 1_017_000) == pytest.approx(115.0)
    assert sim_duration_s(clock, 1_002_500, 1_003_000) == pytest.approx(5.0)
    assert clock.speedup() == pytest.approx(7.5)


def test_outside_what_the_clock_saw_there_is_no_answer() -> None:
    clock = slipping_clock()
    assert clock.sim_s_at(999.0) is None
    assert clock.sim_s_at(1021.5) == pytest.approx(157.5)  # just past the last line: its rate
    assert clock.sim_s_at(1030.0) is None
    assert SimClock().speedup() is None


def test_the_report_says_which_clock_it_used() -> None:
    r = DemoResult(incidents=1, completed=1, times_to_scene_s=[80.0], etas_s=[70.0],
                   speedup=10.0, simulator_clock=True, speedup_achieved=9.9123)
    j = r.as_json()
    assert j["time_base"] == "simulator clock" and j["speedup_achieved"] == 9.91
    assert j["mean_eta_s"] == 70.0
    assert DemoResult(incidents=0).as_json()["time_base"] == "wall x speedup"


async def test_the_clock_lines_are_read_and_the_rest_drained() -> None:
    stream = asyncio.StreamReader()
    stream.feed_data(b"sitl: clock 1000.0 0.0\nsitl: video on\nsitl: clock 1001.0 9.5\n"
                     b"sitl: clock x y\n")
    stream.feed_eof()
    clock = SimClock()
    await _read_clock(stream, clock)
    assert list(clock.samples) == [(1000.0, 0.0), (1001.0, 9.5)]
