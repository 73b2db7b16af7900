"""Geofence geometry from MAVLink fence items (mission_type 1), checked in the local frame.

PX4 semantics: the vehicle must be inside every inclusion polygon/circle and outside every
exclusion polygon/circle. An empty fence never breaches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sitl.mission import MissionItem
from sitl.physics import LocalFrame

FENCE_RETURN_POINT = 5000
FENCE_POLYGON_INCLUSION = 5001
FENCE_POLYGON_EXCLUSION = 5002
FENCE_CIRCLE_INCLUSION = 5003
FENCE_CIRCLE_EXCLUSION = 5004

Point = tuple[float, float]  # (north_m, east_m)


@dataclass(frozen=True, slots=True)
class Zone:
    inclusion: bool
    polygon: tuple[Point, ...] = ()
    center: Point = (0.0, 0.0)
    radius_m: float = 0.0
    bbox: tuple[float, float, float, float] = field(init=False, repr=False, compare=False)
    """(min north, min east, max north, max east) of the polygon: a point outside it is outside
    the polygon without walking its edges (checked every step of every vehicle)."""

    def __post_init__(self) -> None:
        if self.polygon:
            ns = [q[0] for q in self.polygon]
            es = [q[1] for q in self.polygon]
            box = (min(ns), min(es), max(ns), max(es))
        else:
            box = (-math.inf, -math.inf, math.inf, math.inf)
        object.__setattr__(self, "bbox", box)

    def contains(self, p: Point) -> bool:
        if not self.polygon:
            return math.hypot(p[0] - self.center[0], p[1] - self.center[1]) <= self.radius_m
        n0, e0, n1, e1 = self.bbox
        if not (n0 <= p[0] <= n1 and e0 <= p[1] <= e1):
            return False
        return _in_polygon(p, self.polygon)


def _in_polygon(p: Point, poly: Sequence[Point]) -> bool:
    x, y = p[1], p[0]
    inside = False
    j = len(poly) - 1
    for i in range(len(poly)):
        yi, xi = poly[i]
        yj, xj = poly[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


class Geofence:
    """The zones of one uploaded fence."""

    def __init__(self, zones: Sequence[Zone] = ()) -> None:
        self.zones = tuple(zones)

    @classmethod
    def from_items(cls, items: Sequence[MissionItem], frame: LocalFrame) -> Geofence:
        zones: list[Zone] = []
        i = 0
        while i < len(items):
            it = items[i]
            n, e, _ = frame.to_ned(it.lat_deg, it.lon_deg, frame.alt0_m)
            if it.command in (FENCE_CIRCLE_INCLUSION, FENCE_CIRCLE_EXCLUSION):
                zones.append(
                    Zone(it.command == FENCE_CIRCLE_INCLUSION, center=(n, e), radius_m=it.param1)
                )
                i += 1
            elif it.command in (FENCE_POLYGON_INCLUSION, FENCE_POLYGON_EXCLUSION):
                count = max(3, round(it.param1))
                verts = []
                for v in items[i : i + count]:
                    vn, ve, _ = frame.to_ned(v.lat_deg, v.lon_deg, frame.alt0_m)
                    verts.append((vn, ve))
                zones.append(Zone(it.command == FENCE_POLYGON_INCLUSION, polygon=tuple(verts)))
                i += count
            else:
                i += 1
        return cls(zones)

    def __bool__(self) -> bool:
        return bool(self.zones)

    def allows(self, north_m: float, east_m: float) -> bool:
        """True when the point satisfies every zone."""
        p = (north_m, east_m)
        return all(z.contains(p) == z.inclusion for z in self.zones)
