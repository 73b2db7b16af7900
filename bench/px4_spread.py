"""How far PX4 SIH's own reports wander: landing spots, altitudes on the ground, PX4's clock.

    unshare -n -- bash -c 'ip link set lo up && exec python -m bench.px4_spread --runs 3'

Measures, per run, on a fresh PX4 SIH instance (the PX4 layer's speed factor, default 3) with
the PX4 layer's own calls (MAVSDK 4.x telemetry, action, follow_me), what the PX4 layer's tests
check, against the ground truth that SIH publishes (HIL_STATE_QUATERNION, PX4's
``vehicle_global_position_groundtruth``, requested at 10 Hz):

- ``hop``: arm, take off to MIS_TAKEOFF_ALT (2.5 m), Hold, Land (tests/sitl/test_sitl_flight.py):
  where the reported position is, after PX4 disarms, from the home read at connection, from the
  home PX4 reports after landing, and where the vehicle truly is from where it started; the
  reported altitude above home on the ground (tests/sitl/conftest.landed_disarmed_at_home).
- ``dock``: what the controller does to come home (groundstation/control/watch.py): climb to 40 m,
  go 150 m out, go back to the home's position and Land once the report says within 4 m at under
  2 m/s; then the same distances and altitudes, and the AMSL altitude PX4 reports vs. where the
  vehicle powered up (tests/px4/test_px4_incident.py compares it with the roof).
- ``climb``: Follow Target after the 2.5 m take-off with the target reported at 2 Hz: how many
  wall and PX4 seconds the climb to FLW_TGT_HT (10 m) takes (tests/sitl/test_sitl_follow.py).
- ``clock``: PX4's own seconds per wall second over the run (HIL_STATE_QUATERNION.time_usec):
  the speed factor PX4 actually kept.

Prints one JSON line per run; ``--summary`` prints min / median / max of each figure at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mavsdk.asyncio import ComponentType, Configuration, Mavsdk
from mavsdk.asyncio.plugins.action import ActionAsync
from mavsdk.asyncio.plugins.follow_me import FollowMeAsync
from mavsdk.asyncio.plugins.mavlink_direct import MavlinkDirectAsync
from mavsdk.asyncio.plugins.telemetry import FlightMode, TelemetryAsync
from mavsdk.plugins.action import ActionError, ActionResult
from mavsdk.plugins.follow_me import Config, FollowMeError, TargetLocation
from mavsdk.plugins.mavlink_direct import MavlinkMessage

from missions.geo import distance_m, offset
from sitl import Home
from sitl.px4 import Px4Fleet

HOME = Home(51.5072, -0.1276, 30.0)  # tests/sitl/conftest.HOME
HIL_STATE_QUATERNION = 115
MAV_CMD_SET_MESSAGE_INTERVAL = 511


@dataclass
class Truth:
    """The latest ground truth from SIH, and PX4's clock."""

    lat_deg: float = math.nan
    lon_deg: float = math.nan
    alt_amsl_m: float = math.nan
    px4_us: int = 0
    wall_s: float = 0.0
    first_px4_us: int = 0
    first_wall_s: float = 0.0

    def px4_per_wall(self) -> float:
        if not self.first_wall_s or self.wall_s <= self.first_wall_s:
            return math.nan
        return (self.px4_us - self.first_px4_us) / 1e6 / (self.wall_s - self.first_wall_s)


async def _truth_feed(direct: MavlinkDirectAsync, truth: Truth) -> None:
    async for msg in direct.subscribe_message("HIL_STATE_QUATERNION"):
        f = json.loads(msg.fields_json)
        truth.lat_deg, truth.lon_deg = f["lat"] / 1e7, f["lon"] / 1e7
        truth.alt_amsl_m = f["alt"] / 1000.0


async def _clock_feed(direct: MavlinkDirectAsync, truth: Truth) -> None:
    """PX4's clock: ATTITUDE.time_boot_ms (HIL_STATE_QUATERNION's time_usec is 0 here)."""
    async for msg in direct.subscribe_message("ATTITUDE"):
        f = json.loads(msg.fields_json)
        truth.px4_us, truth.wall_s = int(f["time_boot_ms"]) * 1000, time.monotonic()
        if not truth.first_wall_s:
            truth.first_px4_us, truth.first_wall_s = truth.px4_us, truth.wall_s


async def _until(probe: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not await probe():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def _cmd(call: Callable[[], Awaitable[Any]]) -> None:
    """An action, tried again when MAVSDK saw no answer (its commands time out under load)."""
    for attempt in range(3):
        try:
            await call()
            return
        except ActionError as exc:
            if exc.result != ActionResult.TIMEOUT or attempt == 2:
                raise


async def _landed(tel: TelemetryAsync) -> None:
    async def done() -> bool:
        return not await tel.armed() and not await tel.in_air()

    await _until(done, 120.0, "landed and disarmed")


async def _ground(tel: TelemetryAsync, truth: Truth, home: Any, seconds: float) -> dict[str, Any]:
    """Reported position and altitude against home and truth, sampled for `seconds` wall."""
    rel, d_home, d_truth, series = [], [], [], []
    end = time.monotonic() + seconds
    while True:
        p = await tel.position()
        rel.append(p.relative_altitude_m)
        series.append((round(p.relative_altitude_m, 2),
                       round(p.absolute_altitude_m - HOME.alt_amsl_m, 2),
                       round(truth.alt_amsl_m - HOME.alt_amsl_m, 2)))
        d_home.append(distance_m(p.latitude_deg, p.longitude_deg, home.latitude_deg,
                                 home.longitude_deg))
        d_truth.append(distance_m(p.latitude_deg, p.longitude_deg, truth.lat_deg, truth.lon_deg))
        if time.monotonic() > end:
            break
        await asyncio.sleep(0.2)
    return {"rel_alt_first_m": rel[0], "rel_alt_max_abs_m": max(map(abs, rel)),
            "rel_alt_mean_m": statistics.fmean(rel),
            "from_home_first_m": d_home[0], "from_home_max_m": max(d_home),
            "report_vs_truth_max_m": max(d_truth), "series": series[::2]}


async def _landing_figures(tel: TelemetryAsync, truth: Truth, home0: Any) -> dict[str, Any]:
    p = await tel.position()
    home1 = await tel.home()
    out: dict[str, Any] = {
        "from_connect_home_m": distance_m(p.latitude_deg, p.longitude_deg, home0.latitude_deg,
                                          home0.longitude_deg),
        "from_px4_home_m": distance_m(p.latitude_deg, p.longitude_deg, home1.latitude_deg,
                                      home1.longitude_deg),
        "home_moved_m": distance_m(home0.latitude_deg, home0.longitude_deg, home1.latitude_deg,
                                   home1.longitude_deg),
        "home_alt_moved_m": home1.absolute_altitude_m - home0.absolute_altitude_m,
        "truth_from_start_m": distance_m(truth.lat_deg, truth.lon_deg, HOME.lat_deg,
                                         HOME.lon_deg),
        "report_vs_truth_m": distance_m(p.latitude_deg, p.longitude_deg, truth.lat_deg,
                                        truth.lon_deg),
        "rel_alt_m": p.relative_altitude_m,
        "amsl_above_start_m": p.absolute_altitude_m - HOME.alt_amsl_m,
        "truth_amsl_above_start_m": truth.alt_amsl_m - HOME.alt_amsl_m,
    }
    after = await _ground(tel, truth, home1, 10.0)
    out.update({f"after10s_{k}": v for k, v in after.items()})
    return out


async def hop(tel: TelemetryAsync, act: ActionAsync, truth: Truth, home0: Any) -> dict[str, Any]:
    await _cmd(act.arm)
    await _cmd(act.takeoff)

    async def holding() -> bool:
        p = await tel.position()
        return bool(await tel.flight_mode() == FlightMode.HOLD
                    and abs(p.relative_altitude_m - 2.5) < 0.3)

    held: dict[str, Any] = {}
    try:
        await _until(holding, 30.0, "hold at 2.5 m")
    except TimeoutError:
        held["hold_rel_timeout"] = True
    p = await tel.position()
    held.update(hold_rel_m=p.relative_altitude_m,
                hold_amsl_above_home_m=p.absolute_altitude_m - home0.absolute_altitude_m,
                hold_truth_above_home_m=truth.alt_amsl_m - home0.absolute_altitude_m)
    await _cmd(act.land)
    await _landed(tel)
    return {**held, **await _landing_figures(tel, truth, home0)}


async def dock(tel: TelemetryAsync, act: ActionAsync, truth: Truth, home0: Any) -> dict[str, Any]:
    await _cmd(act.arm)
    await _cmd(act.takeoff)
    await _until(lambda: _above(tel, 2.0), 60.0, "take-off")
    h = home0.absolute_altitude_m
    lat, lon = offset(home0.latitude_deg, home0.longitude_deg, 150.0, 0.0)
    await _cmd(lambda: act.goto_location(lat, lon, h + 40.0, math.nan))
    await _until(lambda: _near(tel, lat, lon, 10.0, 99.0), 180.0, "150 m out")
    back = (home0.latitude_deg, home0.longitude_deg, h + 40.0, math.nan)
    await _cmd(lambda: act.goto_location(*back))
    # groundstation/control/watch.py: Reached(DOCK) within 4 m at under 2 m/s, then Land.
    await _until(lambda: _near(tel, home0.latitude_deg, home0.longitude_deg, 4.0, 2.0), 180.0,
                 "back over home")
    p = await tel.position()
    at_land = distance_m(p.latitude_deg, p.longitude_deg, home0.latitude_deg, home0.longitude_deg)
    await _cmd(act.land)
    await _landed(tel)
    return {"land_commanded_from_home_m": at_land,
            **await _landing_figures(tel, truth, home0)}


async def _above(tel: TelemetryAsync, alt_m: float) -> bool:
    return bool((await tel.position()).relative_altitude_m > alt_m and await tel.in_air())


async def _near(tel: TelemetryAsync, lat: float, lon: float, within_m: float,
                under_m_s: float) -> bool:
    p = await tel.position()
    v = await tel.velocity_ned()
    return (distance_m(p.latitude_deg, p.longitude_deg, lat, lon) <= within_m
            and math.hypot(v.north_m_s, v.east_m_s) < under_m_s)


async def climb(system: Any, tel: TelemetryAsync, act: ActionAsync, truth: Truth,
                speed: float) -> dict[str, Any]:
    """tests/sitl/test_sitl_follow.py's climb: 24 reports 0.5 PX4 s apart (by the wall clock
    scaled by the speed factor), then the altitude; the series on the way."""
    follow = FollowMeAsync(system)
    await follow.set_config(Config(10.0, 8.0, 0.1, Config.FollowAltitudeMode.CONSTANT, 8.0,
                                   180.0))
    await _cmd(act.arm)
    await _cmd(act.takeoff)
    await _until(lambda: _above(tel, 2.0), 60.0, "take-off")
    home = await tel.home()
    lat, lon = offset(home.latitude_deg, home.longitude_deg, 8.0, 0.0)
    await follow.start()
    wall0 = time.monotonic()

    async def following() -> bool:
        return bool(await tel.flight_mode() == FlightMode.FOLLOW_ME)

    mode_s = await _until(following, 30.0, "Follow Me in the heartbeat")
    px4_start, wall_start = truth.px4_us, time.monotonic()
    series = []
    for _ in range(24):
        with contextlib.suppress(FollowMeError):
            await follow.set_target_location(
                TargetLocation(lat, lon, home.absolute_altitude_m, 0.0, 0.0, 0.0))
        p = await tel.position()
        ned = await tel.position_velocity_ned()
        series.append((round(time.monotonic() - wall_start, 1),
                       round((truth.px4_us - px4_start) / 1e6, 1),
                       round(p.relative_altitude_m, 1),
                       round(p.absolute_altitude_m - home.absolute_altitude_m, 1),
                       round(-ned.position.down_m, 1),
                       round(truth.alt_amsl_m - home.absolute_altitude_m, 1)))
        await asyncio.sleep(0.5 / speed)
    p = await tel.position()
    ned = await tel.position_velocity_ned()
    return {"mode_wait_s": mode_s, "up_local_end_m": -ned.position.down_m,
            "amsl_above_home_end_m": p.absolute_altitude_m - home.absolute_altitude_m,
            "start_to_mode_wall_s": wall_start - wall0,
            "rel_alt_end_m": p.relative_altitude_m,
            "truth_above_home_end_m": truth.alt_amsl_m - home.absolute_altitude_m,
            "wall_s": time.monotonic() - wall_start,
            "px4_s": (truth.px4_us - px4_start) / 1e6, "series": series[::3]}


async def one_run(instance: int, speed: float, flights: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    out: dict[str, Any] = {"instance": instance, "speed_factor": speed,
                           "load_1m": os.getloadavg()[0]}
    async with Px4Fleet([HOME], first_instance=instance, speed_factor=speed) as px4:
        config = Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        async with Mavsdk(config) as mavsdk:
            await mavsdk.add_any_connection(px4.urls[0])
            system = await mavsdk.first_autopilot(10.0)
            tel, act = TelemetryAsync(system), ActionAsync(system)
            direct = MavlinkDirectAsync(system)
            truth = Truth()
            feed = asyncio.create_task(_truth_feed(direct, truth), name="px4-spread-truth")
            clock = asyncio.create_task(_clock_feed(direct, truth), name="px4-spread-clock")
            fields = {"target_system": instance + 1, "target_component": 1,
                      "command": MAV_CMD_SET_MESSAGE_INTERVAL, "confirmation": 0,
                      "param1": HIL_STATE_QUATERNION, "param2": 100_000.0,
                      **{f"param{i}": 0.0 for i in range(3, 8)}}
            await direct.send_command(MavlinkMessage(
                message_name="COMMAND_LONG", system_id=0, component_id=0,
                target_system_id=instance + 1, target_component_id=1,
                fields_json=json.dumps(fields)))

            async def ready() -> bool:
                h = await tel.health()
                return bool(h.is_global_position_ok and h.is_home_position_ok and h.is_armable
                            and math.isfinite(truth.lat_deg))

            out["ready_s"] = await _until(ready, 60.0, "health ok")
            for read in (tel.armed, tel.in_air, tel.flight_mode, tel.landed_state):
                await read()
            home0 = await tel.home()
            out["home_vs_start_m"] = distance_m(home0.latitude_deg, home0.longitude_deg,
                                                HOME.lat_deg, HOME.lon_deg)
            out["home_alt_above_start_m"] = home0.absolute_altitude_m - HOME.alt_amsl_m
            out["before"] = await _ground(tel, truth, home0, 3.0)
            try:
                if "hop" in flights:
                    out["hop"] = await hop(tel, act, truth, home0)
                if "dock" in flights:
                    out["dock"] = await dock(tel, act, truth, home0)
                if "climb" in flights:
                    out["climb"] = await climb(system, tel, act, truth, speed)
            except (TimeoutError, ActionError) as exc:
                out["error"] = f"{type(exc).__name__}: {exc}"
            out["px4_per_wall"] = truth.px4_per_wall()
            feed.cancel()
            clock.cancel()
            direct.destroy()
    out["wall_s"] = time.monotonic() - started
    out["load_1m_end"] = os.getloadavg()[0]
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            flat[f"{prefix}{k}"] = float(v)
    return flat


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.px4_spread", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--parallel", type=int, default=1, help="runs at once (instances 0..N-1)")
    p.add_argument("--speed", type=float, default=3.0, help="PX4_SIM_SPEED_FACTOR")
    p.add_argument("--flights", default="hop,dock,climb")
    p.add_argument("--summary", action="store_true")
    return p


async def amain(args: argparse.Namespace) -> int:
    flights = args.flights.split(",")
    results: list[dict[str, Any]] = []
    done = 0
    while done < args.runs:
        batch = min(args.parallel, args.runs - done)
        runs = [one_run(i, args.speed, flights) for i in range(batch)]
        for r in await asyncio.gather(*runs, return_exceptions=True):
            if isinstance(r, BaseException):
                print(json.dumps({"error": f"{type(r).__name__}: {r}"}), flush=True)
                continue
            print(json.dumps(r), flush=True)
            results.append(r)
        done += batch
    if args.summary:
        flat = [_flatten(r) for r in results]
        keys = sorted({k for f in flat for k in f})
        for k in keys:
            vals = sorted(f[k] for f in flat if k in f and math.isfinite(f[k]))
            if vals:
                print(f"{k}: min {vals[0]:.2f} median {statistics.median(vals):.2f} "
                      f"max {vals[-1]:.2f} (n={len(vals)})")
    return 0


def main() -> int:
    return asyncio.run(amain(build_parser().parse_args()))


if __name__ == "__main__":
    sys.exit(main())
