"""The simulator held to PX4's clock: the parity flight of bench/parity.py (take-off, goto, orbit,
RTL, a mission ending with RTL) flown through MAVSDK on the embedded simulator, against the
figures measured on real PX4 SITL (SIH) with the same script, recorded in data/px4_parity.json.

Every phase must take within 15 % of PX4's median, and the flight modes shown (in order, and
after landing) must be PX4's. Times are the vehicle's seconds, so the simulator runs 10x faster
than PX4 did. Re-measure PX4 with ``python -m bench.parity --px4 --runs 5 --save
tests/sitl/data/px4_parity.json`` (see docs/simulator-parity.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import parity

PX4_FIGURES = Path(__file__).parent / "data" / "px4_parity.json"
SPEEDUP = 10.0  # the telemetry runs at up to 50 Hz wall clock: 0.2 simulated s resolution


def px4_figures() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(PX4_FIGURES.read_text())
    return data


def test_the_figures_are_measured_on_px4() -> None:
    """The reference is PX4 itself, several runs with their spread, not the simulator."""
    px4 = px4_figures()
    assert "PX4" in px4["backend"]
    assert len(px4["runs"]) >= 3
    for phase in parity.PHASES:
        fig = px4["phases"][phase]
        assert fig["runs"] >= 3
        assert fig["min_s"] <= fig["median_s"] <= fig["max_s"]
    # every PX4 run showed the same modes: that is what the simulator is held to
    runs = parity.complete_runs(px4)
    assert len(runs) >= 3
    for what in ("modes", "after_landing"):
        assert all(r[what] == runs[0][what] for r in runs), what


@pytest.mark.simonly
async def test_simulator_flies_the_parity_script_like_px4() -> None:
    px4 = px4_figures()
    result = await parity.run_sim(SPEEDUP)
    sim = parity.summarise([result])
    table = "\n".join(
        f"{k}: simulator {sim['phases'][k]['median_s']} s, PX4 {px4['phases'][k]['median_s']} s"
        for k in parity.PHASES
    )
    problems = parity.compare(sim, px4)
    assert not problems, "\n".join(problems) + "\n" + table
