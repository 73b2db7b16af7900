"""The dock network for a coverage target: how many docks, where, and proof that fewer will not do.

Two questions, both as integer programs solved exactly by HiGHS (``scipy.optimize.milp``):

- **fewest docks** (set covering with partial targets): choose candidate sites ``x_j`` so that
  every borough (or Greater London as a whole) has at least ``target`` of its demand within the
  threshold (120 s): minimise ``sum x_j`` subject to ``y_p <= sum_{j reaches p} x_j`` and
  ``base_g + sum_{p in g} a_p y_p >= target_g`` for each group g;
- **K docks covering the most** (maximal covering): ``sum x_j = K``, maximise the share of London,
  or with per-borough the lowest borough share (ties broken by the share of London).

``x`` is binary, ``y`` (a demand point is reached) continuous in [0, 1]: with integer ``x`` an
optimal ``y`` is integral anyway, so only the candidates branch. ``a_p`` is the point's demand as a
share of its group. Demand is area (one unit per cell) or a weighting layer (incidents,
population: ``missions.netplan_files.load_weights``).

Reach is the coverage model's own (``missions.coverage``): the dispatcher's time to scene, no-fly
zones unreachable and routes around them, the same cells and the same comparisons, so
``coverage()`` of a planned site set gives back the planned shares. Cells the kept (existing) sites
already reach are fixed; cells no candidate reaches drop out; cells with the same reaching
candidates and the same borough are merged into one demand point (the program shrinks several
fold). A group whose target the candidates cannot reach even all together is reported with the
reason (no-fly zone share, share beyond reach) and planned for its best reachable share instead.

The greedy answer on the same candidates and demand runs alongside: each step adds the candidate
that most reduces the total shortfall (``sum_g min(need_g, gain_g)``, Wolsey's greedy for partial
covering), or for K docks the most share of London (the lowest borough's share first, per-borough).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
import shapely
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]

from missions.airspace import Airspace
from missions.coverage import FlightModel, Grid, around_hull
from missions.geo import LatLon
from missions.projection import FloatArray

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

LONDON = "Greater London"
TIE_WEIGHT = 1e-3  # weight of the share of London in the per-borough K-docks objective
EPS = 1e-9


class NetworkPlanError(ValueError):
    """A plan could not be set up: bad input, nothing to choose from."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place a dock could stand (a lattice cell centre, or a building from a file)."""

    name: str
    lat_deg: float
    lon_deg: float
    roof_alt_amsl_m: float | None = None

    @property
    def position(self) -> LatLon:
        return LatLon(self.lat_deg, self.lon_deg)


# --- the abstract program: demand points x candidates ------------------------------------------


@dataclass(slots=True)
class Problem:
    """Demand points (merged cells) against candidates, with each group's totals.

    ``group`` labels each point with a borough (index into ``group_names``, -1 for none: cells in
    London but in no borough outline). ``total`` and ``base`` are per borough plus one last entry
    for all of London: all demand, and the demand the kept sites already reach. ``unreachable``
    is the demand in no-fly zones per borough (+ London), for the reasons."""

    cover: sp.csc_array  # (n_points, n_candidates), 1 where the candidate reaches the point
    weight: FloatArray
    group: IntArray
    group_names: tuple[str, ...]
    total: FloatArray  # (n_groups + 1,)
    base: FloatArray  # (n_groups + 1,)
    nofly: FloatArray  # (n_groups + 1,)
    zone_names: tuple[tuple[str, ...], ...] = ()  # per group: the zones its no-fly demand is in
    cells: int = 0  # demand cells before merging

    @property
    def n_candidates(self) -> int:
        return int(self.cover.shape[1])

    def max_share(self) -> FloatArray:
        """Per group (+ London): the share reached with every candidate open."""
        coverable = np.asarray(self.cover.sum(axis=1)).ravel() > 0
        w = np.where(coverable, self.weight, 0.0)
        got = self.base + _group_sums(self, w)
        return np.divide(got, self.total, out=np.zeros_like(got), where=self.total > 0)

    def shares(self, chosen: Sequence[int]) -> FloatArray:
        """Per group (+ London): the share reached by the kept sites and ``chosen``."""
        reached = np.zeros(self.cover.shape[0], dtype=bool)
        for j in chosen:
            reached[self.cover.indices[self.cover.indptr[j] : self.cover.indptr[j + 1]]] = True
        got = self.base + _group_sums(self, np.where(reached, self.weight, 0.0))
        return np.divide(got, self.total, out=np.zeros_like(got), where=self.total > 0)


def _group_sums(problem: Problem, values: FloatArray) -> FloatArray:
    n = len(problem.group_names)
    lab = np.where(problem.group >= 0, problem.group, n)
    per = np.bincount(lab, weights=values, minlength=n + 1)[:n]
    return np.append(per, values.sum())


def make_problem(
    cover: Any,
    weight: Any,
    group: Any,
    group_names: Sequence[str],
    *,
    base: Any | None = None,
    extra_total: Any | None = None,
) -> Problem:
    """A problem from a dense or sparse cover matrix (points x candidates), for tests and for
    demand that is not a grid. ``base`` and ``extra_total`` (per group + London) add demand
    already reached and demand nobody can reach."""
    c = sp.csc_array(cover, dtype=np.int8)
    w = np.asarray(weight, dtype=np.float64)
    g = np.asarray(group, dtype=np.int64)
    n = len(group_names)
    if c.shape[0] != len(w) or len(g) != len(w) or (w < 0).any():
        raise NetworkPlanError(
            "cover, weight and group disagree in length, or a weight is negative"
        )
    zero = np.zeros(n + 1)
    b = zero if base is None else np.asarray(base, dtype=np.float64)
    extra = zero if extra_total is None else np.asarray(extra_total, dtype=np.float64)
    p = Problem(c, w, g, tuple(group_names), zero, b, zero.copy(), cells=len(w))
    p.total = _group_sums(p, w) + b + extra
    return p


# --- solutions -------------------------------------------------------------------------------


@dataclass(slots=True)
class Solution:
    """Chosen candidate indices and how good they are."""

    method: str  # "optimal" or "greedy"
    chosen: list[int]
    shares: FloatArray  # per group + London
    status: str = "optimal"
    gap: float = 0.0  # relative optimality gap (HiGHS mip_gap); 0 for greedy by convention
    bound: float | None = None  # the solver's dual bound on the objective
    solve_s: float = 0.0
    message: str = ""

    @property
    def docks(self) -> int:
        return len(self.chosen)


@dataclass(frozen=True, slots=True)
class Goal:
    """What the plan asks: ``target`` share per borough (or of London), or ``docks`` = K."""

    target: float = 0.8
    per_borough: bool = True
    docks: int | None = None
    max_docks: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target) and 0.0 < self.target <= 1.0):
            raise NetworkPlanError(f"target {self.target}: must be a share in (0, 1]")
        if self.docks is not None and not (0 <= self.docks <= 1000):
            raise NetworkPlanError(f"--docks {self.docks}: must be 0-1000")
        if self.max_docks is not None and self.max_docks < 0:
            raise NetworkPlanError(f"--max-docks {self.max_docks}: must be zero or more")


def group_rows(problem: Problem, per_borough: bool) -> tuple[list[int], sp.csr_array]:
    """The groups a goal constrains (borough indices with demand, or [London]) and their share
    coefficients: a (groups x points) matrix, each point's demand over its group's total."""
    n = len(problem.group_names)
    npts = len(problem.weight)
    if not per_borough:
        coef = problem.weight / problem.total[n] if problem.total[n] > 0 else problem.weight * 0
        return [n], sp.csr_array(coef[None, :])
    groups = [k for k in range(n) if problem.total[k] > 0]
    row_of = np.full(n + 1, -1)
    row_of[groups] = np.arange(len(groups))
    lab = problem.group
    keep = (lab >= 0) & (row_of[np.where(lab >= 0, lab, n)] >= 0)
    rows = row_of[lab[keep]]
    cols = np.flatnonzero(keep)
    vals = problem.weight[keep] / problem.total[lab[keep]]
    mat = sp.csr_array((vals, (rows, cols)), shape=(len(groups), npts))
    return groups, mat


def capped_targets(problem: Problem, goal: Goal) -> tuple[list[int], FloatArray]:
    """The constrained groups and their targets: ``goal.target``, or less where even every
    candidate together cannot reach it (then the best reachable share)."""
    groups, _ = group_rows(problem, goal.per_borough)
    best = problem.max_share()[groups]
    return groups, np.minimum(goal.target, best - EPS)


def solve(problem: Problem, goal: Goal, *, time_limit_s: float = 120.0) -> Solution:
    """The exact answer (within HiGHS's default relative gap of 1e-4, or the time limit).

    Variables: x (candidates, binary), y (points, [0, 1]), z (the lowest borough's share, used
    by per-borough K docks only, else fixed at 0)."""
    groups, coef = group_rows(problem, goal.per_borough)
    _, london = group_rows(problem, False)
    n_c, n_p, n_g = problem.n_candidates, len(problem.weight), len(groups)
    base = problem.base[groups] / np.where(problem.total[groups] > 0, problem.total[groups], 1)
    x_zero = sp.csr_array((n_g, n_c))
    count = sp.csr_array(np.concatenate([np.ones(n_c), np.zeros(n_p + 1)])[None, :])
    cons = [
        LinearConstraint(
            sp.hstack(
                [-problem.cover.astype(np.float64), sp.eye_array(n_p), sp.csr_array((n_p, 1))]
            ),
            -np.inf,
            0.0,
        )
    ]
    z_max = 0.0
    if goal.docks is None:  # fewest docks reaching every target
        _, targets = capped_targets(problem, goal)
        cons.append(
            LinearConstraint(sp.hstack([x_zero, coef, sp.csr_array((n_g, 1))]), targets - base)
        )
        if goal.max_docks is not None:
            cons.append(LinearConstraint(count, -np.inf, goal.max_docks))
        c = np.concatenate([np.ones(n_c), np.zeros(n_p + 1)])
    else:
        k = min(goal.docks, n_c)
        cons.append(LinearConstraint(count, k, k))
        share = london.toarray().ravel()
        if goal.per_borough:  # max z + TIE_WEIGHT * London, z <= every borough's share
            ones = sp.csr_array(np.ones((n_g, 1)))
            cons.append(LinearConstraint(sp.hstack([x_zero, -coef, ones]), -np.inf, base))
            c = np.concatenate([np.zeros(n_c), -TIE_WEIGHT * share, [-1.0]])
            z_max = 1.0
        else:
            c = np.concatenate([np.zeros(n_c), -share, [0.0]])
    lb = np.zeros(n_c + n_p + 1)
    ub = np.append(np.ones(n_c + n_p), z_max)
    integrality = np.concatenate([np.ones(n_c), np.zeros(n_p + 1)])
    start = time.perf_counter()
    res = milp(
        c,
        integrality=integrality,
        bounds=Bounds(lb, ub),
        constraints=cons,
        options={"time_limit": time_limit_s, "disp": False},
    )
    elapsed = time.perf_counter() - start
    status = {0: "optimal", 1: "time limit", 2: "infeasible", 3: "unbounded"}.get(
        res.status, "failed"
    )
    if res.x is None:
        msg = res.message
        if status == "infeasible" and goal.max_docks is not None:
            msg = f"the targets need more than --max-docks {goal.max_docks} docks"
        return Solution("optimal", [], problem.shares([]), status, math.inf, None, elapsed, msg)
    chosen = [int(j) for j in np.flatnonzero(res.x[:n_c] > 0.5)]
    gap = float(getattr(res, "mip_gap", 0.0) or 0.0)
    bound = getattr(res, "mip_dual_bound", None)
    return Solution(
        "optimal",
        chosen,
        problem.shares(chosen),
        status,
        gap,
        None if bound is None else float(bound),
        elapsed,
        str(res.message),
    )


def greedy(problem: Problem, goal: Goal) -> Solution:
    """The greedy answer on the same candidates (see the module docstring)."""
    start = time.perf_counter()
    groups, coef = group_rows(problem, goal.per_borough)
    cover = problem.cover.astype(np.float64).tocsc()
    n_c, n_p = problem.n_candidates, len(problem.weight)
    base = problem.base[groups] / np.where(problem.total[groups] > 0, problem.total[groups], 1)
    _, london = group_rows(problem, False)
    open_pts = np.ones(n_p)
    share = base.copy()
    london_share = float(problem.base[-1] / problem.total[-1]) if problem.total[-1] > 0 else 0.0
    need = capped_targets(problem, goal)[1] - base if goal.docks is None else None
    limit = goal.docks if goal.docks is not None else goal.max_docks
    chosen: list[int] = []
    available = np.ones(n_c, dtype=bool)
    while limit is None or len(chosen) < limit:
        if need is not None and (need <= EPS).all():
            break
        gains = (coef.multiply(open_pts[None, :]) @ cover).toarray()  # groups x candidates
        lgain = (london.multiply(open_pts[None, :]) @ cover).toarray().ravel()
        if need is not None:
            score = np.minimum(gains, np.maximum(need, 0.0)[:, None]).sum(axis=0)
        elif goal.per_borough:
            score = (share[:, None] + gains).min(axis=0) + TIE_WEIGHT * lgain
        else:
            score = lgain
        score = np.where(available, score, -np.inf)
        j = int(np.argmax(score))
        useless = score[j] <= EPS if need is not None else lgain[j] <= 0
        if not available[j] or useless:
            break
        chosen.append(j)
        available[j] = False
        share += gains[:, j]
        london_share += lgain[j]
        if need is not None:
            need -= gains[:, j]
        open_pts[cover.indices[cover.indptr[j] : cover.indptr[j + 1]]] = 0.0
    status = "optimal"
    msg = ""
    if need is not None and (need > EPS).any():
        status = "infeasible"
        msg = (
            f"greedy stopped at --max-docks {goal.max_docks}"
            if limit is not None
            else "greedy found no candidate that helps"
        )
    return Solution(
        "greedy",
        chosen,
        problem.shares(chosen),
        status,
        0.0,
        None,
        time.perf_counter() - start,
        msg,
    )


# --- geometry: reach from a site, the problem over a grid -------------------------------------


@dataclass(slots=True)
class Reach:
    """Which cells (flat indices into the grid) each site reaches within the threshold."""

    grid: Grid
    model: FlightModel
    threshold_s: float
    airspace: Airspace
    cells_xy: FloatArray = field(init=False)
    active: BoolArray = field(init=False)

    def __post_init__(self) -> None:
        gx, gy = np.meshgrid(self.grid.xs, self.grid.ys)
        self.cells_xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
        self.active = self.grid.in_area.ravel() & ~self.grid.in_zone.ravel()

    @property
    def radius_m(self) -> float:
        """The straight-line reach (a route around a zone only makes it shorter)."""
        return max(0.0, (self.threshold_s - self.model.fixed_s) * self.model.ground_speed_m_s)

    def cells(self, p: LatLon) -> IntArray:
        """Flat indices of the cells reached from ``p`` within the threshold, exactly as
        ``missions.coverage`` computes time to scene (straight, around one zone, or not)."""
        g = self.grid
        x, y = self.grid.frame.to_xy(p.lat_deg, p.lon_deg)
        site_xy = np.array([x, y])
        r = self.radius_m
        if r <= 0:
            return np.zeros(0, dtype=np.int64)
        i0 = max(0, math.floor((x - r - g.x0) / g.cell_m))
        i1 = min(g.nx, math.ceil((x + r - g.x0) / g.cell_m) + 1)
        j0 = max(0, math.floor((y - r - g.y0) / g.cell_m))
        j1 = min(g.ny, math.ceil((y + r - g.y0) / g.cell_m) + 1)
        if i0 >= i1 or j0 >= j1:
            return np.zeros(0, dtype=np.int64)
        jj, ii = np.meshgrid(np.arange(j0, j1), np.arange(i0, i1), indexing="ij")
        idx = (jj * g.nx + ii).ravel()
        idx = idx[self.active[idx]]
        cells = self.cells_xy[idx]
        dist = np.hypot(cells[:, 0] - site_xy[0], cells[:, 1] - site_xy[1])
        near = self.model.time_s(dist) <= self.threshold_s
        idx, cells, dist = idx[near], cells[near], dist[near]
        blocked = np.zeros(len(idx), dtype=np.int64)
        detour = np.full(len(idx), np.inf)
        point = shapely.points(site_xy)
        for ob in self.airspace._obstacles:
            if len(idx) == 0 or float(shapely.distance(point, ob.xy)) > r:
                continue
            segs = np.stack([np.broadcast_to(site_xy, (len(idx), 2)), cells], axis=1)
            hit = shapely.intersects(ob.xy, shapely.linestrings(segs))
            if not hit.any():
                continue
            hull_poly = ob.keepout.convex_hull
            hull = np.asarray(hull_poly.exterior.coords)[:-1]
            if hull_poly.exterior.is_ccw is False:
                hull = hull[::-1]
            blocked[hit] += 1
            detour[hit] = around_hull(site_xy, cells[hit], hull)
        path = np.where(blocked == 0, dist, np.where(blocked == 1, detour, np.inf))
        out: IntArray = idx[self.model.time_s(path) <= self.threshold_s]
        return out


def lattice_candidates(grid: Grid, step_m: float) -> list[Candidate]:
    """Cell centres every ``step_m`` (rounded to whole cells) in the area, outside zones."""
    if not (math.isfinite(step_m) and step_m >= grid.cell_m):
        raise NetworkPlanError(
            f"lattice step {step_m} m: must be at least the cell size {grid.cell_m} m"
        )
    step = max(1, round(step_m / grid.cell_m))
    cy, cx = np.nonzero((grid.in_area & ~grid.in_zone)[::step, ::step])
    out = []
    for j, i in zip(cy.tolist(), cx.tolist(), strict=True):
        p = grid.frame.to_latlon(float(grid.xs[i * step]), float(grid.ys[j * step]))
        out.append(Candidate(f"lattice {p.lat_deg:.4f},{p.lon_deg:.4f}", p.lat_deg, p.lon_deg))
    return out


def area_weights(grid: Grid) -> FloatArray:
    """Demand by area: one unit per cell in the area (zone cells too: they count as not reached,
    as in ``coverage``)."""
    out: FloatArray = grid.in_area.astype(np.float64)
    return out


def build_problem(
    reach: Reach,
    candidates: Sequence[Candidate],
    kept: Sequence[LatLon] = (),
    weights: FloatArray | None = None,
) -> Problem:
    """The program over a grid: demand per cell (area by default), the kept sites' reach fixed,
    candidates' reach as a sparse matrix, identical cells merged."""
    g = reach.grid
    if not candidates:
        raise NetworkPlanError("no candidate sites to choose from")
    w = (area_weights(g) if weights is None else np.asarray(weights, dtype=np.float64)).ravel()
    if w.shape != (g.nx * g.ny,) or not np.isfinite(w).all() or (w < 0).any():
        raise NetworkPlanError("weights must be finite, non-negative, one per grid cell")
    w = np.where(g.in_area.ravel(), w, 0.0)
    n = len(g.borough_names)
    label = g.borough.ravel()
    lab = np.where(label >= 0, label, n)

    def per_group(values: FloatArray) -> FloatArray:
        per = np.bincount(lab, weights=values, minlength=n + 1)[:n]
        return np.append(per, values.sum())

    reached = np.zeros(g.nx * g.ny, dtype=bool)
    for p in kept:
        reached[reach.cells(p)] = True
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    for j, cand in enumerate(candidates):
        cells = reach.cells(cand.position)
        cells = cells[~reached[cells] & (w[cells] > 0)]
        rows.append(cells)
        cols.append(np.full(len(cells), j, dtype=np.int64))
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    full = sp.csr_array(
        (np.ones(len(row), dtype=np.int8), (row, col)), shape=(g.nx * g.ny, len(candidates))
    )
    full.sort_indices()
    live = np.flatnonzero(np.diff(full.indptr) > 0)
    # Merge cells with the same borough and the same reaching candidates into one point.
    keys: dict[bytes, int] = {}
    point_of = np.empty(len(live), dtype=np.int64)
    for k, cell in enumerate(live.tolist()):
        key = full.indices[full.indptr[cell] : full.indptr[cell + 1]].tobytes() + int(
            label[cell]
        ).to_bytes(4, "little", signed=True)
        point_of[k] = keys.setdefault(key, len(keys))
    n_pts = len(keys)
    first = np.zeros(n_pts, dtype=np.int64)
    first[point_of[::-1]] = live[::-1]
    weight: FloatArray = np.bincount(point_of, weights=w[live], minlength=n_pts).astype(np.float64)
    cover = sp.csc_array(full[first])
    zone_w = np.where(g.in_zone.ravel(), w, 0.0)
    zones_by_group: list[tuple[str, ...]] = []
    for k in range(n + 1):
        in_k = (label == k) if k < n else np.ones_like(label, dtype=bool)
        names = []
        for ob in reach.airspace._obstacles:
            cells_k = np.flatnonzero(in_k & g.in_zone.ravel() & (w > 0))
            if (
                cells_k.size
                and shapely.contains_xy(
                    ob.xy, reach.cells_xy[cells_k, 0], reach.cells_xy[cells_k, 1]
                ).any()
            ):
                names.append(ob.zone.name)
        zones_by_group.append(tuple(names))
    return Problem(
        cover=cover,
        weight=weight,
        group=label[first].astype(np.int64),
        group_names=g.borough_names,
        total=per_group(w),
        base=per_group(np.where(reached, w, 0.0)),
        nofly=per_group(zone_w),
        zone_names=tuple(zones_by_group),
        cells=int(np.count_nonzero(w > 0)),
    )


# --- the whole plan ----------------------------------------------------------------------------


@dataclass(slots=True)
class Shortfall:
    """A group whose target no choice of candidates reaches, and why."""

    group: str
    target: float
    max_share: float
    nofly_share: float
    zones: tuple[str, ...]
    beyond_share: float  # demand outside zones that no candidate (nor kept site) reaches

    @property
    def reason(self) -> str:
        parts = []
        if self.nofly_share > 0:
            where = f" ({', '.join(self.zones)})" if self.zones else ""
            parts.append(f"{self.nofly_share:.1%} is in no-fly zones{where}")
        if self.beyond_share > 0:
            parts.append(f"{self.beyond_share:.1%} is beyond two-minute reach of every candidate")
        return (
            f"{self.group}: at most {self.max_share:.1%} reachable, "
            f"{'; '.join(parts) or 'no demand'}; planned for {self.max_share:.1%}"
        )


def shortfalls(problem: Problem, goal: Goal) -> list[Shortfall]:
    """The groups the target cannot reach at all (see ``Shortfall``)."""
    groups, _ = group_rows(problem, goal.per_borough)
    best = problem.max_share()
    out = []
    for k in groups:
        if best[k] + EPS >= goal.target:
            continue
        total = problem.total[k]
        nofly = problem.nofly[k] / total
        out.append(
            Shortfall(
                group=problem.group_names[k] if k < len(problem.group_names) else LONDON,
                target=goal.target,
                max_share=float(best[k]),
                nofly_share=float(nofly),
                zones=problem.zone_names[k] if problem.zone_names else (),
                beyond_share=float(max(0.0, 1.0 - best[k] - nofly)),
            )
        )
    return out


def names_of(problem: Problem) -> list[str]:
    """Group names in ``shares`` order: the boroughs, then Greater London."""
    return [*problem.group_names, LONDON]


@dataclass(slots=True)
class NetworkPlan:
    """Everything a plan found: the problem, both answers, the shortfalls, the timings."""

    goal: Goal
    problem: Problem
    candidates: list[Candidate]
    optimal: Solution
    greedy: Solution
    shortfalls: list[Shortfall]
    build_s: float
    reach_m: float

    def chosen(self, solution: Solution) -> list[Candidate]:
        return [self.candidates[j] for j in solution.chosen]

    def to_json(self) -> dict[str, Any]:
        names = names_of(self.problem)
        groups, _ = group_rows(self.problem, self.goal.per_borough)

        def sol(s: Solution) -> dict[str, Any]:
            return {
                "docks": s.docks,
                "status": s.status,
                "gap": None if not math.isfinite(s.gap) else round(s.gap, 6),
                "bound": None if s.bound is None else round(s.bound, 4),
                "solve_s": round(s.solve_s, 2),
                "message": s.message,
                "sites": [[round(c.lat_deg, 6), round(c.lon_deg, 6)] for c in self.chosen(s)],
                "boroughs": {
                    names[k]: round(float(s.shares[k]), 4)
                    for k in range(len(self.problem.group_names))
                    if self.problem.total[k] > 0
                },
                "london": round(float(s.shares[-1]), 4),
                "lowest_borough": round(float(min(s.shares[k] for k in groups)), 4),
            }

        return {
            "target": self.goal.target,
            "per_borough": self.goal.per_borough,
            "docks_asked": self.goal.docks,
            "max_docks": self.goal.max_docks,
            "reach_m": round(self.reach_m, 1),
            "candidates": len(self.candidates),
            "demand_cells": self.problem.cells,
            "demand_points": len(self.problem.weight),
            "build_s": round(self.build_s, 2),
            "kept_share": {
                "london": round(float(self.problem.base[-1] / self.problem.total[-1]), 4)
                if self.problem.total[-1] > 0
                else 0.0
            },
            "optimal": sol(self.optimal),
            "greedy": sol(self.greedy),
            "unreachable": [
                {
                    "group": s.group,
                    "max_share": round(s.max_share, 4),
                    "nofly_share": round(s.nofly_share, 4),
                    "zones": list(s.zones),
                    "beyond_share": round(s.beyond_share, 4),
                    "reason": s.reason,
                }
                for s in self.shortfalls
            ],
        }


def plan_network(
    reach: Reach,
    candidates: Sequence[Candidate],
    goal: Goal,
    *,
    kept: Sequence[LatLon] = (),
    weights: FloatArray | None = None,
    time_limit_s: float = 120.0,
) -> NetworkPlan:
    """Build the program over the grid, solve it exactly and greedily."""
    start = time.perf_counter()
    problem = build_problem(reach, candidates, kept, weights)
    build_s = time.perf_counter() - start
    return NetworkPlan(
        goal=goal,
        problem=problem,
        candidates=list(candidates),
        optimal=solve(problem, goal, time_limit_s=time_limit_s),
        greedy=greedy(problem, goal),
        shortfalls=shortfalls(problem, goal),
        build_s=build_s,
        reach_m=reach.radius_m,
    )


def default_lattice_m(reach_m: float, cell_m: float) -> float:
    """The default candidate spacing: the largest whole number of cells not above the reach
    radius x sqrt(2), the widest square lattice whose discs still cover the plane.

    There discs overlap only near their rims and the covering program's LP relaxation is nearly
    integral, so HiGHS proves the optimum for high targets in seconds. Denser lattices (1-2 km
    for a 1.9 km reach) give the solver more freedom but a weak relaxation (discs tile the plane
    fractionally): in two minutes it then finds worse networks than on this one
    (docs/coverage.md)."""
    return max(cell_m, math.floor(math.sqrt(2.0) * reach_m / cell_m) * cell_m)
