"""Where a drone may fly: the operating area (Greater London) less the no-fly zones.

Every check runs in one local metric frame (``missions.projection.LONDON_FRAME``) on shapely
prepared geometries, so the dispatcher can test each candidate dock per incident cheaply
(``bench/bench_missions.py`` prints the cost of ``check_route``).

- ``check_point`` / ``check_route`` answer ``None`` when clear or a ``Refusal`` naming the zone.
- ``plan_route`` flies straight when it can, else around the zones on a visibility graph over
  the vertices of the zones grown by ``margin_m``; or refuses.
- ``geofence`` / ``geofence_items`` give the same picture as a PX4 geofence.

Zones are columns from ``floor_m`` to ``ceiling_m`` above ground. Route checks ignore altitude:
a sortie climbs through every height up to its cruise altitude, so a zone anywhere below the
ceiling of flight blocks the route.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon, shape
from shapely.ops import unary_union

from missions.geo import LatLon, valid_lat_lon
from missions.plan import FenceCircle, FencePolygon, Geofence, MissionItem, geofence_to_items
from missions.projection import LONDON_FRAME, LocalFrame

MAX_ALT_REL_M = 120.0
DEFAULT_MARGIN_M = 150.0


class AirspaceError(ValueError):
    """Airspace data could not be read."""


class RefusalCode(StrEnum):
    NOFLY = "nofly"
    OUTSIDE_AREA = "outside_area"
    INVALID = "invalid"
    ALTITUDE = "altitude"
    NO_ROUTE = "no_route"
    TRAFFIC = "traffic"
    """A crewed aircraft predicted on the route (groundstation.core.traffic_rules)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a point or route is not allowed; ``reason`` is for humans and names the zone."""

    code: RefusalCode
    reason: str


@dataclass(frozen=True, slots=True)
class Zone:
    """A no-fly zone: a polygon in (lon, lat) degrees, floor and ceiling in metres above ground."""

    name: str
    outline: Polygon
    floor_m: float = 0.0
    ceiling_m: float = math.inf
    kind: str = "user"

    @classmethod
    def polygon(
        cls,
        name: str,
        points: Sequence[LatLon] | Sequence[tuple[float, float]],
        floor_m: float = 0.0,
        ceiling_m: float = math.inf,
    ) -> Zone:
        """A zone from (lat, lon) vertices."""
        if len(points) < 3 or not all(valid_lat_lon(p[0], p[1]) for p in points):
            raise AirspaceError(f"zone {name!r}: needs three or more valid (lat, lon) vertices")
        outline = Polygon([(p[1], p[0]) for p in points])
        if not outline.is_valid or outline.area == 0:
            raise AirspaceError(f"zone {name!r}: the polygon is not valid")
        return cls(name, outline, floor_m, ceiling_m)

    @classmethod
    def circle(
        cls,
        name: str,
        lat_deg: float,
        lon_deg: float,
        radius_m: float,
        *,
        floor_m: float = 0.0,
        ceiling_m: float = math.inf,
    ) -> Zone:
        """A circular zone, written as a 48-gon that circumscribes the circle."""
        if not valid_lat_lon(lat_deg, lon_deg) or not (math.isfinite(radius_m) and radius_m > 0):
            raise AirspaceError(f"zone {name!r}: needs a valid centre and a positive radius")
        frame = LocalFrame(lat_deg, lon_deg)
        n = 48
        r = radius_m / math.cos(math.pi / n)
        ring = [
            (r * math.sin(2 * math.pi * k / n), r * math.cos(2 * math.pi * k / n)) for k in range(n)
        ]
        outline = Polygon(frame.xy_to_lonlat_array(ring).tolist())
        return cls(name, outline, floor_m, ceiling_m)

    def spans(self, alt_rel_m: float | None) -> bool:
        """True when the zone covers that altitude (unknown altitude: always)."""
        return alt_rel_m is None or self.floor_m <= alt_rel_m <= self.ceiling_m


@dataclass(slots=True)
class _Obstacle:
    zone: Zone
    xy: Polygon  # the zone in the local frame
    bounds: tuple[float, float, float, float]
    plan: Polygon  # grown by margin and simplified: its vertices are graph nodes
    keepout: Polygon  # grown by half the margin: graph edges must not touch it


@dataclass(slots=True)
class _Graph:
    nodes: np.ndarray[Any, np.dtype[np.float64]]  # (n, 2) xy
    adjacency: list[list[tuple[int, float]]] = field(default_factory=list)


def _to_xy_polygon(frame: LocalFrame, outline: Polygon) -> Polygon:
    ext = frame.lonlat_to_xy_array(np.asarray(outline.exterior.coords)[:, :2])
    holes = [frame.lonlat_to_xy_array(np.asarray(h.coords)[:, :2]) for h in outline.interiors]
    return Polygon(ext, holes)


class Airspace:
    """The operating area and the zones, ready for fast checks. Build once, share freely."""

    def __init__(
        self,
        area: Any,
        zones: Iterable[Zone],
        *,
        area_name: str = "Greater London",
        frame: LocalFrame = LONDON_FRAME,
        max_alt_rel_m: float = MAX_ALT_REL_M,
        margin_m: float = DEFAULT_MARGIN_M,
    ) -> None:
        """``area`` is a shapely (Multi)Polygon in (lon, lat) degrees."""
        self.frame = frame
        self.area_name = area_name
        self.max_alt_rel_m = max_alt_rel_m
        self.margin_m = margin_m
        self.area_lonlat = area
        parts = [area] if area.geom_type == "Polygon" else list(area.geoms)
        self._area = unary_union([_to_xy_polygon(frame, p) for p in parts])
        shapely.prepare(self._area)
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._obstacles: list[_Obstacle] = []
        for z in self.zones:
            xy = _to_xy_polygon(frame, z.outline)
            shapely.prepare(xy)
            keepout = xy.buffer(margin_m / 2, quad_segs=4)
            shapely.prepare(keepout)
            plan = xy.buffer(margin_m, quad_segs=4).simplify(margin_m / 5)
            self._obstacles.append(_Obstacle(z, xy, xy.bounds, plan, keepout))
        self._zones_union = unary_union([o.xy for o in self._obstacles]) if self.zones else None
        self._keepout_union = (
            unary_union([o.keepout for o in self._obstacles]) if self.zones else None
        )
        if self._zones_union is not None:
            shapely.prepare(self._zones_union)
        if self._keepout_union is not None:
            shapely.prepare(self._keepout_union)
        self._graph: _Graph | None = None
        self.grid_cache: dict[float, Any] = {}  # coverage grids by cell size, built on demand

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def load_default(cls) -> Airspace:
        """Greater London (the union of the 33 borough outlines) less the four aerodrome FRZs."""
        data = resources.files("missions") / "data"
        zones_raw = json.loads((data / "nofly-london.geojson").read_text(encoding="utf-8"))
        return cls.from_geojson(zones_raw, area=london_area())

    @classmethod
    def from_geojson(
        cls, zones: dict[str, Any] | str | Path, *, area: Any | None = None, **kwargs: Any
    ) -> Airspace:
        """Zones from a GeoJSON FeatureCollection (a dict, a path, or JSON text).

        Each feature is a Polygon/MultiPolygon with properties ``name`` and optional ``floor_m``,
        ``ceiling_m``, ``kind``. Without ``area`` the operating area is Greater London.
        """
        return cls(area if area is not None else london_area(), zones_from_geojson(zones), **kwargs)

    def with_zones(self, zones: Iterable[Zone]) -> Airspace:
        """A new Airspace with extra (user) zones added."""
        return Airspace(
            self.area_lonlat,
            (*self.zones, *zones),
            area_name=self.area_name,
            frame=self.frame,
            max_alt_rel_m=self.max_alt_rel_m,
            margin_m=self.margin_m,
        )

    # -- checks -------------------------------------------------------------------------------

    def _zone_at(self, x: float, y: float, alt_rel_m: float | None) -> Zone | None:
        for o in self._obstacles:
            x0, y0, x1, y1 = o.bounds
            if (
                x0 <= x <= x1
                and y0 <= y <= y1
                and o.zone.spans(alt_rel_m)
                and shapely.contains_xy(o.xy, x, y)
            ):
                return o.zone
        return None

    def check_point(
        self, lat_deg: float, lon_deg: float, alt_rel_m: float | None = None
    ) -> Refusal | None:
        """None when a drone may be at this point (and altitude above ground), else why not."""
        if not valid_lat_lon(lat_deg, lon_deg):
            return Refusal(RefusalCode.INVALID, f"invalid position ({lat_deg}, {lon_deg})")
        if alt_rel_m is not None:
            if not math.isfinite(alt_rel_m):
                return Refusal(RefusalCode.INVALID, f"invalid altitude {alt_rel_m}")
            if alt_rel_m > self.max_alt_rel_m:
                return Refusal(
                    RefusalCode.ALTITUDE,
                    f"altitude {alt_rel_m:.0f} m is above the {self.max_alt_rel_m:.0f} m limit",
                )
        x, y = self.frame.to_xy(lat_deg, lon_deg)
        if not shapely.contains_xy(self._area, x, y):
            return Refusal(
                RefusalCode.OUTSIDE_AREA,
                f"({lat_deg:.5f}, {lon_deg:.5f}) is outside {self.area_name}",
            )
        zone = self._zone_at(x, y, alt_rel_m)
        if zone is not None:
            return Refusal(RefusalCode.NOFLY, f"inside {zone.name}")
        return None

    def check_route(self, a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> Refusal | None:
        """None when the straight line a-b stays in the area and out of every zone."""
        for label, lat, lon in (("start", a_lat, a_lon), ("destination", b_lat, b_lon)):
            refusal = self.check_point(lat, lon)
            if refusal is not None:
                return Refusal(refusal.code, f"{label} {refusal.reason}")
        ax, ay = self.frame.to_xy(a_lat, a_lon)
        bx, by = self.frame.to_xy(b_lat, b_lon)
        if ax == bx and ay == by:
            return None
        return self._check_segment(ax, ay, bx, by)

    def _check_segment(self, ax: float, ay: float, bx: float, by: float) -> Refusal | None:
        line = LineString([(ax, ay), (bx, by)])
        lx0, lx1 = min(ax, bx), max(ax, bx)
        ly0, ly1 = min(ay, by), max(ay, by)
        for o in self._obstacles:
            x0, y0, x1, y1 = o.bounds
            if lx1 < x0 or lx0 > x1 or ly1 < y0 or ly0 > y1:
                continue
            if o.xy.intersects(line):
                return Refusal(RefusalCode.NOFLY, f"the straight route crosses {o.zone.name}")
        if not self._area.contains(line):
            return Refusal(RefusalCode.OUTSIDE_AREA, f"the straight route leaves {self.area_name}")
        return None

    # -- routing ------------------------------------------------------------------------------

    def plan_route(
        self, a_lat: float, a_lon: float, b_lat: float, b_lon: float
    ) -> list[LatLon] | Refusal:
        """Waypoints from a to b (both included): straight when clear, else around the zones.

        The detour runs through vertices of the zones grown by ``margin_m`` and keeps at least
        half the margin from every zone; it stays inside the area. A Refusal when an end is not
        allowed or no detour exists.
        """
        straight = self.check_route(a_lat, a_lon, b_lat, b_lon)
        if straight is None:
            return [LatLon(a_lat, a_lon), LatLon(b_lat, b_lon)]
        if straight.code in (
            RefusalCode.INVALID,
            RefusalCode.ALTITUDE,
        ) or straight.reason.startswith(("start", "destination")):
            return straight
        graph = self._visibility_graph()
        a = np.array(self.frame.to_xy(a_lat, a_lon))
        b = np.array(self.frame.to_xy(b_lat, b_lon))
        n = len(graph.nodes)
        from_a = self._visible_from(a, graph.nodes)
        to_b = self._visible_from(b, graph.nodes)
        # Dijkstra: node ids 0..n-1 are the graph, n is a, n+1 is b.
        dist = {n: 0.0}
        prev: dict[int, int] = {}
        heap: list[tuple[float, int]] = [(0.0, n)]
        target = n + 1
        while heap:
            d, u = heapq.heappop(heap)
            if u == target:
                break
            if d > dist.get(u, math.inf):
                continue
            if u == n:
                edges = [
                    (int(k), float(np.hypot(*(graph.nodes[k] - a)))) for k in np.flatnonzero(from_a)
                ]
            else:
                edges = list(graph.adjacency[u])
                if to_b[u]:
                    edges.append((target, float(np.hypot(*(graph.nodes[u] - b)))))
            for v, w in edges:
                nd = d + w
                if nd < dist.get(v, math.inf):
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(heap, (nd, v))
        if target not in dist:
            return Refusal(RefusalCode.NO_ROUTE, f"no route around the zones: {straight.reason}")
        path = [target]
        while path[-1] != n:
            path.append(prev[path[-1]])
        path.reverse()
        out = [LatLon(a_lat, a_lon)]
        out.extend(
            self.frame.to_latlon(float(graph.nodes[k][0]), float(graph.nodes[k][1]))
            for k in path[1:-1]
        )
        out.append(LatLon(b_lat, b_lon))
        return out

    def route_length_m(self, route: Sequence[LatLon]) -> float:
        """Length of a polyline in the local frame."""
        xy = np.array([self.frame.to_xy(p[0], p[1]) for p in route])
        return float(np.hypot(*np.diff(xy, axis=0).T).sum()) if len(xy) > 1 else 0.0

    def _visible_from(self, p: Any, nodes: Any) -> Any:
        """Mask of nodes reachable from p in a straight line (zone-free, inside the area)."""
        if len(nodes) == 0:
            return np.zeros(0, dtype=bool)
        segs = np.stack([np.broadcast_to(p, nodes.shape), nodes], axis=1)
        lines = shapely.linestrings(segs)
        ok = shapely.contains(self._area, lines)
        if self._zones_union is not None:
            ok &= ~shapely.intersects(self._zones_union, lines)
        return ok

    def _visibility_graph(self) -> _Graph:
        if self._graph is not None:
            return self._graph
        pts: list[tuple[float, float]] = []
        for o in self._obstacles:
            polys = [o.plan] if o.plan.geom_type == "Polygon" else list(o.plan.geoms)
            for poly in polys:
                pts.extend((float(x), float(y)) for x, y in list(poly.exterior.coords)[:-1])
        nodes = np.array(pts, dtype=np.float64).reshape(-1, 2)
        if len(nodes):
            keep = shapely.contains_xy(self._area, nodes[:, 0], nodes[:, 1])
            if self._keepout_union is not None:
                keep &= ~shapely.contains_xy(self._keepout_union, nodes[:, 0], nodes[:, 1])
            nodes = nodes[keep]
        graph = _Graph(nodes, [[] for _ in range(len(nodes))])
        i, j = np.triu_indices(len(nodes), k=1)
        if len(i):
            lines = shapely.linestrings(np.stack([nodes[i], nodes[j]], axis=1))
            ok = shapely.contains(self._area, lines)
            if self._keepout_union is not None:
                ok &= ~shapely.intersects(self._keepout_union, lines)
            lengths = np.hypot(*(nodes[i] - nodes[j]).T)
            for u, v, w in zip(i[ok].tolist(), j[ok].tolist(), lengths[ok].tolist(), strict=True):
                graph.adjacency[u].append((v, w))
                graph.adjacency[v].append((u, w))
        self._graph = graph
        return graph

    # -- geofence -----------------------------------------------------------------------------

    def geofence(
        self,
        centre: LatLon | None = None,
        radius_m: float | None = None,
        *,
        max_vertices: int = 40,
    ) -> Geofence:
        """A PX4-sized geofence: one inclusion (the area simplified to at most ``max_vertices``
        vertices, or a circle of ``radius_m`` about ``centre``) and one exclusion polygon per
        zone (the zone grown by the margin, simplified, so it still contains the zone)."""
        circles: list[FenceCircle] = []
        polygons: list[FencePolygon] = []
        if centre is not None and radius_m is not None:
            circles.append(FenceCircle(centre.lat_deg, centre.lon_deg, radius_m, inclusion=True))
            cx, cy = self.frame.to_xy(centre.lat_deg, centre.lon_deg)
            near = Point(cx, cy).buffer(radius_m)
        else:
            polygons.append(
                FencePolygon(tuple(self._simplified_area(max_vertices)), inclusion=True)
            )
            near = None
        for o in self._obstacles:
            if near is not None and not near.intersects(o.plan):
                continue
            grown = o.xy.buffer(self.margin_m, quad_segs=2)
            tol = self.margin_m / 2
            simple = grown.simplify(tol)
            while len(simple.exterior.coords) - 1 > max_vertices:
                tol *= 1.5
                simple = o.xy.buffer(tol * 2, quad_segs=2).simplify(tol)
            ring = self.frame.xy_to_lonlat_array(list(simple.exterior.coords)[:-1])
            polygons.append(
                FencePolygon(tuple(LatLon(lat, lon) for lon, lat in ring.tolist()), inclusion=False)
            )
        return Geofence(circles=tuple(circles), polygons=tuple(polygons))

    def _simplified_area(self, max_vertices: int) -> list[LatLon]:
        area = self._area
        if area.geom_type != "Polygon":
            area = max(area.geoms, key=lambda g: g.area)
        outer = Polygon(area.exterior)
        tol = 50.0
        simple = outer.simplify(tol)
        while len(simple.exterior.coords) - 1 > max_vertices:
            tol *= 1.4
            simple = outer.simplify(tol)
        ring = self.frame.xy_to_lonlat_array(list(simple.exterior.coords)[:-1])
        return [LatLon(lat, lon) for lon, lat in ring.tolist()]

    def geofence_items(
        self,
        centre: LatLon | None = None,
        radius_m: float | None = None,
        *,
        max_vertices: int = 40,
    ) -> list[MissionItem]:
        """The geofence as MAVLink fence items, to upload with mission_type=1 (FENCE)."""
        return geofence_to_items(self.geofence(centre, radius_m, max_vertices=max_vertices))


# -- data ---------------------------------------------------------------------------------------


def zones_from_geojson(src: dict[str, Any] | str | Path) -> list[Zone]:
    """Zones from a GeoJSON FeatureCollection (dict, path or JSON text)."""
    if isinstance(src, Path) or (isinstance(src, str) and not src.lstrip().startswith("{")):
        src = json.loads(Path(src).read_text(encoding="utf-8"))
    elif isinstance(src, str):
        src = json.loads(src)
    if not isinstance(src, dict) or not isinstance(src.get("features"), list):
        raise AirspaceError("zones must be a GeoJSON FeatureCollection")
    zones = []
    for n, feat in enumerate(src["features"]):
        props = feat.get("properties") or {}
        name = str(props.get("name", f"zone {n + 1}"))
        try:
            geom = shape(feat["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AirspaceError(f"zone {name!r}: bad geometry") from exc
        polys = [geom] if geom.geom_type == "Polygon" else list(getattr(geom, "geoms", []))
        if not polys or any(p.geom_type != "Polygon" for p in polys):
            raise AirspaceError(f"zone {name!r}: geometry must be a Polygon or MultiPolygon")
        for k, poly in enumerate(polys):
            zones.append(
                Zone(
                    name=name if len(polys) == 1 else f"{name} ({k + 1})",
                    outline=poly,
                    floor_m=float(props.get("floor_m", 0.0)),
                    ceiling_m=float(props.get("ceiling_m", math.inf)),
                    kind=str(props.get("kind", "user")),
                )
            )
    return zones


_AREA_CACHE: dict[str, Any] = {}


def boroughs() -> dict[str, Any]:
    """The 33 borough outlines as shapely geometries in (lon, lat), by name."""
    if "boroughs" not in _AREA_CACHE:
        data = resources.files("missions") / "data" / "london_boroughs.geojson"
        raw = json.loads(data.read_text(encoding="utf-8"))
        _AREA_CACHE["boroughs"] = {
            f["properties"]["name"]: shapely.make_valid(shape(f["geometry"]))
            for f in raw["features"]
        }
    out: dict[str, Any] = _AREA_CACHE["boroughs"]
    return out


def london_area() -> Any:
    """Greater London: the union of the boroughs, slivers between outlines closed (50 m)."""
    if "london" not in _AREA_CACHE:
        merged = unary_union(list(boroughs().values()))
        # The outlines were simplified independently; close the slivers between them in degrees
        # (about 50 m) and drop holes, then keep the result in (lon, lat).
        eps = 0.0005
        closed = merged.buffer(eps, quad_segs=2).buffer(-eps, quad_segs=2)
        if closed.geom_type == "Polygon":
            closed = Polygon(closed.exterior)
        else:
            closed = unary_union([Polygon(p.exterior) for p in closed.geoms])
        _AREA_CACHE["london"] = closed
    return _AREA_CACHE["london"]
