"""``groundstation demo``: the whole stack on embedded defaults, flying incidents end to end.

It starts the embedded MQTT broker (or uses ``--broker``), the PX4-compatible simulator as a child
process (one vehicle per dock, real MAVLink over UDP), the simulated docks, the controller, and the
console (unless ``--headless``). Then it calls in incidents as a CAD system would, prints one line
per phase change, and ends with one JSON line of results. Exit code 0 only when every incident
was flown and closed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from groundstation import contract as c
from groundstation.adapters.broker import free_port, free_udp_range
from groundstation.adapters.bus import BrokerConfig, Bus
from groundstation.cli import configure_logging
from groundstation.cli.controller import (
    VideoOptions,
    config_from_args,
    controller_running,
    load_airspace,
)
from groundstation.controller import ControllerConfig
from groundstation.core.dispatch import PX4_QUAD_TOP_SPEED_M_S
from groundstation.errors import ConfigError, GroundStationError
from missions.airspace import Airspace
from missions.geo import destination
from missions.sites import SiteSet, load_sites

log = logging.getLogger(__name__)


# --- the simulator as a child process ----------------------------------------------------------


@contextlib.asynccontextmanager
async def simulator_process(
    sites: str,
    base_port: int,
    *,
    speedup: float,
    seed: int,
    extra: list[str] | None = None,
    home: tuple[float, float, float] | None = None,
    clock: SimClock | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m sitl`` for a site set (or ``home``: one vehicle there, for a dock added to the
    lab); waits for its ready line; stopped on exit. With ``clock``, the simulator prints its
    clock every second and ``clock`` collects it."""
    where = ["--sites", sites] if home is None else ["--home", ",".join(map(str, home))]
    if clock is not None:
        extra = [*(extra or []), "--clock-every", str(SimClock.EVERY_S)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sitl",
        *where,
        "--base-port",
        str(base_port),
        "--speedup",
        str(speedup),
        "--seed",
        str(seed),
        *(extra or []),
        stdout=asyncio.subprocess.PIPE,
        stderr=None,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line.startswith(b"sitl"):
            raise ConfigError(f"simulator did not start: {line!r}")
        reader = None
        if clock is not None:
            reader = asyncio.create_task(_read_clock(proc.stdout, clock), name="sitl-clock")
        try:
            yield proc
        finally:
            if reader is not None:
                reader.cancel()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class SimClock:
    """The simulator's clock against the wall clock, from its ``sitl: clock UNIX_S SIM_S`` lines:
    simulated durations are read here, not taken as wall time times the nominal speed-up (the
    simulator drops simulated time when it runs late, and a loaded machine makes it)."""

    EVERY_S = 1.0
    MAX_SAMPLES = 7_200  # two hours at one a second

    def __init__(self) -> None:
        self.samples: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=self.MAX_SAMPLES
        )

    def add(self, unix_s: float, sim_s: float) -> None:
        if self.samples and unix_s <= self.samples[-1][0]:
            return
        self.samples.append((unix_s, sim_s))

    def sim_s_at(self, unix_s: float) -> float | None:
        """The simulated time at a wall instant: interpolated between the samples around it,
        or extrapolated at the last rate up to two sample periods past the last one; None
        outside what was seen."""
        pts = self.samples
        if len(pts) < 2 or unix_s < pts[0][0] or unix_s > pts[-1][0] + 2 * self.EVERY_S:
            return None
        i = bisect.bisect_left(pts, (unix_s, -math.inf))
        (w0, s0), (w1, s1) = (pts[-2], pts[-1]) if i >= len(pts) else (pts[max(0, i - 1)], pts[i])
        if w1 == w0:
            return s0
        return s0 + (s1 - s0) * (unix_s - w0) / (w1 - w0)

    def speedup(self) -> float | None:
        """Simulated seconds per wall second over everything seen."""
        if len(self.samples) < 2:
            return None
        (w0, s0), (w1, s1) = self.samples[0], self.samples[-1]
        return (s1 - s0) / (w1 - w0)


async def _read_clock(stream: asyncio.StreamReader, clock: SimClock) -> None:
    """Drain the simulator's stdout (so it never blocks on a full pipe), keeping its clock."""
    while line := await stream.readline():
        parts = line.split()
        if len(parts) == 4 and parts[:2] == [b"sitl:", b"clock"]:
            try:
                clock.add(float(parts[2]), float(parts[3]))
            except ValueError:
                log.warning("simulator: bad clock line %r", line)


# --- incidents ------------------------------------------------------------------------------


def random_incidents(
    site_set: SiteSet, n: int, seed: int, airspace: Airspace | None, max_m: float = 2500.0
) -> list[tuple[float, float]]:
    """n incident positions within reach of the sites, clear of restricted airspace."""
    rng = random.Random(seed)
    out: list[tuple[float, float]] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 10_000:
            raise ConfigError("could not place random incidents clear of airspace")
        site = rng.choice(site_set.sites)
        p = destination(site.lat_deg, site.lon_deg, rng.uniform(0, 360), rng.uniform(300, max_m))
        if airspace is not None:
            if airspace.check_point(p.lat_deg, p.lon_deg) is not None:
                continue
            if airspace.check_route(site.lat_deg, site.lon_deg, p.lat_deg, p.lon_deg) is not None:
                continue
        out.append((round(p.lat_deg, 6), round(p.lon_deg, 6)))
    return out


@dataclass
class DemoResult:
    incidents: int
    completed: int = 0
    failed: int = 0
    times_to_scene_s: list[float] = field(default_factory=list)
    etas_s: list[float] = field(default_factory=list)
    """The dispatcher's ETA of each incident that reached its scene (same order)."""
    simulator_clock: bool = False
    """Times to scene read on the simulator's clock (False: wall time x the nominal speedup)."""
    speedup_achieved: float | None = None
    telemetry_messages: int = 0
    state_messages: int = 0
    wall_s: float = 0.0
    speedup: float = 1.0
    reasons: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        t = self.times_to_scene_s
        return {
            "incidents": self.incidents,
            "completed": self.completed,
            "failed": self.failed,
            "mean_time_to_scene_s": round(statistics.fmean(t), 1) if t else None,
            "max_time_to_scene_s": round(max(t), 1) if t else None,
            "mean_eta_s": round(statistics.fmean(self.etas_s), 1) if self.etas_s else None,
            "time_base": "simulator clock" if self.simulator_clock else "wall x speedup",
            "speedup_achieved": (
                round(self.speedup_achieved, 2) if self.speedup_achieved is not None else None
            ),
            "telemetry_messages": self.telemetry_messages,
            "state_messages": self.state_messages,
            "speedup": self.speedup,
            "wall_s": round(self.wall_s, 1),
            **({"reasons": self.reasons} if self.reasons else {}),
        }


async def fly_incidents(
    broker: BrokerConfig,
    positions: list[tuple[float, float]],
    *,
    speedup: float,
    timeout_s: float,
    user: str = "demo",
    out: Callable[[str], None] = print,
    clock: SimClock | None = None,
) -> DemoResult:
    """Call in the incidents as a CAD system would and follow them until closed. Times to scene
    are simulated seconds: on ``clock`` (the simulator's) when it covers them, else wall time
    times the nominal ``speedup``."""
    result = DemoResult(incidents=len(positions), speedup=speedup)
    t0 = time.monotonic()
    phases: dict[str, str] = {}
    incidents: dict[str, c.Incident] = {}
    pending_tids: dict[str, int] = {}
    async with Bus(
        broker.with_login(broker.username or user, broker.password),
        f"demo-{os.getpid()}-{random.randrange(1 << 30)}",
    ) as bus:
        await bus.subscribe(c.ALL_DRONE_STATE, qos=1)
        await bus.subscribe(c.ALL_INCIDENTS, qos=1)
        await bus.subscribe(c.ALL_TELEMETRY, qos=0)
        await bus.subscribe(c.operator_services_reply(user), qos=1)
        await asyncio.sleep(0.3)
        for n, (lat, lon) in enumerate(positions):
            req = c.make_request(
                c.OperatorMethod.INCIDENT_CREATE,
                c.IncidentCreate(
                    lat_deg=lat, lon_deg=lon, priority=2, summary=f"demo incident {n + 1}"
                ),
            )
            pending_tids[req.tid] = n
            await bus.publish(
                c.operator_services(user), c.encode(req), qos=1, expiry_s=c.COMMAND_TTL_S
            )
            out(
                f"[{time.monotonic() - t0:7.1f}s] incident {n + 1} called in at {lat:.5f},{lon:.5f}"
            )

        deadline = t0 + timeout_s
        msgs = bus.messages()
        while True:
            done = [
                i
                for i in incidents.values()
                if i.status in (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED)
            ]
            if len(done) == len(positions) and not pending_tids:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                out("demo: timed out")
                break
            try:
                msg = await asyncio.wait_for(anext(msgs), remaining)
            except TimeoutError:
                continue
            ref = c.parse_topic(msg.topic)
            if ref is None:
                continue
            if ref.kind == "drone" and ref.leaf == "telemetry":
                result.telemetry_messages += 1
            elif ref.kind == "drone" and ref.leaf == "state":
                result.state_messages += 1
                st = c.decode(msg.payload, c.DroneState)
                if phases.get(st.drone_id) != st.phase and (
                    st.drone_id in phases or st.incident_id
                ):
                    extra = f" for {st.incident_id}" if st.incident_id else ""
                    out(f"[{time.monotonic() - t0:7.1f}s] {st.drone_id:<18} {st.phase}{extra}")
                phases[st.drone_id] = st.phase
            elif ref.kind == "incident" and msg.payload:  # empty: a cleared record
                inc = c.decode(msg.payload, c.Incident)
                before = incidents.get(inc.incident_id)
                incidents[inc.incident_id] = inc
                if before is None or before.status != inc.status:
                    why = f" ({inc.reason})" if inc.reason else ""
                    out(f"[{time.monotonic() - t0:7.1f}s] {inc.incident_id} {inc.status}{why}")
            elif ref.kind == "operator" and ref.leaf == "services_reply":
                reply = c.decode(msg.payload, c.Reply)
                if reply.tid in pending_tids:
                    pending_tids.pop(reply.tid)
                    if reply.data.result != 0:
                        out(f"incident refused: {reply.data.output.get('reason')}")
    result.wall_s = time.monotonic() - t0
    sim_times: list[float | None] = []
    for inc in incidents.values():
        if inc.status == c.IncidentStatus.CLOSED and inc.on_scene_ms is not None:
            result.completed += 1
            sim_times.append(
                sim_duration_s(clock, inc.created_ms, inc.on_scene_ms) if clock else None
            )
            result.times_to_scene_s.append((inc.on_scene_ms - inc.created_ms) / 1000.0 * speedup)
            if inc.eta_s is not None:
                result.etas_s.append(inc.eta_s)
        else:
            result.reasons[inc.incident_id] = f"{inc.status}: {inc.reason}"
    result.failed = result.incidents - result.completed
    if clock is not None:
        result.speedup_achieved = clock.speedup()
        if sim_times and all(t is not None for t in sim_times):
            result.times_to_scene_s = [t for t in sim_times if t is not None]
            result.simulator_clock = True
    return result


def sim_duration_s(clock: SimClock, start_ms: int, end_ms: int) -> float | None:
    """Simulated seconds between two wall stamps (Unix ms), on the simulator's clock."""
    a, b = clock.sim_s_at(start_ms / 1000.0), clock.sim_s_at(end_ms / 1000.0)
    return None if a is None or b is None else b - a


# --- the stack ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoOptions:
    sites: str = "met-trial"
    broker_url: str | None = None
    ca_file: str | None = None
    speedup: float = 1.0
    seed: int = 1
    on_scene_s: float = 30.0
    journal: str | None = None
    vehicles: str = "sim"
    """``sim``: the embedded simulator; ``px4``: real PX4 SITL (sitl.px4), one instance per dock."""
    px4_first_instance: int = 0
    """With ``px4``: the PX4 instance of the first dock (its port 14540 + this)."""
    video: bool = True
    video_port: int = 0
    """The relay's HTTP port (0: a free one; the descriptors carry it)."""


def broker_config(opts: DemoOptions, embedded_port: int) -> BrokerConfig:
    """The broker the demo talks to: ``--broker``, or the embedded one (MQTT 3.1.1)."""
    if opts.broker_url:
        return BrokerConfig.from_url(opts.broker_url, ca_file=opts.ca_file)
    return BrokerConfig(host="127.0.0.1", port=embedded_port, mqtt5=False)


EMBEDDED_BROKER_MAX_DOCKS = 30
"""Above this many docks the demo runs mosquitto (when installed) instead of the embedded broker:
amqtt matches every publish against every subscription in this very process, and a planned
network of 144 docks (groundstation plan) timed its clients out at start-up."""


def wants_mosquitto(opts: DemoOptions, docks: int) -> bool:
    """The demo's own broker: mosquitto for PX4 or a large site set, when it is installed."""
    big = opts.vehicles == "px4" or docks > EMBEDDED_BROKER_MAX_DOCKS
    return big and shutil.which("mosquitto") is not None


@contextlib.asynccontextmanager
async def broker_for(
    opts: DemoOptions, port: int | None = None, docks: int = 0
) -> AsyncIterator[BrokerConfig]:
    if opts.broker_url:
        yield broker_config(opts, 0)
        return
    if wants_mosquitto(opts, docks):
        # PX4 streams hundreds of messages a second per vehicle into MAVSDK's callbacks; an
        # in-process Python broker then starves (clients "cannot reach broker" with nine PX4),
        # and so it does with a hundred simulated docks and drones.
        from groundstation.adapters.broker import Mosquitto

        async with Mosquitto(port=port, persistence=False) as m:
            yield m.config
        return
    from groundstation.adapters.broker import EmbeddedBroker

    if docks > EMBEDDED_BROKER_MAX_DOCKS:
        log.warning("%d docks on the embedded broker: install mosquitto, or pass --broker", docks)
    async with EmbeddedBroker(port=port) as broker:
        yield broker.config


def with_px4_system_ids(site_set: SiteSet, first: int) -> SiteSet:
    """The site set with the system ids PX4 instances first+i give themselves (MAV_SYS_ID
    first+i+1: PX4's SITL startup script sets it after any PX4_PARAM_ override)."""
    sites = tuple(
        replace(s, docks=tuple(replace(d, system_id=first + d.fleet_index + 1) for d in s.docks))
        for s in site_set.sites
    )
    return replace(site_set, sites=sites)


@contextlib.asynccontextmanager
async def px4_vehicles(site_set: SiteSet, speedup: float, first: int = 0) -> AsyncIterator[int]:
    """Real PX4 SITL, instance first+i at the dock with fleet index i; yields the base port
    (14540 + first: PX4's ports are fixed, so they must be free here, e.g. in a private network
    namespace)."""
    from sitl.physics import Home
    from sitl.px4 import API_BASE_PORT, Px4Error, Px4Fleet

    docks = sorted(site_set.docks, key=lambda d: d.fleet_index)
    base = API_BASE_PORT + first
    busy = [p for p in range(base, base + len(docks)) if not udp_port_free(p)]
    if busy:
        raise ConfigError(
            f"PX4 needs UDP ports {base}..{base + len(docks) - 1}; in use: "
            f"{busy}. Stop what holds them, or run in a private network namespace as root: "
            "unshare -n sh -c 'ip link set lo up && groundstation demo --vehicles px4 ...'"
        )
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in docks]
    try:
        async with Px4Fleet(homes, first_instance=first, speed_factor=speedup):
            yield base
    except Px4Error as exc:
        raise ConfigError(str(exc)) from exc


def udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


@contextlib.asynccontextmanager
async def vehicles_for(
    opts: DemoOptions, site_set: SiteSet, clock: SimClock | None = None
) -> AsyncIterator[int]:
    """The demo's vehicles, one per dock; yields the base port the controller listens on. The
    simulator's clock goes to ``clock`` (PX4 keeps its own: not read)."""
    if opts.vehicles == "px4":
        async with px4_vehicles(site_set, opts.speedup, opts.px4_first_instance) as base_port:
            yield base_port
        return
    base_port = free_udp_range(len(site_set.docks))
    # Each simulated drone's camera streams RTP/H.264 to 127.0.0.1 on video_base + its index
    # and says so over MAVLink (the controller learns the port from the camera). A free run of
    # ports rather than PX4's 5600 + i: QGroundControl or PX4 SITL on the same machine hold it.
    video_base = free_udp_range(len(site_set.docks))
    sim_video = ["--video-base-port", str(video_base)] if opts.video else ["--no-camera"]
    async with simulator_process(
        opts.sites, base_port, speedup=opts.speedup, seed=opts.seed, extra=sim_video,
        clock=clock,
    ):
        yield base_port


def dock_tick_s(docks: int) -> float:
    """How often each simulated dock steps: 20 Hz, or 4 Hz for a large network (a dock's
    jobs take seconds even at speedup 10; 144 docks at 20 Hz cost the demo's process 2,880
    wake-ups a second)."""
    return 0.05 if docks <= EMBEDDED_BROKER_MAX_DOCKS else 0.25


@contextlib.asynccontextmanager
async def demo_stack(
    opts: DemoOptions, broker: BrokerConfig, clock: SimClock | None = None
) -> AsyncIterator[ControllerConfig]:
    """Simulator, docks and controller for a site set on the given broker."""
    from groundstation.docksim import DockSimFleet

    site_set = load_sites(opts.sites)
    if opts.vehicles == "px4" and opts.px4_first_instance:
        site_set = with_px4_system_ids(site_set, opts.px4_first_instance)
    args = argparse.Namespace(
        controller_id="ctl-1",
        speedup=opts.speedup,
        on_scene=opts.on_scene_s,
        no_video=not opts.video,
        # Both kinds of vehicle are PX4's quadrotor at its default tilt: they cannot fly the
        # site set's 20 m/s (the trial's aircraft), and ETAs at 20 m/s were half the flight.
        top_speed=PX4_QUAD_TOP_SPEED_M_S,
    )
    config = config_from_args(args, site_set)
    with tempfile.TemporaryDirectory(prefix="dfr-demo-") as tmp:
        journal = opts.journal or str(Path(tmp) / "journal.sqlite")
        # The relay on loopback with the demo's logins (the controller's roles).
        video = (
            VideoOptions(
                host="127.0.0.1", port=opts.video_port, evidence_dir=Path(tmp) / "evidence"
            )
            if opts.video
            else None
        )
        async with (
            # Docks first: they connect in a moment, before nine PX4 boots load the machine.
            DockSimFleet(broker, site_set, speedup=opts.speedup, seed=opts.seed,
                         tick_s=dock_tick_s(len(site_set.docks))),
            vehicles_for(opts, site_set, clock) as base_port,
            controller_running(
                config, broker, base_port=base_port, journal_path=journal, video=video
            ) as run,
        ):
            if run.relay is not None:
                log.info("video relay: %s", run.relay.url_for("DRONE"))
            # 30 s, and more for a large planned network (groundstation plan --out-sites).
            discover_s = max(30.0, 0.5 * len(site_set.docks))
            if not await run.fleet.wait_all(discover_s):
                raise ConfigError(
                    f"not every simulated drone was discovered within {discover_s:g} s"
                )
            yield config


async def run_demo(
    opts: DemoOptions,
    positions: list[tuple[float, float]] | None,
    n_random: int,
    *,
    timeout_s: float = 900.0,
    port: int | None = None,
    out: Callable[[str], None] = print,
    clock: SimClock | None = None,
) -> DemoResult:
    """The whole demo: broker, stack, incidents. ``port`` fixes the embedded broker's port;
    ``clock`` (a new one if None) collects the simulator's clock."""
    docks = len(load_sites(opts.sites).docks)
    clock = clock or SimClock()
    async with (
        broker_for(opts, port, docks) as broker,
        demo_stack(opts, broker, clock) as config,
    ):
        if positions is None:
            positions = random_incidents(config.site_set, n_random, opts.seed, load_airspace())
        # Let the docks report and the vehicles' health settle before the first call.
        await asyncio.sleep(2.0)
        return await fly_incidents(
            broker, positions, speedup=opts.speedup, timeout_s=timeout_s, out=out,
            clock=clock if opts.vehicles == "sim" else None,
        )


# --- CLI ------------------------------------------------------------------------------------


def _latlon(text: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LAT,LON") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"{text!r}: out of range")
    return lat, lon


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groundstation demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--headless", action="store_true", help="no console window")
    p.add_argument("--broker", default=None, help="use this broker instead of the embedded one")
    p.add_argument("--ca-file", default=None)
    p.add_argument("--sites", default="met-trial")
    p.add_argument("--incident", type=_latlon, action="append", metavar="LAT,LON")
    p.add_argument("--incidents", type=int, default=None, help="N random incidents")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speedup", type=float, default=1.0,
                   help="simulated seconds per wall second (with px4: PX4_SIM_SPEED_FACTOR)")
    p.add_argument("--vehicles", choices=("sim", "px4"), default="sim",
                   help="sim: the embedded simulator; px4: real PX4 SITL (GS_PX4_HOME)")
    p.add_argument("--px4-first-instance", type=int, default=0, metavar="N",
                   help="with --vehicles px4: PX4 instance (port 14540+N) of the first dock")
    p.add_argument("--on-scene", type=float, default=120.0, help="seconds on scene")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    p.add_argument("--journal", default=None)
    p.add_argument("--no-video", action="store_true", help="no cameras, no relay")
    p.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the console")
    p.add_argument("--exit-after", type=float, default=None, help="with --screenshot")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.WARNING)
    if args.speedup <= 0 or args.speedup > 50:
        print("groundstation demo: --speedup must be in (0, 50]", file=sys.stderr)
        return 2
    opts = DemoOptions(
        sites=args.sites,
        broker_url=args.broker,
        ca_file=args.ca_file,
        speedup=args.speedup,
        seed=args.seed,
        on_scene_s=args.on_scene,
        journal=args.journal,
        vehicles=args.vehicles,
        px4_first_instance=args.px4_first_instance,
        video=not args.no_video,
    )
    positions = list(args.incident) if args.incident else None
    n_random = args.incidents if args.incidents is not None else (0 if positions else 1)

    port = free_port()

    async def job() -> int:
        result = await run_demo(opts, positions, n_random, timeout_s=args.timeout, port=port)
        print(json.dumps(result.as_json()), flush=True)
        return 0 if result.completed == result.incidents and result.failed == 0 else 1

    try:
        if args.headless or (args.screenshot is None and not os.environ.get("DISPLAY")):
            if not args.headless:
                print("demo: no DISPLAY, running headless (use --screenshot for a picture)")
            return asyncio.run(job())
        from groundstation.console.app import ConsoleConfig, run_console

        broker = broker_config(opts, port).with_login("pilot", None)
        config = ConsoleConfig(broker=broker, user="pilot", role=c.Role.OPERATOR, sites=opts.sites)
        return run_console(
            config, background=job, screenshot=args.screenshot, exit_after_s=args.exit_after
        )
    except (ConfigError, GroundStationError) as exc:
        print(f"groundstation demo: {exc}", file=sys.stderr)
        return 2
