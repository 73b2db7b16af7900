"""Tracking end to end through mosquitto: the controller, the simulator's Follow Target flown by
real MAVSDK, a police car's AVL positions on ``units/car-7/position``. The drone follows the
moving car, orbits its last known point when it goes quiet, follows again, stops at a no-fly
zone's edge and orbits there when the car drives in; requests without a reason, for an unknown
unit, a target inside a zone or by a pilot who does not hold the drone are refused; who started
and stopped it, when and why, is in the journal and the report."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from groundstation.tools.report import build_report, open_read_only, render_text
from missions.airspace import Airspace
from missions.geo import LatLon, distance_m, offset, to_local_m
from tests.controller.conftest import NO_FLY, SPEEDUP, Stack, small_sites, stack_on, until

pytestmark = pytest.mark.integration

DRONE = "uav-west-end-1"
DOCK = (51.50951, -0.12517)
START = offset(DOCK[0], DOCK[1], 250.0, -180.0)  # the incident; the car starts here
ZONE = (51.5154, -0.1319)  # NO_FLY's centre, 150 m radius
CAR_SPEED_M_S = 5.0


@dataclass
class Car:
    """A police car's AVL: drives from ``START`` towards a point at a speed (simulation time),
    publishing its position and velocity every 0.1 s of wall time (1 s at 10x)."""

    bus: Bus
    pos: LatLon = START
    heading: tuple[float, float] = (0.0, 0.0)
    quiet: bool = False
    sent: int = 0
    track: list[tuple[float, float]] = field(default_factory=list)

    def drive_to(self, lat: float, lon: float, speed_m_s: float = CAR_SPEED_M_S) -> None:
        n, e = to_local_m(self.pos.lat_deg, self.pos.lon_deg, lat, lon)
        d = max(1e-6, (n * n + e * e) ** 0.5)
        self.heading = (n / d * speed_m_s, e / d * speed_m_s)

    def stop(self) -> None:
        self.heading = (0.0, 0.0)

    async def run(self) -> None:
        dt_wall = 0.1
        while True:
            vn, ve = self.heading
            self.pos = offset(self.pos.lat_deg, self.pos.lon_deg, vn * dt_wall * SPEEDUP,
                              ve * dt_wall * SPEEDUP)
            self.track.append((self.pos.lat_deg, self.pos.lon_deg))
            if not self.quiet:
                msg = c.TargetPosition(id="car-7", ts_ms=c.now_ms(), lat_deg=self.pos.lat_deg,
                                       lon_deg=self.pos.lon_deg, vel_n_m_s=vn, vel_e_m_s=ve)
                await self.bus.publish(c.unit_position("car-7"), c.encode(msg), qos=0)
                self.sent += 1
            await asyncio.sleep(dt_wall)


@contextlib.asynccontextmanager
async def car_on(stack: Stack) -> AsyncIterator[Car]:
    async with Bus(stack.broker.with_login("avl", None), f"avl-{os.getpid()}") as bus:
        car = Car(bus)
        task = asyncio.create_task(car.run(), name="test:car")
        try:
            yield car
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def stack(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Stack]:
    """The controller conftest's stack with time on scene to spare (tracking stops its clock;
    the refusals come first)."""
    airspace = Airspace.load_default().with_zones([NO_FLY])
    async with stack_on(mosquitto.config, small_sites(), tmp_path / "journal.sqlite",
                        on_scene_s=600.0, airspace=airspace) as s:
        yield s


def drone_at(stack: Stack) -> tuple[float, float]:
    lat, lon, _ = stack.vehicle(DRONE).state.position()
    return lat, lon


def tracking(stack: Stack) -> c.TrackingStatus:
    return stack.run.controller.tracking.status(stack.run.controller.tracking.runs[DRONE])


def state(stack: Stack) -> c.TrackState | None:
    t = stack.run.controller.tracking.runs.get(DRONE)
    return t.run.state if t is not None else None


async def test_following_a_unit_lost_found_held_at_a_zone_and_stopped(stack: Stack) -> None:
    track_req = {"drone_id": DRONE, "source": "unit", "unit_id": "car-7",
                 "reason": "pursuit of a stolen car, s.17 PACE"}
    async with stack.operator("pilot") as pilot, stack.operator("pilot2") as other:
        created = await pilot.call(
            "incident_create", {"lat_deg": START.lat_deg, "lon_deg": START.lon_deg,
                                "priority": 1, "summary": "car theft"})
        assert created.data.result == 0
        await until(lambda: pilot.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")

        # Refusals: unknown unit, no reason, held by another pilot, a target inside a zone.
        r = await pilot.call("drone_track", track_req)
        assert r.data.result == c.Result.UNKNOWN_TARGET, r.data.output
        assert "car-7" in r.data.output["reason"]
        async with car_on(stack) as car:
            await until(lambda: car.sent >= 3, 5.0, "the car's first positions")
            r = await pilot.call("drone_track", {**track_req, "reason": "  "})
            assert r.data.result == c.Result.MALFORMED and "legal basis" in r.data.output["reason"]
            assert (await other.call("authority_grab", {"drone_id": DRONE})).data.result == 0
            r = await pilot.call("drone_track", track_req)
            assert r.data.result == c.Result.NOT_AUTHORITY, r.data.output
            assert (await other.call("authority_release", {"drone_id": DRONE})).data.result == 0
            zone_unit = c.TargetPosition(id="van-9", ts_ms=c.now_ms(), lat_deg=ZONE[0],
                                         lon_deg=ZONE[1])
            await car.bus.publish(c.unit_position("van-9"), c.encode(zone_unit), qos=0)
            await asyncio.sleep(0.3)
            r = await pilot.call("drone_track", {**track_req, "unit_id": "van-9"})
            assert r.data.result == c.Result.AIRSPACE and "Soho" in r.data.output["reason"]

            # Tracking starts from transit: on scene, following the car.
            r = await pilot.call("drone_track", track_req)
            assert r.data.result == 0, r.data.output
            await until(lambda: pilot.phase(DRONE) == c.Phase.ON_SCENE, 5.0, "on scene")
            await until(lambda: state(stack) == c.TrackState.FOLLOWING, 5.0, "following")
            await until(lambda: distance_m(*drone_at(stack), car.pos.lat_deg,
                                           car.pos.lon_deg) < 25.0, 40.0, "the drone at the car")

            # The car drives off, away from the zone (south-east): the drone keeps up.
            car.drive_to(*offset(START.lat_deg, START.lon_deg, -300.0, 300.0))
            gaps = []
            for _ in range(60):  # 6 s wall, 60 s of driving
                await asyncio.sleep(0.1)
                gaps.append(distance_m(*drone_at(stack), car.pos.lat_deg, car.pos.lon_deg))
            gaps.sort()
            assert gaps[len(gaps) // 2] < 25.0 and gaps[int(len(gaps) * 0.95)] < 35.0, gaps

            # The car goes quiet: lost, and the drone orbits its last known point.
            car.stop()
            car.quiet = True
            last = car.pos
            await until(lambda: state(stack) == c.TrackState.LOST, 10.0, "lost")
            await until(lambda: any(a.code == "tracking_lost" for a in pilot.alerts), 3.0,
                        "the lost alert")
            await asyncio.sleep(3.0)  # 30 s of orbiting
            for _ in range(20):
                d = distance_m(*drone_at(stack), last.lat_deg, last.lon_deg)
                assert d < 40.0 + 20.0, d
                await asyncio.sleep(0.1)

            # Heard again: following; then it drives into the zone: held at the edge.
            car.quiet = False
            await until(lambda: state(stack) == c.TrackState.FOLLOWING, 5.0, "following again")
            car.drive_to(*ZONE, speed_m_s=8.0)
            inside = 0
            ctl = stack.run.controller
            air = ctl.airspace
            assert air is not None

            def held() -> bool:
                nonlocal inside
                if air.check_point(*drone_at(stack)) is not None:
                    inside += 1
                return state(stack) == c.TrackState.HELD

            await until(held, 30.0, "held at the zone's edge")
            assert "Soho" in tracking(stack).detail
            await until(lambda: any(a.code == "tracking_held" for a in pilot.alerts), 3.0,
                        "the held alert")
            hold = stack.run.controller.tracking.runs[DRONE].run.hold
            assert hold is not None
            # The orbit's centre: outside the zone by the stand-off and the orbit's radius.
            assert distance_m(hold.lat_deg, hold.lon_deg, *ZONE) > 150.0 + 30.0 + 40.0 - 5.0

            def orbiting() -> bool:
                held()
                return distance_m(*drone_at(stack), hold.lat_deg, hold.lon_deg) < 40.0 + 25.0

            await until(orbiting, 20.0, "the drone orbiting at the edge")
            radii = []
            for _ in range(40):  # 4 s wall, 40 s of orbiting: outside the zone, at its edge
                await asyncio.sleep(0.1)
                assert air.check_point(*drone_at(stack)) is None
                radii.append(round(distance_m(*drone_at(stack), hold.lat_deg, hold.lon_deg)))
            assert max(radii) < 40.0 + 25.0, (radii, ctl.sample(DRONE).flight_mode)
            assert inside == 0
            assert NO_FLY.name in tracking(stack).detail

            # Stopped by the pilot: back to orbiting on scene, the sortie no longer tracking.
            r = await pilot.call("drone_track_stop", {"drone_id": DRONE, "reason": "lost sight"})
            assert r.data.result == 0, r.data.output
            await until(lambda: not ctl.drones[DRONE].sortie.tracking, 3.0, "sortie not tracking")
            assert ctl.drones[DRONE].sortie.phase == c.Phase.ON_SCENE
            r = await pilot.call("drone_track_stop", {"drone_id": DRONE})
            assert r.data.result == c.Result.INVALID_STATE

    # Who, when, why: the journal and the report.
    events = [e for e in ctl.journal.events() if e[2].startswith("tracking_")]
    started = [e[3] for e in events if e[2] == "tracking_started"]
    stopped = [e[3] for e in events if e[2] == "tracking_stopped"]
    assert len(started) == 1 and "pilot" in started[0] and "s.17 PACE" in started[0]
    assert len(stopped) == 1 and "stopped by pilot" in stopped[0] and "lost sight" in stopped[0]
    refused = [cmd for cmd in ctl.journal.commands() if cmd.method == "drone_track" and cmd.result]
    res = c.Result
    assert {cmd.result for cmd in refused} >= {
        res.UNKNOWN_TARGET, res.MALFORMED, res.NOT_AUTHORITY, res.AIRSPACE}
    text = render_text(build_report(open_read_only(stack.journal)))
    assert "tracking (2: who, when, why)" in text and "lost sight" in text
