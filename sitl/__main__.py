"""Run a simulated fleet: ``python -m sitl --drones N --base-port P [--sites NAME|FILE | --home
LAT,LON,ALT] [--speedup X] [--seed S]``. Vehicle i sends to 127.0.0.1:P+i with system id i+1;
its camera streams H.264 over RTP to VIDEO_HOST:VIDEO_BASE_PORT+i while it flies."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
import time
from collections.abc import Sequence

from sitl.camera import CameraConfig, Lens, StreamPolicy
from sitl.fleet import SimFleet
from sitl.physics import Home, LocalFrame
from sitl.traffic import ScriptedAircraft

HOME_SPACING_M = 8.0


def parse_home(text: str) -> Home:
    try:
        lat, lon, alt = (float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--home wants LAT,LON,ALT, got {text!r}") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError("--home: position out of range")
    return Home(lat, lon, alt)


def parse_latlon(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"wants LAT,LON, got {text!r}") from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"{text!r}: position out of range")
    return lat, lon


def homes_in_a_row(first: Home, count: int) -> list[Home]:
    """`count` homes HOME_SPACING_M apart, running east from `first`."""
    frame = LocalFrame(first.lat_deg, first.lon_deg, first.alt_amsl_m)
    out = []
    for i in range(count):
        lat, lon, alt = frame.to_global(0.0, i * HOME_SPACING_M, 0.0)
        out.append(Home(lat, lon, alt))
    return out


def homes_from_sites(name: str, drones: int | None) -> list[Home]:
    from missions.sites import load_sites

    docks = sorted(load_sites(name).docks, key=lambda d: d.fleet_index)
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in docks]
    if drones is not None:
        if drones > len(homes):
            raise SystemExit(f"sitl: --drones {drones} but the site set has {len(homes)} docks")
        homes = homes[:drones]
    return homes


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sitl", description=__doc__)
    p.add_argument("--drones", type=int, default=None, help="number of vehicles")
    p.add_argument("--base-port", type=int, default=14540, help="vehicle i sends to port P+i")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sites", help="site set name or JSON file: one vehicle per dock")
    where.add_argument("--home", type=parse_home, help="LAT,LON,ALT_AMSL of the first vehicle")
    p.add_argument("--speedup", type=float, default=1.0, help="simulated seconds per wall second")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--first-system-id", type=int, default=1,
                   help="MAVLink system id of vehicle 0 (vehicle i: this + i)")
    p.add_argument("--host", default="127.0.0.1", help="where the ground station listens")
    p.add_argument(
        "--mirror-base-port",
        type=int,
        default=None,
        help="vehicle i also sends to port Q+i (a standby ground station) and obeys both",
    )
    p.add_argument("--clock-every", type=float, default=None, metavar="S",
                   help="print 'sitl: clock UNIX_S SIM_S' every S wall seconds (the simulated "
                   "clock against the wall, for a client that reports simulated times)")
    p.add_argument("--traffic", type=parse_latlon, default=None, metavar="LAT,LON",
                   help="a seeded helicopter crossing this point, heard by every drone's "
                   "ADS-B receiver (docs/traffic.md)")
    p.add_argument("--traffic-after", type=float, default=30.0,
                   help="simulated seconds before the helicopter sets off")
    cam = p.add_argument_group("camera (sitl/README.md: The camera)")
    cam.add_argument("--no-camera", action="store_true", help="vehicles carry no camera")
    cam.add_argument(
        "--video", choices=[x.value for x in StreamPolicy], default=StreamPolicy.AIRBORNE.value,
        help="when vehicles stream video (default: airborne, or when asked over MAVLink)",
    )
    cam.add_argument("--video-host", default=None, help="where video goes (default: --host)")
    cam.add_argument("--video-base-port", type=int, default=5600,
                     help="vehicle i streams RTP to port V+i (default 5600)")
    cam.add_argument("--camera-hfov", type=float, default=80.0, help="horizontal FOV, degrees")
    cam.add_argument("--camera-dir", default=None, help="where photos go (default: a temp dir)")
    cam.add_argument("--incident", type=parse_latlon, default=None,
                     help="LAT,LON of the incident marker before any ROI is set")
    return p


def camera_config(args: argparse.Namespace) -> CameraConfig | None:
    if args.no_camera:
        return None
    try:
        return CameraConfig(
            lens=Lens(hfov_deg=args.camera_hfov),
            video_host=args.video_host,
            video_base_port=args.video_base_port,
            policy=StreamPolicy(args.video),
            image_dir=args.camera_dir,
            incident=args.incident,
            seed=args.seed,
        )
    except ValueError as exc:
        raise SystemExit(f"sitl: {exc}") from exc


async def print_clock(fleet: SimFleet, every_s: float, stop: asyncio.Event) -> None:
    """The fleet's simulated clock against the wall clock, every ``every_s`` wall seconds: under
    load the simulator drops simulated time rather than run late (sitl.fleet), so a client that
    reports simulated durations reads them here rather than multiplying wall time."""
    while not stop.is_set():
        print(f"sitl: clock {time.time():.3f} {fleet.sim_time_s:.3f}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def run(
    homes: Sequence[Home], args: argparse.Namespace, camera: CameraConfig | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimFleet(
        homes,
        args.base_port,
        args.speedup,
        args.seed,
        args.host,
        mirror_base_port=args.mirror_base_port,
        camera=camera,
        first_system_id=args.first_system_id,
    ) as fleet:
        last = fleet.ports[-1]
        print(f"sitl: {len(homes)} vehicles, ports {fleet.ports[0]}..{last}", flush=True)
        # The fleet is built and kept: out of the cyclic collector's reach, so that a full
        # collection does not hold every vehicle's telemetry for tens of milliseconds.
        gc.collect()
        gc.freeze()
        if args.traffic is not None:
            lat, lon = args.traffic
            heli = ScriptedAircraft.crossing(lat, lon, homes[0].alt_amsl_m + 60.0,
                                             seed=args.seed, start_s=args.traffic_after)
            for v in fleet.vehicles:  # every drone's receiver hears it
                v.traffic.aircraft.append(heli)
            print(f"sitl: traffic: {heli.callsign} ({heli.icao_address:06x}) crosses "
                  f"{args.traffic[0]:.5f},{args.traffic[1]:.5f} at {heli.speed_m_s:.0f} m/s "
                  f"from t={args.traffic_after:g} s", flush=True)
        if camera is not None and fleet.camera_io is not None:
            ports = [c.video_port for c in fleet.cameras]
            print(f"sitl: video ({camera.policy.value}) to {fleet.camera_io.host}:"
                  f"{ports[0]}..{ports[-1]}, photos in {fleet.camera_io.image_dir}", flush=True)
        clock = None
        if args.clock_every:
            clock = asyncio.create_task(print_clock(fleet, args.clock_every, stop))
        await stop.wait()
        if clock is not None:
            await clock
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.drones is not None and not 1 <= args.drones <= 250:
        raise SystemExit("sitl: --drones must be 1..250")
    if args.speedup <= 0:
        raise SystemExit("sitl: --speedup must be positive")
    if args.home is not None:
        homes = homes_in_a_row(args.home, args.drones or 1)
    else:
        homes = homes_from_sites(args.sites or "met-trial", args.drones)
    camera = camera_config(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(homes, args, camera))
    return 0


if __name__ == "__main__":
    sys.exit(main())
