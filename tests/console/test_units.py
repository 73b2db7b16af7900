"""Pure parts of the console: projection, fleet model, outcomes, table rows (no window)."""

from __future__ import annotations

import math

import pytest
from pytestqt.qtbot import QtBot

from groundstation import contract as c
from groundstation.console import lod
from groundstation.console import mercator as m
from groundstation.console.commands import CommandOutcome
from groundstation.console.lists import FleetList
from groundstation.console.model import ALERT_LIMIT, TRAIL_POINTS, FleetModel
from groundstation.console.qt import QWidget
from groundstation.console.tables import dock_status, fleet_row, fmt_duration
from tests.console import scenario as sc

pytestmark = pytest.mark.console


def test_mercator_round_trip_and_tiles() -> None:
    x, y = m.to_scene(51.5, -0.12)
    lat, lon = m.from_scene(x, y)
    assert (lat, lon) == pytest.approx((51.5, -0.12), abs=1e-9)
    assert y < m.to_scene(51.0, -0.12)[1]  # north is up (smaller y)
    # The slippy-map formula of the OSM wiki, computed independently.
    n = 2**15
    tx = math.floor((-0.12 + 180) / 360 * n)
    ty = math.floor((1 - math.asinh(math.tan(math.radians(51.5))) / math.pi) / 2 * n)
    tiles = m.tiles_covering(x - 1, y - 1, x + 1, y + 1, 15)
    assert tiles == [(tx, ty)] == [(16373, 10897)]
    left, top = m.tile_origin(15, tx, ty)
    assert left <= x < left + m.tile_size_m(15) and top <= y < top + m.tile_size_m(15)
    assert m.tile_zoom(256 / m.WORLD_M * 2**13) == 13
    assert m.nice_length(740) == 500 and m.nice_length(1999) == 1000


def test_model_trails_are_bounded_and_dirty_sets_drain() -> None:
    model = FleetModel()
    t0 = 1_000_000
    for i in range(TRAIL_POINTS * 3):
        tel = sc.telemetry("uav-1", 51.5 + i * 1e-5, -0.1, seq=i, ts_ms=t0 + i * 500)
        model.apply_telemetry(tel)
    view = model.drones["uav-1"]
    assert len(view.trail) == TRAIL_POINTS
    dirty = model.take_dirty()
    assert dirty.new_drones and dirty.drones == {"uav-1"} and dirty.trails == {"uav-1"}
    assert not model.take_dirty()
    # Samples closer than the trail interval do not add points.
    last = t0 + (TRAIL_POINTS * 3 - 1) * 500
    model.apply_telemetry(sc.telemetry("uav-1", 51.6, -0.1, ts_ms=last + 100))
    assert model.take_dirty().trails == set()


def test_a_fleet_published_in_rounds_gains_trail_points_spread_over_the_rounds() -> None:
    """The controller publishes every drone in one round every 100 ms. Each drone still gains
    a trail point every half second, but not all in the same round: a frame that re-draws
    every trail at once held the console's thread 30-40 ms at 250 drones."""
    model = FleetModel()
    T0 = 1_800_000_000_000  # noqa: N806 (epoch ms, as the controller stamps)
    drones = [f"uav-{i:03d}" for i in range(250)]
    gained: list[int] = []
    for r in range(60):  # 6 s
        for d in drones:
            model.apply_telemetry(sc.telemetry(d, 51.5 + r * 1e-5, -0.1, seq=r, ts_ms=T0 + r * 100))
        gained.append(len(model.take_dirty().trails))
    assert gained[0] == 250  # the first point of every trail at once
    steady = gained[10:]
    assert sum(steady) == 250 * 2 * 5  # 2 points a second each, for 5 s
    assert max(steady) <= 250 * 0.35, steady  # about a fifth per round, never all
    assert all(len(model.drones[d].trail) in (12, 13) for d in drones)


def test_model_battery_time_left_and_pilot_hint() -> None:
    model = FleetModel()
    for i in range(31):  # 1 % per 10 s
        tel = sc.telemetry("uav-1", 51.5, -0.1, ts_ms=i * 2000, battery=80 - i * 0.2)
        model.apply_telemetry(tel)
    left = model.drones["uav-1"].battery_time_left_s()
    assert left == pytest.approx(74 * 10, rel=0.02)

    def pilot() -> str | None:  # read afresh each time (mypy would keep an asserted one narrowed)
        return model.drones["uav-1"].pilot

    model.apply_drone_state(sc.drone_state("uav-1", pilot="bob"))
    assert pilot() == "bob"
    model.set_pilot_hint("uav-1", None)
    assert pilot() is None
    model.apply_drone_state(sc.drone_state("uav-1", pilot="alice"))
    assert pilot() == "alice"


def test_alerts_are_bounded_and_acknowledged() -> None:
    model = FleetModel()
    for i in range(ALERT_LIMIT + 50):
        model.apply_alert(
            c.Alert(ts_ms=i, severity=c.Severity.WARNING, code="x", message=f"{i}"), "ctl-1"
        )
    assert len(model.alerts) == ALERT_LIMIT
    assert model.alerts[0].alert.message == str(ALERT_LIMIT + 49)  # newest first
    model.acknowledge(0)
    assert model.unacked() == ALERT_LIMIT - 1
    model.acknowledge(None)
    assert model.unacked() == 0


def test_outcome_text_and_rows() -> None:
    ok = CommandOutcome("t", c.OperatorMethod.DRONE_HOLD, "uav-1", ok=True, result=0)
    assert ok.text == "hold uav-1: done"
    no = CommandOutcome(
        "t",
        c.OperatorMethod.DRONE_GOTO,
        "uav-1",
        ok=False,
        result=int(c.Result.AIRSPACE),
        reason="inside Heathrow FRZ",
    )
    assert no.text == "go to uav-1: refused (airspace): inside Heathrow FRZ"
    assert fmt_duration(65) == "1:05" and fmt_duration(None) == "-"
    model = FleetModel()
    model.apply_telemetry(sc.telemetry("uav-1", 51.5, -0.1, battery=15), now_mono=100.0)
    row = fleet_row(model.drones["uav-1"], "me", now_mono=100.5)
    assert [cell.text for cell in row][:7] == [
        "uav-1",
        "transit",
        "MISSION",
        "15 %",
        "60 m",
        "14.0 m/s",
        "ok",
    ]
    assert row[3].colour == "#dc2626"
    assert fleet_row(model.drones["uav-1"], "me", now_mono=110.0)[6].text == "lost"
    model.apply_dock_osd(sc.dock_osd("d1", charging=True))
    assert dock_status(model.docks["d1"]) == "charging"
    model.apply_dock_osd(sc.dock_osd("d1", in_dock=False, charging=False))
    assert dock_status(model.docks["d1"]) == "empty"


def test_level_of_detail_by_drones_and_zoom() -> None:
    city, street = 0.05, lod.LABEL_PX_PER_M
    assert lod.detail(lod.MANY_DRONES, city) == lod.FULL, "up to MANY_DRONES: everything"
    many = lod.detail(lod.MANY_DRONES + 1, city)
    assert (many.labels, many.simple, many.trail_step) == (False, True, 2)
    zoomed = lod.detail(250, street)
    assert (zoomed.labels, zoomed.simple, zoomed.trail_step) == (True, False, 1)


def test_decimated_trail_keeps_the_newest_point() -> None:
    points = [(float(i), 0.0) for i in range(7)]
    assert lod.decimate(points, 2) == [(0.0, 0.0), (2.0, 0.0), (4.0, 0.0), (6.0, 0.0)]
    assert lod.decimate(points[:6], 2)[-1] == (5.0, 0.0), "the newest, where the drone is"
    assert lod.decimate(points, 1) == points


def test_the_fleet_table_makes_rows_in_sight_and_rows_scrolled_into_sight(qtbot: QtBot) -> None:
    """With 60 drones the table shows a few rows; a refresh makes those again, and a row the
    pilot scrolls to shows the newest telemetry as it comes into sight, not an old value."""
    parent = QWidget()
    qtbot.addWidget(parent)
    fleet = FleetList(parent)
    fleet.table.resize(600, 200)
    parent.show()
    model = FleetModel()
    drones = [f"uav-{i:02d}" for i in range(60)]
    for d in drones:
        model.apply_telemetry(sc.telemetry(d, 51.5, -0.1, battery=80.0))
    fleet.refresh(model, "pilot", 0.0)
    first, last = fleet.rows_in_sight()
    assert first == 0 and 0 < last < 30
    for d in drones:
        model.apply_telemetry(sc.telemetry(d, 51.5, -0.1, battery=41.0))
    assert fleet.refresh(model, "pilot", 0.0) is False  # the same drones: no reset

    def battery(row: int) -> str:
        return str(fleet.model.data(fleet.model.index(row, 3)))

    assert battery(0).startswith("41 %") and battery(last).startswith("41 %")
    assert battery(59).startswith("80 %")  # out of sight: made when it comes into sight
    fleet.table.scrollToBottom()
    assert fleet.rows_in_sight()[1] == 59
    assert battery(59).startswith("41 %")
