"""Traffic avoidance held to PX4: a helicopter's ADSB_VEHICLE reports sent to a flying vehicle.

    python -m bench.traffic_parity --px4 --modes 0 1 2 3 4    # real PX4 SIH (private netns!)
    python -m bench.traffic_parity --sim --modes 0 1 2 3 4    # the embedded simulator

Each run: a fresh vehicle with NAV_TRAFF_AVOID=<mode> takes off to 30 m, starts a goto 400 m
west (``--mission``: a mission of two waypoints west), and once moving a helicopter (ICAO
0x43C6F1, callsign "HLE01") is reported at 2 Hz over MAVLink (MAVSDK's MavlinkDirect, as a
ground station forwards a ground receiver's traffic): it starts 2600 m north of the vehicle,
40 m above it, flying south (heading 180 deg) at 40 m/s. PX4's rule (NAV_TRAFF_COLL_T 60 s)
predicts a conflict once the 3-D distance over the closing speed (both speeds added) falls
under 60 s: within about a second. Prints JSON per mode: the STATUSTEXT and EVENT messages and
flight modes seen, with their time after the first report, and the vehicle's ground speed.
Run PX4 in a private network namespace (its ports are fixed):
``unshare -n -- bash -c 'ip link set lo up && exec python -m bench.traffic_parity --px4'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.mavlink_direct import MavlinkDirectAsync
from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
from mavsdk.plugins.mavlink_direct import MavlinkMessage

from missions.geo import offset
from sitl import Home, SimFleet

HOME = Home(51.5313, -0.1037, 30.0)
ICAO = 0x43C6F1
CALLSIGN = "HLE01"
START_NORTH_M = 2600.0
ABOVE_M = 40.0
SPEED_M_S = 40.0
REPORT_HZ = 2.0
WATCH_S = 25.0
ADSB_FLAGS = 1 | 2 | 4 | 8 | 16  # coords, altitude, heading, velocity, callsign valid


def adsb_fields(lat_deg: float, lon_deg: float, alt_amsl_m: float, heading_deg: float,
                speed_m_s: float) -> dict[str, Any]:
    return {
        "ICAO_address": ICAO, "lat": round(lat_deg * 1e7), "lon": round(lon_deg * 1e7),
        "altitude_type": 1, "altitude": round(alt_amsl_m * 1000),
        "heading": round(heading_deg * 100) % 36000, "hor_velocity": round(speed_m_s * 100),
        "ver_velocity": 0, "callsign": CALLSIGN, "emitter_type": 7,  # ROTOCRAFT
        "tslc": 1, "flags": ADSB_FLAGS, "squawk": 0,
    }


def mission_west(lat: float, lon: float) -> list[Any]:
    """Two waypoints 200 and 400 m west at 30 m (MAVSDK MissionRaw items)."""
    from mavsdk.plugins.mission_raw import MissionItem

    items = []
    for i, east in enumerate((-200.0, -400.0)):
        p = offset(lat, lon, 0.0, east)
        items.append(MissionItem(
            seq=i, frame=3, command=16, current=int(i == 0), autocontinue=1, param1=0.0,
            param2=0.0, param3=0.0, param4=math.nan, x=round(p.lat_deg * 1e7),
            y=round(p.lon_deg * 1e7), z=30.0, mission_type=0))
    return items


async def fly(url: str, mode: int, mission: bool = False) -> dict[str, Any]:
    config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    async with Mavsdk(config) as mavsdk:
        await mavsdk.add_any_connection(url)
        system = await mavsdk.first_autopilot(20.0)
        assert system is not None, f"no autopilot on {url}"
        tel, act, direct = TelemetryAsync(system), ActionAsync(system), MavlinkDirectAsync(system)
        while True:
            h = await tel.health()
            if h.is_global_position_ok and h.is_home_position_ok and h.is_armable:
                break
            await asyncio.sleep(0.2)
        home = await tel.home()
        seen: list[tuple[float, str, str]] = []
        t0 = [math.inf]

        def stamp() -> float:
            return round(time.monotonic() - t0[0], 2)

        async def watch(name: str) -> None:
            async for m in direct.subscribe_message(name):
                if math.isfinite(t0[0]):
                    seen.append((stamp(), name, m.fields_json))

        async def modes() -> None:
            last = None
            async for fm in tel.subscribe_flight_mode():
                if fm != last and math.isfinite(t0[0]):
                    seen.append((stamp(), "MODE", fm.name))
                last = fm

        tasks = [asyncio.create_task(watch("STATUSTEXT")), asyncio.create_task(watch("EVENT")),
                 asyncio.create_task(modes())]
        try:
            await act.set_takeoff_altitude(30.0)
            await act.arm()
            await act.takeoff()
            while (await tel.position()).relative_altitude_m < 29.0:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            print(f"mode {mode}: at 30 m", file=sys.stderr, flush=True)
            await asyncio.sleep(2.0)
            if mission:
                from mavsdk.asyncio.plugins.mission_raw import MissionRawAsync

                raw = MissionRawAsync(system)
                await raw.upload_mission(mission_west(home.latitude_deg, home.longitude_deg))
                await asyncio.sleep(2.0)  # PX4 refuses Mission until it has checked the upload
                await raw.start_mission()
            else:
                lat, lon = offset(home.latitude_deg, home.longitude_deg, 0.0, -400.0)
                await act.goto_location(lat, lon, home.absolute_altitude_m + 30.0, math.nan)
            while math.hypot((v := await tel.velocity_ned()).north_m_s,  # noqa: ASYNC110
                             v.east_m_s) < 1.5:
                await asyncio.sleep(0.1)
            t0[0] = time.monotonic()
            print(f"mode {mode}: moving, traffic starts", file=sys.stderr, flush=True)
            speeds: list[tuple[float, float, str]] = []
            p = await tel.position()
            start = (p.latitude_deg, p.longitude_deg)
            alt = p.absolute_altitude_m + ABOVE_M
            t = 0.0
            while t < WATCH_S:
                north = START_NORTH_M - SPEED_M_S * t
                hlat, hlon = offset(start[0], start[1], north, 0.0)
                msg = MavlinkMessage(message_name="ADSB_VEHICLE", system_id=255, component_id=190,
                                     target_system_id=0, target_component_id=0,
                                     fields_json=json.dumps(adsb_fields(hlat, hlon, alt, 180.0,
                                                                        SPEED_M_S)))
                await direct.send_message(msg)
                v = await tel.velocity_ned()
                pos = await tel.position()
                speeds.append((round(t, 1), round(math.hypot(v.north_m_s, v.east_m_s), 1),
                               f"{pos.relative_altitude_m:.1f}"))
                await asyncio.sleep(1.0 / REPORT_HZ)
                t = time.monotonic() - t0[0]
            return {"mode": mode, "events": seen, "speed_m_s": speeds[::4]}
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def vehicle(px4: bool, mode: int) -> AsyncIterator[tuple[str, Any]]:
    if px4:
        from sitl.px4 import Px4Fleet, find_px4

        async with Px4Fleet([HOME], install=find_px4(), first_instance=0,
                            params={"NAV_TRAFF_AVOID": mode}) as fleet:
            yield fleet.instances[0].url, fleet.instances[0]
        return
    from tests.sitl.conftest import free_udp_ports

    base = free_udp_ports(1)
    async with SimFleet([HOME], base_port=base, speedup=1.0,
                        params={"NAV_TRAFF_AVOID": mode}) as fleet:
        yield f"udpin://0.0.0.0:{base}", fleet


async def main_async(px4: bool, modes: Sequence[int],
                     mission: bool = False) -> list[dict[str, Any]]:
    out = []
    for mode in modes:
        async with vehicle(px4, mode) as (url, handle):
            result = await fly(url, mode, mission)
            if px4:
                result["px4_console"] = [ln for ln in handle.output().splitlines()
                                         if "raffic" in ln or "icao" in ln.lower()]
        print(json.dumps(result), file=sys.stderr, flush=True)
        out.append(result)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    side = p.add_mutually_exclusive_group(required=True)
    side.add_argument("--px4", action="store_true")
    side.add_argument("--sim", action="store_true")
    p.add_argument("--modes", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--mission", action="store_true",
                   help="fly a two-waypoint mission west instead of a goto")
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(main_async(args.px4, args.modes, args.mission)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
