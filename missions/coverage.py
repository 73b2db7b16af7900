"""How fast a site set reaches every part of Greater London: a grid of time-to-scene.

Time to scene from a site = ``launch_s`` (dock opens, ~15 s, plus arm and take-off) + climb to
the cruise altitude at ``climb_m_s`` + path length / (cruise speed - ``wind_m_s``): the wind
is taken as a headwind on every leg, the worst case. Each cell takes the fastest site.

Zones: a cell inside a zone is unreachable. When the straight line from a site to a cell crosses
a zone (tested exactly, with shapely, on the cells inside the zone's angular shadow), the path
is the shortest one around the convex hull of the zone grown by half the route margin, as
``Airspace.plan_route`` would keep clear: tangent from the site, along the hull, tangent to the
cell. That is never shorter than the real detour (conservative). A line crossing two zones, or a
blocked cell inside a hull, counts as unreachable from that site (also conservative); a detour
may leave Greater London for a moment, which this ignores.

Sites, not docks: the docks of a site stand a few metres apart, so the site's position is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon

from missions.airspace import Airspace, boroughs
from missions.geo import LatLon
from missions.projection import FloatArray, LocalFrame
from missions.sites import Site, SiteSet

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class FlightModel:
    """The time-to-scene model, the one the dispatcher plans with (groundstation.core.dispatch):
    dock open and take-off, a vertical climb to the safe height over the dock, then the transit
    at cruise speed (the drone climbs on to cruise altitude while it flies). Speeds and altitude
    default from the site set."""

    launch_s: float = 16.0  # dock cover open 12 s + arm and take-off 4 s
    climb_m_s: float = 3.0
    cruise_alt_rel_m: float = 60.0
    cruise_speed_m_s: float = 15.0
    wind_m_s: float = 0.0
    safe_alt_rel_m: float = 20.0

    @property
    def ground_speed_m_s(self) -> float:
        return self.cruise_speed_m_s - self.wind_m_s

    @property
    def fixed_s(self) -> float:
        return self.launch_s + min(self.safe_alt_rel_m, self.cruise_alt_rel_m) / self.climb_m_s

    def time_s(self, distance_m: FloatArray) -> FloatArray:
        if self.ground_speed_m_s <= 0:
            return np.full_like(distance_m, np.inf)
        out: FloatArray = self.fixed_s + distance_m / self.ground_speed_m_s
        return out


@dataclass(slots=True)
class Grid:
    """Cell centres over the area's bounding box, in the local frame."""

    frame: LocalFrame
    cell_m: float
    x0: float
    y0: float
    nx: int
    ny: int
    in_area: BoolArray  # (ny, nx)
    borough: IntArray  # (ny, nx): index into borough_names, -1 for none
    borough_names: tuple[str, ...]
    in_zone: BoolArray

    @property
    def xs(self) -> FloatArray:
        out: FloatArray = self.x0 + self.cell_m * (np.arange(self.nx, dtype=np.float64) + 0.5)
        return out

    @property
    def ys(self) -> FloatArray:
        out: FloatArray = self.y0 + self.cell_m * (np.arange(self.ny, dtype=np.float64) + 0.5)
        return out


@dataclass(slots=True)
class CoverageResult:
    site_set: SiteSet
    sites: tuple[LatLon, ...]
    grid: Grid
    time_s: FloatArray  # (ny, nx), inf where unreachable, nan outside the area
    model: FlightModel
    threshold_s: float = 120.0
    added: tuple[LatLon, ...] = ()
    gain: dict[str, float] = field(default_factory=dict)
    optimised_for: tuple[str, ...] = ()
    """The boroughs ``gain`` is over (empty: all of London)."""
    airspace: Airspace | None = None

    def _stats(self, mask: BoolArray) -> dict[str, Any]:
        """Share of the whole area reached in time (zone cells count as not reached); median
        time over the cells outside zones (None when most of those are unreachable)."""
        t = self.time_s[mask]
        if t.size == 0:
            return {self._key: 0.0, "median_s": None, "nofly_share": 0.0}
        flyable = self.time_s[mask & ~self.grid.in_zone]
        median = float(np.median(flyable)) if flyable.size else math.inf
        return {
            self._key: round(float(np.mean(t <= self.threshold_s)), 4),
            "median_s": round(median, 1) if math.isfinite(median) else None,
            "nofly_share": round(float(np.mean(self.grid.in_zone[mask])), 4),
        }

    @property
    def _key(self) -> str:
        return f"within_{self.threshold_s:g}s"

    def borough_stats(self) -> dict[str, dict[str, Any]]:
        g = self.grid
        return {
            name: self._stats(g.in_area & (g.borough == k))
            for k, name in enumerate(g.borough_names)
        }

    def london_stats(self) -> dict[str, Any]:
        return self._stats(self.grid.in_area)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "boroughs": self.borough_stats(),
            "london": self.london_stats(),
            "sites": len(self.sites),
            "site_set": self.site_set.name,
            "cell_m": self.grid.cell_m,
            "model": {
                "launch_s": self.model.launch_s,
                "climb_m_s": self.model.climb_m_s,
                "cruise_alt_rel_m": self.model.cruise_alt_rel_m,
                "cruise_speed_m_s": self.model.cruise_speed_m_s,
                "wind_m_s": self.model.wind_m_s,
            },
        }
        if self.added:
            out["optimise"] = {
                "added": [[round(p.lat_deg, 5), round(p.lon_deg, 5)] for p in self.added],
                "for": list(self.optimised_for) or ["Greater London"],
                **self.gain,
            }
        return out


def make_grid(airspace: Airspace, cell_m: float) -> Grid:
    """The grid over the airspace's area with borough labels (cached per airspace and size)."""
    cached = airspace.grid_cache.get(cell_m)
    if isinstance(cached, Grid):
        return cached
    frame = airspace.frame
    area = airspace._area
    minx, miny, maxx, maxy = area.bounds
    nx = math.ceil((maxx - minx) / cell_m)
    ny = math.ceil((maxy - miny) / cell_m)
    xs = minx + cell_m * (np.arange(nx) + 0.5)
    ys = miny + cell_m * (np.arange(ny) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    in_area = shapely.contains_xy(area, gx, gy)
    names = tuple(sorted(boroughs()))
    label = np.full((ny, nx), -1, dtype=np.int64)
    for k, name in enumerate(names):
        geom = boroughs()[name]
        polys = [geom] if geom.geom_type == "Polygon" else list(geom.geoms)
        for poly in polys:
            xy = Polygon(
                frame.lonlat_to_xy_array(np.asarray(poly.exterior.coords)[:, :2]),
                [frame.lonlat_to_xy_array(np.asarray(h.coords)[:, :2]) for h in poly.interiors],
            )
            label[shapely.contains_xy(xy, gx, gy)] = k
    in_zone = np.zeros((ny, nx), dtype=bool)
    for ob in airspace._obstacles:
        in_zone |= shapely.contains_xy(ob.xy, gx, gy)
    grid = Grid(frame, cell_m, minx, miny, nx, ny, in_area, label, names, in_zone)
    airspace.grid_cache[cell_m] = grid
    return grid


def _chain_ends(vis: BoolArray) -> tuple[IntArray, IntArray]:
    """For rows of edge-visibility flags (one contiguous run, cyclic): first and last index."""
    start = vis & ~np.roll(vis, 1, axis=-1)
    end = vis & ~np.roll(vis, -1, axis=-1)
    return np.argmax(start, axis=-1), np.argmax(end, axis=-1)


def around_hull(p: FloatArray, cells: FloatArray, hull: FloatArray) -> FloatArray:
    """Shortest path length from p to each cell around a convex polygon (ccw vertices, open ring),
    for cells the straight line cannot reach; inf for cells inside the hull."""
    m = len(hull)
    nxt = np.roll(hull, -1, axis=0)
    edge = nxt - hull
    seglen = np.hypot(edge[:, 0], edge[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seglen)])
    per = cum[-1]

    def visible(q: FloatArray) -> BoolArray:
        rel = q[..., None, :] - hull  # (..., m, 2)
        cross = edge[:, 0] * rel[..., 1] - edge[:, 1] * rel[..., 0]
        out: BoolArray = cross < 0
        return out

    vp = visible(p)
    if not vp.any():
        return np.full(len(cells), np.inf)
    sp, ep = _chain_ends(vp[None, :])
    sp_i, ep1 = int(sp[0]), (int(ep[0]) + 1) % m
    vc = visible(cells)
    inside = ~vc.any(axis=1)
    sc, ec = _chain_ends(vc)
    ec1 = (ec + 1) % m

    def arc(i: Any, j: Any) -> Any:
        return np.mod(cum[j] - cum[i], per)

    dp_e = float(np.hypot(*(p - hull[ep1])))
    dp_s = float(np.hypot(*(p - hull[sp_i])))
    d_ccw = dp_e + arc(ep1, sc) + np.hypot(*(hull[sc] - cells).T)
    d_cw = dp_s + arc(ec1, sp_i) + np.hypot(*(hull[ec1] - cells).T)
    out: FloatArray = np.minimum(d_ccw, d_cw)
    out[inside] = np.inf
    return out


def _site_distances(airspace: Airspace, grid: Grid, site_xy: FloatArray) -> FloatArray:
    """Path length from one site to every cell (straight, around one zone, or inf)."""
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    cells = np.stack([gx.ravel(), gy.ravel()], axis=1)
    active = grid.in_area.ravel() & ~grid.in_zone.ravel()
    dist = np.hypot(cells[:, 0] - site_xy[0], cells[:, 1] - site_xy[1])
    out = np.where(active, dist, np.inf)
    blocked_count = np.zeros(len(cells), dtype=np.int64)
    detour = np.full(len(cells), np.inf)
    for ob in airspace._obstacles:
        hull_poly = ob.keepout.convex_hull
        hull = np.asarray(hull_poly.exterior.coords)[:-1]
        if hull_poly.exterior.is_ccw is False:
            hull = hull[::-1]
        rel = hull - site_xy
        ang = np.arctan2(rel[:, 1], rel[:, 0])
        c = np.arctan2(rel[:, 1].mean(), rel[:, 0].mean())
        wrapped = np.angle(np.exp(1j * (ang - c)))
        lo, hi = wrapped.min(), wrapped.max()
        near = float(shapely.distance(shapely.points(site_xy), hull_poly))
        if near == 0.0 or hi - lo >= math.pi:
            cand = active.copy()
        else:
            rc = cells - site_xy
            ca = np.angle(np.exp(1j * (np.arctan2(rc[:, 1], rc[:, 0]) - c)))
            cand = active & (ca >= lo) & (ca <= hi) & (dist >= near)
        idx = np.flatnonzero(cand)
        if idx.size == 0:
            continue
        segs = np.stack([np.broadcast_to(site_xy, (idx.size, 2)), cells[idx]], axis=1)
        hit = shapely.intersects(ob.xy, shapely.linestrings(segs))
        hit_idx = idx[hit]
        if hit_idx.size == 0:
            continue
        blocked_count[hit_idx] += 1
        detour[hit_idx] = around_hull(site_xy, cells[hit_idx], hull)
    out = np.where(blocked_count == 0, out, np.where(blocked_count == 1, detour, np.inf))
    result: FloatArray = out.reshape(grid.ny, grid.nx)
    return result


def site_positions(site_set: SiteSet) -> tuple[LatLon, ...]:
    return tuple(LatLon(s.lat_deg, s.lon_deg) for s in site_set.sites)


def _distance_field(airspace: Airspace, grid: Grid, sites: Sequence[LatLon]) -> FloatArray:
    best = np.full((grid.ny, grid.nx), np.inf)
    for s in sites:
        xy = np.array(airspace.frame.to_xy(s.lat_deg, s.lon_deg))
        np.minimum(best, _site_distances(airspace, grid, xy), out=best)
    return best


def coverage(
    site_set: SiteSet,
    airspace: Airspace | None = None,
    *,
    cell_m: float = 250.0,
    wind_m_s: float = 0.0,
    launch_s: float = 16.0,
    climb_m_s: float = 3.0,
    threshold_s: float = 120.0,
    extra_sites: Sequence[LatLon] = (),
    cruise_m_s: float | None = None,
) -> CoverageResult:
    """The time-to-scene grid for a site set over Greater London (see the module docstring).
    ``cruise_m_s`` overrides the site set's cruise speed (another aircraft, same sites)."""
    if not (math.isfinite(cell_m) and cell_m >= 25.0):
        raise ValueError(f"cell size {cell_m} m: must be at least 25 m")
    if not (math.isfinite(wind_m_s) and wind_m_s >= 0):
        raise ValueError(f"wind {wind_m_s} m/s: must be zero or positive")
    if not (math.isfinite(launch_s) and 0.0 <= launch_s <= 600.0):
        raise ValueError(f"launch time {launch_s} s: must be 0-600 s")
    cruise = site_set.cruise_speed_m_s if cruise_m_s is None else cruise_m_s
    if not (math.isfinite(cruise) and 1.0 <= cruise <= 60.0):
        raise ValueError(f"cruise speed {cruise} m/s: must be 1-60 m/s")
    air = airspace or Airspace.load_default()
    model = FlightModel(
        launch_s=launch_s,
        climb_m_s=climb_m_s,
        cruise_alt_rel_m=site_set.cruise_alt_rel_m,
        cruise_speed_m_s=cruise,
        wind_m_s=wind_m_s,
    )
    grid = make_grid(air, cell_m)
    sites = (*site_positions(site_set), *extra_sites)
    dist = _distance_field(air, grid, sites)
    times = model.time_s(dist)
    times[~grid.in_area] = np.nan
    return CoverageResult(site_set, sites, grid, times, model, threshold_s, airspace=air)


def optimise(
    site_set: SiteSet,
    k: int,
    airspace: Airspace | None = None,
    *,
    candidate_step_m: float = 1000.0,
    boroughs: Sequence[str] = (),
    **kwargs: Any,
) -> CoverageResult:
    """Greedy: add ``k`` sites, one at a time, each where it most raises the share of London
    (or of ``boroughs`` together, when given) reached within the threshold. Candidates: a
    ``candidate_step_m`` lattice of cells in the area and outside zones. The candidate search
    uses straight-line reach (fast); the result is then recomputed with the full zone-aware
    model. ``gain`` reports before and after, over the same area."""
    if k < 0 or k > 50:
        raise ValueError(f"k must be 0-50, not {k}")
    air = airspace or Airspace.load_default()
    base = coverage(site_set, air, **kwargs)
    grid, model = base.grid, base.model
    unknown = [b for b in boroughs if b not in grid.borough_names]
    if unknown:
        raise ValueError(f"unknown borough {unknown[0]!r}")
    area = grid.in_area
    if boroughs:
        area = area & np.isin(grid.borough, [grid.borough_names.index(b) for b in boroughs])
    if k == 0:
        return base
    reach_m = (base.threshold_s - model.fixed_s) * model.ground_speed_m_s
    covered = (base.time_s <= base.threshold_s) & grid.in_area
    step = max(1, round(candidate_step_m / grid.cell_m))
    cy, cx = np.nonzero((grid.in_area & ~grid.in_zone)[::step, ::step])
    cand_x, cand_y = grid.xs[cx * step], grid.ys[cy * step]
    gx, gy = np.meshgrid(grid.xs, grid.ys)
    usable = grid.in_area & ~grid.in_zone
    target = usable & area
    added: list[LatLon] = []
    r = max(1, math.ceil(reach_m / grid.cell_m))
    # Ties (common: any candidate far from cover gains a full disc) go to the most central.
    centre = np.array([gx[grid.in_area].mean(), gy[grid.in_area].mean()])
    order = np.argsort(np.hypot(cand_x - centre[0], cand_y - centre[1]), kind="stable")
    for _ in range(k):
        best_gain, best_i = -1, -1
        if reach_m > 0:
            for i in order.tolist():
                j0, i0 = int(cy[i] * step), int(cx[i] * step)
                ys_, xs_ = slice(max(0, j0 - r), j0 + r + 1), slice(max(0, i0 - r), i0 + r + 1)
                d = np.hypot(gx[ys_, xs_] - cand_x[i], gy[ys_, xs_] - cand_y[i])
                gain = int(np.count_nonzero((d <= reach_m) & target[ys_, xs_] & ~covered[ys_, xs_]))
                if gain > best_gain:
                    best_gain, best_i = gain, i
        if best_i < 0 or best_gain <= 0:
            break
        p = grid.frame.to_latlon(float(cand_x[best_i]), float(cand_y[best_i]))
        added.append(p)
        d = np.hypot(gx - cand_x[best_i], gy - cand_y[best_i])
        covered |= (d <= reach_m) & usable
    result = coverage(site_set, air, extra_sites=added, **kwargs)
    before = base._stats(area)[base._key]
    after = result._stats(area)[result._key]
    result.added = tuple(added)
    result.gain = {"before": before, "after": after, "gain": round(after - before, 4)}
    result.optimised_for = tuple(boroughs)
    return result


def site_from_point(name: str, p: LatLon, roof_alt_amsl_m: float = 30.0) -> Site:
    """A one-dock Site at a point (for sites found by ``optimise``)."""
    from missions.sites import parse_sites

    raw = {
        "sites": [
            {
                "site_id": name,
                "lat_deg": p.lat_deg,
                "lon_deg": p.lon_deg,
                "roof_alt_amsl_m": roof_alt_amsl_m,
                "docks": 1,
            }
        ]
    }
    return parse_sites(raw).sites[0]
