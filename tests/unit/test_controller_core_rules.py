"""groundstation.controller applying its rules' decisions to its one state, with fakes of its ports
(no broker, no vehicle): the queue after a restart, dispatch, an incident handed back by its
sortie, and hot standby's take-over and step-down."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from groundstation import contract as c
from groundstation.adapters.journal import Journal
from groundstation.control.ha import Mirror
from groundstation.controller import Controller, ControllerConfig
from groundstation.core import sortie as so
from missions.geo import offset
from tests.unit.fakes import SITES, FakeBus, FakeFleet, FakeVehicle, at

pytestmark = pytest.mark.unit

WE1 = SITES.docks[3]  # west-end-1
SCENE = offset(WE1.lat_deg, WE1.lon_deg, 600.0, 0.0)


def _incident(incident_id: str, status: c.IncidentStatus, drone: str | None = None) -> c.Incident:
    return c.Incident(incident_id=incident_id, status=status, lat_deg=SCENE.lat_deg,
                      lon_deg=SCENE.lon_deg, priority=2, assigned_drone=drone, created_ms=1)


def _controller(journal: Journal | None = None, *, ready: bool = False) -> Controller:
    fleet = FakeFleet()
    if ready:  # every drone healthy on its dock, its link up
        fleet.vehicles = {d.drone_id: FakeVehicle(d.drone_id, state=at(d)) for d in SITES.docks}
    ctl = Controller(ControllerConfig(site_set=SITES), fleet=fleet, bus=FakeBus(),
                     journal=journal or Journal(":memory:"))
    if ready:
        for rt in ctl.state.drones.values():
            rt.link_ok = rt.adopted = True
    return ctl


def test_after_a_restart_the_queue_holds_what_no_drone_is_flying() -> None:
    journal = Journal(":memory:")
    flying = replace(_controller().state.drones[WE1.drone_id].sortie, phase=c.Phase.TRANSIT,
                     incident_id="inc-2", target=so.Target(SCENE.lat_deg, SCENE.lon_deg))
    journal.save_sortie(flying, phase_changed=True)
    for inc in (_incident("inc-1", c.IncidentStatus.QUEUED),
                _incident("inc-2", c.IncidentStatus.DISPATCHED, WE1.drone_id),
                _incident("inc-3", c.IncidentStatus.ON_SCENE, SITES.docks[0].drone_id),
                _incident("inc-4", c.IncidentStatus.CLOSED)):
        journal.save_incident(inc)
    ctl = _controller(journal)
    assert ctl.state.queue == ["inc-1", "inc-3"]
    assert ctl.state.drones[WE1.drone_id].sortie.phase == c.Phase.TRANSIT
    assert ctl.new_incident_id().endswith("-0005")  # numbering carries on


def test_after_a_restart_the_sorties_clocks_start_again_at_zero() -> None:
    # Mission time restarts at 0: a remembered on-scene or climb start of the old clock would
    # lie thousands of seconds ahead of the new one and hold its rule back that long.
    journal = Journal(":memory:")
    base = _controller().state.drones[WE1.drone_id].sortie
    journal.save_sortie(replace(base, phase=c.Phase.LAUNCHING, incident_id="inc-2",
                                climb_since_s=5000.0), phase_changed=True)
    ctl = _controller(journal)
    assert ctl.state.drones[WE1.drone_id].sortie.climb_since_s == 0.0
    assert ctl.state.drones[SITES.docks[0].drone_id].sortie.climb_since_s is None


def test_an_incident_goes_to_the_nearest_ready_drone_which_prepares_to_launch() -> None:
    ctl = _controller(ready=True)
    ctl.add_incident(_incident("inc-1", c.IncidentStatus.NEW))
    inc = ctl.incident("inc-1")
    assert inc is not None
    assert inc.status == c.IncidentStatus.DISPATCHED
    assert inc.assigned_drone in {d.drone_id for d in SITES.docks if d.site_id == WE1.site_id}
    assert ctl.state.queue == []
    s = ctl.state.drones[inc.assigned_drone or ""].sortie
    assert (s.phase, s.incident_id) == (c.Phase.PREFLIGHT, "inc-1")


def test_with_no_drone_ready_the_incident_stays_queued_with_the_reasons() -> None:
    ctl = _controller()
    ctl.add_incident(_incident("inc-1", c.IncidentStatus.NEW))
    inc = ctl.incident("inc-1")
    assert inc is not None
    assert inc.status == c.IncidentStatus.QUEUED
    assert inc.reason is not None
    assert inc.reason.startswith("no drone can go:")
    assert ctl.state.queue == ["inc-1"]


def test_a_launch_aborted_by_its_dock_hands_the_incident_back_and_skips_that_drone() -> None:
    ctl = _controller(ready=True)
    ctl.add_incident(_incident("inc-1", c.IncidentStatus.NEW))
    inc = ctl.incident("inc-1")
    assert inc is not None
    drone = inc.assigned_drone or ""
    ctl.apply(drone, so.Prepared(ok=False, reason="cover stuck"))
    back = ctl.incident("inc-1")
    assert back is not None
    assert back.status == c.IncidentStatus.QUEUED
    assert back.assigned_drone is None
    assert ctl.state.queue == ["inc-1"]
    assert drone in ctl.state.excluded["inc-1"]
    ctl.dispatch()
    again = ctl.incident("inc-1")
    assert again is not None
    assert again.assigned_drone not in (None, drone)


def test_a_standby_takes_over_the_mirrored_sorties_and_incidents() -> None:
    ctl = _controller()
    ctl.state.active = False
    ctl.mirror = Mirror()
    ctl.mirror.states[WE1.drone_id] = c.DroneState(
        drone_id=WE1.drone_id, ts_ms=c.now_ms(), phase=c.Phase.TRANSIT, home_dock_id=WE1.dock_id,
        incident_id="inc-1", target_lat_deg=SCENE.lat_deg, target_lon_deg=SCENE.lon_deg,
    )
    ctl.mirror.incidents["inc-1"] = _incident("inc-1", c.IncidentStatus.DISPATCHED, WE1.drone_id)
    ctl.mirror.incidents["inc-2"] = _incident("inc-2", c.IncidentStatus.QUEUED)
    ctl.take_over(7, "lease acquired")
    assert ctl.active
    assert ctl.epoch == 7
    s = ctl.state.drones[WE1.drone_id].sortie
    assert (s.phase, s.incident_id) == (c.Phase.TRANSIT, "inc-1")
    assert not ctl.state.drones[WE1.drone_id].adopted  # its first fresh sample adopts it
    assert ctl.state.queue == ["inc-2"]
    events = [e for e in ctl.journal.events() if e[2] == "ha_takeover"]
    assert len(events) == 1
    assert f"adopting: {WE1.drone_id} transit inc-1" in events[0][3]


def test_stepping_down_stops_commands_and_telemetry_at_once() -> None:
    ctl = _controller()
    ctl.take_over(3, "lease acquired")
    ctl.step_down("uav-ctl-2 holds epoch 4")
    assert not ctl.active
    assert ctl.epoch is None
    assert all(math.isinf(rt.next_tel_s) for rt in ctl.state.drones.values())
    assert any(e[2] == "ha_step_down" for e in ctl.journal.events())
