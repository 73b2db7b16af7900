"""Traffic avoidance, held to PX4: ADSB_VEHICLE from the ground station to a flying vehicle.

What PX4 (main a70a5583 SIH) did with the same reports is in tests/sitl/data/px4_traffic.json
(bench/traffic_parity.py); this test runs on both the simulator and PX4 (GS_SITL_BACKEND=px4).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from mavsdk.asyncio.plugins.mavlink_direct import MavlinkDirectAsync
from mavsdk.asyncio.plugins.telemetry import FlightMode
from mavsdk.plugins.mavlink_direct import MavlinkMessage

from tests.sitl.conftest import Drone, goto, height_m, in_mode, offset, sim_sleep, take_off

pytestmark = pytest.mark.integration

ICAO = 0x43C6F1
NAVIGATOR_TRAFFIC_LAND = 23921860  # PX4 events::ID("navigator_traffic_land"), measured


def adsb(lat_deg: float, lon_deg: float, alt_amsl_m: float) -> MavlinkMessage:
    """A helicopter (HLE01) flying south at 40 m/s, every validity flag set."""
    fields = {
        "ICAO_address": ICAO, "lat": round(lat_deg * 1e7), "lon": round(lon_deg * 1e7),
        "altitude_type": 1, "altitude": round(alt_amsl_m * 1000), "heading": 18000,
        "hor_velocity": 4000, "ver_velocity": 0, "callsign": "HLE01", "emitter_type": 7,
        "tslc": 1, "flags": 31, "squawk": 0,
    }
    return MavlinkMessage(message_name="ADSB_VEHICLE", system_id=255, component_id=190,
                          target_system_id=0, target_component_id=0,
                          fields_json=json.dumps(fields))


async def test_crossing_helicopter_makes_the_vehicle_land(drone: Drone) -> None:
    """NAV_TRAFF_AVOID 3: a helicopter 2 km north heading at it (50 s away at 40 m/s, inside
    NAV_TRAFF_COLL_T 60 s) makes PX4 send its navigator_traffic_land event with the ICAO
    address, "Landing at current position" and switch to Land; the same helicopter 600 m
    higher (over NAV_TRAFF_A_VER 500 m) changes nothing."""
    direct = MavlinkDirectAsync(drone.system)
    seen: list[tuple[str, dict[str, Any]]] = []

    async def watch(name: str) -> None:
        async for m in direct.subscribe_message(name):
            seen.append((name, json.loads(m.fields_json)))

    tasks = [asyncio.create_task(watch(n)) for n in ("EVENT", "STATUSTEXT")]
    try:
        await drone.param.set_param_int("NAV_TRAFF_AVOID", 3)
        await take_off(drone)
        await goto(drone, 0.0, 0.0, 20.0)
        p = await drone.telemetry.position()
        lat, lon = offset(drone.home, 2000.0, 0.0)
        seen.clear()
        for _ in range(3):  # high above: no conflict
            await direct.send_message(adsb(lat, lon, p.absolute_altitude_m + 600.0))
            await sim_sleep(0.5)
        await sim_sleep(2.0)
        assert not [m for n, m in seen if n == "EVENT" and m["id"] == NAVIGATOR_TRAFFIC_LAND]
        assert await drone.telemetry.flight_mode() == FlightMode.HOLD
        for _ in range(3):  # at its height: a conflict
            await direct.send_message(adsb(lat, lon, p.absolute_altitude_m + 40.0))
            await sim_sleep(0.5)
        await in_mode(drone, FlightMode.LAND, timeout_s=5.0)
        events = [m for n, m in seen if n == "EVENT" and m["id"] == NAVIGATOR_TRAFFIC_LAND]
        assert len(events) == 1, seen
        args = bytes(events[0]["arguments"])
        assert int.from_bytes(args[0:4], "little") == ICAO
        assert int.from_bytes(args[8:10], "little", signed=True) == 180  # its heading, degrees
        texts = [m["text"] for n, m in seen if n == "STATUSTEXT"]
        assert any(t.startswith("Landing at current position") for t in texts), texts
        h0 = height_m(drone, await drone.telemetry.position())
        await sim_sleep(4.0)
        assert height_m(drone, await drone.telemetry.position()) < h0 - 1.0  # descending
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
