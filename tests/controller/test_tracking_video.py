"""Click-to-track end to end through mosquitto (the acceptance of issue 18): a pilot clicks the
fleeing car in the drone's picture (``drone_track`` with the point, as the console sends it); the
simulator's camera tracker locks it and reports it (CAMERA_TRACKING_*_STATUS through real
MAVSDK); the controller flies the simulator's Follow Target after it through the streets for two
minutes with the car in the picture; when the car drives into a no-fly zone the drone holds
outside its edge, orbits and alerts; when the car is gone (its getaway ends: hidden) the camera
loses it and the drone orbits its last known point (the zone's edge while the line to the car
grazes the zone's margin). The pilot sees all of it on ``drones/{id}/tracking``.

The scenario is seeded (sitl.camera.actors: camera seed 0, the getaway of the period starting
at PERIOD_START_S from the scene); the zone is put across that car's street, 150 s out."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.adapters.bus import Bus
from missions.airspace import Airspace, Zone
from missions.geo import LatLon, distance_m, offset
from sitl.camera import CameraConfig, StreamPolicy
from sitl.camera.actors import Crowd, Getaway
from tests.controller.conftest import Stack, small_sites, stack_on, until

pytestmark = pytest.mark.integration

DRONE = "uav-west-end-1"
DOCK = (51.50951, -0.12517)
SCENE = offset(DOCK[0], DOCK[1], 150.0, 0.0)
PERIOD_START_S = 8400.0
"""Simulated time the test starts the scenario at: this period's car (11.3 m/s, north, then
east along a street for 2 km) waits at the scene until PERIOD_START_S + 60 s."""
ZONE_AFTER_S = 150.0
ZONE_RADIUS_M = 90.0
ZONE_SIDE_M = 80.0


def the_car() -> Getaway:
    return Crowd(0).getaways(SCENE.lat_deg, SCENE.lon_deg, PERIOD_START_S)[0]


def car_at(car: Getaway, t_s: float) -> LatLon | None:
    p = car.lat_lon_at(t_s)
    return LatLon(*p) if p is not None else None


def zone_centre(car: Getaway) -> LatLon:
    """ZONE_SIDE_M to the right of where the car is ZONE_AFTER_S into its drive: its street
    crosses the zone's edge (a chord of 2 * sqrt(90^2 - 80^2) = 82 m)."""
    t = car.depart_s + ZONE_AFTER_S
    p, a = car_at(car, t), car.at(t)
    assert p is not None and a is not None
    h = math.radians(a.heading_deg)
    return offset(p.lat_deg, p.lon_deg, -ZONE_SIDE_M * math.sin(h), ZONE_SIDE_M * math.cos(h))


def the_zone(car: Getaway) -> Zone:
    c = zone_centre(car)
    return Zone.circle("Test zone on the getaway route", c.lat_deg, c.lon_deg, ZONE_RADIUS_M)


@contextlib.asynccontextmanager
async def statuses(stack: Stack) -> AsyncIterator[list[c.TrackingStatus]]:
    """The drones' tracking statuses as a console gets them (retained, on the broker)."""
    seen: list[c.TrackingStatus] = []
    async with Bus(stack.broker.with_login("pilot", None), f"trk-{os.getpid()}") as bus:
        await bus.subscribe(c.ALL_DRONE_TRACKING, 1)

        async def pump() -> None:
            async for msg in bus.messages():
                if msg.payload:
                    seen.append(c.decode(msg.payload, c.TrackingStatus))

        task = asyncio.create_task(pump(), name="test:tracking-statuses")
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_click_the_fleeing_car_follow_hold_at_a_zone_and_lose_it(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    car = the_car()
    zone = the_zone(car)
    airspace = Airspace.load_default().with_zones([zone])
    camera = CameraConfig(video_base_port=free_udp_range(2), policy=StreamPolicy.OFF)
    async with stack_on(mosquitto.config, small_sites(), tmp_path / "journal.sqlite",
                        on_scene_s=900.0, airspace=airspace, camera=camera) as stack:
        sim = stack.sim
        index = next(d.fleet_index for d in stack.sites.docks if d.drone_id == DRONE)
        vehicle, cam = sim.vehicles[index], sim.cameras[index]
        # The scenario's period: every vehicle's clock moved on together (all are docked).
        jump = PERIOD_START_S + 5.0 - sim.sim_time_s
        assert jump > 0
        sim.sim_time_s += jump
        for v in sim.vehicles:
            v.state.sim_time_s += jump

        def now_s() -> float:
            return float(vehicle.state.sim_time_s)

        def drone() -> tuple[float, float]:
            lat, lon, _ = vehicle.state.position()
            return lat, lon

        async with stack.operator("pilot") as pilot, statuses(stack) as seen:
            created = await pilot.call("incident_create", {
                "lat_deg": SCENE.lat_deg, "lon_deg": SCENE.lon_deg, "priority": 1,
                "summary": "armed robbery, suspects leaving by car"})
            assert created.data.result == 0

            # The pilot sees the car in the picture (the camera's ROI is the scene from launch)
            # and clicks it: where the camera draws it (tests/sitl/test_camera_geometry.py).
            def in_picture() -> tuple[float, float] | None:
                hit = next((s for s in cam.seen() if s.actor.ident == car.ident), None)
                return hit.centre if hit is not None else None

            await until(lambda: pilot.phase(DRONE) == c.Phase.TRANSIT and in_picture(), 40.0,
                        "the drone in transit with the car in its picture")
            assert now_s() < car.depart_s, "the car left before the pilot could click it"
            x_px, y_px = in_picture() or (0.0, 0.0)
            r = await pilot.call("drone_track", {
                "drone_id": DRONE, "source": "video", "x": x_px / 1280, "y": y_px / 720,
                "reason": "armed robbery suspects fleeing, s.24 PACE"})
            assert r.data.result == 0, r.data.output
            await until(lambda: seen and seen[-1].state == c.TrackState.FOLLOWING, 10.0,
                        "FOLLOWING on drones/{id}/tracking")
            assert cam.tracker.key is not None and cam.tracker.key[1] == car.ident

            # Two minutes of the car driving away through the streets: followed, in the picture.
            await until(lambda: now_s() > car.depart_s, 20.0, "the car leaving")
            start = drone()
            in_view = samples = 0
            gaps: list[tuple[float, float]] = []  # (s since the car left, drone to car m)
            while now_s() < car.depart_s + 120.0:
                await asyncio.sleep(0.1)
                st = seen[-1]
                truth = car_at(car, now_s())
                assert truth is not None
                assert st.state == c.TrackState.FOLLOWING, (st.state, st.detail)
                samples += 1
                in_view += st.box is not None
                gaps.append((now_s() - car.depart_s,
                             distance_m(*drone(), truth.lat_deg, truth.lon_deg)))
            assert in_view >= 0.9 * samples, f"the car in the picture {in_view}/{samples}"
            assert distance_m(*start, *drone()) > 500.0, "the drone did not follow"
            # Follow Target flies straight at the car (cutting its corners). With the product's
            # tilt limit (60 deg) the drone is faster than the 11.3 m/s car: it catches up from
            # wherever the click left it (10x: a wall second of delay is 110 m of driving) and
            # stays close behind for the last 30 s of the two minutes. Measured: 8-26 m behind
            # throughout on a quiet machine; in a CI run 215 m at most, caught up 50 s in.
            late = [gap for t, gap in gaps if t > 90.0]
            assert late and max(late) < 60.0, [round(g) for _, g in gaps[::10]]
            assert max(gap for _, gap in gaps) < 600.0, [round(g) for _, g in gaps[::10]]

            # Into the zone: held outside its edge, orbiting, alerted; never inside.
            inside = 0

            def held() -> bool:
                nonlocal inside
                inside += airspace.check_point(*drone()) is not None
                return seen[-1].state == c.TrackState.HELD

            # (A wall-clock bound only, loose for a loaded machine: 10 s timed out once in CI;
            # what is checked is HELD, alerted, and never inside.)
            await until(held, 30.0, "HELD at the zone's edge")
            assert zone.name in seen[-1].detail
            await until(lambda: any(a.code == "tracking_held" for a in pilot.alerts), 3.0,
                        "the held alert")
            hold = stack.run.controller.tracking.runs[DRONE].run.hold
            assert hold is not None
            centre = zone_centre(car)
            assert distance_m(hold.lat_deg, hold.lon_deg, *centre) > ZONE_RADIUS_M + 150.0

            def orbiting() -> bool:
                held()
                return distance_m(*drone(), hold.lat_deg, hold.lon_deg) < 40.0 + 25.0

            await until(orbiting, 15.0, "the drone orbiting at the edge")
            circling = 0
            while held() and circling < 20:  # up to 20 s of orbiting while the car crosses
                assert distance_m(*drone(), hold.lat_deg, hold.lon_deg) < 40.0 + 25.0
                circling += 1
                await asyncio.sleep(0.1)
            assert circling >= 5 and inside == 0, (circling, inside)

            # Past the zone the car drives on and is gone (its getaway ends: hidden); the camera
            # loses it: LOST, and the drone orbits its last known point, which is the zone's
            # edge while the straight line from there to the car still grazes the zone's margin
            # (the vehicle's geofence: tracking_rules.near_route), else where the car was last
            # seen.
            end = car.depart_s + car.duration_s
            last = car_at(car, end - 0.05)
            assert last is not None
            await until(lambda: now_s() > end, 20.0, "the car hidden")
            await until(lambda: seen[-1].state == c.TrackState.LOST, 5.0,
                        f"LOST ({seen[-1].state}: {seen[-1].detail} {seen[-1].stop_reason})")
            assert "camera lost" in seen[-1].detail
            before = [s.state for s in seen if s.state != c.TrackState.LOST][-1]
            await until(lambda: any(a.code == "tracking_lost" for a in pilot.alerts), 3.0,
                        "the lost alert")
            at = stack.run.controller.tracking.runs[DRONE].run.hold
            assert at is not None
            if before == c.TrackState.FOLLOWING:
                assert distance_m(at.lat_deg, at.lon_deg, last.lat_deg, last.lon_deg) < 40.0
            else:
                assert before == c.TrackState.HELD and at == hold
            await until(lambda: distance_m(*drone(), at.lat_deg, at.lon_deg) < 70.0, 15.0,
                        "the drone at the last known point")
            radii = []
            for _ in range(30):  # 30 s of orbiting it
                await asyncio.sleep(0.1)
                radii.append(distance_m(*drone(), at.lat_deg, at.lon_deg))
            assert max(radii) < 40.0 + 40.0, [round(x) for x in radii]
            assert max(radii) - min(radii) < 40.0  # round it, not flying off
            assert inside == 0 and airspace.check_point(*drone()) is None

        # Who started it and why, in the journal.
        events = [e[3] for e in stack.run.controller.journal.events()
                  if e[2] == "tracking_started"]
        assert len(events) == 1 and "pilot" in events[0] and "s.24 PACE" in events[0]
