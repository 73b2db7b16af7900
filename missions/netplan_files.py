"""Files around a network plan: candidate sites and demand weights in (GeoJSON or CSV), the
planned site set out (the ``missions.sites`` format the controller, demo and simulator load).

Candidates: GeoJSON Point (or Polygon: its representative point) features with optional
``name`` and ``roof_alt_amsl_m`` properties, or a CSV with a header naming ``lat``/``lon`` (also
``lat_deg``, ``latitude``, ``lon_deg``, ``lng``, ``longitude``) and optional ``name``,
``roof_alt_amsl_m``. Candidates outside the area or inside a no-fly zone are dropped, counted by
reason.

Weights: GeoJSON Point features (``weight`` property, default 1: one incident per point) added to
the cell they fall in, or Polygon features whose ``weight`` is spread evenly over the cells whose
centres they contain (population per ward, say); or a CSV of ``lat``, ``lon`` and optional
``weight`` (one row per incident, or per cell centre). Weights outside the area are dropped and
counted.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from missions.airspace import Airspace
from missions.coverage import Grid
from missions.netplan import Candidate, NetworkPlanError
from missions.projection import FloatArray
from missions.sites import SiteSet, parse_sites

LAT_KEYS = ("lat", "lat_deg", "latitude")
LON_KEYS = ("lon", "lon_deg", "lng", "longitude")


@dataclass(slots=True)
class Loaded:
    """What a file gave, and what was dropped (reason -> count)."""

    source: str
    count: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "count": self.count, "dropped": dict(self.dropped)}


def _finite(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise NetworkPlanError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise NetworkPlanError(f"{what}: {value!r} is not finite")
    return out


def _rows(path: Path) -> list[tuple[str, dict[str, Any], Any]]:
    """(where, properties, shapely geometry in lon/lat) for each feature or CSV row."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NetworkPlanError(f"{path}: cannot read: {exc}") from exc
    if path.suffix.lower() in (".geojson", ".json"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise NetworkPlanError(f"{path}: not valid JSON: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("features"), list):
            raise NetworkPlanError(f"{path}: expected a GeoJSON FeatureCollection")
        out = []
        for n, feat in enumerate(raw["features"]):
            where = f"{path} feature #{n}"
            if not isinstance(feat, dict) or not isinstance(feat.get("geometry"), dict):
                raise NetworkPlanError(f"{where}: needs a geometry")
            try:
                geom = shape(feat["geometry"])
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                raise NetworkPlanError(f"{where}: bad geometry: {exc}") from exc
            if geom.geom_type not in ("Point", "Polygon", "MultiPolygon") or geom.is_empty:
                raise NetworkPlanError(f"{where}: {geom.geom_type} is not a Point or Polygon")
            props = feat.get("properties") or {}
            out.append((where, props if isinstance(props, dict) else {}, geom))
        return out
    if path.suffix.lower() != ".csv":
        raise NetworkPlanError(f"{path}: expected .geojson, .json or .csv")
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    lat_key = next((k for k in LAT_KEYS if k in header), None)
    lon_key = next((k for k in LON_KEYS if k in header), None)
    if lat_key is None or lon_key is None:
        raise NetworkPlanError(f"{path}: the CSV header needs lat and lon columns, has {header}")
    out = []
    for n, row in enumerate(reader, start=2):
        props = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        where = f"{path} line {n}"
        lat = _finite(props[lat_key], f"{where} {lat_key}")
        lon = _finite(props[lon_key], f"{where} {lon_key}")
        out.append((where, props, shapely.points(lon, lat)))
    return out


def load_candidates(path: str | Path, airspace: Airspace) -> tuple[list[Candidate], Loaded]:
    """Candidate sites from a file, checked against the area and the zones."""
    p = Path(path)
    loaded = Loaded(str(p))
    out: list[Candidate] = []
    for n, (where, props, geom) in enumerate(_rows(p)):
        pt = geom if geom.geom_type == "Point" else geom.representative_point()
        lat, lon = float(pt.y), float(pt.x)
        roof_raw = props.get("roof_alt_amsl_m")
        roof = None if roof_raw in (None, "") else _finite(roof_raw, f"{where} roof_alt_amsl_m")
        refusal = airspace.check_point(lat, lon)
        if refusal is not None:
            loaded.dropped[refusal.code.value] += 1
            continue
        name = str(props.get("name") or f"candidate {n + 1}")
        out.append(Candidate(name, lat, lon, roof))
    loaded.count = len(out)
    if not out:
        raise NetworkPlanError(
            f"{p}: no usable candidate (dropped: {dict(loaded.dropped) or 'none'})"
        )
    return out, loaded


def load_weights(path: str | Path, grid: Grid) -> tuple[FloatArray, Loaded]:
    """Demand per grid cell from a file (see the module docstring)."""
    p = Path(path)
    loaded = Loaded(str(p))
    w = np.zeros((grid.ny, grid.nx))
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    for where, props, geom in _rows(p):
        raw = props.get("weight")
        weight = 1.0 if raw in (None, "") else _finite(raw, f"{where} weight")
        if weight < 0:
            raise NetworkPlanError(f"{where}: weight {weight} is negative")
        if geom.geom_type == "Point":
            x, y = grid.frame.to_xy(float(geom.y), float(geom.x))
            i = math.floor((x - grid.x0) / grid.cell_m)
            j = math.floor((y - grid.y0) / grid.cell_m)
            if not (0 <= i < grid.nx and 0 <= j < grid.ny and grid.in_area[j, i]):
                loaded.dropped["outside_area"] += 1
                continue
            w[j, i] += weight
        else:
            parts = [geom] if geom.geom_type == "Polygon" else list(geom.geoms)
            inside = np.zeros_like(grid.in_area)
            for poly in parts:
                xy = shapely.Polygon(
                    grid.frame.lonlat_to_xy_array(np.asarray(poly.exterior.coords)[:, :2]),
                    [
                        grid.frame.lonlat_to_xy_array(np.asarray(h.coords)[:, :2])
                        for h in poly.interiors
                    ],
                )
                inside |= shapely.contains_xy(xy, gx, gy)
            inside &= grid.in_area
            if not inside.any():
                loaded.dropped["no_cell_inside"] += 1
                continue
            w[inside] += weight / np.count_nonzero(inside)
        loaded.count += 1
    if w.sum() <= 0:
        raise NetworkPlanError(f"{p}: no demand inside the area (dropped: {dict(loaded.dropped)})")
    return w, loaded


def _site_json(site: Any) -> dict[str, Any]:
    """A kept site as it was: ``docks: n`` when its docks are the defaults, else ``dock_list``."""
    out: dict[str, Any] = {
        "site_id": site.site_id,
        "name": site.name,
        "borough": site.borough,
        "lat_deg": site.lat_deg,
        "lon_deg": site.lon_deg,
        "roof_alt_amsl_m": site.roof_alt_amsl_m,
    }
    default = all(
        d.dock_id == f"{site.site_id}-{k + 1}"
        and d.drone_id == f"uav-{d.dock_id}"
        and d.system_id == d.fleet_index + 1
        and d.mavlink_url is None
        for k, d in enumerate(site.docks)
    )
    if default:
        out["docks"] = len(site.docks)
    else:
        out["dock_list"] = [
            {
                "dock_id": d.dock_id,
                "drone_id": d.drone_id,
                "system_id": d.system_id,
                "lat_deg": d.lat_deg,
                "lon_deg": d.lon_deg,
                "alt_amsl_m": d.alt_amsl_m,
                **({"mavlink_url": d.mavlink_url} if d.mavlink_url else {}),
            }
            for d in site.docks
        ]
    return out


def planned_site_set(
    kept: SiteSet,
    chosen: Sequence[Candidate],
    boroughs: Sequence[str],
    *,
    name: str,
    description: str,
    docks_per_site: int = 1,
    roof_alt_amsl_m: float = 30.0,
) -> dict[str, Any]:
    """The site-set JSON: the kept sites unchanged, then one site per chosen candidate
    (``plan-001``...), ``docks_per_site`` docks each, roof altitude from the candidate file or
    ``roof_alt_amsl_m``. Checked by ``parse_sites`` (at most 250 drones)."""
    if not 1 <= docks_per_site <= 10:
        raise NetworkPlanError(f"docks per site {docks_per_site}: must be 1-10")
    used = {s.site_id for s in kept.sites}
    sites = [_site_json(s) for s in kept.sites]
    for k, (cand, borough) in enumerate(zip(chosen, boroughs, strict=True), start=1):
        site_id = f"plan-{k:03d}"
        while site_id in used:
            site_id += "x"
        used.add(site_id)
        sites.append(
            {
                "site_id": site_id,
                "name": cand.name,
                "borough": borough,
                "lat_deg": cand.lat_deg,
                "lon_deg": cand.lon_deg,
                "roof_alt_amsl_m": cand.roof_alt_amsl_m
                if cand.roof_alt_amsl_m is not None
                else roof_alt_amsl_m,
                "docks": docks_per_site,
            }
        )
    raw = {
        "name": name,
        "description": description,
        "cruise_alt_rel_m": kept.cruise_alt_rel_m,
        "cruise_speed_m_s": kept.cruise_speed_m_s,
        "sites": sites,
    }
    try:
        parse_sites(raw)
    except ValueError as exc:
        raise NetworkPlanError(f"the planned site set is not loadable: {exc}") from exc
    return raw
