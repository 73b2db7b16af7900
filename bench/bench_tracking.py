"""Tracking error: a drone in Follow Target behind a target moving at a person's or a car's
speed, driven through the product's own adapter (``groundstation.mavsdk_link.MavsdkFollow``)
and rules (``groundstation.tracking_rules``), on the simulator or on real PX4 SITL.

    python -m bench.bench_tracking --vehicle sim --speeds 4 12
    unshare -n -- bash -c 'ip link set lo up && exec .venv/bin/python -m bench.bench_tracking \\
        --vehicle px4 --speeds 4 12'
    ... --plain       # PX4's follow-me as it comes (no lead, its speed limits, FLW_TGT_RS 0.1)

The target starts under the drone, drives east, then turns north (a street corner), at a
constant speed; its true position is known at every instant. |error| is the horizontal distance
from the drone to where it should be (``follow_distance_m`` behind the target), sampled at 10 Hz
after a 20 s settling time (target time); p50 and p95 are reported. Positions go to the vehicle
at 2 Hz of target time with their velocity, as a ground unit's AVL would send them.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from groundstation import tracking_rules as rules
from groundstation.broker import free_udp_range
from groundstation.mavsdk_link import DroneEndpoint, MavsdkFleet, MavsdkVehicle
from missions.geo import distance_m, offset
from sitl import Home, SimFleet

HOME = Home(51.5072, -0.1276, 30.0)
SETTLE_S = 20.0
PRODUCT_PARAMS = {"MPC_XY_CRUISE": 15.0, "MPC_XY_VEL_MAX": 15.0}
"""What the controller sets before every launch (groundstation.commands._configure)."""


@dataclass(frozen=True, slots=True)
class Result:
    speed_m_s: float
    p50_m: float
    p95_m: float
    samples: int


def target_at(t_s: float, speed_m_s: float, leg_s: float) -> tuple[float, float, float, float]:
    """(lat, lon, vel_n, vel_e) of the target ``t_s`` seconds (target time) after the start."""
    if t_s <= leg_s:
        p = offset(HOME.lat_deg, HOME.lon_deg, 0.0, speed_m_s * t_s)
        return p.lat_deg, p.lon_deg, 0.0, speed_m_s
    p = offset(HOME.lat_deg, HOME.lon_deg, speed_m_s * (t_s - leg_s), speed_m_s * leg_s)
    return p.lat_deg, p.lon_deg, speed_m_s, 0.0


@asynccontextmanager
async def vehicle(kind: str, speed: float) -> AsyncIterator[MavsdkVehicle]:
    if kind == "px4":
        from sitl.px4 import Px4Fleet

        px4 = Px4Fleet([HOME], speed_factor=speed)
        async with px4:
            endpoint = DroneEndpoint("d1", px4.instances[0].system_id, px4.urls[0])
            async with MavsdkFleet([endpoint]) as fleet:
                assert await fleet.wait_all(30.0), "PX4 not discovered"
                v = fleet.get("d1")
                assert v is not None
                yield v
        return
    base = free_udp_range(1)
    async with SimFleet([HOME], base_port=base, speedup=speed):
        endpoint = DroneEndpoint("d1", 1, f"udpin://0.0.0.0:{base}")
        async with MavsdkFleet([endpoint]) as fleet:
            assert await fleet.wait_all(15.0), "simulator not discovered"
            v = fleet.get("d1")
            assert v is not None
            yield v


async def until(pred: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def run_one(
    v: MavsdkVehicle, speed_m_s: float, seconds: float, scale: float, cfg: rules.TrackConfig,
    *, lead: bool,
) -> Result:
    follow = v.follow()
    await follow.follow_start(cfg.follow_config())
    start = v.sample()
    leg_s = seconds / 2
    t0 = time.monotonic()
    errors: list[float] = []
    next_feed = 0.0
    period = 1.0 / cfg.update_hz / scale
    while True:
        wall = time.monotonic()
        t = (wall - t0) * scale
        if t > seconds:
            break
        if wall >= next_feed:
            next_feed = wall + period
            lat, lon, vn, ve = target_at(t, speed_m_s, leg_s)
            fix = rules.Fix(lat, lon, received_s=wall, vel_n_m_s=vn, vel_e_m_s=ve)
            feed = rules.feed(fix, wall, cfg if lead else replace(
                cfg, latency_s=0.0, max_lead_s=0.0), HOME.alt_amsl_m)
            await follow.follow_target(feed)
        smp = v.sample()
        if t >= SETTLE_S and smp.has_position:
            lat, lon, vn, ve = target_at(t, speed_m_s, leg_s)
            back = cfg.follow_distance_m / max(1e-6, math.hypot(vn, ve))
            want = offset(lat, lon, -vn * back, -ve * back)
            errors.append(distance_m(smp.lat_deg, smp.lon_deg, want.lat_deg, want.lon_deg))
        await asyncio.sleep(0.1 / scale)
    smp = v.sample()
    lat, lon, _, _ = target_at(seconds, speed_m_s, leg_s)
    moved = distance_m(start.lat_deg, start.lon_deg, smp.lat_deg, smp.lon_deg)
    behind = distance_m(smp.lat_deg, smp.lon_deg, lat, lon)
    print(f"  end: mode {smp.flight_mode}, drone {moved:.0f} m from its start, "
          f"{behind:.0f} m from the target", flush=True)
    await follow.follow_stop()
    errors.sort()
    p95 = errors[min(len(errors) - 1, int(0.95 * len(errors)))] if errors else math.nan
    return Result(speed_m_s, statistics.median(errors) if errors else math.nan, p95, len(errors))


async def measure(kind: str, speeds: list[float], seconds: float, scale: float,
                  plain: bool) -> list[Result]:
    cfg = rules.TrackConfig(time_scale=scale)
    if plain:
        cfg = replace(cfg, responsiveness=0.1, max_vel_m_s=8.0)
    out: list[Result] = []
    async with vehicle(kind, scale) as v:
        await until(lambda: v.sample().armable and v.sample().has_position, 60.0, "armable")
        if not plain:
            await v.set_params(PRODUCT_PARAMS)
        await v.arm()
        await v.takeoff(cfg.follow_height_m)
        await until(lambda: v.sample().alt_rel_m >= cfg.follow_height_m - 2.0, 60.0 / scale + 30,
                    "take-off")
        for s in speeds:
            r = await run_one(v, s, seconds, scale, cfg, lead=not plain)
            out.append(r)
            print(f"{kind} {'plain' if plain else 'product'} {s:4.1f} m/s: |error| "
                  f"p50 {r.p50_m:5.1f} m, p95 {r.p95_m:5.1f} m ({r.samples} samples)", flush=True)
            await v.hold()
            await asyncio.sleep(3.0 / scale)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vehicle", choices=("sim", "px4"), default="sim")
    ap.add_argument("--speeds", type=float, nargs="+", default=[4.0, 12.0])
    ap.add_argument("--seconds", type=float, default=80.0, help="target time per speed")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="simulation speed (the simulator's speedup, PX4_SIM_SPEED_FACTOR)")
    ap.add_argument("--plain", action="store_true", help="PX4's follow-me as it comes")
    args = ap.parse_args(argv)
    asyncio.run(measure(args.vehicle, args.speeds, args.seconds, args.scale, args.plain))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
