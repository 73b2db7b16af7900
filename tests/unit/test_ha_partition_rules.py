"""The rules of hot standby's take-over (groundstation.control.ha) and of partitioned awards
(groundstation.control.partition), and the queue rebuilt from records (groundstation.core.state):
pure functions, and a Partition over a fake host (no broker)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from groundstation import contract as c
from groundstation.adapters.bus import Message
from groundstation.control.ha import Mirror, adopting_summary, takeover_sorties
from groundstation.control.partition import (
    Partition,
    PartitionConfig,
    Round,
    award,
    incident_id_for,
    responder,
)
from groundstation.core import sortie as so
from groundstation.core.dispatch import Candidate
from groundstation.core.state import pending_incidents
from missions.geo import offset
from tests.unit.fakes import SITES, FakeHost

pytestmark = pytest.mark.unit

DOCK = SITES.docks[0]
FAR = SITES.docks[3]
DRONE = DOCK.drone_id
SCENE = offset(DOCK.lat_deg, DOCK.lon_deg, 800.0, 0.0)


def _incident(incident_id: str, status: c.IncidentStatus, drone: str | None = None,
              **kw: object) -> c.Incident:
    return c.Incident(incident_id=incident_id, status=status, lat_deg=SCENE.lat_deg,
                      lon_deg=SCENE.lon_deg, priority=2, assigned_drone=drone,
                      created_ms=1, **kw)  # type: ignore[arg-type]


# --- take-over ------------------------------------------------------------------------------------


def test_the_new_active_carries_on_the_mirrored_sortie_and_its_time_on_scene() -> None:
    host = FakeHost()
    mirror = Mirror()
    now_ms = c.now_ms()
    mirror.states[DRONE] = c.DroneState(
        drone_id=DRONE, ts_ms=now_ms, phase=c.Phase.ON_SCENE, home_dock_id=FAR.dock_id,
        incident_id="inc-1", target_lat_deg=SCENE.lat_deg, target_lon_deg=SCENE.lon_deg,
    )
    mirror.incidents["inc-1"] = _incident("inc-1", c.IncidentStatus.ON_SCENE, DRONE,
                                          on_scene_ms=now_ms - 30_000)

    def fresh(drone_id: str) -> so.Sortie:
        dock = SITES.dock_of_drone(drone_id)
        assert dock is not None
        return host.new_sortie(dock)

    rebuilt = takeover_sorties(list(host.state.drones), mirror, fresh, SITES, now_s=100.0,
                               speedup=2.0)
    assert list(rebuilt) == [DRONE]  # the others were never published: left as they are
    s = rebuilt[DRONE]
    assert (s.phase, s.incident_id, s.dock_id) == (c.Phase.ON_SCENE, "inc-1", FAR.dock_id)
    assert s.dock == so.Target(FAR.lat_deg, FAR.lon_deg)
    assert s.target == so.Target(SCENE.lat_deg, SCENE.lon_deg)
    assert s.on_scene_since_s == pytest.approx(100.0 - 60.0, abs=1.0)  # 30 s at 2x
    assert adopting_summary(rebuilt) == f"{DRONE} on_scene inc-1"
    assert adopting_summary({}) == "none"


def test_the_queue_is_rebuilt_from_records_and_the_sorties_flying_them() -> None:
    flying = replace(FakeHost().new_sortie(DOCK), phase=c.Phase.TRANSIT, incident_id="inc-2")
    records = [
        _incident("inc-1", c.IncidentStatus.QUEUED),
        _incident("inc-2", c.IncidentStatus.DISPATCHED, DRONE),  # its drone flies it
        _incident("inc-3", c.IncidentStatus.DISPATCHED, FAR.drone_id),  # its drone does not
        _incident("inc-4", c.IncidentStatus.CLOSED),
    ]
    sorties = {DRONE: flying, FAR.drone_id: FakeHost().new_sortie(FAR)}
    assert pending_incidents(records, sorties) == ["inc-1", "inc-3"]


def test_the_mirror_keeps_retained_states_and_drops_garbage() -> None:
    mirror = Mirror()
    state = c.DroneState(drone_id=DRONE, ts_ms=1, phase=c.Phase.DOCKED)
    assert mirror.handle(Message(c.drone_state(DRONE), c.encode(state)))
    assert mirror.handle(Message(c.drone_state("x"), b"{not json"))
    assert mirror.states == {DRONE: state}
    assert not mirror.handle(Message(c.drone_telemetry(DRONE), b"{}"))


# --- partition ------------------------------------------------------------------------------------


def _offer(cid: str, eta_s: float | None, drone: str | None = None) -> c.Offer:
    return c.Offer(incident_id="inc-1", controller_id=cid, eta_s=eta_s, drone_id=drone,
                   lat_deg=SCENE.lat_deg, lon_deg=SCENE.lon_deg,
                   reason=None if eta_s is not None else "no drone")


def test_the_award_is_the_least_eta_ties_to_the_least_controller() -> None:
    assert award([_offer("b", 50.0), _offer("a", 50.0), _offer("c", 80.0)]) == _offer("a", 50.0)
    assert award([_offer("a", None), _offer("b", 90.0)]) == _offer("b", 90.0)
    assert award([_offer("a", None)]) is None


def test_the_responder_is_the_lowest_live_controller_and_ids_derive_from_the_tid() -> None:
    assert responder({"ctl-0": True, "ctl-3": True}, "ctl-1") == "ctl-0"
    assert responder({"ctl-0": False}, "ctl-1") == "ctl-1"
    assert incident_id_for("t-1") == incident_id_for("t-1") != incident_id_for("t-2")


def _candidate(drone_id: str) -> Candidate:
    dock = SITES.dock_of_drone(drone_id)
    assert dock is not None
    return Candidate(drone_id=drone_id, dock_id=dock.dock_id, lat_deg=dock.lat_deg,
                     lon_deg=dock.lon_deg, dock_lat_deg=dock.lat_deg, dock_lon_deg=dock.lon_deg,
                     battery_pct=95.0, connected=True, gps_ok=True, satellites=14, armable=True,
                     dock_reason=None, wind_m_s=0.0, busy=False, airborne=False,
                     sortie_priority=None, pilot=None)


def test_my_offer_names_my_best_drone_and_reserves_it() -> None:
    host = FakeHost()
    host.cands = [_candidate(DRONE)]
    part = Partition(host, PartitionConfig())
    rnd = part._join(_incident("inc-1", c.IncidentStatus.NEW), 0)
    mine = rnd.offers[host.cid]
    assert mine.drone_id == DRONE
    assert mine.eta_s is not None
    assert part.reserved == {DRONE: "inc-1"}
    assert host.spawned == ["offer:inc-1"]


def test_the_winner_takes_the_incident_and_a_loser_drops_its_record() -> None:
    host = FakeHost()
    part = Partition(host, PartitionConfig())
    inc = _incident("inc-1", c.IncidentStatus.NEW)
    won = Round(inc, 0, offered=True, offers={
        host.cid: _offer(host.cid, 40.0, DRONE), "ctl-9": _offer("ctl-9", 90.0)})
    part._decide(won)
    assert part.owner["inc-1"] == host.cid
    assert host.incident("inc-1") == inc
    assert host.state.queue == ["inc-1"]  # the local dispatcher takes it from here
    lost = Round(inc, 1, offered=True, offers={
        host.cid: _offer(host.cid, None), "ctl-0": _offer("ctl-0", 30.0)})
    part._decide(lost)
    assert part.owner["inc-1"] == "ctl-0"
    assert host.dropped == ["inc-1", "inc-1"]  # replaced by a fresh record, then dropped
    assert host.incident("inc-1") is None
    assert host.state.queue == []


def test_with_no_drone_anywhere_the_lowest_offerer_owns_it_queued_with_every_reason() -> None:
    host = FakeHost()
    part = Partition(host, PartitionConfig())
    inc = _incident("inc-1", c.IncidentStatus.NEW)
    part._decide(Round(inc, 0, offered=True, offers={
        host.cid: _offer(host.cid, None), "ctl-9": _offer("ctl-9", None)}))
    assert [(o.status, o.reason) for o in host.owned] == [
        (c.IncidentStatus.QUEUED, f"no drone can go: {host.cid}: no drone; ctl-9: no drone")
    ]


def test_requests_about_another_controllers_drone_are_not_answered_here() -> None:
    host = FakeHost()
    part = Partition(host, PartitionConfig())
    part.drones_elsewhere.add("uav-elsewhere")
    mine = c.make_request("drone_hold", {"drone_id": DRONE})
    theirs = c.make_request("drone_hold", {"drone_id": "uav-elsewhere"})
    assert not part.handle(Message(c.operator_services("pilot"), c.encode(mine)))
    assert part.handle(Message(c.operator_services("pilot"), c.encode(theirs)))
