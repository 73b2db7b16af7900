"""The offline base: London borough outlines and flight restriction zones, from package data.

Both files ship in ``missions/data`` (see its ATTRIBUTION.md). When one is missing or unreadable
the map still works: it shows the grid and scale bar alone and says so in the attribution line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)

BOROUGHS_FILE = "london_boroughs.geojson"
AIRSPACE_FILE = "nofly-london.geojson"
BOROUGHS_ATTRIBUTION = (
    "Boroughs: contains National Statistics data © Crown copyright and database right; "
    "contains OS data © Crown copyright and database right (OGL v3)"
)

Ring = list[tuple[float, float]]  # (lat_deg, lon_deg)


@dataclass(frozen=True, slots=True)
class Area:
    name: str
    rings: tuple[Ring, ...]  # outer rings only: outlines, not holes
    kind: str = ""


def _read(name: str) -> dict[str, Any] | None:
    try:
        res = resources.files("missions") / "data" / name
        if not res.is_file():
            return None
        data = json.loads(res.read_text(encoding="utf-8"))
    except (OSError, ValueError, ModuleNotFoundError) as exc:
        log.warning("cannot read %s: %s", name, exc)
        return None
    return data if isinstance(data, dict) else None


def _rings(geometry: dict[str, Any]) -> list[Ring]:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    rings: list[Ring] = []
    for poly in polygons:
        if poly:
            rings.append([(float(p[1]), float(p[0])) for p in poly[0]])
    return rings


def load_areas(name: str) -> list[Area]:
    """Features of a GeoJSON file in ``missions/data`` (empty when it is not there)."""
    data = _read(name)
    if data is None:
        return []
    areas: list[Area] = []
    for feature in data.get("features", []):
        props = feature.get("properties") or {}
        rings = _rings(feature.get("geometry") or {})
        if rings:
            areas.append(Area(str(props.get("name", "")), tuple(rings), str(props.get("kind", ""))))
    return areas


def load_boroughs() -> list[Area]:
    return load_areas(BOROUGHS_FILE)


def load_airspace() -> list[Area]:
    return load_areas(AIRSPACE_FILE)
