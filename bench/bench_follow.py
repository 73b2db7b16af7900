"""PX4's Follow Target mode driven by MAVSDK follow_me: the same script on real PX4 and on sitl.

    unshare -n -- bash -c 'ip link set lo up && exec python -m bench.bench_follow --vehicles px4'
    python -m bench.bench_follow --vehicles sim [--speedup 4]
    python -m bench.bench_follow --vehicles sim --compare tests/sitl/data/px4_follow.json

The script, once per target speed (default 4 and 12 m/s), each on a fresh vehicle at home with
PX4's default parameters:

1. follow_me.set_config: height 20 m, distance 10 m, behind (180 deg), responsiveness 0.1,
   altitude constant, max tangential velocity 8 m/s; arm, takeoff (MIS_TAKEOFF_ALT 2.5 m).
2. follow_me.start() (DO_SET_MODE AUTO / FOLLOW_TARGET); the target stands 10 m north of the drone
   and is reported at 2 Hz (position, velocity 0) until the drone is at 20 m and within 2 m of the
   point 10 m behind it (``settle_s``: how long that took).
3. The target drives north along a straight street at the speed for ``--seconds`` (default 60),
   reported at 2 Hz with its velocity. At every report: the horizontal distance between the drone
   (telemetry position) and the desired follow position, 10 m behind the target's true position.
   ``p50_m`` / ``p95_m`` of that error over the drive.

Times are the vehicle's (PX4 runs in real time; the simulator's simulated seconds at any
speed-up), so 2 Hz is 2 Hz of vehicle time. Prints JSON. Real PX4 must run inside a private network
namespace (its ports are fixed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import percentile
from missions.geo import distance_m, offset, to_local_m
from sitl import Home, SimFleet

HOME = Home(51.5313, -0.1037, 30.0)  # as bench.parity: run-instance's default home
HEIGHT_M = 20.0
DISTANCE_M = 10.0
ANGLE_DEG = 180.0
MAX_TANGENTIAL_M_S = 8.0
RESPONSIVENESS = 0.1
UPDATE_HZ = 2.0
SPEEDS_M_S = (4.0, 12.0)
DRIVE_S = 60.0
SETTLE_MAX_S = 60.0
TOLERANCE = 0.25  # the simulator's p50 / p95 are held within 25 % of PX4's
DATA_FILE = Path(__file__).resolve().parents[1] / "tests" / "sitl" / "data" / "px4_follow.json"


@dataclass
class Run:
    speed_m_s: float
    settle_s: float = math.nan
    errors_m: list[float] = field(default_factory=list)
    trace: list[tuple[float, ...]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        e = self.errors_m
        return {"speed_m_s": self.speed_m_s, "settle_s": round(self.settle_s, 1),
                "samples": len(e),
                "p50_m": round(percentile(e, 50), 2) if e else None,
                "p95_m": round(percentile(e, 95), 2) if e else None,
                "max_m": round(max(e), 2) if e else None}


class Vehicle:
    """The latest telemetry of the drone, on the vehicle's clock."""

    def __init__(self, clock: Callable[[], float], speedup: float) -> None:
        self.clock = clock
        self.speedup = speedup
        self.lat = self.lon = self.rel_alt_m = math.nan
        self.mode = ""

    async def sleep_until(self, t_s: float) -> None:
        left = t_s - self.clock()
        if left > 0:
            await asyncio.sleep(left / self.speedup)


async def _watch(v: Vehicle, tel: Any) -> None:
    async def position() -> None:
        async for p in tel.subscribe_position():
            v.lat, v.lon, v.rel_alt_m = p.latitude_deg, p.longitude_deg, p.relative_altitude_m

    async def mode() -> None:
        async for m in tel.subscribe_flight_mode():
            v.mode = m.name

    async with asyncio.TaskGroup() as tg:
        tg.create_task(position(), name="follow-bench-position")
        tg.create_task(mode(), name="follow-bench-mode")


async def fly(url: str, speed_m_s: float, clock: Callable[[], float], speedup: float,
              drive_s: float, restart: Callable[[], None] | None = None) -> Run:
    from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
    from mavsdk.asyncio.plugins.action import ActionAsync
    from mavsdk.asyncio.plugins.follow_me import FollowMeAsync
    from mavsdk.asyncio.plugins.telemetry import TelemetryAsync
    from mavsdk.plugins.follow_me import Config, TargetLocation

    run = Run(speed_m_s)
    cfg = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
    async with Mavsdk(cfg) as mavsdk:
        await mavsdk.add_any_connection(url)
        if restart is not None:
            restart()
        system = await mavsdk.first_autopilot(30.0)
        if system is None:
            raise SystemExit(f"bench_follow: no autopilot on {url}")
        tel, action, follow = TelemetryAsync(system), ActionAsync(system), FollowMeAsync(system)
        if restart is not None:
            restart()
        v = Vehicle(clock, speedup)
        async with asyncio.TaskGroup() as tg:
            watcher = tg.create_task(_watch(v, tel), name="follow-bench-watch")
            try:
                for _ in range(600):
                    h = await tel.health()
                    if h.is_global_position_ok and h.is_home_position_ok and h.is_armable:
                        break
                    await asyncio.sleep(0.1)
                await tel.set_rate_position(min(10.0 * speedup, 50.0))
                home = await tel.home()
                await follow.set_config(Config(
                    HEIGHT_M, DISTANCE_M, RESPONSIVENESS, Config.FollowAltitudeMode.CONSTANT,
                    MAX_TANGENTIAL_M_S, ANGLE_DEG))
                await action.arm()
                await action.takeoff()
                t0 = clock()
                while not (v.rel_alt_m > 2.0 and v.mode == "HOLD"):
                    if clock() - t0 > 60:
                        raise SystemExit("bench_follow: no takeoff")
                    await asyncio.sleep(0.05)
                await _follow(v, follow, TargetLocation, home.absolute_altitude_m, run, drive_s)
                await follow.stop()
            finally:
                watcher.cancel()
    return run


async def _follow(v: Vehicle, follow: Any, target_location: Any, ground_amsl_m: float, run: Run,
                  drive_s: float) -> None:
    from mavsdk.plugins.follow_me import FollowMeError, FollowMeResult

    start_lat, start_lon = offset(v.lat, v.lon, DISTANCE_M, 0.0)
    await follow.start()
    period = 1.0 / UPDATE_HZ
    t = v.clock()
    settle_from = t
    moving_since: float | None = None
    while True:
        north = 0.0 if moving_since is None else run.speed_m_s * (t - moving_since)
        speed = 0.0 if moving_since is None else run.speed_m_s
        tgt = offset(start_lat, start_lon, north, 0.0)
        try:
            await follow.set_target_location(target_location(
                tgt.lat_deg, tgt.lon_deg, ground_amsl_m, speed, 0.0, 0.0))
        except FollowMeError as exc:  # NOT_ACTIVE until a heartbeat shows the mode
            if exc.result != FollowMeResult.NOT_ACTIVE or t - settle_from > 5.0:
                raise
        want = offset(tgt.lat_deg, tgt.lon_deg, -DISTANCE_M, 0.0)  # behind: south of it
        err = distance_m(v.lat, v.lon, want.lat_deg, want.lon_deg)
        ahead_m, right_m = to_local_m(want.lat_deg, want.lon_deg, v.lat, v.lon)
        run.trace.append((round(t, 2), north, round(err, 3), round(ahead_m, 3), round(right_m, 3),
                          round(v.rel_alt_m, 2), speed))
        if moving_since is None:
            up = abs(v.rel_alt_m - HEIGHT_M) < 1.0
            if (up and err < 2.0) or t - settle_from > SETTLE_MAX_S:
                run.settle_s = t - settle_from
                moving_since = t
        else:
            run.errors_m.append(err)
            if t - moving_since >= drive_s:
                return
        t += period
        await v.sleep_until(t)


# ---- backends ---------------------------------------------------------------------------------


async def run_px4(speed_m_s: float, drive_s: float) -> Run:
    from sitl.px4 import Px4Fleet

    loop = asyncio.get_running_loop()
    async with Px4Fleet([HOME], first_instance=0) as px4:
        return await fly(px4.urls[0], speed_m_s, loop.time, 1.0, drive_s)


async def run_sim(speed_m_s: float, drive_s: float, speedup: float, seed: int) -> Run:
    from groundstation.adapters.broker import free_udp_range

    base = free_udp_range(1)
    async with SimFleet([HOME], base_port=base, speedup=speedup, seed=seed,
                        max_catch_up_s=0.04) as fleet:
        return await fly(f"udpin://0.0.0.0:{base}", speed_m_s, lambda: fleet.sim_time_s,
                         speedup, drive_s, fleet.restart_streams)


def compare(sim: dict[str, Any], px4: dict[str, Any]) -> list[str]:
    """What differs by more than TOLERANCE: each speed's p50 and p95."""
    problems = []
    ref = {r["speed_m_s"]: r for r in px4["runs"]}
    for r in sim["runs"]:
        want = ref.get(r["speed_m_s"])
        if want is None:
            continue
        for k in ("p50_m", "p95_m"):
            if abs(r[k] - want[k]) > TOLERANCE * want[k]:
                problems.append(f"{r['speed_m_s']:g} m/s {k}: simulator {r[k]}, PX4 {want[k]}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_follow", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vehicles", choices=("sim", "px4"), default="sim")
    p.add_argument("--speeds", default=",".join(f"{s:g}" for s in SPEEDS_M_S),
                   help="target speeds, m/s, comma separated (default 4,12)")
    p.add_argument("--seconds", type=float, default=DRIVE_S, help="drive duration (default 60)")
    p.add_argument("--speedup", type=float, default=1.0, help="simulator speed-up")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare", type=Path, help="PX4 figures (JSON) to hold the result to")
    p.add_argument("--save", type=Path, help="write the result (JSON) here")
    p.add_argument("--trace", type=Path, help="write each run's trace (CSV) to DIR")
    args = p.parse_args(argv)
    speeds = [float(s) for s in args.speeds.split(",") if s.strip()]

    async def all_runs() -> list[Run]:
        out = []
        for s in speeds:
            if args.vehicles == "px4":
                r = await run_px4(s, args.seconds)
            else:
                r = await run_sim(s, args.seconds, args.speedup, args.seed)
            print(json.dumps(r.as_json()), file=sys.stderr, flush=True)
            if args.trace:
                args.trace.mkdir(parents=True, exist_ok=True)
                rows = ["t_s,target_north_m,error_m,ahead_m,right_m,rel_alt_m,target_speed_m_s"]
                rows += [",".join(map(str, row)) for row in r.trace]
                (args.trace / f"{args.vehicles}-{s:g}.csv").write_text("\n".join(rows) + "\n")
            out.append(r)
        return out

    runs = asyncio.run(all_runs())
    result: dict[str, Any] = {
        "backend": ("PX4 SITL main a70a5583 (2025-08-18), SIH quadrotor X, real time"
                    if args.vehicles == "px4" else f"sitl, speed-up {args.speedup:g}"),
        "measured_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "script": {"height_m": HEIGHT_M, "distance_m": DISTANCE_M, "angle_deg": ANGLE_DEG,
                   "update_hz": UPDATE_HZ, "drive_s": args.seconds},
        "runs": [r.as_json() for r in runs],
    }
    if args.save:
        args.save.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.compare:
        problems = compare(result, json.loads(args.compare.read_text()))
        for line in problems:
            print(f"bench_follow: {line}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
