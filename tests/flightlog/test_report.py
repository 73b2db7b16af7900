"""``groundstation report`` on a journal written through the Journal API, as the controller
writes it: incidents with their times, sorties rebuilt from the phase changes, flight logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groundstation import cli
from groundstation import contract as c
from groundstation.adapters.journal import Journal
from groundstation.core.sortie import Sortie, Target
from groundstation.tools.report import build_report, open_read_only, render_text

pytestmark = pytest.mark.unit

CREATED_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z
DOCK = Target(51.5, -0.12)


def incident(incident_id: str, status: c.IncidentStatus, **kw: object) -> c.Incident:
    return c.Incident(
        incident_id=incident_id,
        status=status,
        lat_deg=51.51,
        lon_deg=-0.11,
        priority=2,
        created_ms=CREATED_MS,
        **kw,  # type: ignore[arg-type]
    )


def phases(journal: Journal, drone_id: str, steps: list[tuple[c.Phase, str | None]]) -> None:
    for phase, incident_id in steps:
        s = Sortie(drone_id, f"dock-{drone_id}", DOCK, phase=phase, incident_id=incident_id)
        journal.save_sortie(s, phase_changed=True)


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    j = Journal(path, controller_id="ctl-1")
    j.save_incident(
        incident(
            "inc-1",
            c.IncidentStatus.CLOSED,
            assigned_drone="uav-1",
            dispatched_ms=CREATED_MS + 2_000,
            on_scene_ms=CREATED_MS + 61_500,
            closed_ms=CREATED_MS + 300_000,
            summary="burglary",
        )
    )
    j.save_incident(
        incident(
            "inc-2", c.IncidentStatus.DISPATCHED, assigned_drone="uav-2", dispatched_ms=CREATED_MS
        )
    )
    j.save_incident(incident("inc-3", c.IncidentStatus.QUEUED, reason="no drone can go"))
    phases(j, "uav-1", [(c.Phase.PREFLIGHT, "inc-1")])
    j.event("info", "flight_log", "/logs/inc-1/uav-1-x.tlog", drone_id="uav-1", incident_id="inc-1")
    phases(
        j,
        "uav-1",
        [
            (c.Phase.LAUNCHING, "inc-1"),
            (c.Phase.TRANSIT, "inc-1"),
            (c.Phase.ON_SCENE, "inc-1"),
            (c.Phase.RETURNING, None),
            (c.Phase.LANDING, None),
            (c.Phase.CHARGING, None),
            (c.Phase.DOCKED, None),  # charged: at rest, no sortie
        ],
    )
    phases(j, "uav-2", [(c.Phase.PREFLIGHT, "inc-2"), (c.Phase.LAUNCHING, "inc-2")])
    j.close()
    return path


def test_incidents_and_sorties_with_their_times(journal_path: Path) -> None:
    db = open_read_only(journal_path)
    report = build_report(db, journal=str(journal_path))
    db.close()
    inc = {i.incident_id: i for i in report.incidents}
    assert list(inc) == ["inc-1", "inc-2", "inc-3"]
    assert inc["inc-1"].to_dispatch_s == 2.0
    assert inc["inc-1"].to_scene_s == 61.5
    assert inc["inc-1"].drone_id == "uav-1"
    assert inc["inc-1"].on_scene_s is not None  # arrival until the drone left (returning)
    assert inc["inc-3"].drone_id is None and inc["inc-3"].to_dispatch_s is None
    first, second = sorted(report.sorties, key=lambda s: s.drone_id)
    assert first.drone_id == "uav-1" and first.incident_ids == ["inc-1"]
    assert [p.phase for p in first.phases] == [
        "preflight",
        "launching",
        "transit",
        "on_scene",
        "returning",
        "landing",
        "charging",
    ]
    assert first.end_phase == "charging" and first.back_ms == first.phases[-1].ts_ms
    assert first.launched_ms == first.phases[1].ts_ms
    assert first.flight_logs == ["/logs/inc-1/uav-1-x.tlog"]
    assert second.end_phase is None and second.back_ms is None  # still out
    text = render_text(report)
    assert "inc-1" in text and "2.0 s" in text and "1m02s" in text  # 61.5 s rounds to 62
    assert "2026-09-21 14:13:20" in text
    assert "flight log /logs/inc-1/uav-1-x.tlog" in text and "still out" in text


def test_json_and_filters(journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--journal", str(journal_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {i["incident_id"] for i in out["incidents"]} == {"inc-1", "inc-2", "inc-3"}
    one = next(i for i in out["incidents"] if i["incident_id"] == "inc-1")
    assert one["created"] == "2026-09-21T14:13:20.000+00:00"
    assert one["to_dispatch_s"] == 2.0 and one["to_scene_s"] == 61.5
    sortie = next(s for s in out["sorties"] if s["drone_id"] == "uav-1")
    assert sortie["flight_logs"] == ["/logs/inc-1/uav-1-x.tlog"]
    assert sortie["phases"][0]["phase"] == "preflight" and sortie["phases"][0]["ts"]

    assert (
        cli.main(["report", "--journal", str(journal_path), "--json", "--incident", "inc-2"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [i["incident_id"] for i in out["incidents"]] == ["inc-2"]
    assert [s["drone_id"] for s in out["sorties"]] == ["uav-2"]

    assert cli.main(["report", "--journal", str(journal_path), "--since", "2100-01-01"]) == 0
    text = capsys.readouterr().out
    assert "incidents (0)" in text and "sorties (0)" in text


def test_a_missing_journal_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "--journal", str(tmp_path / "nope.sqlite")]) == 2
    assert "no journal" in capsys.readouterr().err
    assert not (tmp_path / "nope.sqlite").exists()
