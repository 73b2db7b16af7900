"""A short soak as users run it (``python -m groundstation soak``, a separate process): a tenth of
a simulated day of the Met's load with a fault drawn for every incident. Every incident filed ends
counted once (handled, refused or lost), none is lost, no sortie is stuck, the journal agrees.
The one-day run is in docs/reliability.md (a few minutes: too long for CI)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


async def test_a_short_soak_with_a_fault_per_incident_loses_nothing() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "groundstation", "soak", "--days", "0.1", "--fault-rate", "1",
        "--seed", "4", "--json",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 90.0)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = out.decode().strip().splitlines()
    assert lines, err.decode()[-3000:]
    rep = json.loads(lines[-1])
    assert rep["incidents"] >= 1
    assert rep["handled"] + rep["refused"] + rep["lost"] == rep["incidents"], rep
    assert rep["lost"] == 0, rep
    assert rep["stuck"] == 0, rep
    assert rep["journal_consistent"] is True, rep
    assert rep["time_to_scene_s"]["p50"] is not None
    assert proc.returncode == 0, err.decode()[-3000:]
