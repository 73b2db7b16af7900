"""A short soak as users run it (``python -m groundstation soak``, a separate process): a tenth of
a simulated day of the Met's load with a fault drawn for every incident. Every incident filed ends
counted once (handled, refused or lost), none is lost, no sortie is stuck, the journal agrees.
The one-day run is in docs/reliability.md (a few minutes: too long for CI)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.adapters.journal import Journal
from groundstation.harness import soak

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.unit
def test_every_filed_call_is_counted_once_as_handled_refused_or_lost() -> None:
    args = soak.build_parser().parse_args(["--days", "0.1", "--speedup", "10"])
    s = soak.Soak(args)
    journal = Journal(":memory:")

    def incident(n: int, status: c.IncidentStatus, on_scene_ms: int | None) -> c.Incident:
        inc = c.Incident(incident_id=f"inc-{n}", status=status, lat_deg=51.5, lon_deg=-0.1,
                         priority=2, created_ms=1_000, on_scene_ms=on_scene_ms)
        journal.save_incident(inc)
        return inc

    incidents = [
        incident(1, c.IncidentStatus.CLOSED, 11_000),  # handled: 10 s wall x 10 + 60 s skipped
        incident(2, c.IncidentStatus.REJECTED, None),  # refused at intake
        incident(3, c.IncidentStatus.QUEUED, None),  # still waiting at the end: lost
        incident(4, c.IncidentStatus.CLOSED, None),  # closed without being served: lost
    ]
    s.skips = [(5_000, 60.0), (20_000, 999.0)]
    for n, inc in enumerate(incidents, 1):
        s.filed[f"t{n}"] = 0.0
        s.answers[f"t{n}"] = c.make_reply(f"t{n}", "incident_create", c.Result.OK,
                                          {"incident_id": inc.incident_id})
    s.filed["t5"] = 0.0  # refused with a reason
    s.answers["t5"] = c.refusal("t5", "incident_create", c.Result.AIRSPACE, "no-fly zone")
    s.filed["t6"] = 0.0  # never answered
    ctl: Any = SimpleNamespace(incidents={i.incident_id: i for i in incidents}, drones={},
                               journal=journal)
    s._finish(ctl)
    rep = s.report
    assert (rep.handled, rep.refused, rep.lost) == (1, 2, 3)
    assert rep.time_to_scene_s == {"p50": 160.0, "p90": 160.0}
    assert len(rep.lost_ids) == 3 and "t6: never answered" in rep.lost_ids
    assert rep.journal_consistent


@pytest.mark.e2e
async def test_a_short_soak_with_a_fault_per_incident_loses_nothing(tmp_path: Path) -> None:
    log_path = tmp_path / "soak.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "groundstation", "soak", "--days", "0.1", "--fault-rate", "1",
            "--seed", "4", "--json", "-v",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=log,
            start_new_session=True,  # its broker and simulator are stopped with it
        )
        line = ""
        try:
            # About 45 s; the report line first, then the exit (a hang in either is told apart).
            line = await asyncio.wait_for(_report_line(proc), 150.0)
            assert line, log_path.read_text()[-4000:]
            rc = await asyncio.wait_for(proc.wait(), 30.0)
        except TimeoutError:
            said = "printed its report but did not exit" if line else "did not finish"
            pytest.fail(f"the soak {said}:\n{log_path.read_text()[-4000:]}")
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    tail = log_path.read_text()[-4000:]
    rep = json.loads(line)
    assert rep["incidents"] >= 1
    assert rep["handled"] + rep["refused"] + rep["lost"] == rep["incidents"], rep
    if rep["lost"] or rep["stuck"]:
        # In full: which incidents and drones, the soak's warnings and the end of its log (a
        # repr of them was cut short).
        log_text = log_path.read_text()
        warned = [ln for ln in log_text.splitlines()
                  if (" WARNING " in ln or " ERROR " in ln) and " mavsdk: " not in ln]
        pytest.fail(f"lost {rep['lost']}, stuck {rep['stuck']}:\n"
                    f"{json.dumps(rep['details'], indent=1)}\n"
                    + "\n".join(warned[-60:]) + f"\n...\n{tail}")
    assert rep["journal_consistent"] is True, rep
    assert rep["time_to_scene_s"]["p50"] is not None
    assert rc == 0, tail


async def _report_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    while raw := await proc.stdout.readline():
        text = raw.decode().strip()
        if text.startswith("{"):
            return text
    return ""
