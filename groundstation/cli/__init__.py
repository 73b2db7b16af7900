"""``groundstation``: one command, many subcommands. Each lives in its own module.

Subcommands are imported lazily so that ``groundstation sim`` never loads Qt and
``groundstation console`` never loads MAVSDK.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Sequence

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("groundstation.harness.demo:main", "run the whole stack on embedded defaults"),
    "controller": ("groundstation.cli.controller:main", "the production controller"),
    "console": ("groundstation.console.app:main", "the operator console (PyQt6)"),
    "dock-sim": ("groundstation.docksim.cli:main", "simulated dock controllers over MQTT"),
    "sim": ("sitl.__main__:main", "the PX4-compatible vehicle simulator"),
    "px4": ("sitl.px4:main", "real PX4 SITL instances, one per dock (native or --docker)"),
    "broker-config": ("groundstation.tools.security:main",
                      "write a secured mosquitto configuration"),
    "asyncapi": ("groundstation.tools.asyncapi:main",
                 "print the AsyncAPI document of the contract"),
    "sites": ("groundstation.tools.sitesfile:main", "check a site-set file, print its JSON Schema"),
    "lab": ("groundstation.harness.lab:main",
            "the whole stack for integrators, no incidents, until ^C"),
    "mission": ("missions.cli:mission_main", "import/export QGroundControl plans"),
    "coverage": ("missions.cli:coverage_main", "two-minute coverage of a site set"),
    "plan": ("missions.cli:plan_main", "the fewest docks for a coverage target (exact)"),
    "report": ("groundstation.tools.report:main", "incidents and sorties from a journal"),
    "soak": ("groundstation.harness.soak:main", "replay the Met's load in simulated time"),
    "bench": ("bench.__main__:main", "the benchmark suite"),
}


def configure_logging(level: int) -> None:
    """The one log format of every subcommand, at the level it chose."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _usage() -> str:
    lines = ["usage: groundstation <command> [options]", "", "commands:"]
    lines += [f"  {name:<14} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "groundstation <command> --help for the options of one command"]
    return "\n".join(lines)


def _load(target: str) -> Callable[[list[str]], int]:
    module_name, func = target.split(":")
    module = importlib.import_module(module_name)
    fn: Callable[[list[str]], int] = getattr(module, func)
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"groundstation: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return _load(SUBCOMMANDS[name][0])(rest)


if __name__ == "__main__":
    raise SystemExit(main())
