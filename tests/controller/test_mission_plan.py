"""A pilot flies a QGroundControl plan through the controller (``drone_mission``): QGC's own
simple square, rebased to where the drone is, visits every waypoint in the simulator; a plan
that would enter a no-fly zone or climb over the ceiling is refused with the item."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from groundstation import contract as c
from missions.geo import distance_m
from missions.plan import parse_plan, rebase, to_mavlink_items
from tests.controller.conftest import Stack, until

pytestmark = pytest.mark.integration

DRONE = "uav-west-end-1"
FAR_INCIDENT = (51.5040, -0.1050)
SQUARE = Path(__file__).parents[1] / "missions" / "data" / "simple_square.plan"


async def test_a_qgc_plan_is_flown_waypoint_by_waypoint(stack: Stack) -> None:
    raw = json.loads(SQUARE.read_text())
    async with stack.operator("pilot") as pilot:
        reply = await pilot.call("incident_create", {"lat_deg": FAR_INCIDENT[0],
                                                     "lon_deg": FAR_INCIDENT[1]})
        assert reply.data.result == 0
        await until(lambda: pilot.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")
        assert (await pilot.call("authority_grab", {"drone_id": DRONE})).data.result == 0

        # Over the ceiling: refused, naming the item.
        high = json.loads(json.dumps(raw))
        high["mission"]["items"][2]["params"][6] = 150
        r = await pilot.call("drone_mission", {"drone_id": DRONE, "plan": high})
        assert r.data.result == c.Result.OUT_OF_RANGE and "item 2" in r.data.output["reason"]
        # Not a plan at all.
        r = await pilot.call("drone_mission", {"drone_id": DRONE, "plan": {"fileType": "x"}})
        assert r.data.result == c.Result.MALFORMED and "plan" in r.data.output["reason"]

        lat, lon, _ = stack.vehicle(DRONE).state.position()
        home_alt = stack.sites.dock_of_drone(DRONE).alt_amsl_m  # type: ignore[union-attr]
        r = await pilot.call("drone_mission", {"drone_id": DRONE, "plan": raw, "rebase": True})
        assert r.data.result == 0, r.data.output
        assert r.data.output["items"] == 5
        # Where the waypoints are now: the same plan rebased to where the drone was.
        expected = [
            (i.x / 1e7, i.y / 1e7)
            for i in to_mavlink_items(rebase(parse_plan(raw), lat, lon, home_alt), home_alt)
            if i.command == 16
        ]
        closest = [float("inf")] * len(expected)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60.0
        while max(closest) > 6.0 and loop.time() < deadline:
            plat, plon, _ = stack.vehicle(DRONE).state.position()
            for k, (wlat, wlon) in enumerate(expected):
                closest[k] = min(closest[k], distance_m(plat, plon, wlat, wlon))
            await asyncio.sleep(0.05)
        assert max(closest) <= 6.0, f"waypoints missed by {closest} m"
        # The pilot still holds it, and the autonomy left the mission alone.
        assert stack.run.controller.drones[DRONE].sortie.pilot == "pilot"
        assert (await pilot.call("sortie_resume", {"drone_id": DRONE})).data.result == 0
        await until(lambda: pilot.phase(DRONE) == c.Phase.ON_SCENE, 60.0, "back to the sortie")
