"""groundstation.control.watch: what a drone's sample means for its sortie (conditions, failsafes,
diversion, health gates), as pure rules and through :class:`Watch` over a fake host."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from groundstation import contract as c
from groundstation.control import watch
from groundstation.core import sortie as so
from groundstation.core.state import DroneRuntime
from missions.geo import offset
from tests.unit.fakes import SITES, FakeDocks, FakeHost, at

pytestmark = pytest.mark.unit

CFG = FakeHost().config
DOCK = SITES.docks[0]  # islington-1
OTHER = SITES.docks[1]  # islington-2, 7.6 m east
FAR = SITES.docks[3]  # west-end-1
SCENE = offset(DOCK.lat_deg, DOCK.lon_deg, 1500.0, 0.0)


def sortie(phase: c.Phase, **kw: object) -> so.Sortie:
    base = FakeHost().new_sortie(DOCK)
    target = so.Target(SCENE.lat_deg, SCENE.lon_deg)
    return replace(base, phase=phase, incident_id="inc-1", target=target, **kw)  # type: ignore[arg-type]


def test_landing_on_its_own_dock_is_landed_at_dock() -> None:
    events = watch.phase_events(
        sortie(c.Phase.LANDING), at(DOCK), 10.0, SITES.docks, set(), CFG.charged_pct
    )
    assert events == [so.Landed(at_dock=True)]


def test_landing_on_another_dock_switches_home_first() -> None:
    events = watch.phase_events(
        sortie(c.Phase.LANDING), at(OTHER), 10.0, SITES.docks, set(), CFG.charged_pct
    )
    assert events == [
        so.AlternateDock(OTHER.dock_id, so.Target(OTHER.lat_deg, OTHER.lon_deg)),
        so.Landed(at_dock=True),
    ]


def test_a_drone_that_came_down_away_from_any_dock_is_landed_away() -> None:
    field = at(DOCK, lat_deg=SCENE.lat_deg, lon_deg=SCENE.lon_deg)
    events = watch.phase_events(
        sortie(c.Phase.TRANSIT), field, 10.0, SITES.docks, set(), CFG.charged_pct
    )
    assert events == [so.Landed(at_dock=False)]


def test_launch_reaches_safe_height_within_1_5_m() -> None:
    s = sortie(c.Phase.LAUNCHING)
    low = at(DOCK, in_air=True, armed=True, alt_rel_m=s.safe_alt_rel_m - 2.0)
    high = at(DOCK, in_air=True, armed=True, alt_rel_m=s.safe_alt_rel_m - 1.0)
    assert watch.phase_events(s, low, 5.0, SITES.docks, set(), CFG.charged_pct) == []
    assert watch.phase_events(s, high, 5.0, SITES.docks, set(), CFG.charged_pct) == [
        so.Reached(so.Goal.SAFE_ALT, 5.0)
    ]


def test_a_take_off_that_came_back_down_is_landed_once_the_heartbeat_can_show_it() -> None:
    # Take-off accepted at 100 s; PX4's failsafe landed it on its dock and it disarmed.
    s = sortie(c.Phase.LAUNCHING, climb_since_s=100.0)
    down = at(DOCK)
    # Within the first heartbeats after the arm, disarmed on the ground is what MAVSDK still
    # shows for a drone that is taking off: not judged yet.
    assert watch.phase_events(s, down, 102.0, SITES.docks, set(), CFG.charged_pct) == []
    assert watch.phase_events(s, down, 103.0, SITES.docks, set(), CFG.charged_pct) == [
        so.Landed(at_dock=True)
    ]
    # Armed on the ground (spooling up) or before the take-off was accepted: not down.
    spooling = at(DOCK, armed=True)
    assert watch.phase_events(s, spooling, 110.0, SITES.docks, set(), CFG.charged_pct) == []
    before = sortie(c.Phase.LAUNCHING)
    assert watch.phase_events(before, down, 500.0, SITES.docks, set(), CFG.charged_pct) == []


def test_a_climb_that_does_not_reach_the_safe_height_in_time_is_stalled() -> None:
    s = sortie(c.Phase.LAUNCHING, climb_since_s=100.0)
    hover = at(DOCK, in_air=True, armed=True, alt_rel_m=6.0)
    args = (SITES.docks, set[str](), CFG.charged_pct)
    assert watch.phase_events(s, hover, 100.0 + watch.CLIMB_TIMEOUT_S, *args) == []
    stalled = watch.phase_events(s, hover, 101.0 + watch.CLIMB_TIMEOUT_S, *args)
    assert len(stalled) == 1 and isinstance(stalled[0], so.ClimbStalled)
    assert "at 6 m" in stalled[0].reason
    # A pilot holding the drone low is left to fly it.
    held = replace(s, pilot="alice")
    assert watch.phase_events(held, hover, 1000.0, *args) == []


def test_launch_limits_are_wall_seconds_at_a_simulation_speed_up() -> None:
    assert watch.launch_limits(1.0) == (watch.CAME_DOWN_AFTER_WALL_S, watch.CLIMB_TIMEOUT_S)
    # At 100x, three wall seconds are 300 mission seconds, and the climb gets ten wall seconds.
    assert watch.launch_limits(100.0) == (300.0, 1000.0)


def test_transit_reaches_the_scene_at_orbit_radius_plus_15_m() -> None:
    s = sortie(c.Phase.TRANSIT)
    assert s.target is not None
    near = offset(s.target.lat_deg, s.target.lon_deg, -(s.orbit_radius_m + 10.0), 0.0)
    away = offset(s.target.lat_deg, s.target.lon_deg, -(s.orbit_radius_m + 40.0), 0.0)
    flying = at(DOCK, in_air=True, armed=True, alt_rel_m=60.0)
    reached = watch.phase_events(
        s, replace(flying, lat_deg=near.lat_deg, lon_deg=near.lon_deg), 7.0, SITES.docks,
        set(), CFG.charged_pct,
    )
    assert reached == [so.Reached(so.Goal.SCENE, 7.0)]
    assert watch.phase_events(
        s, replace(flying, lat_deg=away.lat_deg, lon_deg=away.lon_deg), 7.0, SITES.docks,
        set(), CFG.charged_pct,
    ) == []


def test_charging_ends_at_the_charged_level() -> None:
    s = sortie(c.Phase.CHARGING)
    assert watch.phase_events(s, at(DOCK, battery_pct=CFG.charged_pct - 1), 0.0, SITES.docks,
                              set(), CFG.charged_pct) == []
    assert watch.phase_events(s, at(DOCK, battery_pct=CFG.charged_pct), 0.0, SITES.docks,
                              set(), CFG.charged_pct) == [so.Charged()]


def test_a_faulted_drone_carried_onto_a_free_dock_is_recovered_but_not_onto_a_claimed_one() -> None:
    s = sortie(c.Phase.FAULT)
    assert watch.phase_events(s, at(FAR), 0.0, SITES.docks, set(), CFG.charged_pct) == [
        so.Recovered(FAR.dock_id, so.Target(FAR.lat_deg, FAR.lon_deg))
    ]
    assert watch.phase_events(s, at(FAR), 0.0, SITES.docks, {FAR.dock_id}, CFG.charged_pct) == []


def test_battery_critical_comes_before_low_and_each_only_once() -> None:
    s = sortie(c.Phase.TRANSIT)
    rt = DroneRuntime(s)
    flying = at(DOCK, in_air=True, armed=True)
    low = watch.battery_failsafe(s, rt, replace(flying, battery_pct=25.0), CFG)
    crit = watch.battery_failsafe(s, rt, replace(flying, battery_pct=10.0), CFG)
    assert low == so.FailsafeRaised(so.Failsafe.BATTERY_LOW, "25%")
    assert crit == so.FailsafeRaised(so.Failsafe.BATTERY_CRITICAL, "10%")
    rt.battery_low = True
    assert watch.battery_failsafe(s, rt, replace(flying, battery_pct=25.0), CFG) is None
    docked = sortie(c.Phase.DOCKED)
    assert watch.battery_failsafe(docked, rt, at(DOCK, battery_pct=5.0), CFG) is None


def test_the_alternate_dock_is_the_nearest_usable_unclaimed_one_in_range() -> None:
    s = sortie(c.Phase.RETURNING)
    smp = at(DOCK, in_air=True, armed=True)
    usable = {d.dock_id for d in SITES.docks}
    best = watch.alternate_dock(s, smp, SITES.docks, usable, set(), CFG.model.max_range_m)
    assert best == OTHER
    claimed = {OTHER.dock_id, SITES.docks[2].dock_id}
    best = watch.alternate_dock(s, smp, SITES.docks, usable, claimed, CFG.model.max_range_m)
    assert best is not None
    assert best.site_id != DOCK.site_id  # the site's other docks are taken
    assert watch.alternate_dock(s, smp, SITES.docks, set(), set(), CFG.model.max_range_m) is None


def test_health_gates_say_which_gate_failed_and_why() -> None:
    gates = watch.health_gates(
        at(DOCK, satellites=4, battery_pct=20.0), link_ok=False, dock_reason="offline",
        min_satellites=CFG.model.min_satellites, battery_low_pct=CFG.battery_low_pct,
    )
    assert gates.failed == ["gps", "battery", "dock: offline", "link"]
    assert not gates.gps_ok and not gates.battery_ok and not gates.dock_ok and gates.armable


# --- through Watch over a fake host ---------------------------------------------------------------


def _flying(host: FakeHost, phase: c.Phase) -> DroneRuntime:
    rt = host.state.drones[DOCK.drone_id]
    rt.sortie = sortie(phase)
    rt.adopted = rt.link_ok = True
    return rt


def test_watch_raises_battery_critical_once_and_the_machine_lands() -> None:
    host = FakeHost()
    rt = _flying(host, c.Phase.TRANSIT)
    smp = at(DOCK, in_air=True, armed=True, alt_rel_m=60.0, battery_pct=12.0)
    w = watch.Watch(host)
    w.conditions(DOCK.drone_id, rt, smp, 1.0)
    w.conditions(DOCK.drone_id, rt, smp, 1.1)
    raised = [e for _, e in host.events if isinstance(e, so.FailsafeRaised)]
    assert raised[0] == so.FailsafeRaised(so.Failsafe.BATTERY_CRITICAL, "12%")
    assert [e.kind for e in raised].count(so.Failsafe.BATTERY_CRITICAL) == 1
    assert rt.sortie.phase == c.Phase.LANDING
    assert (DOCK.drone_id, so.Land()) in host.actions


def test_watch_gps_loss_is_raised_once_and_its_recovery_resends_the_plan() -> None:
    host = FakeHost()
    rt = _flying(host, c.Phase.ON_SCENE)
    w = watch.Watch(host)
    lost = at(DOCK, in_air=True, armed=True, alt_rel_m=60.0, satellites=3)
    w.conditions(DOCK.drone_id, rt, lost, 1.0)
    w.conditions(DOCK.drone_id, rt, lost, 1.1)
    assert [e for _, e in host.events if isinstance(e, so.FailsafeRaised)] == [
        so.FailsafeRaised(so.Failsafe.GPS_LOST, "3 satellites")
    ]
    assert [rt.gps_lost] == [True]
    w.conditions(DOCK.drone_id, rt, replace(lost, satellites=14), 1.2)
    assert [rt.gps_lost] == [False]
    assert [a.code for a in host.alerts] == ["gps_recovered"]
    assert host.started == [(DOCK.drone_id, a) for a in so.flight_command(rt.sortie)]
    assert host.started


def test_watch_diverts_only_after_the_home_dock_stayed_unusable() -> None:
    host = FakeHost(docks=FakeDocks(unusable={DOCK.dock_id: "offline"}))
    rt = _flying(host, c.Phase.RETURNING)
    other = host.state.drones[OTHER.drone_id]
    other.sortie = replace(other.sortie, phase=c.Phase.FAULT)  # its dock is free
    smp = at(DOCK, in_air=True, armed=True, alt_rel_m=40.0, ground_speed_m_s=8.0)
    w = watch.Watch(host)
    w.conditions(DOCK.drone_id, rt, smp, 1.0)
    assert not any(isinstance(e, so.AlternateDock) for _, e in host.events)
    assert rt.dock_bad_since is not None
    rt.dock_bad_since = time.monotonic() - watch.DIVERT_AFTER_S - 0.1
    w.conditions(DOCK.drone_id, rt, smp, 2.0)
    assert rt.sortie.dock_id == OTHER.dock_id


def test_watch_says_once_when_no_dock_is_free() -> None:
    everything = {d.dock_id: "offline" for d in SITES.docks}
    host = FakeHost(docks=FakeDocks(unusable=everything))
    rt = _flying(host, c.Phase.RETURNING)
    rt.dock_bad_since = time.monotonic() - watch.DIVERT_AFTER_S - 0.1
    smp = at(DOCK, in_air=True, armed=True, alt_rel_m=40.0, ground_speed_m_s=8.0)
    w = watch.Watch(host)
    w.conditions(DOCK.drone_id, rt, smp, 1.0)
    w.conditions(DOCK.drone_id, rt, smp, 1.1)
    assert [a.code for a in host.alerts] == ["no_alternate_dock"]
    assert rt.sortie.dock_id == DOCK.dock_id


def test_watch_publishes_the_state_when_health_changes_only() -> None:
    host = FakeHost()
    rt = host.state.drones[DOCK.drone_id]
    rt.link_ok = True
    w = watch.Watch(host)
    w.health(DOCK.drone_id, rt, at(DOCK))
    w.health(DOCK.drone_id, rt, at(DOCK))
    assert host.spawned == [f"state:{DOCK.drone_id}"]
    assert rt.health.failed == []
