"""Site sets: where the docks stand and which drone lives in each.

A site set is a JSON data file (``missions/data/<name>.json`` for the built-in ones, or any path).
Each site lists its position, its roof altitude above mean sea level and how many docks it has
(or an explicit ``dock_list``). Docks are numbered in file order; the drone in the dock at fleet
index ``i`` (0-based) has MAVLink system id ``i + 1`` and, unless the file names a URL, is reached
on ``udpin://0.0.0.0:<base_port + i>`` exactly as PX4 SITL instance ``i`` is on 14540 + i.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from missions.geo import offset

DOCK_SPACING_M = 8.0
ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""Dock and drone ids are MQTT topic levels: 1-64 of A-Z a-z 0-9 _ . -"""


class SiteSetError(ValueError):
    """A site set could not be found or is malformed."""


@dataclass(frozen=True, slots=True)
class DockVideo:
    """A video stream known for a dock's drone although no camera advertises it (PX4 SITL with
    Gazebo sends H.264 over RTP to UDP 5600 + instance and says nothing over MAVLink)."""

    rtp_port: int
    width_px: int = 1280
    height_px: int = 720
    fps: float = 25.0
    bitrate_kbps: int = 0
    hfov_deg: float = 0.0
    """0 when unknown: the pilot cannot then aim by clicking in the picture."""


@dataclass(frozen=True, slots=True)
class Dock:
    """One dock and the drone that lives in it."""

    dock_id: str
    site_id: str
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    drone_id: str
    system_id: int
    fleet_index: int
    mavlink_url: str | None = None
    video: DockVideo | None = None

    def drone_url(self, base_port: int) -> str:
        """The MAVSDK connection URL for this dock's drone."""
        if self.mavlink_url:
            return self.mavlink_url
        return f"udpin://0.0.0.0:{base_port + self.fleet_index}"


@dataclass(frozen=True, slots=True)
class Site:
    """A rooftop with one or more docks."""

    site_id: str
    name: str
    borough: str
    lat_deg: float
    lon_deg: float
    roof_alt_amsl_m: float
    docks: tuple[Dock, ...]


@dataclass(frozen=True, slots=True)
class SiteSet:
    """A named set of sites, with the fleet defaults that go with it."""

    name: str
    description: str
    sites: tuple[Site, ...]
    cruise_alt_rel_m: float = 60.0
    cruise_speed_m_s: float = 15.0
    # Built once: the controller reads them per drone and tick.
    _docks: tuple[Dock, ...] = field(init=False, repr=False, compare=False)
    _by_dock: dict[str, Dock] = field(init=False, repr=False, compare=False)
    _by_drone: dict[str, Dock] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        docks = tuple(d for s in self.sites for d in s.docks)
        object.__setattr__(self, "_docks", docks)
        object.__setattr__(self, "_by_dock", {d.dock_id: d for d in reversed(docks)})
        object.__setattr__(self, "_by_drone", {d.drone_id: d for d in reversed(docks)})

    @property
    def docks(self) -> tuple[Dock, ...]:
        return self._docks

    def dock(self, dock_id: str) -> Dock | None:
        return self._by_dock.get(dock_id)

    def dock_of_drone(self, drone_id: str) -> Dock | None:
        return self._by_drone.get(drone_id)


def builtin_names() -> list[str]:
    """Names of the site sets shipped with the package."""
    data = resources.files("missions") / "data"
    return sorted(
        p.name.removesuffix(".json")
        for p in data.iterdir()
        if p.name.endswith(".json") and not p.name.startswith("_")
    )


def load_sites(name_or_path: str) -> SiteSet:
    """Load a built-in site set by name (``met-trial``, ``london``) or a JSON file by path."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        res = resources.files("missions") / "data" / f"{name_or_path}.json"
        if not res.is_file():
            raise SiteSetError(
                f"unknown site set {name_or_path!r}: not a file, and not one of {builtin_names()}"
            )
        text = res.read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SiteSetError(f"site set {name_or_path!r} is not valid JSON: {exc}") from exc
    return parse_sites(raw)


def _num(obj: dict[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SiteSetError(f"{where}: {key} must be a finite number")
    return float(value)


_VIDEO_KEYS = frozenset({"rtp_port", "width_px", "height_px", "fps", "bitrate_kbps", "hfov_deg"})


def _video(spec: Any, where: str) -> DockVideo | None:
    """A dock's optional ``video`` object: ``{"rtp_port": 5601, "width_px": 1280, ...}``."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise SiteSetError(f"{where}: video must be an object with an rtp_port")
    unknown = set(spec) - _VIDEO_KEYS
    if unknown:
        raise SiteSetError(f"{where}: video has unknown fields {sorted(unknown)}")
    port = _num(spec, "rtp_port", f"{where} video")
    if port != int(port) or not 1 <= port <= 65535:
        raise SiteSetError(f"{where}: video rtp_port must be a UDP port (1-65535)")
    video = DockVideo(rtp_port=int(port))
    limits = {"width_px": 8192, "height_px": 8192, "fps": 240, "bitrate_kbps": 1e6, "hfov_deg": 179}
    values: dict[str, float] = {}
    for key, top in limits.items():
        if key in spec:
            v = _num(spec, key, f"{where} video")
            if not 0 <= v <= top:
                raise SiteSetError(f"{where}: video {key} must be within 0..{top:g}")
            values[key] = v
    return DockVideo(
        rtp_port=video.rtp_port,
        width_px=int(values.get("width_px", video.width_px)),
        height_px=int(values.get("height_px", video.height_px)),
        fps=float(values.get("fps", video.fps)),
        bitrate_kbps=int(values.get("bitrate_kbps", video.bitrate_kbps)),
        hfov_deg=float(values.get("hfov_deg", video.hfov_deg)),
    )


def _ident(spec: dict[str, Any], key: str, default: str, where: str) -> str:
    """An owner-chosen id (or the generated default), checked as a topic level."""
    value = spec.get(key, default)
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise SiteSetError(f"{where}: {key} {value!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    return value


def _unique(sites: list[Site]) -> None:
    """Dock ids, drone ids and MAVLink system ids are unique across the whole set."""
    for what in ("dock_id", "drone_id", "system_id"):
        seen: dict[object, str] = {}
        for site in sites:
            for d in site.docks:
                value = getattr(d, what)
                if value in seen:
                    raise SiteSetError(
                        f"{what} {value!r} is used twice (site {seen[value]} and site "
                        f"{site.site_id})"
                    )
                seen[value] = site.site_id


def _registered(specs: Any, sites: list[Site], index: int) -> int:
    """Docks added while a controller ran (``dock_register``, groundstation.control.registration):
    kept after the sites, so that their fleet indexes follow every site's docks and adding one never
    moves another dock's default system id or port. Each names its ``site_id``; position and
    altitude default to the site's. Appended to ``sites`` in place; returns the next index."""
    if not isinstance(specs, list):
        raise SiteSetError("registered_docks must be a list")
    by_id = {s.site_id: n for n, s in enumerate(sites)}
    for k, spec in enumerate(specs):
        where = f"registered dock #{k}"
        if not isinstance(spec, dict) or spec.get("site_id") not in by_id:
            raise SiteSetError(f"{where}: needs the site_id of a site of this set")
        n = by_id[spec["site_id"]]
        site = sites[n]
        dock_id = _ident(spec, "dock_id", "", where)
        drone_id = _ident(spec, "drone_id", f"uav-{dock_id}", f"{where} ({dock_id})")
        dock = Dock(
            dock_id=dock_id,
            site_id=site.site_id,
            lat_deg=float(spec.get("lat_deg", site.lat_deg)),
            lon_deg=float(spec.get("lon_deg", site.lon_deg)),
            alt_amsl_m=float(spec.get("alt_amsl_m", site.roof_alt_amsl_m)),
            drone_id=drone_id,
            system_id=int(spec.get("system_id", index + 1)),
            fleet_index=index,
            mavlink_url=spec.get("mavlink_url"),
            video=_video(spec.get("video"), f"{where} ({dock_id})"),
        )
        sites[n] = replace(site, docks=(*site.docks, dock))
        index += 1
    return index


def with_dock(site_set: SiteSet, dock: Dock) -> SiteSet:
    """The site set with one more dock, in its site (``dock.fleet_index`` as given)."""
    sites = tuple(
        replace(s, docks=(*s.docks, dock)) if s.site_id == dock.site_id else s
        for s in site_set.sites
    )
    return replace(site_set, sites=sites)


def parse_sites(raw: Any) -> SiteSet:
    """Build a SiteSet from the decoded JSON of a site file, checking every field."""
    if not isinstance(raw, dict) or not isinstance(raw.get("sites"), list):
        raise SiteSetError("a site set is an object with a 'sites' list")
    sites: list[Site] = []
    index = 0
    seen: set[str] = set()
    for n, s in enumerate(raw["sites"]):
        where = f"site #{n}"
        if not isinstance(s, dict) or not isinstance(s.get("site_id"), str):
            raise SiteSetError(f"{where}: needs a string site_id")
        site_id = s["site_id"]
        if site_id in seen:
            raise SiteSetError(f"{where}: duplicate site_id {site_id!r}")
        seen.add(site_id)
        lat, lon = _num(s, "lat_deg", where), _num(s, "lon_deg", where)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SiteSetError(f"{where}: position out of range")
        roof = _num(s, "roof_alt_amsl_m", where)
        dock_specs: list[dict[str, Any]]
        if isinstance(s.get("dock_list"), list):
            dock_specs = list(s["dock_list"])
        else:
            count = int(_num(s, "docks", where))
            if count < 1:
                raise SiteSetError(f"{where}: needs at least one dock")
            dock_specs = [{} for _ in range(count)]
        docks: list[Dock] = []
        for k, spec in enumerate(dock_specs):
            # Docks stand in a row running east, DOCK_SPACING_M apart, centred on the site.
            east = (k - (len(dock_specs) - 1) / 2) * DOCK_SPACING_M
            pos = offset(lat, lon, 0.0, east)
            if not isinstance(spec, dict):
                raise SiteSetError(f"{where}: dock #{k} must be an object")
            dock_id = _ident(spec, "dock_id", f"{site_id}-{k + 1}", f"{where} dock #{k}")
            drone_id = _ident(spec, "drone_id", f"uav-{dock_id}", f"{where} dock {dock_id}")
            video = _video(spec.get("video"), f"{where} dock {dock_id}")
            docks.append(
                Dock(
                    dock_id=dock_id,
                    site_id=site_id,
                    lat_deg=float(spec.get("lat_deg", pos.lat_deg)),
                    lon_deg=float(spec.get("lon_deg", pos.lon_deg)),
                    alt_amsl_m=float(spec.get("alt_amsl_m", roof)),
                    drone_id=drone_id,
                    system_id=int(spec.get("system_id", index + 1)),
                    fleet_index=index,
                    mavlink_url=spec.get("mavlink_url"),
                    video=video,
                )
            )
            index += 1
        sites.append(
            Site(
                site_id=site_id,
                name=str(s.get("name", site_id)),
                borough=str(s.get("borough", "")),
                lat_deg=lat,
                lon_deg=lon,
                roof_alt_amsl_m=roof,
                docks=tuple(docks),
            )
        )
    index = _registered(raw.get("registered_docks", []), sites, index)
    if index > 250:
        raise SiteSetError(f"{index} docks: MAVLink system ids allow at most 250 drones")
    _unique(sites)
    return SiteSet(
        name=str(raw.get("name", "custom")),
        description=str(raw.get("description", "")),
        sites=tuple(sites),
        cruise_alt_rel_m=float(raw.get("cruise_alt_rel_m", 60.0)),
        cruise_speed_m_s=float(raw.get("cruise_speed_m_s", 15.0)),
    )
