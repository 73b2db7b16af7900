"""groundstation.control.commands: what a sortie's actions do to the vehicle and the dock, and what
the sortie hears back, with fake vehicles and docks (the real sortie machine)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from groundstation import contract as c
from groundstation.control.commands import (
    VehicleCommands,
    error_reason,
    failure_event,
    launch_geofence,
    launch_params,
)
from groundstation.core import sortie as so
from groundstation.errors import DockError, VehicleError
from tests.unit.fakes import SITES, Box, FakeAirspace, FakeDocks, FakeHost, at

pytestmark = pytest.mark.unit

DOCK = SITES.docks[0]
DRONE = DOCK.drone_id


def test_a_failed_action_answers_its_sortie_with_the_matching_event() -> None:
    assert failure_event(so.Prepare(DOCK.dock_id), "x") == so.Prepared(ok=False, reason="x")
    assert failure_event(so.ArmTakeoff(30.0), "x") == so.LaunchDone(ok=False, reason="x")
    assert failure_event(so.Land(), "x") == so.CommandDone(ok=False, reason="x")
    assert failure_event(so.DockCall(DOCK.dock_id, c.DockMethod.COVER_CLOSE), "x") is None


def test_the_reason_of_a_dock_error_is_the_docks_own() -> None:
    assert error_reason(DockError("d", "cover_open", "cover stuck")) == "cover stuck"
    assert error_reason(VehicleError("u", "arm", "DENIED")) == "u: arm failed: DENIED"


def test_launch_params_set_the_failsafes_return_height_and_speeds() -> None:
    cfg = FakeHost().config
    params = launch_params(cfg)
    assert params["NAV_DLL_ACT"] == 2
    assert params["RTL_RETURN_ALT"] == cfg.model.cruise_alt_rel_m
    assert params["MPC_XY_VEL_MAX"] >= 12.0


def test_the_geofence_keeps_the_drone_in_range_and_out_of_the_zones() -> None:
    zone = Box("Palace", 51.50, -0.15, 51.51, -0.14)
    fence = launch_geofence(DOCK, 5000.0, FakeAirspace([zone]))
    assert [p.inclusion for p in fence] == [True, False]
    assert (zone.south, zone.west) in fence[1].points
    assert len(launch_geofence(DOCK, 5000.0, None)) == 1


def _host(**kw: object) -> tuple[FakeHost, VehicleCommands]:
    host = FakeHost(**kw)  # type: ignore[arg-type]
    host.vehicle(DRONE).state = at(DOCK)
    return host, VehicleCommands(host)


def _launching(host: FakeHost) -> None:
    s = host.sortie_of(DRONE) or so.Sortie(DRONE, "", so.Target(0, 0))
    host.put(DRONE, replace(s, phase=c.Phase.LAUNCHING))


def test_arm_and_takeoff_go_to_the_vehicle_and_report_launch_done() -> None:
    host, cmds = _host()
    _launching(host)
    host.clock_s = 42.0
    asyncio.run(cmds.execute(DRONE, so.ArmTakeoff(30.0)))
    assert [n for n, _ in host.vehicle(DRONE).calls] == ["arm", "takeoff"]
    assert host.events == [(DRONE, so.LaunchDone(ok=True, now_s=42.0))]


def test_a_take_off_for_a_sortie_no_longer_launching_sends_nothing() -> None:
    # The drone came back down (or the launch was aborted) while the command waited its turn,
    # e.g. re-sent when its link came back: it must not arm and climb out of its dock.
    host, cmds = _host()
    host.put(DRONE, replace(host.sortie_of(DRONE) or so.Sortie(DRONE, "", so.Target(0, 0)),
                            phase=c.Phase.CHARGING))
    asyncio.run(cmds.execute(DRONE, so.ArmTakeoff(30.0)))
    assert host.vehicle(DRONE).calls == []
    assert host.events == []


def test_a_refused_arm_reports_launch_done_failed_with_the_reason() -> None:
    host, cmds = _host()
    _launching(host)
    host.vehicle(DRONE).fail = {"arm"}
    asyncio.run(cmds.execute(DRONE, so.ArmTakeoff(30.0)))
    assert host.events == [
        (DRONE, so.LaunchDone(ok=False, reason=f"{DRONE}: arm failed: COMMAND_DENIED"))
    ]
    assert [n for n, _ in host.vehicle(DRONE).calls] == ["arm"]


def test_goto_is_sent_as_amsl_height_above_the_dock() -> None:
    host, cmds = _host()
    asyncio.run(cmds.execute(DRONE, so.Goto(51.52, -0.11, 60.0)))
    assert host.vehicle(DRONE).calls == [("goto", (51.52, -0.11, DOCK.alt_amsl_m + 60.0))]
    assert host.events == [(DRONE, so.CommandDone(ok=True))]


def test_a_standby_controller_sends_nothing() -> None:
    host, cmds = _host(active=False)
    asyncio.run(cmds.execute(DRONE, so.Land()))
    assert host.vehicle(DRONE).calls == []
    assert host.events == []


def test_prepare_opens_the_cover_and_configures_the_vehicle() -> None:
    docks = FakeDocks()
    host, cmds = _host(docks=docks)
    asyncio.run(cmds.execute(DRONE, so.Prepare(DOCK.dock_id)))
    assert docks.calls == [(DOCK.dock_id, c.DockMethod.COVER_OPEN)]
    assert [n for n, _ in host.vehicle(DRONE).calls] == ["set_params", "upload_geofence"]
    assert host.events == [(DRONE, so.Prepared(ok=True))]


def test_a_stuck_cover_aborts_preparation_with_the_docks_reason() -> None:
    docks = FakeDocks(fail={c.DockMethod.COVER_OPEN})
    host, cmds = _host(docks=docks)
    asyncio.run(cmds.execute(DRONE, so.Prepare(DOCK.dock_id)))
    assert host.events == [(DRONE, so.Prepared(ok=False, reason="cover stuck"))]


def test_closing_the_cover_is_a_dock_job_while_it_runs_and_answers_the_sortie() -> None:
    docks = FakeDocks()
    host, cmds = _host(docks=docks)
    seen: list[c.DockMethod | None] = []
    real_call = docks.call

    async def call(dock_id: str, method: c.DockMethod, **kw: object) -> None:
        seen.append(host.dock_job_method(dock_id))
        await real_call(dock_id, method)

    docks.call = call  # type: ignore[method-assign]
    asyncio.run(cmds.execute(DRONE, so.DockCall(DOCK.dock_id, c.DockMethod.COVER_CLOSE)))
    assert seen == [c.DockMethod.COVER_CLOSE]
    assert host.dock_job_method(DOCK.dock_id) is None
    assert host.events == [(DRONE, so.DockClosed(ok=True))]


def test_a_failed_dock_call_is_alerted_and_a_failed_close_told_to_the_sortie() -> None:
    docks = FakeDocks(fail={c.DockMethod.COVER_CLOSE})
    host, cmds = _host(docks=docks)
    asyncio.run(cmds.execute(DRONE, so.DockCall(DOCK.dock_id, c.DockMethod.COVER_CLOSE)))
    assert host.events == [(DRONE, so.DockClosed(ok=False, reason="cover stuck"))]
    assert [(a.code, a.dock_id) for a in host.alerts] == [("dock_failed", DOCK.dock_id)]
