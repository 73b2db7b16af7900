"""groundstation.control.services: operator requests checked in order, refused with a code and a
reason (journaled, nothing changed), or carried out through the controller's own methods; pure rules
and :class:`OperatorServices` over a fake host (no broker)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import msgspec
import pytest

from groundstation import contract as c
from groundstation.control.services import (
    OperatorServices,
    holder_refusal,
    mission_refusal,
    target_refusal,
)
from groundstation.core import sortie as so
from missions.geo import offset
from missions.plan import MavlinkItem
from tests.unit.fakes import SITES, Box, FakeAirspace, FakeHost, at

pytestmark = pytest.mark.unit

R = c.Result
DOCK = SITES.docks[0]
DRONE = DOCK.drone_id
MODEL = FakeHost().config.model
NEAR = offset(DOCK.lat_deg, DOCK.lon_deg, 1000.0, 0.0)
ZONE = Box("the Palace", NEAR.lat_deg - 0.001, NEAR.lon_deg - 0.001,
           NEAR.lat_deg + 0.001, NEAR.lon_deg + 0.001)


def _sortie(phase: c.Phase = c.Phase.TRANSIT, pilot: str | None = "pilot") -> so.Sortie:
    return replace(FakeHost().new_sortie(DOCK), phase=phase, pilot=pilot)


# --- pure rules -----------------------------------------------------------------------------------


def test_flight_commands_need_authority() -> None:
    assert holder_refusal(_sortie(), "pilot") is None
    refused = holder_refusal(_sortie(), "pilot2")
    assert refused is not None
    assert refused.result == R.NOT_AUTHORITY
    assert "held by pilot" in refused.reason
    free = holder_refusal(_sortie(pilot=None), "pilot2")
    assert free is not None
    assert "authority_grab" in free.reason


def test_a_target_beyond_range_is_refused_with_the_distance() -> None:
    far = offset(DOCK.lat_deg, DOCK.lon_deg, MODEL.max_range_m + 500.0, 0.0)
    refused = target_refusal(_sortie(), far.lat_deg, far.lon_deg, MODEL, None, None)
    assert refused is not None
    assert refused.result == R.OUT_OF_RANGE
    assert "km from the dock" in refused.reason


def test_a_target_in_a_zone_or_behind_one_is_refused_naming_it() -> None:
    air = FakeAirspace([ZONE])
    inside = target_refusal(_sortie(), NEAR.lat_deg, NEAR.lon_deg, MODEL, air, None)
    assert inside is not None
    assert (inside.result, inside.reason) == (R.AIRSPACE, "inside the Palace")
    beyond = offset(NEAR.lat_deg, NEAR.lon_deg, 500.0, 0.0)
    here = (DOCK.lat_deg, DOCK.lon_deg)
    behind = target_refusal(_sortie(), beyond.lat_deg, beyond.lon_deg, MODEL, air, here)
    assert behind is not None
    assert behind.result == R.AIRSPACE
    assert "the Palace" in behind.reason
    assert target_refusal(_sortie(), beyond.lat_deg, beyond.lon_deg, MODEL, air, None) is None


def _item(seq: int, lat: float, lon: float, alt_rel_m: float) -> MavlinkItem:
    return MavlinkItem(seq=seq, frame=3, command=16, current=0, autocontinue=1, param1=0.0,
                       param2=0.0, param3=0.0, param4=0.0, x=round(lat * 1e7),
                       y=round(lon * 1e7), z=alt_rel_m, mission_type=0)


def test_a_mission_over_the_ceiling_or_across_a_zone_is_refused_at_its_item() -> None:
    s = _sortie()
    a = offset(DOCK.lat_deg, DOCK.lon_deg, 0.0, -400.0)
    b = offset(NEAR.lat_deg, NEAR.lon_deg, 0.0, 400.0)
    ok = [_item(0, a.lat_deg, a.lon_deg, 60.0), _item(1, DOCK.lat_deg, DOCK.lon_deg, 60.0)]
    assert mission_refusal(s, ok, DOCK.alt_amsl_m, MODEL, FakeAirspace([ZONE]), None) is None
    high = [*ok, _item(2, a.lat_deg, a.lon_deg, 150.0)]
    refused = mission_refusal(s, high, DOCK.alt_amsl_m, MODEL, None, None)
    assert refused is not None
    assert refused.result == R.OUT_OF_RANGE
    assert refused.reason.startswith("item 2: 150 m above home")
    across = [_item(0, DOCK.lat_deg, DOCK.lon_deg, 60.0),
              _item(1, NEAR.lat_deg - 0.002, NEAR.lon_deg, 60.0),
              _item(2, NEAR.lat_deg + 0.002, NEAR.lon_deg, 60.0),
              _item(3, b.lat_deg, b.lon_deg, 60.0)]
    refused = mission_refusal(s, across, DOCK.alt_amsl_m, MODEL, FakeAirspace([ZONE]), None)
    assert refused is not None
    assert refused.reason.startswith("leg to item 2:")


# --- answering, over a fake host ------------------------------------------------------------------


def _ask(
    svc: OperatorServices, host: FakeHost, user: str, method: str, data: dict[str, Any],
    *, tid: str | None = None, age_s: float = 0.0,
) -> c.Reply:
    req = c.make_request(method, data)
    req = msgspec.structs.replace(req, timestamp=req.timestamp - int(age_s * 1000),
                                  tid=tid or req.tid)
    before = len(host.fake_bus.published)
    asyncio.run(svc.handle(user, c.encode(req)))
    topic, body, _, _ = host.fake_bus.published[before]
    assert topic == c.operator_services_reply(user)
    return c.decode(body, c.Reply)


def _result(reply: c.Reply) -> tuple[int, str | None]:
    return reply.data.result, reply.data.output.get("reason")


def test_requests_are_refused_in_order_with_a_reason_and_journaled() -> None:
    host = FakeHost()
    svc = OperatorServices(host)
    assert _result(_ask(svc, host, "pilot", "fly_away", {}))[0] == R.UNKNOWN_METHOD
    old = _ask(svc, host, "pilot", "authority_grab", {"drone_id": DRONE}, age_s=600.0)
    assert _result(old)[0] == R.EXPIRED
    viewer = _ask(svc, host, "viewer", "authority_grab", {"drone_id": DRONE})
    assert _result(viewer) == (R.FORBIDDEN, "role viewer may not call authority_grab")
    bad = _ask(svc, host, "pilot", "drone_goto", {"drone_id": DRONE, "lat_deg": 99.0})
    assert _result(bad)[0] == R.MALFORMED
    unknown = _ask(svc, host, "pilot", "authority_grab", {"drone_id": "nobody"})
    assert _result(unknown)[0] == R.UNKNOWN_DRONE
    assert [r.result for r in host.fake_journal.commands] == [
        R.UNKNOWN_METHOD, R.EXPIRED, R.FORBIDDEN, R.MALFORMED, R.UNKNOWN_DRONE
    ]
    assert host.events == []


def test_a_replayed_tid_gets_the_first_answer_and_acts_once() -> None:
    host = FakeHost()
    svc = OperatorServices(host)
    first = _ask(svc, host, "pilot", "authority_grab", {"drone_id": DRONE}, tid="t-1")
    again = _ask(svc, host, "pilot", "authority_grab", {"drone_id": DRONE}, tid="t-1")
    assert first == again
    assert host.events == [(DRONE, so.PilotGrab("pilot"))]


def test_an_incident_in_a_zone_is_created_rejected_and_refused_as_airspace() -> None:
    host = FakeHost(airspace=FakeAirspace([ZONE]))
    svc = OperatorServices(host)
    reply = _ask(svc, host, "cad", "incident_create",
                 {"lat_deg": NEAR.lat_deg, "lon_deg": NEAR.lon_deg, "incident_id": "inc-z"})
    assert _result(reply) == (R.AIRSPACE, "incident inc-z rejected: inside the Palace")
    inc = host.incident("inc-z")
    assert inc is not None
    assert inc.status == c.IncidentStatus.REJECTED
    assert host.state.queue == []


def test_an_incident_is_queued_and_a_duplicate_refused() -> None:
    host = FakeHost()
    svc = OperatorServices(host)
    data = {"lat_deg": NEAR.lat_deg, "lon_deg": NEAR.lon_deg, "incident_id": "inc-1"}
    reply = _ask(svc, host, "cad", "incident_create", data)
    assert reply.data.result == R.OK
    assert reply.data.output["status"] == "new"
    assert host.state.queue == ["inc-1"]
    assert _result(_ask(svc, host, "cad", "incident_create", data))[0] == R.DUPLICATE


def test_closing_an_incident_recalls_its_drone_through_apply() -> None:
    host = FakeHost()
    svc = OperatorServices(host)
    host.add_incident(c.Incident(incident_id="inc-1", status=c.IncidentStatus.DISPATCHED,
                                 lat_deg=NEAR.lat_deg, lon_deg=NEAR.lon_deg, priority=2,
                                 created_ms=c.now_ms()))
    host.put(DRONE, replace(_sortie(pilot=None), incident_id="inc-1",
                            target=so.Target(NEAR.lat_deg, NEAR.lon_deg)))
    reply = _ask(svc, host, "dispatcher", "incident_close", {"incident_id": "inc-1"})
    assert reply.data.output == {"incident_id": "inc-1", "status": "closed",
                                 "drone_id": DRONE, "drone_action": "recalled"}
    assert host.events == [(DRONE, so.Recall("incident closed by dispatcher"))]
    assert host.sortie_of(DRONE) is not None
    assert host.sortie_of(DRONE).phase == c.Phase.RETURNING  # type: ignore[union-attr]


def test_goto_needs_the_drone_in_the_air_and_goes_at_amsl() -> None:
    host = FakeHost()
    svc = OperatorServices(host)
    host.put(DRONE, _sortie(phase=c.Phase.DOCKED))
    goto = {"drone_id": DRONE, "lat_deg": NEAR.lat_deg, "lon_deg": NEAR.lon_deg, "alt_rel_m": 50.0}
    assert _result(_ask(svc, host, "pilot", "drone_goto", goto))[0] == R.INVALID_STATE
    host.put(DRONE, _sortie())
    assert _result(_ask(svc, host, "pilot", "drone_goto", goto)) == (
        R.VEHICLE_FAILED, f"{DRONE} is not connected"
    )
    host.vehicle(DRONE).state = at(DOCK, in_air=True, armed=True, alt_rel_m=60.0)
    assert _ask(svc, host, "pilot", "drone_goto", goto).data.result == R.OK
    assert host.vehicle(DRONE).calls == [
        ("goto", (NEAR.lat_deg, NEAR.lon_deg, DOCK.alt_amsl_m + 50.0))
    ]
    host.vehicle(DRONE).fail = {"goto"}
    failed = _ask(svc, host, "pilot", "drone_goto", goto)
    assert _result(failed) == (R.VEHICLE_FAILED, "goto: COMMAND_DENIED")
