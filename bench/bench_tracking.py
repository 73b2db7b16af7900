"""Tracking error: a drone in Follow Target behind a target moving at a person's or a car's
speed, driven through the product's own adapter (``adapters.mavsdk_link.MavsdkFollow``)
and rules (``groundstation.core.tracking_rules``), on the simulator or on real PX4 SITL.

    python -m bench.bench_tracking --vehicle sim --speeds 4 12
    unshare -n -- bash -c 'ip link set lo up && exec .venv/bin/python -m bench.bench_tracking \\
        --vehicle px4 --speeds 4 12'
    ... --plain       # PX4's follow-me as it comes (no lead, its speed limits, FLW_TGT_RS 0.1)
    python -m bench.bench_tracking --camera --scale 4   # click-to-track (simulator only)

``--camera`` (simulator only: PX4 SIH has no camera) clicks the fleeing car of a seeded getaway
in the simulated camera's picture (MAV_CMD_CAMERA_TRACK_POINT through the product's adapter),
enters Follow Target and feeds it the camera's CAMERA_TRACKING_GEO_STATUS through the product's
rules for ``--seconds`` of the car's drive, and reports: click to following (wall seconds from
the click until the first target position is sent in Follow Target), the share of frames
(10 per simulated second) with the car's centre in the central third of the picture, and the
geo status's error against the car's true position, as it arrived (p50/p95) and as led by the
rules to the moment it is sent.

The script is bench.bench_follow's (the simulator's parity with PX4): the target stands 10 m
north of the drone until the drone is settled behind it, then drives north along a straight
street (``--corner``: turning east half way) at a constant speed, reported at 2 Hz of target
time with its velocity, as a ground unit's AVL would send it. |error| is the horizontal distance
from the drone to where it should be (``follow_distance_m`` behind the target's true position)
at every report; p50 and p95 are printed. ``--plain`` is PX4's follow-me as MAVSDK's defaults
leave it (no lead, FLW_TGT_RS 0.1, max tangential 8 m/s, PX4's speed limits); without it, the
product's settings (groundstation.core.tracking_rules.TrackConfig, MPC_XY_CRUISE/MPC_XY_VEL_MAX
as the controller sets them).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.bench_follow import compare
from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.mavsdk_link import DroneEndpoint, MavsdkFleet, MavsdkVehicle
from groundstation.core import tracking_rules as rules
from groundstation.errors import VehicleError
from missions.geo import distance_m, offset
from sitl import Home, SimFleet

HOME = Home(51.5072, -0.1276, 30.0)
PX4_BACKEND = "PX4 SITL main a70a5583 (2025-08-18), SIH quadrotor X"
POSITION_RATE_HZ = 20.0
DATA_FILE = Path(__file__).resolve().parents[1] / "tests" / "sitl" / "data" / "px4_tracking.json"
PRODUCT_PARAMS = {"MPC_XY_CRUISE": 15.0, "MPC_XY_VEL_MAX": 15.0}
"""What the controller sets before every launch (groundstation.control.commands._configure)."""


@dataclass(frozen=True, slots=True)
class Result:
    speed_m_s: float
    p50_m: float
    p95_m: float
    samples: int


def target_at(
    t_s: float, speed_m_s: float, leg_s: float, origin: tuple[float, float], corner: bool
) -> tuple[float, float, float, float]:
    """(lat, lon, vel_n, vel_e) of the target ``t_s`` seconds (target time) after it set off
    from ``origin``: north along a straight street; with ``corner``, east after ``leg_s``."""
    if t_s <= 0:
        return origin[0], origin[1], 0.0, 0.0
    if not corner or t_s <= leg_s:
        p = offset(origin[0], origin[1], speed_m_s * t_s, 0.0)
        return p.lat_deg, p.lon_deg, speed_m_s, 0.0
    p = offset(origin[0], origin[1], speed_m_s * leg_s, speed_m_s * (t_s - leg_s))
    return p.lat_deg, p.lon_deg, 0.0, speed_m_s


@asynccontextmanager
async def vehicle(
    kind: str, speed: float
) -> AsyncIterator[tuple[MavsdkVehicle, Callable[[], float]]]:
    """The drone and its clock (vehicle seconds): PX4's is the wall clock times its speed
    factor, the simulator's its own simulated time (which falls behind the wall clock times
    the speed-up when the machine is loaded)."""
    if kind == "px4":
        from sitl.px4 import Px4Fleet

        px4 = Px4Fleet([HOME], speed_factor=speed)
        async with px4:
            endpoint = DroneEndpoint("d1", px4.instances[0].system_id, px4.urls[0])
            async with MavsdkFleet([endpoint]) as fleet:
                assert await fleet.wait_all(30.0), "PX4 not discovered"
                v = fleet.get("d1")
                assert v is not None
                yield v, lambda: time.monotonic() * speed
        return
    base = free_udp_range(1)
    async with SimFleet([HOME], base_port=base, speedup=speed) as sim:
        endpoint = DroneEndpoint("d1", 1, f"udpin://0.0.0.0:{base}")
        async with MavsdkFleet([endpoint]) as fleet:
            assert await fleet.wait_all(15.0), "simulator not discovered"
            v = fleet.get("d1")
            assert v is not None
            yield v, lambda: sim.sim_time_s


async def until(pred: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def run_one(
    v: MavsdkVehicle, clock: Callable[[], float], speed_m_s: float, seconds: float,
    scale: float, cfg: rules.TrackConfig,
    *, lead: bool, corner: bool, verbose: bool = False,
) -> Result:
    """As bench.bench_follow's script: the target stands ``follow_distance_m`` north of the
    drone until the drone is settled behind it (at most 60 s), then drives; the error is taken
    at every report (2 Hz of the vehicle's time, ``clock``) against the target's true
    position."""
    follow = v.follow()
    await follow.follow_start(cfg.follow_config())
    start = v.sample()
    o = offset(start.lat_deg, start.lon_deg, cfg.follow_distance_m, 0.0)
    origin = (o.lat_deg, o.lon_deg)
    errors: list[float] = []
    period = 1.0 / cfg.update_hz
    used = cfg if lead else replace(cfg, latency_s=0.0, max_lead_s=0.0)
    t0: float | None = None
    settle_until = clock() + 60.0
    while True:
        wall, now = time.monotonic(), clock()
        t = 0.0 if t0 is None else now - t0
        if t > seconds:
            break
        lat, lon, vn, ve = target_at(t, speed_m_s, seconds / 2, origin, corner)
        fix = rules.Fix(lat, lon, received_s=wall, vel_n_m_s=vn, vel_e_m_s=ve)
        await follow.follow_target(rules.feed(fix, wall, used, HOME.alt_amsl_m))
        smp = v.sample()
        # Behind the target: along its velocity, or south of it while it stands.
        un, ue = (vn / speed_m_s, ve / speed_m_s) if (vn or ve) else (1.0, 0.0)
        want = offset(lat, lon, -un * cfg.follow_distance_m, -ue * cfg.follow_distance_m)
        err = distance_m(smp.lat_deg, smp.lon_deg, want.lat_deg, want.lon_deg)
        if t0 is None:
            settled = err < 2.0 and abs(smp.alt_rel_m - cfg.follow_height_m) < 1.5
            if settled or now > settle_until:
                t0 = now
        else:
            errors.append(err)
            if verbose and int(t * 2) % 20 == 0:
                print(f"    t {t:5.1f} s: speed {smp.ground_speed_m_s:4.1f} m/s, "
                      f"error {err:5.1f} m, "
                      f"{smp.flight_mode}", flush=True)
        # A report at least every period of vehicle time (never sooner: PX4 fuses a
        # position only when more than 0.5 s passed since the last one it fused).
        await asyncio.sleep(max(0.0, (period - (clock() - now)) / scale))
    smp = v.sample()
    lat, lon, _, _ = target_at(seconds, speed_m_s, seconds / 2, origin, corner)
    moved = distance_m(start.lat_deg, start.lon_deg, smp.lat_deg, smp.lon_deg)
    behind = distance_m(smp.lat_deg, smp.lon_deg, lat, lon)
    print(f"  end: mode {smp.flight_mode}, drone {moved:.0f} m from its start, "
          f"{behind:.0f} m from the target", flush=True)
    await follow.follow_stop()
    errors.sort()
    p95 = errors[min(len(errors) - 1, int(0.95 * len(errors)))] if errors else math.nan
    return Result(speed_m_s, statistics.median(errors) if errors else math.nan, p95, len(errors))


async def measure(kind: str, speeds: list[float], seconds: float, scale: float,
                  plain: bool, corner: bool = False,
                  params: dict[str, float] | None = None, verbose: bool = False) -> list[Result]:
    cfg = rules.TrackConfig(time_scale=scale)
    if plain:
        cfg = replace(cfg, responsiveness=0.1, max_vel_m_s=8.0)
    out: list[Result] = []
    async with vehicle(kind, scale) as (v, clock):
        await until(lambda: v.sample().armable and v.sample().has_position, 60.0, "armable")
        # The error is read from the position telemetry: 20 Hz of vehicle time on both. PX4's
        # stream rates are in its own (sped-up) time, the simulator's in wall time, and its
        # default 5 Hz is a sample every 0.8 s of vehicle time at --scale 4: 3 m of error at
        # 4 m/s. (PX4's API link streams 50 Hz by default, more than MAVSDK's Python
        # callbacks keep up with on a loaded machine.)
        await v.set_position_rate(POSITION_RATE_HZ * (scale if kind == "sim" else 1.0))
        if not plain:
            await v.set_params(PRODUCT_PARAMS)  # at launch
            await v.set_params(cfg.speed_params)  # while tracking
        if params:
            await v.set_params(params)
            for name in params:
                print(f"  {name} = {await v.get_param_float(name)}", flush=True)
        await v.arm()
        await v.takeoff(cfg.follow_height_m)
        try:
            # Follow Target climbs to its height by itself (PX4 climbs before moving sideways).
            await until(lambda: v.sample().in_air and v.sample().alt_rel_m >= 2.0, 120.0,
                        "take-off")
        except TimeoutError:
            smp = v.sample()
            raise TimeoutError(f"take-off: {smp.flight_mode}, armed {smp.armed}, "
                               f"{smp.alt_rel_m:.1f} m") from None
        for s in speeds:
            r = await run_one(v, clock, s, seconds, scale, cfg, lead=not plain, corner=corner,
                              verbose=verbose)
            out.append(r)
            print(f"{kind} {'plain' if plain else 'product'} {s:4.1f} m/s: |error| "
                  f"p50 {r.p50_m:5.1f} m, p95 {r.p95_m:5.1f} m ({r.samples} samples)", flush=True)
            await v.hold()
            await asyncio.sleep(3.0 / scale)
    return out


def kept_pace(results: list[Result], seconds: float) -> bool:
    """A run counts when the script kept its pace: at least 95 % of the reports it should have
    sent (``update_hz`` over ``seconds``). On a loaded machine the loop falls behind, the
    target jumps and the error measures the machine, not the vehicle."""
    want = seconds * rules.TrackConfig().update_hz
    return all(r.samples >= 0.95 * want for r in results)


def summarise(repeats: list[list[Result]], kind: str, scale: float, seconds: float,
              plain: bool) -> dict[str, Any]:
    """Several runs of every speed: the median p50 / p95 per speed, and every run."""
    runs = []
    for i, first in enumerate(repeats[0]):
        same = [rep[i] for rep in repeats if len(rep) > i]
        runs.append({"speed_m_s": first.speed_m_s,
                     "p50_m": round(statistics.median(r.p50_m for r in same), 2),
                     "p95_m": round(statistics.median(r.p95_m for r in same), 2),
                     "samples": first.samples})
    backend = (f"{PX4_BACKEND}, PX4_SIM_SPEED_FACTOR {scale:g}" if kind == "px4"
               else f"sitl, speed-up {scale:g}")
    return {"backend": backend,
            "measured_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
            "settings": "plain (PX4's follow-me as it comes)" if plain else "product",
            "script": {"height_m": rules.TrackConfig().follow_height_m,
                       "distance_m": rules.TrackConfig().follow_distance_m,
                       "update_hz": rules.TrackConfig().update_hz, "drive_s": seconds},
            "runs": runs,
            "repeats": [[{k: round(v, 2) if isinstance(v, float) else v
                          for k, v in asdict(r).items()} for r in rep] for rep in repeats]}


@dataclass(frozen=True, slots=True)
class CameraResult:
    click_to_following_s: float
    central_third: float
    frames: int
    geo_p50_m: float
    geo_p95_m: float
    led_p50_m: float
    led_p95_m: float


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else math.nan


async def measure_camera(scale: float, seconds: float) -> CameraResult:
    """The click-to-track figures on the simulator (see the module docstring)."""
    from groundstation.core.vehicle import FlightMode
    from sitl.camera import CameraConfig, StreamPolicy

    period_start_s = 8400.0  # a seeded getaway: an 11.3 m/s car, north then east (the e2e test's)
    scene = offset(HOME.lat_deg, HOME.lon_deg, 150.0, 0.0)
    cfg = rules.TrackConfig(time_scale=scale)
    base = free_udp_range(1)
    camera = CameraConfig(video_base_port=free_udp_range(1), policy=StreamPolicy.OFF)
    async with SimFleet([HOME], base_port=base, speedup=scale, camera=camera) as sim:
        endpoint = DroneEndpoint("d1", 1, f"udpin://0.0.0.0:{base}")
        async with MavsdkFleet([endpoint]) as fleet:
            assert await fleet.wait_all(15.0), "simulator not discovered"
            v = fleet.get("d1")
            assert v is not None
            vehicle, cam_model = sim.vehicles[0], sim.cameras[0]
            await until(lambda: v.sample().armable and v.sample().has_position, 60.0, "armable")
            jump = period_start_s - sim.sim_time_s
            sim.sim_time_s += jump
            vehicle.state.sim_time_s += jump
            car = cam_model.crowd.getaways(scene.lat_deg, scene.lon_deg, period_start_s)[0]
            await v.set_params(PRODUCT_PARAMS)
            await v.arm()
            await v.takeoff(40.0)
            await until(lambda: v.sample().alt_rel_m >= 35.0, 120.0, "take-off")
            camera_link = v.camera()
            # The gimbal on the scene (the controller's ROI at launch; set in the model here:
            # MAVSDK's gimbal plugin takes seconds to find the gimbal).
            cam_model.incident = (scene.lat_deg, scene.lon_deg)
            cam_model.gimbal.look_at(vehicle.state.frame.to_ned(scene.lat_deg, scene.lon_deg,
                                                                HOME.alt_amsl_m))

            def in_picture() -> tuple[float, float] | None:
                hit = next((x for x in cam_model.seen() if x.actor.ident == car.ident), None)
                return hit.centre if hit is not None else None

            await until(lambda: in_picture() is not None, 30.0, "the car in the picture")
            lens = camera.lens
            for _ in range(40):  # MAVSDK's camera plugin lists the camera after a while
                x_px, y_px = in_picture() or (0.0, 0.0)
                clicked = time.monotonic()
                try:
                    await camera_link.track_point(x_px / lens.width_px, y_px / lens.height_px,
                                                  0.05)
                    break
                except VehicleError as exc:
                    if "no camera" not in str(exc):
                        raise
                    await asyncio.sleep(0.5)
            follow = v.follow()
            await follow.follow_start(cfg.follow_config())
            following_s = math.nan
            geo: list[float] = []
            led: list[float] = []
            central = frames = 0
            last_geo = 0.0
            next_frame = vehicle.state.sim_time_s
            next_feed = 0.0
            while vehicle.state.sim_time_s < car.depart_s + seconds:
                now = time.monotonic()
                t = vehicle.state.sim_time_s
                st = camera_link.track_status()
                truth = car.lat_lon_at(t)
                if st is not None and st.active and truth is not None and now >= next_feed:
                    next_feed = now + 1.0 / cfg.update_hz / scale
                    fix = rules.Fix(st.lat_deg, st.lon_deg, received_s=st.geo_updated_s,
                                    vel_n_m_s=st.vel_n_m_s, vel_e_m_s=st.vel_e_m_s)
                    await follow.follow_target(rules.feed(fix, now, cfg, HOME.alt_amsl_m))
                    if math.isnan(following_s) and v.sample().flight_mode == FlightMode.FOLLOW_ME:
                        following_s = time.monotonic() - clicked
                    lat, lon = rules.predict(fix, now, cfg)
                    truth_sent = car.lat_lon_at(vehicle.state.sim_time_s)
                    if t > car.depart_s and truth_sent is not None:
                        led.append(distance_m(lat, lon, *truth_sent))
                if (st is not None and st.geo_updated_s != last_geo and truth is not None
                        and t > car.depart_s):
                    last_geo = st.geo_updated_s
                    geo.append(distance_m(st.lat_deg, st.lon_deg, *truth))
                while t >= next_frame:  # the frames since the last look, 10 per simulated s
                    next_frame += 0.1
                    if t > car.depart_s:
                        frames += 1
                        c = in_picture()
                        w, h = lens.width_px, lens.height_px
                        central += c is not None and (w / 3 <= c[0] <= 2 * w / 3
                                                      and h / 3 <= c[1] <= 2 * h / 3)
                await asyncio.sleep(0.01)
            await follow.follow_stop()
    return CameraResult(following_s, central / frames if frames else math.nan, frames,
                        _pct(geo, 0.5), _pct(geo, 0.95), _pct(led, 0.5), _pct(led, 0.95))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vehicle", choices=("sim", "px4"), default="sim")
    ap.add_argument("--speeds", type=float, nargs="+", default=[4.0, 12.0])
    ap.add_argument("--seconds", type=float, default=80.0, help="target time per speed")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="simulation speed (the simulator's speedup, PX4_SIM_SPEED_FACTOR)")
    ap.add_argument("--plain", action="store_true", help="PX4's follow-me as it comes")
    ap.add_argument("--corner", action="store_true", help="turn east half way (a street corner)")
    ap.add_argument("--verbose", action="store_true", help="speed and error every 10 s")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a vehicle parameter to set before take-off (float)")
    ap.add_argument("--runs", type=int, default=1, help="repeat on a fresh vehicle each time")
    ap.add_argument("--save", type=Path, help="write the result (JSON) here")
    ap.add_argument("--compare", type=Path, help="PX4 figures (JSON) to hold the result to")


    ap.add_argument("--camera", action="store_true",
                    help="click-to-track on the simulator's camera (simulator only)")
    args = ap.parse_args(argv)
    if args.camera:
        r = asyncio.run(measure_camera(args.scale, args.seconds))
        print(f"sim camera x{args.scale:g}: click to following {r.click_to_following_s:.2f} s; "
              f"car in the central third {100 * r.central_third:.1f} % of {r.frames} frames; "
              f"geo status as it arrived p50 {r.geo_p50_m:.1f} m, p95 {r.geo_p95_m:.1f} m; "
              f"led to when sent p50 {r.led_p50_m:.1f} m, p95 {r.led_p95_m:.1f} m", flush=True)
        return 0
    params = {k: float(v) for k, v in (p.split("=", 1) for p in args.param)}
    repeats: list[list[Result]] = []
    dropped: list[list[Result]] = []
    for _ in range(args.runs):
        rep = asyncio.run(measure(args.vehicle, args.speeds, args.seconds, args.scale,
                                  args.plain, args.corner, params, args.verbose))
        (repeats if kept_pace(rep, args.seconds) else dropped).append(rep)
    if not repeats:
        print("bench_tracking: no run kept its pace (the machine is too loaded)", flush=True)
        return 2
    result = summarise(repeats, args.vehicle, args.scale, args.seconds, args.plain)
    result["dropped"] = [[asdict(r) for r in rep] for rep in dropped]
    if args.save:
        args.save.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["runs"]))
    if args.compare:
        problems = compare(result, json.loads(args.compare.read_text()))
        for line in problems:
            print(f"bench_tracking: {line}", flush=True)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
