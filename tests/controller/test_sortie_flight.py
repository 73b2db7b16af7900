"""Incidents flown by the real controller: MAVSDK over UDP to the simulator, docks and operators
over a real mosquitto. Each test checks what a pilot would see: the drone's physical position
in the simulator, its phase and the incident record on MQTT."""

from __future__ import annotations

import pytest

from groundstation import contract as c
from missions.geo import distance_m
from tests.controller.conftest import Stack, until

pytestmark = pytest.mark.integration

WEST_END_DRONE = "uav-west-end-1"
INCIDENT = (51.5120, -0.1180)  # 560 m from the West End dock, clear of the test zone


async def test_an_incident_is_dispatched_flown_and_closed(stack: Stack) -> None:
    async with stack.operator("cad") as cad:
        reply = await cad.call(
            "incident_create",
            {"lat_deg": INCIDENT[0], "lon_deg": INCIDENT[1], "priority": 2, "summary": "burglary"},
        )
        assert reply.data.result == 0, reply.data.output
        incident_id = reply.data.output["incident_id"]
        await until(
            lambda: (
                [i.status for i in cad.incidents.get(incident_id, [])][-1:]
                == [c.IncidentStatus.CLOSED]
            ),
            90.0,
            "the incident to be closed",
        )
        statuses = [i.status for i in cad.incidents[incident_id]]
        assert statuses[0] in (c.IncidentStatus.NEW, c.IncidentStatus.DISPATCHED)
        for expected in (
            c.IncidentStatus.DISPATCHED,
            c.IncidentStatus.ON_SCENE,
            c.IncidentStatus.CLOSED,
        ):
            assert expected in statuses
        record = cad.incidents[incident_id][-1]
        # The nearest drone went, and it was seen over the scene.
        assert record.assigned_drone == WEST_END_DRONE
        assert record.on_scene_ms is not None and record.on_scene_ms > record.created_ms
        assert cad.telemetry.get(WEST_END_DRONE, 0) > 50
        # It is back on its dock, landed and disarmed, and the dock closed over it.
        await until(
            lambda: cad.phase(WEST_END_DRONE) in (c.Phase.CHARGING, c.Phase.DOCKED),
            10.0,
            "the drone to be charging in its dock",
        )
        vehicle = stack.vehicle(WEST_END_DRONE)
        lat, lon, _ = vehicle.state.position()
        dock = stack.sites.dock_of_drone(WEST_END_DRONE)
        assert dock is not None
        assert distance_m(lat, lon, dock.lat_deg, dock.lon_deg) < 3.0
        assert not vehicle.state.armed
        await until(
            lambda: stack.docks.docks[dock.dock_id].state().cover_state == c.CoverState.CLOSED,
            10.0,
            "the dock cover to close",
        )
        # The other drone never left its dock.
        assert cad.phase("uav-islington-1") in (None, c.Phase.DOCKED)
        # Telemetry came at 10 Hz while it flew and at 1 Hz from the drone resting in its dock.
        flying = [t for t, in_air in cad.received[WEST_END_DRONE] if in_air]
        assert len(flying) > 30
        assert 9.0 <= rate_hz(flying) <= 11.0
        resting = [t for t, _ in cad.received["uav-islington-1"]][-8:]
        assert 0.8 <= rate_hz(resting) <= 1.25
    phases = [p[3] for p in stack.run.controller.journal.phases(WEST_END_DRONE)]
    assert phases[:4] == ["preflight", "launching", "transit", "on_scene"]
    assert phases[-1] in ("charging", "docked")


async def test_an_incident_in_a_no_fly_zone_is_rejected_with_the_zone(stack: Stack) -> None:
    async with stack.operator("cad") as cad:
        reply = await cad.call("incident_create", {"lat_deg": 51.5154, "lon_deg": -0.1319})
        assert reply.data.result == c.Result.AIRSPACE
        assert "Soho test zone" in reply.data.output["reason"]
        assert all(rt.sortie.phase == c.Phase.DOCKED for rt in stack.run.controller.drones.values())


def rate_hz(times: list[float]) -> float:
    """Messages per second over a run of arrival times."""
    return (len(times) - 1) / (times[-1] - times[0])
