"""The sortie state machine, event by event, as a pilot would follow it on the console."""

from __future__ import annotations

from dataclasses import replace

import pytest

from groundstation.contract import DockMethod, IncidentStatus, Phase
from groundstation.core import sortie as so

pytestmark = pytest.mark.unit

DOCK = so.Target(51.5, -0.12)
SCENE = so.Target(51.51, -0.11)


def docked() -> so.Sortie:
    return so.Sortie(drone_id="d1", dock_id="k1", dock=DOCK, on_scene_s=60.0)


def run(s: so.Sortie, *events: so.Event) -> tuple[so.Sortie, list[so.Action]]:
    actions: list[so.Action] = []
    for ev in events:
        s, acts = so.step(s, ev)
        actions += acts
    return s, actions


def airborne_on_scene() -> so.Sortie:
    s, _ = run(
        docked(),
        so.Launch("i1", SCENE, 2, 0.0),
        so.Prepared(ok=True),
        so.LaunchDone(ok=True),
        so.Reached(so.Goal.SAFE_ALT, 10.0),
        so.Reached(so.Goal.SCENE, 50.0),
    )
    assert s.phase == Phase.ON_SCENE
    return s


def test_a_whole_sortie_walks_every_phase_with_the_right_commands() -> None:
    s = docked()
    s, acts = so.step(s, so.Launch("i1", SCENE, 2, 0.0))
    assert s.phase == Phase.PREFLIGHT and acts == [so.Prepare("k1")]
    s, acts = so.step(s, so.Prepared(ok=True))
    assert s.phase == Phase.LAUNCHING and acts == [so.ArmTakeoff(s.safe_alt_rel_m)]
    s, acts = so.step(s, so.Reached(so.Goal.SAFE_ALT, 10.0))
    assert s.phase == Phase.TRANSIT
    assert so.Goto(SCENE.lat_deg, SCENE.lon_deg, s.cruise_alt_rel_m) in acts
    assert so.DockCall("k1", DockMethod.COVER_CLOSE) in acts
    s, acts = so.step(s, so.Reached(so.Goal.SCENE, 50.0))
    assert s.phase == Phase.ON_SCENE
    assert any(isinstance(a, so.Orbit) for a in acts)
    assert so.SetIncident("i1", IncidentStatus.ON_SCENE) in acts
    s, acts = so.step(s, so.Tick(100.0))
    assert s.phase == Phase.ON_SCENE and acts == []  # 50 s of the 60 s on scene
    s, acts = so.step(s, so.Tick(110.0))
    assert s.phase == Phase.RETURNING
    assert so.Goto(DOCK.lat_deg, DOCK.lon_deg, s.cruise_alt_rel_m) in acts
    assert so.DockCall("k1", DockMethod.COVER_OPEN) in acts
    s, acts = so.step(s, so.Reached(so.Goal.DOCK, 150.0))
    assert s.phase == Phase.LANDING and acts == [so.Land()]
    s, acts = so.step(s, so.Landed(at_dock=True))
    assert s.phase == Phase.CHARGING and s.incident_id is None
    assert so.DockCall("k1", DockMethod.COVER_CLOSE) in acts
    s, _ = so.step(s, so.Charged())
    assert s.phase == Phase.DOCKED


def test_a_failed_dock_opening_hands_the_incident_back() -> None:
    s, acts = run(
        docked(), so.Launch("i1", SCENE, 2, 0.0), so.Prepared(ok=False, reason="cover stuck")
    )
    assert s.phase == Phase.DOCKED and s.incident_id is None
    assert s.reason == "cover stuck"
    assert any(isinstance(a, so.Requeue) and a.incident_id == "i1" for a in acts)


def test_a_refused_arm_aborts_the_launch_and_requeues() -> None:
    s, acts = run(
        docked(),
        so.Launch("i1", SCENE, 2, 0.0),
        so.Prepared(ok=True),
        so.LaunchDone(ok=False, reason="COMMAND_DENIED"),
    )
    assert s.phase == Phase.DOCKED
    assert any(isinstance(a, so.Requeue) for a in acts)


def launching() -> so.Sortie:
    s, _ = run(
        docked(),
        so.Launch("i1", SCENE, 2, 0.0),
        so.Prepared(ok=True),
        so.LaunchDone(ok=True, now_s=12.0),
    )
    assert s.phase == Phase.LAUNCHING and s.climb_since_s == 12.0
    return s


def test_a_drone_that_came_down_on_its_dock_during_take_off_hands_the_incident_back() -> None:
    # Its own failsafe (GPS lost in the climb) landed it back on the dock, and it disarmed.
    s, acts = so.step(launching(), so.Landed(at_dock=True))
    assert s.phase == Phase.CHARGING and s.incident_id is None
    assert s.reason == "came down during take-off"
    assert any(isinstance(a, so.Requeue) and a.incident_id == "i1" for a in acts)
    assert so.DockCall("k1", DockMethod.COVER_CLOSE) in acts
    assert any(isinstance(a, so.Alert) and a.code == "launch_failed" for a in acts)


def test_a_drone_that_came_down_away_during_take_off_waits_for_recovery() -> None:
    s, acts = so.step(launching(), so.Landed(at_dock=False))
    assert s.phase == Phase.FAULT and s.incident_id is None
    assert any(isinstance(a, so.Requeue) and a.incident_id == "i1" for a in acts)
    assert any(isinstance(a, so.Alert) and a.code == "landed_away" for a in acts)


def test_landed_before_the_take_off_was_accepted_means_nothing_yet() -> None:
    s, _ = run(docked(), so.Launch("i1", SCENE, 2, 0.0), so.Prepared(ok=True))
    after, acts = so.step(s, so.Landed(at_dock=True))
    assert after == s and acts == []


def test_the_link_back_during_take_off_does_not_send_the_take_off_again() -> None:
    # The vehicle carried on climbing, or its link-loss action landed it: the climb's rules
    # (safe height, came down, stalled) decide; a second take-off could lift it off its dock
    # after the sortie had ended.
    s = replace(launching(), last_failsafe=str(so.Failsafe.LINK_LOST))
    s, acts = so.step(s, so.LinkRecovered())
    assert s.phase == Phase.LAUNCHING and s.last_failsafe is None
    assert not any(isinstance(a, so.ArmTakeoff) for a in acts)
    assert any(isinstance(a, so.Alert) and a.code == "link_recovered" for a in acts)


def test_a_stalled_climb_hands_the_incident_back_and_lands_on_the_dock() -> None:
    s, acts = so.step(launching(), so.ClimbStalled("not at the safe height"))
    assert s.phase == Phase.LANDING and s.incident_id is None
    assert any(isinstance(a, so.Requeue) and a.incident_id == "i1" for a in acts)
    assert so.Land() in acts
    s, acts = so.step(s, so.Landed(at_dock=True))
    assert s.phase == Phase.CHARGING
    # A pilot who holds the drone keeps it: the machine does nothing of its own.
    held, acts = so.step(replace(launching(), pilot="alice"), so.ClimbStalled("x"))
    assert held.phase == Phase.LAUNCHING and acts == []


def test_a_pilot_holding_authority_stops_the_autonomy() -> None:
    s = airborne_on_scene()
    s, acts = so.step(s, so.PilotGrab("alice"))
    assert s.pilot == "alice" and acts == []
    # Time on scene runs out, but the autonomy issues nothing while the pilot flies.
    s, acts = so.step(s, so.Tick(1000.0))
    assert s.phase == Phase.ON_SCENE and acts == []
    s, acts = so.step(s, so.Resume())
    assert s.pilot is None
    assert any(isinstance(a, so.Orbit) for a in acts)


def test_battery_low_returns_and_requeues_the_incident() -> None:
    s, acts = so.step(airborne_on_scene(), so.FailsafeRaised(so.Failsafe.BATTERY_LOW, "29%"))
    assert s.phase == Phase.RETURNING and s.last_failsafe == "battery_low"
    assert any(isinstance(a, so.Requeue) and a.incident_id == "i1" for a in acts)
    assert any(isinstance(a, so.Alert) and a.code == "failsafe_battery_low" for a in acts)


def test_battery_critical_lands_where_it_is_and_ends_in_fault() -> None:
    s, acts = so.step(airborne_on_scene(), so.FailsafeRaised(so.Failsafe.BATTERY_CRITICAL))
    assert s.phase == Phase.LANDING and so.Land() in acts
    s, acts = so.step(s, so.Landed(at_dock=False))
    assert s.phase == Phase.FAULT
    assert any(isinstance(a, so.Alert) and a.code == "landed_away" for a in acts)


def test_a_drone_carried_back_onto_a_dock_is_in_service_again() -> None:
    s, _ = run(
        airborne_on_scene(),
        so.FailsafeRaised(so.Failsafe.BATTERY_CRITICAL),
        so.Landed(at_dock=False),
    )
    assert s.phase == Phase.FAULT
    other = so.Target(51.52, -0.10)
    s, acts = so.step(s, so.Recovered("k2", other))
    assert (s.phase, s.dock_id, s.dock, s.reason) == (Phase.CHARGING, "k2", other, None)
    assert so.DockCall("k2", DockMethod.COVER_CLOSE) in acts
    assert any(isinstance(a, so.Alert) and a.code == "recovered" for a in acts)
    s, _ = so.step(s, so.Charged())
    assert s.phase == Phase.DOCKED
    # Only a drone in fault is "recovered": in flight or at rest it means nothing.
    for phase_of in (airborne_on_scene(), docked()):
        assert so.step(phase_of, so.Recovered("k2", other)) == (phase_of, [])


def test_link_loss_keeps_the_plan_and_recovery_reissues_it() -> None:
    s, acts = so.step(airborne_on_scene(), so.FailsafeRaised(so.Failsafe.LINK_LOST))
    assert s.phase == Phase.ON_SCENE and s.last_failsafe == "link_lost"
    assert all(isinstance(a, so.Alert) for a in acts)
    s, acts = so.step(s, so.LinkRecovered())
    assert s.last_failsafe is None
    assert any(isinstance(a, so.Orbit) for a in acts)


def test_priority_one_redirect_requeues_the_old_incident() -> None:
    other = so.Target(51.52, -0.10)
    s, acts = so.step(airborne_on_scene(), so.Redirect("i9", other, 1))
    assert s.phase == Phase.TRANSIT and s.incident_id == "i9" and s.target == other
    assert any(isinstance(a, so.Requeue) and a.incident_id == "i1" for a in acts)
    assert so.Goto(other.lat_deg, other.lon_deg, s.cruise_alt_rel_m) in acts


def test_adopting_a_drone_in_the_air_reissues_its_phase_command() -> None:
    s, acts = so.step(airborne_on_scene(), so.Adopt(in_air=True))
    assert s.phase == Phase.ON_SCENE
    assert any(isinstance(a, so.Orbit) for a in acts)


def test_adopting_before_takeoff_aborts_rather_than_launching_twice() -> None:
    s, _ = so.step(docked(), so.Launch("i1", SCENE, 2, 0.0))
    s, acts = so.step(s, so.Adopt(in_air=False))
    assert s.phase == Phase.DOCKED
    assert any(isinstance(a, so.Requeue) for a in acts)


def test_a_failed_command_is_retried_on_the_next_tick() -> None:
    s, acts = so.step(airborne_on_scene(), so.CommandDone(ok=False, reason="TIMEOUT"))
    assert not s.command_ok and any(isinstance(a, so.Alert) for a in acts)
    s, acts = so.step(s, so.Tick(60.0))
    assert s.command_ok and any(isinstance(a, so.Orbit) for a in acts)


def test_events_out_of_phase_change_nothing() -> None:
    s = docked()
    for ev in (
        so.Reached(so.Goal.SCENE, 1.0),
        so.Landed(at_dock=True),
        so.Recall("x"),
        so.Prepared(ok=True),
        so.Tick(5.0),
    ):
        after, acts = so.step(s, ev)
        assert after == s and acts == []


def test_adopting_a_drone_that_came_home_by_itself_ends_its_sortie_at_the_dock() -> None:
    s, _ = so.step(airborne_on_scene(), so.Adopt(in_air=False, at_dock=True))
    assert s.phase == Phase.CHARGING and s.incident_id is None


def test_adopting_a_drone_down_away_from_a_dock_is_a_fault() -> None:
    s, _ = so.step(airborne_on_scene(), so.Adopt(in_air=False, at_dock=False))
    assert s.phase == Phase.FAULT


def test_adopting_a_launch_that_never_left_the_ground_aborts_it() -> None:
    s, _ = run(docked(), so.Launch("i1", SCENE, 2, 0.0), so.Prepared(ok=True))
    s, acts = so.step(s, so.Adopt(in_air=False))
    assert s.phase == Phase.DOCKED
    assert any(isinstance(a, so.Requeue) for a in acts)


def test_closing_the_incident_before_take_off_cancels_the_launch() -> None:
    s, _ = so.step(docked(), so.Launch("i1", SCENE, 2, 0.0))
    s, acts = so.step(s, so.Recall("incident closed by cad1"))
    # The dock is still opening: nothing is sent until it and the vehicle are prepared.
    assert s.phase == Phase.PREFLIGHT and s.incident_id is None and acts == []
    s, acts = so.step(s, so.Prepared(ok=True))
    assert s.phase == Phase.DOCKED and not s.busy
    assert acts[0] == so.DockCall("k1", DockMethod.COVER_CLOSE)
    assert not any(isinstance(a, so.ArmTakeoff | so.Requeue) for a in acts)
    alert = next(a for a in acts if isinstance(a, so.Alert))
    assert alert.code == "launch_cancelled" and "closed by cad1" in alert.message
    # A preparation that failed meanwhile also ends docked with the cover closing, no requeue.
    s, _ = run(docked(), so.Launch("i1", SCENE, 2, 0.0), so.Recall("x"))
    s, acts = so.step(s, so.Prepared(ok=False, reason="cover stuck"))
    assert s.phase == Phase.DOCKED and so.DockCall("k1", DockMethod.COVER_CLOSE) in acts
    assert not any(isinstance(a, so.Requeue) for a in acts)


def test_closing_the_incident_during_take_off_brings_the_drone_straight_back() -> None:
    s, _ = run(docked(), so.Launch("i1", SCENE, 2, 0.0), so.Prepared(ok=True))
    s, acts = so.step(s, so.Recall("incident closed by cad1"))
    assert s.phase == Phase.LAUNCHING and s.incident_id is None and acts == []
    s, acts = so.step(s, so.Reached(so.Goal.SAFE_ALT, 8.0))
    # Back to its own dock, not to the scene; the cover stays open for the landing.
    assert s.phase == Phase.RETURNING and s.target is None
    assert so.Goto(DOCK.lat_deg, DOCK.lon_deg, s.cruise_alt_rel_m) in acts
    assert not any(isinstance(a, so.Goto) and a.lat_deg == SCENE.lat_deg for a in acts)
    assert so.DockCall("k1", DockMethod.COVER_CLOSE) not in acts
    assert not any(isinstance(a, so.SetIncident) for a in acts)
    s, acts = run(s, so.Reached(so.Goal.DOCK, 20.0), so.Landed(at_dock=True))
    assert s.phase == Phase.CHARGING and so.DockCall("k1", DockMethod.COVER_CLOSE) in acts


def test_closing_the_incident_in_transit_recalls_at_once() -> None:
    s, _ = run(
        docked(),
        so.Launch("i1", SCENE, 2, 0.0),
        so.Prepared(ok=True),
        so.Reached(so.Goal.SAFE_ALT, 10.0),
    )
    s, acts = so.step(s, so.Recall("incident closed"))
    assert s.phase == Phase.RETURNING
    assert so.Goto(DOCK.lat_deg, DOCK.lon_deg, s.cruise_alt_rel_m) in acts


def test_alerts_about_a_dock_name_the_dock() -> None:
    _, acts = run(docked(), so.Launch("i1", SCENE, 2, 0.0), so.Prepared(ok=False, reason="stuck"))
    assert [a.dock_id for a in acts if isinstance(a, so.Alert)] == ["k1"]
    _, acts = so.step(airborne_on_scene(), so.FailsafeRaised(so.Failsafe.DOCK_OFFLINE))
    assert [a.dock_id for a in acts if isinstance(a, so.Alert)] == ["k1"]
    _, acts = so.step(airborne_on_scene(), so.FailsafeRaised(so.Failsafe.LINK_LOST))
    assert [a.dock_id for a in acts if isinstance(a, so.Alert)] == [None]
    _, acts = so.step(airborne_on_scene(), so.AlternateDock("k2", DOCK))
    assert [a.dock_id for a in acts if isinstance(a, so.Alert)] == ["k2"]
