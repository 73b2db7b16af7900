"""Pilot takeover, and requests the controller must refuse without disturbing anything."""

from __future__ import annotations

import math

import pytest

from groundstation import contract as c
from missions.geo import distance_m, offset
from tests.controller.conftest import Stack, until

pytestmark = pytest.mark.integration

DRONE = "uav-west-end-1"
FAR_INCIDENT = (51.5040, -0.1050)  # 1.6 km south-east of the West End dock


def where(stack: Stack, drone_id: str) -> tuple[float, float, float]:
    lat, lon, alt = stack.vehicle(drone_id).state.position()
    return lat, lon, alt


async def test_a_pilot_takes_over_mid_transit_and_hands_back(stack: Stack) -> None:
    async with stack.operator("pilot") as pilot, stack.operator("pilot2") as other:
        reply = await pilot.call(
            "incident_create",
            {"lat_deg": FAR_INCIDENT[0], "lon_deg": FAR_INCIDENT[1], "priority": 1},
        )
        assert reply.data.result == 0
        await until(lambda: pilot.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")

        grab = await pilot.call("authority_grab", {"drone_id": DRONE})
        assert grab.data.result == 0
        await until(
            lambda: (st := pilot.states.get(DRONE)) is not None and st.pilot == "pilot",
            5.0,
            "the state to show the pilot",
        )

        # Goto: the drone flies to the clicked point and stops there.
        lat, lon, _ = where(stack, DRONE)
        goal = offset(lat, lon, 250.0, 0.0)
        goto = await pilot.call(
            "drone_goto",
            {
                "drone_id": DRONE,
                "lat_deg": goal.lat_deg,
                "lon_deg": goal.lon_deg,
                "alt_rel_m": 50.0,
            },
        )
        assert goto.data.result == 0, goto.data.output
        await until(
            lambda: distance_m(*where(stack, DRONE)[:2], goal.lat_deg, goal.lon_deg) < 6.0,
            30.0,
            "the drone at the goto point",
        )
        home_alt = stack.sites.dock_of_drone(DRONE).alt_amsl_m  # type: ignore[union-attr]
        assert where(stack, DRONE)[2] - home_alt == pytest.approx(50.0, abs=3.0)
        # The autonomy stays out: still in transit, no orbit started by itself.
        assert stack.run.controller.drones[DRONE].sortie.phase == c.Phase.TRANSIT

        # Orbit: it circles the point at the radius asked for.
        centre = offset(goal.lat_deg, goal.lon_deg, 0.0, 150.0)
        orbit = await pilot.call(
            "drone_orbit",
            {
                "drone_id": DRONE,
                "lat_deg": centre.lat_deg,
                "lon_deg": centre.lon_deg,
                "radius_m": 60.0,
                "speed_m_s": 6.0,
            },
        )
        assert orbit.data.result == 0, orbit.data.output
        await until(
            lambda: (
                abs(distance_m(*where(stack, DRONE)[:2], centre.lat_deg, centre.lon_deg) - 60.0)
                < 8.0
            ),
            30.0,
            "on the circle",
        )
        bearings = set()
        for _ in range(40):
            lat, lon, _ = where(stack, DRONE)
            bearings.add(
                round(math.degrees(math.atan2(lon - centre.lon_deg, lat - centre.lat_deg)) / 45)
            )
            await until(lambda: True, 0.0, "")
            import asyncio

            await asyncio.sleep(0.15)
        assert len(bearings) >= 2, "the drone should move around the circle"

        # Another operator can neither command nor grab the drone.
        refused = await other.call(
            "drone_goto",
            {
                "drone_id": DRONE,
                "lat_deg": goal.lat_deg,
                "lon_deg": goal.lon_deg,
                "alt_rel_m": 40.0,
            },
        )
        assert refused.data.result == c.Result.NOT_AUTHORITY
        assert "held by pilot" in refused.data.output["reason"]
        grab2 = await other.call("authority_grab", {"drone_id": DRONE})
        assert grab2.data.result == c.Result.NOT_AUTHORITY

        # Resume: the sortie carries on to the incident and the pilot is released.
        resume = await pilot.call("sortie_resume", {"drone_id": DRONE})
        assert resume.data.result == 0
        await until(lambda: pilot.phase(DRONE) == c.Phase.ON_SCENE, 60.0, "on scene after resume")
        assert pilot.states[DRONE].pilot is None
    commands = [(r.who, r.method, r.result) for r in stack.run.controller.journal.commands()]
    assert ("pilot", "authority_grab", 0) in commands
    assert ("pilot2", "drone_goto", int(c.Result.NOT_AUTHORITY)) in commands


async def test_bad_requests_are_refused_with_reasons_and_change_nothing(stack: Stack) -> None:
    ctl = stack.run.controller
    async with (
        stack.operator("pilot") as pilot,
        stack.operator("viewer") as viewer,
        stack.operator("cad") as cad,
    ):
        reply = await pilot.call(
            "incident_create", {"lat_deg": FAR_INCIDENT[0], "lon_deg": FAR_INCIDENT[1]}
        )
        assert reply.data.result == 0
        await until(lambda: pilot.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")
        assert (await pilot.call("authority_grab", {"drone_id": DRONE})).data.result == 0
        before = {d: rt.sortie for d, rt in ctl.drones.items()}

        # A goto into the no-fly zone.
        r = await pilot.call(
            "drone_goto",
            {"drone_id": DRONE, "lat_deg": 51.5154, "lon_deg": -0.1319, "alt_rel_m": 40.0},
        )
        assert r.data.result == c.Result.AIRSPACE and "Soho" in r.data.output["reason"]
        # An unknown drone.
        r = await pilot.call("drone_hold", {"drone_id": "uav-nowhere-9"})
        assert (
            r.data.result == c.Result.UNKNOWN_DRONE and "uav-nowhere-9" in r.data.output["reason"]
        )
        # Coordinates out of range, and NaN smuggled as a string.
        r = await pilot.call(
            "drone_goto", {"drone_id": DRONE, "lat_deg": 95.0, "lon_deg": 0.0, "alt_rel_m": 40.0}
        )
        assert r.data.result == c.Result.MALFORMED and "lat_deg" in r.data.output["reason"]
        r = await pilot.call("drone_altitude", {"drone_id": DRONE, "alt_rel_m": 500.0})
        assert r.data.result == c.Result.MALFORMED and "alt_rel_m" in r.data.output["reason"]
        # Malformed JSON: answered on the reply topic, matched by the tid it still carries.
        r = await pilot.send_raw(b'{"tid": "bad-1", "method": "drone_hold", "data": {', "bad-1")
        assert r.data.result == c.Result.MALFORMED
        r = await pilot.send_raw(b'{"tid": "bad-2", "timestamp": "soon", "method": "x"}', "bad-2")
        assert r.data.result == c.Result.MALFORMED
        # An unknown method.
        r = await pilot.call("drone_selfdestruct", {"drone_id": DRONE})
        assert r.data.result == c.Result.UNKNOWN_METHOD
        # Roles: a viewer commands nothing; a CAD system only creates and closes incidents.
        r = await viewer.call("drone_hold", {"drone_id": DRONE})
        assert r.data.result == c.Result.FORBIDDEN
        r = await cad.call("authority_grab", {"drone_id": DRONE})
        assert r.data.result == c.Result.FORBIDDEN
        # A stale request (older than the command TTL) is not acted on.
        stale = c.make_request("drone_hold", {"drone_id": DRONE})
        stale = c.Request(
            tid=stale.tid, timestamp=stale.timestamp - 120_000, method=stale.method, data=stale.data
        )
        r = await pilot.send_raw(c.encode(stale), stale.tid)
        assert r.data.result == c.Result.EXPIRED

        after = {d: rt.sortie for d, rt in ctl.drones.items()}
        assert after == before, "refused requests must not change any sortie"
        # A replayed tid gets the same answer and is not executed twice.
        req = c.make_request("drone_hold", {"drone_id": DRONE})
        first = await pilot.send_raw(c.encode(req), req.tid)
        again = await pilot.send_raw(c.encode(req), req.tid)
        assert first.data == again.data and first.data.result == 0
        holds = [r for r in ctl.journal.commands() if r.method == "drone_hold" and r.tid == req.tid]
        assert len(holds) == 1
        # And the controller keeps flying: hand back, and the sortie goes on to the scene.
        assert (await pilot.call("sortie_resume", {"drone_id": DRONE})).data.result == 0
        await until(lambda: pilot.phase(DRONE) == c.Phase.ON_SCENE, 60.0, "on scene")
