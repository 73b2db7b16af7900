"""QGroundControl .plan import/export: exact round trips, altitude modes, rebase, MAVLink items."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from missions.geo import distance_m
from missions.plan import (
    AltitudeMode,
    ComplexItem,
    MavCmd,
    MavFrame,
    MissionItem,
    PlanError,
    dumps_plan,
    load_plan,
    parse_plan,
    plan_to_json,
    rebase,
    to_mavlink_items,
)

pytestmark = pytest.mark.unit

PLANS = ["simple_square.plan", "PX4SITL-PX4-MultiRotor.plan"]


@pytest.mark.parametrize("name", PLANS)
def test_exact_round_trip(data_dir: Path, name: str) -> None:
    path = data_dir / name
    original = json.loads(path.read_text(encoding="utf-8"))
    plan = load_plan(path)
    exported = json.loads(dumps_plan(plan))
    assert exported == original
    for got, want in zip(exported["mission"]["items"], original["mission"]["items"], strict=True):
        assert got == want
    assert parse_plan(exported) == plan


def test_altitude_modes_preserved(data_dir: Path) -> None:
    plan = load_plan(data_dir / "PX4SITL-PX4-MultiRotor.plan")
    items = plan.simple_items
    modes = [i.altitude_mode for i in items]
    assert AltitudeMode.RELATIVE in modes
    assert AltitudeMode.ABSOLUTE in modes
    assert AltitudeMode.CALC_ABOVE_TERRAIN in modes
    terrain = [i for i in items if i.altitude_mode == AltitudeMode.CALC_ABOVE_TERRAIN]
    assert all(i.params[6] is None and i.altitude is not None for i in terrain)
    speed = next(i for i in items if i.command == MavCmd.DO_CHANGE_SPEED)
    assert speed.altitude_mode is None
    assert speed.frame == MavFrame.MISSION
    commands = {i.command for i in items}
    assert {22, 16, 178, 195, 19, 21} <= commands
    assert plan.home is not None
    assert plan.home.alt_amsl_m == pytest.approx(488.056)
    assert plan.firmware_type == 12
    assert plan.vehicle_type == 2


def test_mavlink_items(data_dir: Path) -> None:
    plan = load_plan(data_dir / "PX4SITL-PX4-MultiRotor.plan")
    out = to_mavlink_items(plan, 500.0)
    assert [m.seq for m in out] == list(range(len(plan.items)))
    takeoff = out[0]
    assert takeoff.command == 22
    assert takeoff.x == 473996949
    assert takeoff.y == 85455000
    assert math.isnan(takeoff.param4)
    terrain = out[5]  # AltitudeMode 3, Altitude 80, null param 7
    assert terrain.frame == MavFrame.GLOBAL
    assert terrain.z == pytest.approx(580.0)
    speed = out[2]
    assert (speed.x, speed.y, speed.param2) == (0, 0, 10.0)


def test_rebase_keeps_geometry(data_dir: Path) -> None:
    plan = load_plan(data_dir / "simple_square.plan")
    moved = rebase(plan, 51.5339, -0.1087, 52.0)
    assert moved.home is not None
    assert plan.home is not None
    for a, b in zip(plan.simple_items, moved.simple_items, strict=True):
        assert a.command == b.command
        assert a.params[6] == b.params[6]  # relative altitudes stay
    old = [(i.params[4], i.params[5]) for i in plan.simple_items]
    new = [(i.params[4], i.params[5]) for i in moved.simple_items]
    d_old = distance_m(*old[1], *old[3])  # type: ignore[arg-type]
    d_new = distance_m(*new[1], *new[3])  # type: ignore[arg-type]
    assert d_new == pytest.approx(d_old, rel=2e-3)
    assert distance_m(*new[0], 51.5339, -0.1087) < 1.0  # type: ignore[arg-type]
    back = rebase(moved, plan.home.lat_deg, plan.home.lon_deg, plan.home.alt_amsl_m)
    for a, b in zip(plan.simple_items, back.simple_items, strict=True):
        assert a.params[4] == pytest.approx(b.params[4], abs=1e-7)
        assert a.params[5] == pytest.approx(b.params[5], abs=1e-7)


def test_rebase_shifts_amsl_altitudes(data_dir: Path) -> None:
    plan = load_plan(data_dir / "PX4SITL-PX4-MultiRotor.plan")
    moved = rebase(plan, 51.5, -0.12, 38.056)  # 450 m lower
    amsl = moved.simple_items[3]
    assert amsl.altitude_mode == AltitudeMode.ABSOLUTE
    assert amsl.params[6] == pytest.approx(638.056 - 450.0)
    assert amsl.altitude == pytest.approx(638.056 - 450.0)
    assert moved.simple_items[5].params[6] is None  # terrain stays terrain


def test_complex_items_kept_and_refused(data_dir: Path) -> None:
    raw = json.loads((data_dir / "simple_square.plan").read_text(encoding="utf-8"))
    survey = {"type": "ComplexItem", "complexItemType": "survey", "version": 5, "angle": 30}
    raw["mission"]["items"].append(survey)
    plan = parse_plan(raw)
    assert isinstance(plan.items[-1], ComplexItem)
    assert plan_to_json(plan) == raw
    with pytest.raises(PlanError, match="survey"):
        to_mavlink_items(plan)


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"fileType": "Plan"},
        {"fileType": "Plan", "mission": {"items": [{"type": "SimpleItem", "params": [1]}]}},
        {"fileType": "Plan", "mission": {"items": [{"type": "Bogus"}]}},
    ],
)
def test_malformed_plans_refused(broken: dict[str, object]) -> None:
    with pytest.raises(PlanError):
        parse_plan(broken)


def test_item_needs_seven_params() -> None:
    with pytest.raises(PlanError):
        MissionItem(16, 3, (0.0,) * 6)
