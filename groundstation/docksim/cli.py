"""``groundstation dock-sim``: the simulated docks of a site set on a broker, optionally driven
by a script of faults (``--script``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groundstation.adapters.bus import BrokerConfig
from groundstation.cli import configure_logging
from groundstation.docksim.core import DockSim
from groundstation.docksim.fleet import DockSimFleet
from groundstation.errors import ConfigError, GroundStationError
from missions.sites import SiteSetError, load_sites

log = logging.getLogger(__name__)


# --- scripts -----------------------------------------------------------------------------------

ACTIONS = ("set_weather", "release_weather", "stick_cover", "press_emergency_stop",
           "clear_fault", "go_offline", "come_online", "drop_requests")


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """At ``at_s`` seconds after the start, call ``action(**args)`` on dock ``dock`` (or all)."""

    at_s: float
    action: str
    dock: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def parse_script(raw: Any) -> list[ScriptStep]:
    """``[{"at_s": 30, "dock": "islington-1", "action": "set_weather",
    "args": {"wind_speed_m_s": 14}}, ...]``, sorted by time."""
    if not isinstance(raw, list):
        raise ConfigError("a dock script is a JSON list of steps")
    steps = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("action") not in ACTIONS:
            raise ConfigError(f"script step #{n}: action must be one of {', '.join(ACTIONS)}")
        at_s, dock, args = item.get("at_s", 0), item.get("dock"), item.get("args", {})
        if not isinstance(at_s, int | float) or at_s < 0:
            raise ConfigError(f"script step #{n}: at_s must be a number >= 0")
        if dock is not None and not isinstance(dock, str):
            raise ConfigError(f"script step #{n}: dock must be a dock id")
        if not isinstance(args, dict):
            raise ConfigError(f"script step #{n}: args must be an object")
        steps.append(ScriptStep(float(at_s), item["action"], dock, args))
    return sorted(steps, key=lambda st: st.at_s)


def apply_step(docks: dict[str, DockSim], step: ScriptStep) -> None:
    """Run one script step now."""
    targets = list(docks.values()) if step.dock is None else [docks[step.dock]]
    for dock in targets:
        try:
            getattr(dock, step.action)(**step.args)
        except TypeError as exc:
            raise ConfigError(f"script {step.action}: {exc}") from exc


async def run_script(docks: dict[str, DockSim], steps: list[ScriptStep]) -> None:
    """Play a script against running docks (times are real seconds from now)."""
    for step in steps:
        if step.dock is not None and step.dock not in docks:
            raise ConfigError(f"script names unknown dock {step.dock!r}")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for step in steps:
        await asyncio.sleep(max(0.0, start + step.at_s - loop.time()))
        log.info("script t=%.1f s: %s %s %s", step.at_s, step.dock or "all", step.action,
                 step.args)
        apply_step(docks, step)


# --- CLI ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="groundstation dock-sim",
                                description="Simulated docks speaking the dfr/v1 dock protocol.")
    p.add_argument("--sites", required=True, help="site set name (met-trial) or JSON file")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                   help="mqtt://[user:pass@]host:port or mqtts://...")
    p.add_argument("--ca-file", help="CA certificate for mqtts://")
    p.add_argument("--speedup", type=float, default=1.0, help="divide dock job times by this")
    p.add_argument("--seed", type=int, default=0, help="weather seed")
    p.add_argument("--dock-passwords", type=Path,
                   help="JSON object {dock_id: password}: each dock logs in as its dock id")
    p.add_argument("--script", type=Path,
                   help="JSON list of timed steps: weather and faults (see parse_script)")
    p.add_argument("--mqtt311", action="store_true", help="speak MQTT 3.1.1 (e.g. to amqtt)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _read_logins(path: Path) -> dict[str, str]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError("--dock-passwords must be a JSON object of strings")
    return {str(k): v for k, v in raw.items()}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        sites = load_sites(args.sites)
        broker = BrokerConfig.from_url(args.broker, ca_file=args.ca_file, mqtt5=not args.mqtt311)
        logins = None if args.dock_passwords is None else _read_logins(args.dock_passwords)
        script = [] if args.script is None else parse_script(
            json.loads(args.script.read_text(encoding="utf-8")))
    except (SiteSetError, OSError, ValueError, ConfigError) as exc:
        print(f"dock-sim: {exc}")
        return 2

    async def run() -> None:
        async with DockSimFleet(broker, sites, speedup=args.speedup, seed=args.seed,
                                logins=logins) as fleet:
            log.info("%d simulated docks on %s", len(fleet.docks), broker.url())
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(fleet.wait(), name="docksim:fleet")
                    if script:
                        tg.create_task(run_script(fleet.docks, script), name="docksim:script")
            except ExceptionGroup as group:
                ours = group.subgroup(GroundStationError)
                if ours is None:
                    raise
                raise ours.exceptions[0] from group

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    except GroundStationError as exc:
        print(f"dock-sim: {exc}")
        return 1
    return 0
