"""PX4's Follow Target mode driven by MAVSDK's follow_me plugin, unchanged: on the simulator, and
on real PX4 in the PX4 layer (GS_SITL_BACKEND=px4, docs/px4.md). Every check is what PX4 SIH
does (measured with bench/bench_follow.py and these tests against PX4 a70a5583)."""

from __future__ import annotations

import asyncio

import pytest
from mavsdk.asyncio.plugins.follow_me import FollowMeAsync
from mavsdk.asyncio.plugins.telemetry import FlightMode
from mavsdk.plugins.action import ActionError
from mavsdk.plugins.follow_me import Config, FollowMeError, FollowMeResult, TargetLocation

from tests.sitl.conftest import (
    Backend,
    Drone,
    choose_backend,
    dist_m,
    height_m,
    in_mode,
    offset,
    sim_sleep,
    take_off,
    vehicle_clock_s,
    wait_until,
)

pytestmark = pytest.mark.integration

HEIGHT_M = 10.0
DISTANCE_M = 8.0
TARGET_SPEED_M_S = 4.0


def _config() -> Config:
    return Config(HEIGHT_M, DISTANCE_M, 0.1, Config.FollowAltitudeMode.CONSTANT, 8.0, 180.0)


class Target:
    """A target driving north from (north_m, east 0) of home, reported at 2 Hz vehicle time.

    Where it is follows the vehicle's clock (vehicle_clock_s), not the count of reports: under
    load one MAVSDK call can take longer than the half second between two reports, and a target
    that moved 2 m per report then drove slower than the 4 m/s it reported (measured on PX4 at
    load average 14-17: 24 reports took 6.5-6.9 s of wall time instead of 4), so PX4, which
    trusts the reported velocity, flew 5-9 m off the point behind it (docs/px4.md)."""

    def __init__(self, drone: Drone, follow: FollowMeAsync, north_m: float) -> None:
        self.drone, self.follow = drone, follow
        self._north0_m = north_m
        self._since_s = vehicle_clock_s()
        self.speed_m_s = 0.0
        self.reports = 0

    @property
    def north_m(self) -> float:
        return self._north0_m + self.speed_m_s * (vehicle_clock_s() - self._since_s)

    def drive(self, speed_m_s: float) -> None:
        self._north0_m, self._since_s = self.north_m, vehicle_clock_s()
        self.speed_m_s = speed_m_s

    @property
    def lat_lon(self) -> tuple[float, float]:
        return offset(self.drone.home, self.north_m, 0.0)

    async def report(self, vehicle_s: float) -> None:
        """Report for vehicle_s vehicle seconds, one report every half vehicle second."""
        period_s = 0.5
        end_s = vehicle_clock_s() + vehicle_s
        next_s = vehicle_clock_s()
        while next_s < end_s:
            lat, lon = self.lat_lon
            try:
                await self.follow.set_target_location(TargetLocation(
                    lat, lon, self.drone.home.alt_amsl_m, self.speed_m_s, 0.0, 0.0))
                self.reports += 1
            except FollowMeError as exc:  # NOT_ACTIVE until a heartbeat shows Follow Me
                if exc.result != FollowMeResult.NOT_ACTIVE or self.reports:
                    raise
            next_s += period_s
            await sim_sleep(max(0.0, next_s - vehicle_clock_s()))


def _height_tol_m() -> float:
    """How far from FLW_TGT_HT the follow height may be: on PX4 SIH 3 m (PX4's own altitude
    acceptance before it follows sideways, ALT_ACCEPTANCE_THRESHOLD): PX4 held 8.0-10.5 m
    above home by its own estimate (docs/px4.md)."""
    return 1.5 if choose_backend() is Backend.EMBEDDED else 3.0


async def _position(d: Drone) -> tuple[float, float, float]:
    p = await d.telemetry.position()
    return p.latitude_deg, p.longitude_deg, height_m(d, p)


async def test_follow_target_climbs_then_follows_behind_then_holds_when_silent(
    drone: Drone,
) -> None:
    follow = FollowMeAsync(drone.system)
    await follow.set_config(_config())
    assert await drone.param.get_param_float("FLW_TGT_HT") == pytest.approx(HEIGHT_M)
    assert await drone.param.get_param_float("FLW_TGT_DST") == pytest.approx(DISTANCE_M)
    await drone.telemetry.set_rate_position(50.0)  # 0.4 s of vehicle time at the simulator's 20x
    await take_off(drone)
    # PX4's commander ends a take-off by switching to Hold (Commander.cpp, mission_result
    # finished while in AUTO_TAKEOFF); a mode asked for before that can lose to it, as Follow
    # Target did once on a loaded CI machine (never in FOLLOW_ME in 16.7 s). Switch after it.
    await in_mode(drone, FlightMode.HOLD, 5.0)
    lat0, lon0, _ = await _position(drone)
    await follow.start()  # DO_SET_MODE AUTO / FOLLOW_TARGET
    await in_mode(drone, FlightMode.FOLLOW_ME)
    target = Target(drone, follow, north_m=DISTANCE_M)

    # Climbs to the follow height first, without moving sideways (3 m acceptance): watched until
    # it is within the height tolerance (about 5 s of vehicle time on both), then 4 s more.
    climb = asyncio.create_task(target.report(60.0), name="follow-test-climb")
    drift = 0.0
    try:
        deadline_s = vehicle_clock_s() + 30.0
        while True:
            lat, lon, alt = await _position(drone)
            if alt < HEIGHT_M - 4.0:
                drift = max(drift, dist_m(lat, lon, lat0, lon0))
            if abs(alt - HEIGHT_M) < _height_tol_m() or vehicle_clock_s() > deadline_s:
                break
            await sim_sleep(0.25)
        await sim_sleep(4.0)
    finally:
        climb.cancel()
    lat, lon, alt = await _position(drone)
    assert abs(alt - HEIGHT_M) < _height_tol_m(), f"at {alt:.1f} m, not {HEIGHT_M} m"
    # (PX4's orbit angle starts north of the target: moving at once would mean 16 m north.)
    assert drift < 4.0, f"moved {drift:.1f} m sideways below the follow height"

    # Follows a 4 m/s target from behind at the configured distance.
    target.drive(TARGET_SPEED_M_S)
    await target.report(20.0)
    errors = []
    for _ in range(10):
        await target.report(1.0)
        lat, lon, alt = await _position(drone)
        t_lat, t_lon = target.lat_lon
        behind = offset(drone.home, target.north_m - DISTANCE_M, 0.0)
        errors.append(dist_m(lat, lon, *behind))
        assert lat < t_lat, "the drone is behind (south of) a target driving north"
        assert abs(dist_m(lat, lon, t_lat, t_lon) - DISTANCE_M) < 5.0
        assert abs(alt - HEIGHT_M) < _height_tol_m() + 1.0
    assert sorted(errors)[len(errors) // 2] < 3.0, errors
    assert await drone.telemetry.flight_mode() == FlightMode.FOLLOW_ME

    # Silence: the ground station goes away (MAVSDK's plugin destroyed: it stops repeating the
    # last position). After 3 s PX4 takes the target as stopped and holds its offset from where
    # it estimated the target to be; it stays in the mode.
    last_north = target.north_m
    follow.destroy()
    await sim_sleep(15.0)
    positions = []
    for _ in range(4):
        positions.append(await _position(drone))
        await sim_sleep(1.0)
    moved = max(dist_m(a[0], a[1], b[0], b[1]) for a in positions for b in positions)
    assert moved < 1.5, f"moved {moved:.1f} m while holding"
    lat, lon, _ = positions[-1]
    last = offset(drone.home, last_north, 0.0)
    assert dist_m(lat, lon, *last) < 4.0 * TARGET_SPEED_M_S + DISTANCE_M
    assert await drone.telemetry.flight_mode() == FlightMode.FOLLOW_ME


async def test_follow_target_is_not_refused_on_the_ground_but_arming_in_it_is(
    drone: Drone,
) -> None:
    # Real PX4 (a70a5583) accepts DO_SET_MODE Follow Target while disarmed (a mode change is
    # always allowed then) and refuses to arm in it (the mode prevents arming): the ground
    # station must refuse to track with a drone on the ground itself.
    follow = FollowMeAsync(drone.system)
    await follow.start()
    await in_mode(drone, FlightMode.FOLLOW_ME)
    with pytest.raises(ActionError):
        await drone.action.arm()
    await sim_sleep(2.0)
    assert not await drone.telemetry.armed()
    assert not await drone.telemetry.in_air()


async def test_follow_target_armed_on_the_ground_takes_off_to_the_follow_height(
    drone: Drone,
) -> None:
    follow = FollowMeAsync(drone.system)
    await follow.set_config(_config())
    await drone.action.arm()
    await follow.start()
    await in_mode(drone, FlightMode.FOLLOW_ME)
    target = Target(drone, follow, north_m=DISTANCE_M)
    reporter = asyncio.create_task(target.report(40.0), name="follow-test-ground")
    try:
        async def up() -> bool:  # in_air rides on the 1 Hz EXTENDED_SYS_STATE
            return (await _position(drone))[2] > HEIGHT_M - 1.5 and await drone.telemetry.in_air()

        await wait_until(up, 30.0, "climbing to the follow height from the ground")
        assert await drone.telemetry.flight_mode() == FlightMode.FOLLOW_ME
    finally:
        reporter.cancel()
