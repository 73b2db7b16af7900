"""A real sortie (the simulator flown by the controller over MAVSDK, docks and a CAD client over
a real mosquitto) writes a .tlog that pymavlink reads back, and ``groundstation report`` on its
journal lists the incident with its times and the sortie with its log."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from groundstation import cli
from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from missions.geo import distance_m
from tests.controller.conftest import small_sites, stack_on, until
from tests.flightlog.tlog_helpers import read_tlog

pytestmark = pytest.mark.integration

DRONE = "uav-west-end-1"
INCIDENT = (51.5120, -0.1180)  # 560 m from the West End dock


async def test_a_sortie_writes_a_tlog_and_the_report_lists_it(
    mosquitto: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "journal.sqlite"
    sites = small_sites()
    async with stack_on(mosquitto.config, sites, journal, on_scene_s=10.0) as stack:
        ctl = stack.run.controller
        async with stack.operator("cad") as cad:
            reply = await cad.call(
                "incident_create",
                {"lat_deg": INCIDENT[0], "lon_deg": INCIDENT[1], "priority": 2},
            )
            assert reply.data.result == 0, reply.data.output
            incident_id = reply.data.output["incident_id"]
            await until(
                lambda: ctl.drones[DRONE].sortie.phase in (c.Phase.CHARGING, c.Phase.DOCKED),
                60.0,
                "the drone back in its dock",
            )
        assert ctl.flightlog is not None
        logs = list(ctl.flightlog.finished)

    # One log, where it was said to be, for this incident and drone.
    assert len(logs) == 1
    path = logs[0]
    assert path.parent == tmp_path / "journal-flights" / incident_id
    assert path.name.startswith(f"{DRONE}-") and path.suffix == ".tlog"

    tlog = read_tlog(path)
    assert not tlog.bad, "every record decodes"
    assert {"HEARTBEAT", "GLOBAL_POSITION_INT", "ATTITUDE", "VFR_HUD"} <= tlog.types
    assert {"SYS_STATUS", "GPS_RAW_INT", "BATTERY_STATUS"} <= tlog.types
    dock = sites.dock_of_drone(DRONE)
    assert dock is not None
    assert {m.get_srcSystem() for m in tlog.messages} == {dock.system_id}
    stamps = [m._timestamp for m in tlog.messages]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    # Out to the incident and back to the dock.
    track = [(m.lat / 1e7, m.lon / 1e7) for m in tlog.of("GLOBAL_POSITION_INT")]
    to_scene = [distance_m(lat, lon, *INCIDENT) for lat, lon in track]
    to_dock = [distance_m(lat, lon, dock.lat_deg, dock.lon_deg) for lat, lon in track]
    assert min(to_scene) < 80.0
    assert to_dock[0] < 5.0 and to_dock[-1] < 5.0
    assert max(to_dock) > 450.0
    # Armed, then disarmed at the end; it flew in the air meanwhile.
    armed = [bool(b.base_mode & 128) for b in tlog.of("HEARTBEAT")]
    assert True in armed and armed[-1] is False
    assert max(m.relative_alt for m in tlog.of("GLOBAL_POSITION_INT")) > 30_000  # mm

    # The report: the incident with its times, the sortie with its phases and log.
    assert cli.main(["report", "--journal", str(journal), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    inc = next(i for i in out["incidents"] if i["incident_id"] == incident_id)
    assert inc["status"] == "closed" and inc["drone_id"] == DRONE
    assert 0 <= inc["to_dispatch_s"] < 5 and inc["to_scene_s"] > inc["to_dispatch_s"]
    assert inc["on_scene_s"] is not None and inc["on_scene_s"] > 0
    sortie = next(s for s in out["sorties"] if incident_id in s["incident_ids"])
    assert sortie["drone_id"] == DRONE and sortie["end_phase"] in ("charging", "docked")
    assert [p["phase"] for p in sortie["phases"]][:4] == [
        "preflight",
        "launching",
        "transit",
        "on_scene",
    ]
    assert sortie["flight_logs"] == [str(path)]
    assert cli.main(["report", "--journal", str(journal), "--incident", incident_id]) == 0
    text = capsys.readouterr().out
    assert incident_id in text and DRONE in text and f"flight log {path}" in text
