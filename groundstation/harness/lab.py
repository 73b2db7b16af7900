"""``groundstation lab``: the whole stack for integrators, with no incidents, until stopped.

    groundstation lab [--sites met-trial] [--port 1883] [--speedup 1] [--own-dock acme-7]
                      [--new-dock acme-8]

It writes a users file (``users.json``, the format of ``docs/users.schema.json``) and a secured
mosquitto configuration from it (``groundstation broker-config``), starts that mosquitto, the
PX4-compatible simulator (one drone per dock), the simulated docks and the controller reading the
same users file, then prints the broker URL and the logins of a CAD system, a pilot and a dock,
and runs until Ctrl-C (SIGINT) or SIGTERM. Nothing flies until someone creates an incident.

``--own-dock ID`` adds a dock that nothing simulates, 30 m north of the first site, with its
drone: connect your own dock controller as ``ID`` (docs/dock-integration.md) and the controller
launches from it. ``--new-dock ID`` only gives a dock the login ``ID``: it is not in the site set
until it registers itself (``dock_register``, docs/dock-integration.md section 10), and then the
lab starts a simulated drone for it where it registered (on the MAVLink port the controller
listens on for it), so that it flies. Without mosquitto installed the lab falls back to the
embedded broker (MQTT 3.1.1, no logins).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundstation import contract as c
from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.bus import BrokerConfig, wait_for_port
from groundstation.cli import configure_logging
from groundstation.cli.controller import config_from_args, controller_running
from groundstation.core.dispatch import PX4_QUAD_TOP_SPEED_M_S
from groundstation.errors import ConfigError, GroundStationError
from groundstation.users import UserSpec
from missions.geo import offset
from missions.sites import Dock, SiteSet, load_sites, parse_sites

log = logging.getLogger(__name__)

CONTROLLER_LOGIN = "ctl-1"
CAD_LOGIN = "cad1"
PILOT_LOGIN = "pilot"
OWN_DOCK_NORTH_M = 30.0


def udpin_port(url: str) -> int | None:
    """The port of a ``udpin://HOST:PORT`` URL (where a simulated drone must send), else None."""
    if not url.startswith("udpin://"):
        return None
    _, _, port = url.rpartition(":")
    return int(port) if port.isdigit() and 0 < int(port) < 65536 else None


def lab_password(username: str) -> str:
    """Lab passwords are printed and predictable: the lab listens on loopback only."""
    return f"{username}-lab"


def site_data(site_set: SiteSet, own_docks: list[str]) -> dict[str, Any]:
    """The site set as a file (owner-chosen dock ids throughout), plus the integrator's docks."""
    sites: list[dict[str, Any]] = [
        {
            "site_id": s.site_id,
            "name": s.name,
            "borough": s.borough,
            "lat_deg": s.lat_deg,
            "lon_deg": s.lon_deg,
            "roof_alt_amsl_m": s.roof_alt_amsl_m,
            "dock_list": [
                {"dock_id": d.dock_id, "drone_id": d.drone_id, "lat_deg": d.lat_deg,
                 "lon_deg": d.lon_deg, "alt_amsl_m": d.alt_amsl_m}
                for d in s.docks
            ],
        }
        for s in site_set.sites
    ]
    if own_docks:
        first = site_set.sites[0]
        here = offset(first.lat_deg, first.lon_deg, OWN_DOCK_NORTH_M, 0.0)
        sites.append({
            "site_id": "lab-own",
            "name": "Your dock",
            "lat_deg": here.lat_deg,
            "lon_deg": here.lon_deg,
            "roof_alt_amsl_m": first.roof_alt_amsl_m,
            "dock_list": [{"dock_id": d} for d in own_docks],
        })
    return {
        "name": f"{site_set.name}-lab",
        "description": "groundstation lab",
        "cruise_alt_rel_m": site_set.cruise_alt_rel_m,
        "cruise_speed_m_s": site_set.cruise_speed_m_s,
        "sites": sites,
    }


def lab_users(site_set: SiteSet, new_docks: Sequence[str] = ()) -> list[UserSpec]:
    users = [
        UserSpec(CONTROLLER_LOGIN, c.Role.CONTROLLER, lab_password(CONTROLLER_LOGIN)),
        UserSpec(CAD_LOGIN, c.Role.CAD, lab_password(CAD_LOGIN)),
        UserSpec(PILOT_LOGIN, c.Role.OPERATOR, lab_password(PILOT_LOGIN)),
        UserSpec("viewer", c.Role.VIEWER, lab_password("viewer")),
    ]
    docks = [d.dock_id for d in site_set.docks] + [d for d in new_docks if site_set.dock(d) is None]
    users += [UserSpec(d, c.Role.DOCK, lab_password(d)) for d in docks]
    return users


def users_json(users: list[UserSpec]) -> str:
    rows = [{"username": u.username, "role": str(u.role), "password": u.password} for u in users]
    return json.dumps({"users": rows}, indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class LabBroker:
    config: BrokerConfig
    """The broker, without a login."""
    secured: bool


@contextlib.asynccontextmanager
async def lab_broker(users: list[UserSpec], port: int) -> AsyncIterator[LabBroker]:
    """A secured mosquitto from the users (broker-config's files), else the embedded broker."""
    from groundstation.adapters.broker import EmbeddedBroker, mosquitto_binary

    try:
        binary = mosquitto_binary()
    except ConfigError:
        log.warning("mosquitto is not installed: the embedded broker, without logins")
        async with EmbeddedBroker(port=port) as embedded:
            yield LabBroker(embedded.config, secured=False)
        return
    # Its own directory under the system's temporary one: mosquitto, started as root, reads
    # these files as the mosquitto user, which may not reach the lab's work directory.
    broker_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="dfr-lab-broker-"))
    try:
        async with _mosquitto(binary, broker_dir, users, port) as running:
            yield running
    finally:
        await asyncio.to_thread(shutil.rmtree, broker_dir, True)


@contextlib.asynccontextmanager
async def _mosquitto(
    binary: str, broker_dir: Path, users: list[UserSpec], port: int
) -> AsyncIterator[LabBroker]:
    from groundstation.tools.security import write_mosquitto_config

    conf = write_mosquitto_config(broker_dir, users, port=port)
    proc = await asyncio.create_subprocess_exec(
        binary, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        try:
            await wait_for_port("127.0.0.1", port, 10.0)
        except Exception:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            _, err = await proc.communicate()
            raise ConfigError(f"mosquitto did not start on port {port}: "
                              f"{err.decode(errors='replace').strip()}") from None
        yield LabBroker(BrokerConfig(host="127.0.0.1", port=port), secured=True)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.communicate(), 5)
            except TimeoutError:
                proc.kill()
                await proc.communicate()


def banner(
    broker: LabBroker, workdir: Path, site_set: SiteSet, own: list[str], new: Sequence[str] = ()
) -> list[str]:
    url = f"mqtt://127.0.0.1:{broker.config.port}"
    mqtt = "MQTT 5" if broker.config.mqtt5 else "MQTT 3.1.1"
    dock = [*new, *own, site_set.docks[0].dock_id][0]
    lines = [f"lab: broker {url} ({mqtt}, TCP_NODELAY on, no TLS)"]
    if broker.secured:
        lines += [
            f"lab: users file {workdir / 'users.json'} (broker-config --users, controller --users)",
            f"lab: login cad     {CAD_LOGIN} / {lab_password(CAD_LOGIN)}",
            f"lab: login pilot   {PILOT_LOGIN} / {lab_password(PILOT_LOGIN)}",
            f"lab: login dock    {dock} / {lab_password(dock)}  (every dock: its dock id, "
            "password <dock_id>-lab)",
        ]
    else:
        lines.append(f"lab: no logins (embedded broker): any username, e.g. {CAD_LOGIN}")
    if own:
        lines.append(f"lab: your dock(s) {', '.join(own)}: nothing simulates them; connect yours")
    if new:
        lines.append(f"lab: new dock(s) {', '.join(new)}: a login, not in the site set; register "
                     "(dock_register) at a site below and the lab simulates the drone")
        lines += [f"lab: site {s.site_id} {s.lat_deg:.6f},{s.lon_deg:.6f} roof "
                  f"{s.roof_alt_amsl_m:.1f} m AMSL" for s in site_set.sites]
    lines.append(f"lab: {len(site_set.docks)} drones docked; no incidents; Ctrl-C stops")
    return lines


@dataclass(frozen=True, slots=True)
class LabFiles:
    workdir: Path
    sites_path: Path
    site_set: SiteSet
    """Every dock, the integrator's own included."""
    simulated: SiteSet
    """The docks the lab simulates."""
    users: list[UserSpec]
    users_path: Path


def prepare(args: argparse.Namespace, workdir: Path) -> LabFiles:
    """Write the lab's site set and users file into ``workdir``."""
    own = list(args.own_dock or [])
    base_set = load_sites(args.sites)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # mosquitto, started as root, reads its files as its own user
    sites_path = workdir / "sites.json"
    sites_path.write_text(json.dumps(site_data(base_set, own), indent=2) + "\n",
                          encoding="utf-8")
    site_set = load_sites(str(sites_path))
    users = lab_users(site_set, list(args.new_dock or []))
    users_path = workdir / "users.json"
    users_path.write_text(users_json(users), encoding="utf-8")
    simulated = parse_sites({**site_data(base_set, []), "name": site_set.name})
    return LabFiles(workdir, sites_path, site_set, simulated, users, users_path)


async def run_lab(
    args: argparse.Namespace,
    files: LabFiles,
    stop: asyncio.Event,
    out: Callable[[str], None] = print,
) -> int:
    from groundstation.docksim import DockSimFleet
    from groundstation.harness.demo import simulator_process

    site_set, simulated = files.site_set, files.simulated
    ns = argparse.Namespace(
        controller_id=CONTROLLER_LOGIN, speedup=args.speedup, on_scene=args.on_scene,
        users=str(files.users_path), incident_retention=args.incident_retention,
        top_speed=PX4_QUAD_TOP_SPEED_M_S,  # the simulator's quadrotor: ETAs at its speed
    )
    config = config_from_args(ns, site_set)
    new = [d for d in args.new_dock or [] if site_set.dock(d) is None]
    # Ports for the docks registered later too (a drone's default port: base + fleet index).
    base_port = free_udp_range(len(site_set.docks) + len(new))
    async with lab_broker(files.users, args.port) as broker:
        def login(name: str) -> BrokerConfig:
            cfg = broker.config
            return cfg.with_login(name, lab_password(name)) if broker.secured else cfg

        logins = {d.dock_id: lab_password(d.dock_id) for d in simulated.docks}
        added = contextlib.AsyncExitStack()

        async def simulate(dock: Dock, url: str) -> None:
            """A registered dock's drone: one simulated vehicle where the dock stands."""
            port = udpin_port(url)
            if port is None:
                log.warning("dock %s: its drone on %s is not one the lab can simulate (udpin "
                            "only): run yours there", dock.dock_id, url)
                return
            await added.enter_async_context(simulator_process(
                str(files.sites_path), port, speedup=args.speedup, seed=args.seed,
                home=(dock.lat_deg, dock.lon_deg, dock.alt_amsl_m),
                extra=["--first-system-id", str(dock.system_id), "--no-camera"],
            ))
            out(f"lab: dock {dock.dock_id} registered: simulating {dock.drone_id} "
                f"(system id {dock.system_id}) on {url}")

        async with (
            added,
            simulator_process(str(files.sites_path), base_port, speedup=args.speedup,
                              seed=args.seed),
            DockSimFleet(broker.config, simulated, speedup=args.speedup, seed=args.seed,
                         logins=logins if broker.secured else None),
            controller_running(config, login(CONTROLLER_LOGIN), base_port=base_port,
                               journal_path=files.workdir / "journal.sqlite",
                               sites_path=files.sites_path, on_dock_added=simulate) as run,
        ):
            if not await run.fleet.wait_all(30.0):
                raise ConfigError("not every simulated drone was discovered within 30 s")
            own = [d.dock_id for d in site_set.docks if simulated.dock(d.dock_id) is None]
            for line in banner(broker, files.workdir, site_set, own, new):
                out(line)
            sys.stdout.flush()
            await stop.wait()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="groundstation lab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", default="met-trial", help="site set name or JSON file")
    p.add_argument("--port", type=int, default=1883, help="the broker's port on 127.0.0.1")
    p.add_argument("--speedup", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--on-scene", type=float, default=120.0, help="seconds on scene")
    p.add_argument("--own-dock", action="append", metavar="DOCK_ID",
                   help="a dock nothing simulates, for your own dock controller (repeatable)")
    p.add_argument("--new-dock", action="append", metavar="DOCK_ID",
                   help="a login for a dock that registers itself (dock_register); the lab "
                   "then simulates its drone (repeatable)")
    p.add_argument("--incident-retention", type=float, default=600.0, metavar="S",
                   help="clear finished incidents' retained records after S seconds")
    p.add_argument("--workdir", default=None,
                   help="keep the users file, broker configuration and journal here")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.WARNING)
    if not 0 < args.speedup <= 50:
        print("groundstation lab: --speedup must be in (0, 50]", file=sys.stderr)
        return 2

    async def job(files: LabFiles) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_lab(args, files, stop)

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dfr-lab-"))
    try:
        return asyncio.run(job(prepare(args, workdir)))
    except (ConfigError, GroundStationError, ValueError) as exc:
        print(f"groundstation lab: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
