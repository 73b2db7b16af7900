"""Missions, geofence, parameters, faults and several vehicles, with real MAVSDK over UDP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from mavsdk.asyncio.plugins.action import ActionError
from mavsdk.asyncio.plugins.failure import FailureAsync, FailureError, FailureType, FailureUnit
from mavsdk.asyncio.plugins.geofence import (
    Circle,
    FenceType,
    GeofenceAsync,
    GeofenceData,
    Point,
    Polygon,
)
from mavsdk.asyncio.plugins.telemetry import FlightMode as TelemetryFlightMode
from pymavlink.dialects.v20 import common as mav

from groundstation.adapters.mavsdk_link import PX4_STREAM_RATES_HZ, DroneEndpoint, MavsdkFleet
from sitl import FlightMode, Home
from tests.sitl.conftest import (
    HOME,
    Drone,
    VehicleUrl,
    armed,
    connect,
    dist_m,
    free_udp_ports,
    goto,
    height_m,
    landed_disarmed_at_home,
    offset,
    px4_speed,
    sim_sleep,
    take_off,
    wait_until,
)

pytestmark = pytest.mark.integration
DATA = Path(__file__).parent / "data"


def rebased_plan(name: str, home: Home) -> str:
    """A QGC plan moved so that its planned home is `home`."""
    plan = json.loads((DATA / name).read_text(encoding="utf-8"))
    h_lat, h_lon, h_alt = plan["mission"]["plannedHomePosition"]
    d_lat, d_lon = home.lat_deg - h_lat, home.lon_deg - h_lon
    for item in plan["mission"]["items"]:
        p = item["params"]
        if p[4] or p[5]:
            p[4] += d_lat
            p[5] += d_lon
        if item.get("frame") == 0 and p[6] is not None:
            p[6] += home.alt_amsl_m - h_alt
    plan["mission"]["plannedHomePosition"] = [home.lat_deg, home.lon_deg, home.alt_amsl_m]
    return json.dumps(plan)


@pytest.mark.px4slow
@pytest.mark.parametrize("sim_speedup", [40.0])
async def test_mission_simple_square(drone: Drone) -> None:
    imported = await drone.mission.import_qgroundcontrol_mission_from_string(
        rebased_plan("simple_square.plan", drone.home)
    )
    items = imported.mission_items
    assert [i.command for i in items] == [22, 16, 16, 16, 16]
    await drone.param.set_param_float("RTL_RETURN_ALT", 25.0)
    await drone.mission.upload_mission(items)
    downloaded = await drone.mission.download_mission()
    assert [(i.command, i.x, i.y) for i in downloaded] == [(i.command, i.x, i.y) for i in items]
    await drone.action.arm()
    await drone.mission.start_mission()

    async def finished() -> bool:
        return bool(await drone.mission.is_mission_finished())

    await wait_until(finished, 30.0, "mission finished")
    progress = await drone.mission.mission_progress()
    assert (progress.current, progress.total) == (5, 5)
    last = items[-1]

    async def at_last_waypoint() -> bool:
        p = await drone.telemetry.position()
        return dist_m(p.latitude_deg, p.longitude_deg, last.x * 1e-7, last.y * 1e-7) < 2.0

    await wait_until(at_last_waypoint, 5.0, "holding at the last waypoint")
    assert abs(height_m(drone, await drone.telemetry.position()) - 20.0) < 1.0
    await drone.mission.clear_mission()
    assert await drone.mission.download_mission() == []
    await drone.action.return_to_launch()
    await landed_disarmed_at_home(drone, timeout_s=20.0)


async def test_geofence_upload_and_arming_outside_it(drone: Drone) -> None:
    fence = GeofenceAsync(drone.system)
    far_lat, far_lon = offset(drone.home, 500.0, 0.0)
    await fence.upload_geofence(GeofenceData(
        polygons=[],
        circles=[Circle(Point(far_lat, far_lon), 100.0, FenceType.INCLUSION)],
    ))
    # PX4 arms outside an inclusion fence (the simulator once refused: a belief PX4 contradicted).
    await drone.action.arm()
    await armed(drone)
    await drone.action.disarm()
    await armed(drone, expected=False)
    corners = [offset(drone.home, n, e) for n, e in ((-60, -60), (-60, 60), (60, 60), (60, -60))]
    await fence.upload_geofence(GeofenceData(
        polygons=[Polygon([Point(a, b) for a, b in corners], FenceType.INCLUSION)], circles=[],
    ))
    downloaded = await drone.mission.download_geofence()
    assert [i.command for i in downloaded] == [5001] * 4
    assert {i.param1 for i in downloaded} == {4.0}  # vertex count


@pytest.mark.px4slow
async def test_reposition_outside_the_geofence_is_refused(drone: Drone) -> None:
    fence = GeofenceAsync(drone.system)
    corners = [offset(drone.home, n, e) for n, e in ((-40, -40), (-40, 40), (40, 40), (40, -40))]
    await fence.upload_geofence(GeofenceData(
        polygons=[Polygon([Point(a, b) for a, b in corners], FenceType.INCLUSION)], circles=[],
    ))
    await take_off(drone)
    await goto(drone, 20.0, 0.0, 10.0)  # inside: flown
    lat, lon = offset(drone.home, 100.0, 0.0)
    # PX4 acknowledges a goto outside its fence but does not go ("Reposition is outside
    # geofence"): it never breaches, so GF_ACTION is not exercised by a goto.
    await drone.action.goto_location(lat, lon, drone.home.alt_amsl_m + 10.0, 0.0)
    await sim_sleep(15.0)
    p = await drone.telemetry.position()
    north_lat, north_lon = offset(drone.home, 20.0, 0.0)
    assert dist_m(p.latitude_deg, p.longitude_deg, north_lat, north_lon) < 5.0
    assert await drone.telemetry.flight_mode() == TelemetryFlightMode.HOLD
    await drone.action.return_to_launch()
    await landed_disarmed_at_home(drone)


async def test_params_get_set_with_px4_types(drone: Drone) -> None:
    p = drone.param
    assert await p.get_param_int("NAV_DLL_ACT") == 0
    # PX4's SITL startup script stretches COM_DL_LOSS_T by PX4_SIM_SPEED_FACTOR.
    assert await p.get_param_int("COM_DL_LOSS_T") == round(10 * px4_speed())
    assert await p.get_param_int("GF_ACTION") == 2
    assert await p.get_param_float("RTL_RETURN_ALT") == pytest.approx(30.0)  # multicopter
    assert await p.get_param_float("MPC_XY_CRUISE") == pytest.approx(5.0)
    assert await p.get_param_float("BAT_LOW_THR") == pytest.approx(0.15)
    await p.set_param_int("NAV_DLL_ACT", 2)
    await p.set_param_float("RTL_RETURN_ALT", 45.5)
    assert await p.get_param_int("NAV_DLL_ACT") == 2
    assert await p.get_param_float("RTL_RETURN_ALT") == pytest.approx(45.5)
    assert await drone.action.get_return_to_launch_altitude() == pytest.approx(45.5)
    everything = await p.get_all_params()
    names = {i.name for i in everything.int_params} | {f.name for f in everything.float_params}
    assert {"MIS_TAKEOFF_ALT", "SYS_FAILURE_EN", "COM_DISARM_LAND", "BAT_CRIT_THR"} <= names


@pytest.mark.simonly(reason="PX4 SIH does not answer INJECT_FAILURE for the GPS (times out)")
async def test_gps_failure_denies_arming(drone: Drone) -> None:
    with pytest.raises(FailureError):  # SYS_FAILURE_EN=0: PX4 refuses
        await FailureAsync(drone.system).inject(FailureUnit.SENSOR_GPS, FailureType.OFF, 0)
    await drone.param.set_param_int("SYS_FAILURE_EN", 1)
    # MAVSDK's failure plugin reads SYS_FAILURE_EN when it is created: make a new one.
    failure = FailureAsync(drone.system)
    await failure.inject(FailureUnit.SENSOR_GPS, FailureType.OFF, 0)

    async def gps_bad() -> bool:
        return not (await drone.telemetry.health()).is_global_position_ok

    await wait_until(gps_bad, 3.0, "health to show the GPS loss")
    with pytest.raises(ActionError, match="DENIED"):
        await drone.action.arm()
    assert not await drone.telemetry.armed()
    await failure.inject(FailureUnit.SENSOR_GPS, FailureType.OK, 0)

    async def gps_good() -> bool:
        return bool((await drone.telemetry.health()).is_armable)

    await wait_until(gps_good, 3.0, "health to recover")
    await drone.action.arm()
    await armed(drone)


@pytest.mark.px4slow
@pytest.mark.parametrize("vehicle_count", [2])
async def test_two_vehicles_on_consecutive_ports(vehicle_urls: list[VehicleUrl]) -> None:
    a_url, b_url = vehicle_urls
    assert int(b_url.url.rsplit(":", 1)[1]) == int(a_url.url.rsplit(":", 1)[1]) + 1
    async with connect(a_url.url, a_url.home, a_url.fleet, 0) as a, \
            connect(b_url.url, b_url.home, b_url.fleet, 1) as b:
        assert await a.system.get_system_id() == 1
        assert await b.system.get_system_id() == 2
        await asyncio.gather(take_off(a), take_off(b))
        await asyncio.gather(goto(a, 20.0, 0.0, 10.0), goto(b, -20.0, 8.0, 12.0))
        pa, pb = await a.telemetry.position(), await b.telemetry.position()
        assert dist_m(pa.latitude_deg, pa.longitude_deg, pb.latitude_deg, pb.longitude_deg) > 35
        await asyncio.gather(a.action.return_to_launch(), b.action.return_to_launch())
        await asyncio.gather(landed_disarmed_at_home(a), landed_disarmed_at_home(b))


@pytest.mark.simonly(reason="reads the model after the ground station has gone")
async def test_link_loss_triggers_rtl(fleet_factory: Callable[..., Any]) -> None:
    async with fleet_factory() as fleet:
        vehicle = fleet.vehicles[0]
        async with connect(f"udpin://0.0.0.0:{fleet.base_port}", HOME, fleet, 0) as d:
            await d.param.set_param_int("NAV_DLL_ACT", 2)  # Return
            await d.param.set_param_int("COM_DL_LOSS_T", 2)
            await d.param.set_param_float("RTL_RETURN_ALT", 20.0)
            await take_off(d)
            await goto(d, 60.0, 30.0, 15.0)
        # The ground station is gone: no more GCS heartbeats.
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while vehicle.state.mode is not FlightMode.RTL:
            assert loop.time() - t0 < 5.0, "no RTL after data-link loss"
            await asyncio.sleep(0.05)
        # COM_DL_LOSS_T is wall clock, not simulated time (10x faster here).
        last_heartbeat = vehicle.gcs_last_heartbeat_s
        assert last_heartbeat is not None
        assert loop.time() - last_heartbeat >= 2.0
        assert vehicle.link_lost
        while vehicle.state.armed:
            assert loop.time() - t0 < 30.0, "did not land after RTL"
            await asyncio.sleep(0.1)
        lat, lon, alt = vehicle.state.position()
        assert dist_m(lat, lon, HOME.lat_deg, HOME.lon_deg) < 3.0
        assert abs(alt - HOME.alt_amsl_m) < 0.3


class CountingRelay(asyncio.DatagramProtocol):
    """A UDP relay between a vehicle and a ground station that counts what the vehicle sends,
    by message id, and learns the vehicle's system id from its heartbeat."""

    def __init__(self, ground: tuple[str, int]) -> None:
        self.ground = ground
        self.vehicle: tuple[str, int] | None = None
        self.counts: dict[int, int] = {}
        self.system_id: int | None = None
        self._codec = mav.MAVLink(None)
        self._codec.robust_parsing = True
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self._transport is not None
        if addr == self.ground:
            if self.vehicle is not None:
                self._transport.sendto(data, self.vehicle)
            return
        self.vehicle = addr
        for msg in self._codec.parse_buffer(data) or []:
            mid = msg.get_msgId()
            self.counts[mid] = self.counts.get(mid, 0) + 1
            if mid == mav.MAVLINK_MSG_ID_HEARTBEAT and msg.get_srcComponent() == 1:
                self.system_id = msg.get_srcSystem()
        self._transport.sendto(data, self.ground)


async def test_the_ground_station_stops_the_streams_it_does_not_read(
    vehicle_urls: list[VehicleUrl],
) -> None:
    """The controller's vehicle adapter, once it has set its rates, receives none of the
    streams it does not read (PX4's API link sends IMU, odometry, attitude and position
    targets, servo outputs and distance at 10-50 Hz), what it reads once a second at 1 Hz
    (PX4 sends 5-8 Hz), and still gets its position at 10 Hz."""
    port = int(vehicle_urls[0].url.rsplit(":", 1)[1])
    ground = free_udp_ports(1)
    loop = asyncio.get_running_loop()
    transport, relay = await loop.create_datagram_endpoint(
        lambda: CountingRelay(("127.0.0.1", ground)), local_addr=("0.0.0.0", port)
    )
    try:
        for _ in range(150):
            if relay.system_id is not None:
                break
            await asyncio.sleep(0.1)
        assert relay.system_id is not None, "no heartbeat from the vehicle"
        endpoint = DroneEndpoint("uav-0", relay.system_id, f"udpin://127.0.0.1:{ground}")
        async with MavsdkFleet([endpoint]) as fleet:
            assert await fleet.wait_all(20.0)
            vehicle = fleet.get("uav-0")
            assert vehicle is not None
            await vehicle.set_position_rate(10.0)
            # Stream rates are wall-clock in the simulator and PX4-clock (faster) in PX4.
            await asyncio.sleep(1.0)  # what was already on its way
            relay.counts.clear()
            await asyncio.sleep(3.0)
            seen = dict(relay.counts)
    finally:
        transport.close()
    stopped = {msg_id for _, msg_id, hz in PX4_STREAM_RATES_HZ if hz == 0} | {
        mav.MAVLINK_MSG_ID_ALTITUDE, mav.MAVLINK_MSG_ID_LOCAL_POSITION_NED
    }
    assert not stopped & set(seen), {m: seen[m] for m in stopped & set(seen)}
    positions = seen.get(mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT, 0)
    assert positions >= 10, seen
    assert seen.get(mav.MAVLINK_MSG_ID_ATTITUDE, 0) >= 2, seen
    # Health, in-air and GPS at 1 Hz, VFR_HUD at 4, against position at 10 (PX4's clock may
    # run faster than the wall's: compare with the position count, not with seconds).
    for msg_id, hz in ((mav.MAVLINK_MSG_ID_SYS_STATUS, 1.0),
                       (mav.MAVLINK_MSG_ID_EXTENDED_SYS_STATE, 1.0),
                       (mav.MAVLINK_MSG_ID_GPS_RAW_INT, 1.0), (mav.MAVLINK_MSG_ID_VFR_HUD, 4.0)):
        # (one may go a tick early, and a starved simulator sends fewer positions: a margin)
        assert 0 < seen.get(msg_id, 0) <= positions * hz / 10.0 * 1.5 + 2, (msg_id, seen)
