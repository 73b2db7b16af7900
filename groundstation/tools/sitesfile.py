"""The site-set file (``--sites FILE``): its JSON Schema and ``groundstation sites check FILE``.

A site set names the controller's docks: each site is a rooftop with a position, a roof altitude
and either a number of docks (ids generated as ``{site_id}-{n}``, drones ``uav-{dock_id}``) or a
``dock_list`` where the owner chooses each dock's id, its drone's id, its MAVLink system id and
URL. The types below are the schema (``docs/sites.schema.json`` is generated from them and a test
keeps the two equal); :func:`check` validates a file against them and then builds it with
:func:`missions.sites.parse_sites`, which adds what a schema cannot say (ids unique across the
whole set, at most 250 drones).

    groundstation sites check my-sites.json      # exit 0 and a summary, or 1 and the reason
    groundstation sites schema > sites.schema.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import msgspec

from missions.sites import SiteSet, SiteSetError, parse_sites

Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Lat = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]


class DockSpec(msgspec.Struct, kw_only=True):
    """One dock of a site, chosen by its owner. Every field is optional."""

    dock_id: Ident | None = msgspec.field(default=None)
    """The dock's id, also its MQTT login; default ``{site_id}-{n}`` (n from 1, file order)."""
    drone_id: Ident | None = None
    """The id of the drone living in it; default ``uav-{dock_id}``."""
    system_id: Annotated[int, msgspec.Meta(ge=1, le=250)] | None = None
    """Its MAVLink system id; default its fleet index + 1 (file order over all sites)."""
    mavlink_url: str | None = None
    """How MAVSDK reaches it (``udpin://0.0.0.0:14540``); default base port + fleet index."""
    lat_deg: Lat | None = None
    lon_deg: Lon | None = None
    """Default: in a row running east, 8 m apart, centred on the site."""
    alt_amsl_m: float | None = None
    """Default: the site's roof altitude."""


class SiteSpec(msgspec.Struct, kw_only=True):
    site_id: Ident
    lat_deg: Lat
    lon_deg: Lon
    roof_alt_amsl_m: float
    name: str | None = None
    borough: str | None = None
    docks: Annotated[int, msgspec.Meta(ge=1, le=250)] | None = None
    """How many docks (generated ids); or give ``dock_list``."""
    dock_list: Annotated[list[DockSpec], msgspec.Meta(min_length=1)] | None = None
    """The docks with owner-chosen ids; wins over ``docks``."""


class RegisteredDock(msgspec.Struct, kw_only=True):
    """A dock added to a running controller (``dock_register``; the controller appends it here)
    or by hand (then SIGHUP): placed after every site's docks, so that adding one never moves
    another dock's default system id or port."""

    site_id: Ident
    """The site it stands on (one of ``sites``)."""
    dock_id: Ident
    drone_id: Ident | None = None
    """Default ``uav-{dock_id}``."""
    system_id: Annotated[int, msgspec.Meta(ge=1, le=250)] | None = None
    """Default its fleet index + 1 (registrations always write it)."""
    mavlink_url: str | None = None
    lat_deg: Lat | None = None
    lon_deg: Lon | None = None
    """Default: the site's position."""
    alt_amsl_m: float | None = None
    """Default: the site's roof altitude."""


class SiteSetFile(msgspec.Struct, kw_only=True):
    """A site set: the docks a controller flies from, and the fleet's cruise defaults."""

    sites: Annotated[list[SiteSpec], msgspec.Meta(min_length=1)]
    name: str = "custom"
    description: str = ""
    cruise_alt_rel_m: Annotated[float, msgspec.Meta(gt=0.0, le=120.0)] = 60.0
    cruise_speed_m_s: Annotated[float, msgspec.Meta(gt=0.0, le=30.0)] = 15.0
    registered_docks: list[RegisteredDock] = msgspec.field(default_factory=list)
    """Docks added while the controller ran (``dock_register``), after the sites' docks."""


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a site-set file."""
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "DFR ground station site set",
    }
    out.update(msgspec.json.schema(SiteSetFile))
    return out


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def check_data(raw: Any) -> SiteSet:
    """Validate decoded JSON against the schema, then build the site set; SiteSetError says why."""
    try:
        spec = msgspec.convert(raw, type=SiteSetFile)
    except msgspec.ValidationError as exc:
        raise SiteSetError(str(exc)) from None
    for site in spec.sites:
        if site.docks is None and site.dock_list is None:
            raise SiteSetError(f"site {site.site_id}: give docks (a count) or dock_list")
    return parse_sites(raw)


def check(path: Path) -> SiteSet:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteSetError(f"{path}: {exc.strerror or exc}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SiteSetError(f"{path}: not valid JSON: {exc}") from exc
    return check_data(raw)


def summary(site_set: SiteSet) -> str:
    lines = [f"{site_set.name}: {len(site_set.sites)} sites, {len(site_set.docks)} docks"]
    for d in site_set.docks:
        lines.append(f"  {d.dock_id:<24} drone {d.drone_id:<28} system id {d.system_id:>3}"
                     f"  site {d.site_id}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="groundstation sites",
                                description="Check a site-set file, or print its JSON Schema.")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="validate FILE; print its docks and drones")
    c.add_argument("file", type=Path)
    c.add_argument("--json", action="store_true", help="the docks as JSON")
    sub.add_parser("schema", help="print docs/sites.schema.json")
    args = p.parse_args(argv)
    if args.cmd == "schema":
        sys.stdout.write(schema_text())
        return 0
    try:
        site_set = check(args.file)
    except SiteSetError as exc:
        print(f"{args.file}: invalid site set: {exc}", file=sys.stderr)
        return 1
    if args.json:
        docks = [{"dock_id": d.dock_id, "drone_id": d.drone_id, "system_id": d.system_id,
                  "site_id": d.site_id, "lat_deg": d.lat_deg, "lon_deg": d.lon_deg}
                 for d in site_set.docks]
        print(json.dumps({"name": site_set.name, "docks": docks}))
    else:
        print(summary(site_set))
    return 0
