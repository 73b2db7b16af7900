"""``groundstation controller``: the production entry point, and the assembly the demo reuses.

    groundstation controller --users users.json --sites met-trial --broker mqtt://127.0.0.1:1883 \\
        [--base-port 14540] [--journal dfr.sqlite] [--flight-logs DIR] [--speedup 1]

Drones are reached on ``udpin://0.0.0.0:<base-port + fleet index>`` unless the sites file names a
MAVLink URL per dock (real PX4 drones, or ``python -m sitl``, or PX4 SITL instances).
Each sortie is recorded as a MAVLink ``.tlog`` under ``--flight-logs`` (default: next to the
journal, ``<journal stem>-flights/``); ``groundstation report --journal …`` lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from groundstation import contract as c
from groundstation.adapters.bus import BrokerConfig, Bus, Will
from groundstation.adapters.flightlog import FlightLogger
from groundstation.adapters.journal import Journal
from groundstation.adapters.mavsdk_link import DroneEndpoint, MavsdkFleet
from groundstation.cli import configure_logging
from groundstation.control.ha import HaConfig, LeaseKeeper
from groundstation.control.partition import Partition, PartitionConfig
from groundstation.control.registration import DockRegistry, OnAdded
from groundstation.control.sharing import SharingConfig
from groundstation.control.videoctl import StreamRelay, VideoConfig, VideoControl
from groundstation.controller import Controller, ControllerConfig
from groundstation.core.camera_rules import RelayStatus
from groundstation.core.dispatch import PX4_QUAD_TOP_SPEED_M_S, FlightModel
from groundstation.core.sharing_rules import load_policy
from groundstation.core.traffic_rules import AvoidAction, TrafficConfig
from groundstation.errors import ConfigError, GroundStationError
from groundstation.tasks import cancel_until_done, freeze_heap
from groundstation.users import UserDirectory
from groundstation.video.auth import (
    Authenticator,
    DemoUsers,
    PasswordFileUsers,
    UsersFileLogins,
)
from groundstation.video.relay import RelayConfig, StreamStatus, VideoRelay
from groundstation.web.server import NoVideo, WebConfig, WebView
from missions.airspace import Airspace, zones_from_geojson
from missions.sites import SiteSet, load_sites

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 120
"""The broker keeps the controller's session (and queues requests for it) this long while the
controller is away: a broker restart or a controller restart loses no QoS 1 request."""


def load_airspace(zones_file: str | None = None) -> Airspace:
    """London's restriction zones and operating area, plus user zones from a GeoJSON file."""
    airspace = Airspace.load_default()
    if zones_file:
        airspace = airspace.with_zones(zones_from_geojson(Path(zones_file)))
    return airspace


@dataclass(frozen=True, slots=True)
class Running:
    controller: Controller
    fleet: MavsdkFleet
    relay: VideoRelay | None = None
    web: WebView | None = None


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """The video relay the controller embeds (groundstation.video.relay)."""

    host: str = "127.0.0.1"
    port: int = 0
    """0: a free port (the URLs in the descriptors carry the one taken)."""
    public_host: str | None = None
    evidence_dir: Path | None = None
    """Recordings and stills (None: ``<journal stem>-evidence/`` next to the journal)."""
    users: Authenticator | None = None
    """Viewers' logins (None: the controller's own roles, any password: loopback only)."""


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def evidence_dir(journal_path: str | Path) -> Path:
    if str(journal_path) == ":memory:":
        return Path("dfr-evidence")
    p = Path(journal_path)
    return p.with_name(f"{p.stem}-evidence")


def relay_for(
    options: VideoOptions, roles: Mapping[str, c.Role], journal: Journal, journal_path: str | Path
) -> VideoRelay:
    """The relay, its viewers' logins and its evidence store (the journal is the sink)."""
    users = options.users
    if users is None:
        if options.host not in LOOPBACK:
            raise ConfigError(
                f"the video relay on {options.host} needs the broker's logins "
                "(--video-users DIR, as groundstation broker-config wrote them); without them "
                "it listens on loopback only"
            )
        users = DemoUsers(roles)
    config = RelayConfig(
        host=options.host,
        port=options.port,
        public_host=options.public_host,
        evidence_dir=options.evidence_dir or evidence_dir(journal_path),
    )
    return VideoRelay(config, users, journal)


def relay_reports_to(relay: VideoRelay, video: VideoControl) -> None:
    """The relay's state callback feeds the controller's video (descriptors)."""

    def on_state(st: StreamStatus) -> None:
        video.relay_state(
            st.drone_id, RelayStatus(st.state, st.reason, st.width_px, st.height_px, st.fps)
        )

    relay.on_state = on_state


def flight_log_dir(journal_path: str | Path) -> Path | None:
    """Where flight logs go by default: ``<journal stem>-flights/`` next to the journal (none
    for an in-memory journal)."""
    if str(journal_path) == ":memory:":
        return None
    p = Path(journal_path)
    return p.with_name(f"{p.stem}-flights")


def endpoints(site_set: SiteSet, base_port: int) -> list[DroneEndpoint]:
    return [DroneEndpoint(d.drone_id, d.system_id, d.drone_url(base_port)) for d in site_set.docks]


@contextlib.asynccontextmanager
async def controller_running(
    config: ControllerConfig,
    broker: BrokerConfig,
    *,
    base_port: int,
    journal_path: str | Path,
    with_docks: bool = True,
    airspace: Airspace | None = None,
    ha: HaConfig | None = None,
    partition: PartitionConfig | None = None,
    flight_logs: str | Path | Literal[False] | None = None,
    video: VideoOptions | None = None,
    relay: StreamRelay | None = None,
    sites_path: Path | None = None,
    on_dock_added: OnAdded | None = None,
    web: WebConfig | None = None,
) -> AsyncIterator[Running]:
    """The controller with its fleet, bus, docks and journal, running until the block exits.
    ``flight_logs``: the directory of the per-sortie ``.tlog`` files (None: next to the journal,
    see :func:`flight_log_dir`; False: no flight logs). ``video``: run the video relay (None:
    none; descriptors and camera control go on without it); ``relay``: a relay of the caller's
    instead (tests). ``sites_path``: the site-set file docks registered while running are added
    to (None: kept in memory); ``on_dock_added``: called once one is (the lab simulates its
    drone). ``web``: serve the browser view of shared incidents (share links, groundstation.web).
    """
    will = Will(
        c.controller_status(config.controller_id),
        c.encode(c.ControllerStatus(controller_id=config.controller_id, status="offline")),
    )
    journal = Journal(journal_path, controller_id=config.controller_id)
    logdir = flight_log_dir(journal_path) if flight_logs is None else flight_logs or None
    flightlog = (
        None
        if logdir is None
        else FlightLogger(
            logdir,
            system_ids={d.drone_id: d.system_id for d in config.site_set.docks},
            journal=journal,
            rate_hz=config.telemetry_hz_air,
        )
    )
    try:
        async with contextlib.AsyncExitStack() as stack:
            bus = await stack.enter_async_context(
                Bus(
                    broker,
                    f"controller-{config.controller_id}",
                    will=will,
                    session_expiry_s=SESSION_EXPIRY_S,
                )
            )
            fleet = await stack.enter_async_context(
                MavsdkFleet(endpoints(config.site_set, base_port))
            )
            video_relay: VideoRelay | None = None
            if video is not None and relay is None and config.video.enabled:
                video_relay = await stack.enter_async_context(
                    relay_for(video, config.roles, journal, journal_path)
                )
                relay = video_relay
            docks = None
            if with_docks:
                from groundstation.adapters.docks import DockLink

                docks = DockLink(
                    bus, [d.dock_id for d in config.site_set.docks], speedup=config.speedup
                )
                docks.assign(config.site_set.docks)  # each dock is told its drone's id
            if airspace is None:
                airspace = load_airspace()
            keeper = None if ha is None else LeaseKeeper(ha, config.controller_id, bus)
            ctl = Controller(
                config,
                fleet=fleet,
                bus=bus,
                journal=journal,
                docks=docks,
                airspace=airspace,
                ha=keeper,
                flightlog=flightlog,
                cameras=fleet,
                relay=relay,
                receivers=fleet,
                follow=fleet,
            )
            ctl.registry = DockRegistry(
                ctl, fleet=fleet, docks=docks, base_port=base_port, sites_path=sites_path,
                flightlog=flightlog, on_added=on_dock_added,
            )
            if partition is not None:
                ctl.partition = Partition(ctl, partition)
            if video_relay is not None:
                relay_reports_to(video_relay, ctl.video)
                video_relay.gate = ctl.sharing  # partners watch only what is shared with them
            view = None
            if web is not None:  # share links' browser view (groundstation.web)
                source = relay if isinstance(relay, VideoRelay) else NoVideo()
                view = await stack.enter_async_context(
                    WebView(web, ctl.links.book, ctl.links, source))
                ctl.links.web = view
            task = asyncio.create_task(ctl.run(), name="controller")
            try:
                yield Running(ctl, fleet, video_relay, view)
            finally:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ctl.shutdown(), 5.0)
                await cancel_until_done(task)
    finally:
        if flightlog is not None:
            flightlog.close()
        journal.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groundstation controller",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sites", default="met-trial", help="site set name or JSON file")
    p.add_argument("--broker", default=os.environ.get("GS_BROKER", "mqtt://127.0.0.1:1883"))
    p.add_argument("--ca-file", default=None, help="CA certificate for mqtts://")
    p.add_argument("--mqtt311", action="store_true", help="speak MQTT 3.1.1 (e.g. amqtt)")
    p.add_argument("--base-port", type=int, default=14540)
    p.add_argument("--journal", default="dfr-journal.sqlite")
    p.add_argument(
        "--flight-logs",
        default=None,
        metavar="DIR",
        help="per-sortie MAVLink .tlog files (default: <journal stem>-flights/ next to it)",
    )
    p.add_argument("--no-flight-logs", action="store_true", help="record no flight logs")
    p.add_argument("--controller-id", default="ctl-1")
    p.add_argument(
        "--speedup",
        type=float,
        default=1.0,
        help="the vehicles' simulated time runs this much faster (simulation only)",
    )
    p.add_argument("--on-scene", type=float, default=120.0, help="seconds on scene")
    p.add_argument(
        "--top-speed",
        type=float,
        default=None,
        metavar="M/S",
        help="the fastest the airframe flies, if below the site set's cruise speed (PX4 SIH and "
        f"the simulator: {PX4_QUAD_TOP_SPEED_M_S:g}); the dispatcher's ETAs use it",
    )
    p.add_argument("--no-docks", action="store_true", help="drones without dock controllers")
    p.add_argument("--telemetry-hz", type=float, default=10.0, help="telemetry rate in the air")
    p.add_argument(
        "--telemetry-hz-ground", type=float, default=1.0, help="telemetry rate on the ground"
    )
    p.add_argument("--zones", default=None, help="GeoJSON of extra no-fly zones (user zones)")
    p.add_argument(
        "--ha-cluster",
        default=None,
        help="hot standby: the cluster id two controllers of one fleet share (lease election)",
    )
    p.add_argument(
        "--partitioned",
        action="store_true",
        help="one of several controllers on the broker, each with its own --sites: incidents "
        "are awarded on offers to the least ETA across all of them",
    )
    p.add_argument(
        "--no-video", action="store_true", help="no camera discovery, descriptors or relay"
    )
    p.add_argument(
        "--video-listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where the video relay serves MPEG-TS over HTTP (viewers log in as on the broker; "
        "port 0, the default: a free one, published in each drone's video descriptor)",
    )
    p.add_argument(
        "--video-users",
        default=None,
        metavar="DIR",
        help="the viewers' logins: the directory groundstation broker-config wrote (passwd, "
        "roles.json); by default the --users file; one of them is needed unless the relay "
        "listens on loopback",
    )
    p.add_argument(
        "--video-public-host", default=None, help="host name put in the viewers' video URLs"
    )
    p.add_argument(
        "--web-listen",
        default=None,
        metavar="HOST:PORT",
        help="serve the browser view of shared incidents (share links: incident_link_create) "
        "over HTTPS here; off by default",
    )
    p.add_argument("--web-cert", default=None, help="PEM certificate (chain) of the browser view")
    p.add_argument("--web-key", default=None, help="its PEM private key")
    p.add_argument(
        "--web-public-host", default=None, help="host name put in share links' URLs"
    )
    p.add_argument(
        "--record-dir",
        default=None,
        metavar="DIR",
        help="evidence: recordings and stills (default: <journal stem>-evidence/ next to it)",
    )
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--users",
        default=None,
        metavar="USERS_JSON",
        help="users and roles (docs/users.schema.json), the file broker-config --users reads; "
        "reloaded on SIGHUP and when it changes. Required (or --demo-users)",
    )
    who.add_argument(
        "--demo-users",
        action="store_true",
        help="DEMO ONLY, INSECURE: the built-in demo users (pilot, cad1, ...) instead of a users "
        "file; for groundstation demo/lab/soak and tests, never a deployment",
    )
    p.add_argument(
        "--incident-retention",
        type=float,
        default=600.0,
        metavar="S",
        help="clear a closed or rejected incident's retained record this long after it closed "
        "(the journal keeps it)",
    )
    p.add_argument(
        "--partner-policy",
        default=None,
        metavar="POLICY_JSON",
        help="partner requests approved without an operator, e.g. "
        '{"approve": [{"agency": "las", "max_priority": 1}]} (docs/partners.md)',
    )
    p.add_argument(
        "--partner-requests",
        default="5/600",
        metavar="N/S",
        help="at most N drone requests from one partner agency in S seconds (default 5/600)",
    )
    p.add_argument(
        "--traffic-avoid", type=int, choices=range(5), default=None, metavar="0-4",
        help="set every drone's NAV_TRAFF_AVOID at connection (0 off, 1 warn, 2 return, "
        "3 land, 4 hold; docs/traffic.md)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def sharing_from_args(args: argparse.Namespace) -> SharingConfig:
    """Partner services from ``--partner-policy`` and ``--partner-requests``."""
    policy = getattr(args, "partner_policy", None)
    rate = str(getattr(args, "partner_requests", "5/600"))
    count, sep, window = rate.partition("/")
    try:
        limit, window_s = int(count), float(window)
    except ValueError:
        limit, window_s = 0, 0.0
    if not sep or limit < 1 or window_s <= 0:
        raise ConfigError(f"--partner-requests {rate!r}: expected N/SECONDS, e.g. 5/600")
    return SharingConfig(
        policy=tuple(load_policy(Path(policy))) if policy else (),
        request_limit=limit,
        request_window_s=window_s,
    )


def config_from_args(args: argparse.Namespace, site_set: SiteSet) -> ControllerConfig:
    model = FlightModel(
        cruise_speed_m_s=site_set.cruise_speed_m_s,
        cruise_alt_rel_m=site_set.cruise_alt_rel_m,
        on_scene_s=args.on_scene,
        top_speed_m_s=getattr(args, "top_speed", None) or math.inf,
    )
    return ControllerConfig(
        site_set=site_set,
        controller_id=args.controller_id,
        model=model,
        speedup=args.speedup,
        telemetry_hz_air=getattr(args, "telemetry_hz", 10.0),
        telemetry_hz_ground=getattr(args, "telemetry_hz_ground", 1.0),
        video=VideoConfig(enabled=not getattr(args, "no_video", False)),
        incident_retention_s=getattr(args, "incident_retention", 600.0),
        sharing=sharing_from_args(args),
        traffic=traffic_config(getattr(args, "traffic_avoid", None)),
        **users_from_args(args),
    )


def traffic_config(avoid: int | None) -> TrafficConfig:
    return TrafficConfig(avoid_action=None if avoid is None else AvoidAction(avoid))


def video_options_from_args(args: argparse.Namespace) -> VideoOptions | None:
    """The relay's options from ``--video-listen``, ``--video-users``, ``--record-dir``."""
    if args.no_video:
        return None
    host, sep, port_text = str(args.video_listen).rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not sep or not host or not 0 <= port <= 65535:
        raise ConfigError(f"--video-listen {args.video_listen!r}: expected HOST:PORT")
    users: Authenticator | None = None
    if args.video_users is not None:
        users = PasswordFileUsers.from_dir(Path(args.video_users))
    elif getattr(args, "users", None):
        users = UsersFileLogins(UserDirectory(Path(args.users)))
    return VideoOptions(
        host=host.strip("[]"),
        port=port,
        public_host=args.video_public_host,
        evidence_dir=Path(args.record_dir) if args.record_dir else None,
        users=users,
    )


def web_config_from_args(args: argparse.Namespace) -> WebConfig | None:
    """The browser view's options from ``--web-listen``, ``--web-cert``, ``--web-key``."""
    listen = getattr(args, "web_listen", None)
    if not listen:
        return None
    host, sep, port_text = str(listen).rpartition(":")
    port = int(port_text) if port_text.isdigit() else -1
    if not sep or not host or not 0 <= port <= 65535:
        raise ConfigError(f"--web-listen {listen!r}: expected HOST:PORT")
    host = host.strip("[]")
    if bool(args.web_cert) != bool(args.web_key):
        raise ConfigError("--web-cert and --web-key go together")
    if not args.web_cert and host not in LOOPBACK:
        raise ConfigError(
            f"--web-listen {listen}: off loopback the browser view needs --web-cert and "
            "--web-key (a share link's token travels in its URL: HTTPS only)"
        )
    return WebConfig(host=host, port=port, public_host=args.web_public_host,
                     cert_file=args.web_cert, key_file=args.web_key)


NO_USERS = (
    "no users file: give --users users.json (format docs/users.schema.json, the same file "
    "groundstation broker-config --users reads); --demo-users (built-in demo users, demo and "
    "tests only) is the explicit opt-in without one"
)


def users_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``roles`` for the config: a live :class:`UserDirectory` of ``--users``, else nothing
    (the built-in demo users: in-process callers (demo, soak, tests) and ``--demo-users``)."""
    path = getattr(args, "users", None)
    if not path:
        if getattr(args, "demo_users", False):
            log.warning("--demo-users: the built-in demo users have roles (demo and tests only)")
        return {}
    return {"roles": UserDirectory(Path(path))}


async def _freeze_when_settled(fleet: MavsdkFleet, settle_s: float = 10.0) -> None:
    """Freeze the heap again once every drone is connected: MAVSDK's plugins and callbacks for
    each drone are kept for good too, and at 250 drones a full collection over them still paused
    the loop. Without a collection first (``gc.freeze`` alone takes no time)."""
    await fleet.wait_all(120.0)
    await asyncio.sleep(settle_s)
    freeze_heap(collect=False)


async def _amain(args: argparse.Namespace) -> int:
    site_set = load_sites(args.sites)
    broker = BrokerConfig.from_url(args.broker, ca_file=args.ca_file, mqtt5=not args.mqtt311)
    config = config_from_args(args, site_set)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sites_path = Path(args.sites) if Path(args.sites).suffix == ".json" else None
    started: list[Controller] = []

    def reload() -> None:
        """SIGHUP: the users file, and the site-set file's new docks (registration.py)."""
        if isinstance(config.roles, UserDirectory):
            config.roles.reload()
        for ctl in started:
            if ctl.registry is not None:
                ctl.spawn(ctl.registry.reload(), "sites-reload")

    loop.add_signal_handler(signal.SIGHUP, reload)
    if isinstance(config.roles, UserDirectory) and broker.username and broker.password is None:
        # mqtt://ctl-1@host: the controller's own password comes from the users file.
        broker = broker.with_login(broker.username, config.roles.password(broker.username))
    async with controller_running(
        config,
        broker,
        base_port=args.base_port,
        journal_path=args.journal,
        with_docks=not args.no_docks,
        airspace=load_airspace(args.zones),
        ha=HaConfig(args.ha_cluster) if args.ha_cluster else None,
        partition=PartitionConfig() if args.partitioned else None,
        flight_logs=False if args.no_flight_logs else args.flight_logs,
        video=video_options_from_args(args),
        sites_path=sites_path,
        web=web_config_from_args(args),
    ) as running:
        started.append(running.controller)
        if running.relay is not None:
            print(f"video relay: {running.relay.url_for('DRONE')}", flush=True)
        if running.web is not None:
            print(f"browser view: {running.web.url_for('TOKEN')}", flush=True)
        print(
            f"controller {config.controller_id}: {len(site_set.docks)} drones, "
            f"broker {broker.url()}",
            flush=True,
        )
        freeze_heap()  # site set, airspace: kept for good
        refreeze = asyncio.create_task(_freeze_when_settled(running.fleet), name="freeze-heap")
        await stop.wait()
        refreeze.cancel()
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not args.users and not args.demo_users:
        print(f"groundstation controller: {NO_USERS}", file=sys.stderr)
        return 2
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        code = asyncio.run(_amain(args))
    except (ConfigError, GroundStationError) as exc:
        print(f"groundstation controller: {exc}", file=sys.stderr)
        return 2
    return leave(code)


def leave(code: int) -> NoReturn:
    """End the process once its orderly shutdown is over (bus, MAVSDK, journal and flight logs
    closed), without the C library's exit handlers.

    libmavsdk's static destructors, run by ``exit()`` after every ``Mavsdk`` instance has
    been destroyed, corrupted the heap once a controller had 20 or more instances (200-250
    drones): glibc aborted it in its exit handlers ("free(): invalid size", "munmap_chunk():
    invalid pointer", SIGBUS) in 6 of 7 stops by SIGTERM, after the shutdown had ended and with
    no MAVSDK thread left (gdb: ``__run_exit_handlers``). Logs and standard streams are flushed
    first; nothing else of the controller's is left open by then."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
