"""The network plan: exact against greedy where greedy is provably suboptimal, demand weights,
the kept sites, the coverage model's own reach, and boroughs no plan can bring to target."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Polygon

from missions.airspace import Airspace
from missions.coverage import FlightModel, _site_distances, coverage, make_grid, site_positions
from missions.geo import LatLon
from missions.netplan import (
    Candidate,
    Goal,
    NetworkPlan,
    NetworkPlanError,
    Reach,
    build_problem,
    greedy,
    lattice_candidates,
    make_problem,
    plan_network,
    solve,
)
from missions.netplan_files import load_candidates, load_weights, planned_site_set
from missions.projection import LONDON_FRAME
from missions.sites import load_sites, parse_sites

pytestmark = pytest.mark.unit

TRIAL = FlightModel(cruise_speed_m_s=20.0)  # the Matrice 4TD: 1.95 km in two minutes


# --- the abstract program ----------------------------------------------------------------------


def classic() -> tuple[np.ndarray, list[str]]:
    """Six points; X = {0,1,2}, Y = {3,4,5}, Z = {0,1,3,4}: greedy takes Z (four points), then
    needs X and Y for the last two: three sets where X + Y do it in two."""
    cover = np.zeros((6, 3), dtype=int)
    cover[[0, 1, 2], 0] = 1
    cover[[3, 4, 5], 1] = 1
    cover[[0, 1, 3, 4], 2] = 1
    return cover, ["X", "Y", "Z"]


def test_greedy_is_suboptimal_and_the_solver_finds_the_optimum() -> None:
    cover, _ = classic()
    problem = make_problem(cover, np.ones(6), np.zeros(6, dtype=int), ["all"])
    goal = Goal(target=1.0, per_borough=False)
    g = greedy(problem, goal)
    assert g.chosen[0] == 2 and g.docks == 3
    s = solve(problem, goal, time_limit_s=10)
    assert s.status == "optimal" and sorted(s.chosen) == [0, 1] and s.gap <= 1e-6
    # and no single set covers everything: two is the optimum
    assert all(cover[:, j].sum() < 6 for j in range(3))


def test_k_docks_covering_the_most() -> None:
    cover, _ = classic()
    problem = make_problem(cover, np.ones(6), np.zeros(6, dtype=int), ["all"])
    goal = Goal(target=1.0, per_borough=False, docks=2)
    g, s = greedy(problem, goal), solve(problem, goal, time_limit_s=10)
    assert g.shares[-1] == pytest.approx(5 / 6)  # Z then X or Y
    assert s.shares[-1] == pytest.approx(1.0) and sorted(s.chosen) == [0, 1]


def test_per_group_targets_and_max_min_for_k_docks() -> None:
    # Two groups; candidate 0 serves group a well, 1 serves b, 2 serves a bit of both.
    cover = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 1], [0, 1, 0]])
    group = np.array([0, 0, 1, 1])
    problem = make_problem(cover, np.ones(4), group, ["a", "b"])
    s = solve(problem, Goal(target=0.5, per_borough=True), time_limit_s=10)
    assert s.chosen == [2]  # half of each with one dock
    s = solve(problem, Goal(target=1.0, per_borough=True, docks=1), time_limit_s=10)
    assert s.chosen == [2]  # the lowest group's share is highest with the shared one
    assert min(s.shares[:2]) == pytest.approx(0.5)


def test_max_docks_too_few_is_reported_not_silent() -> None:
    cover, _ = classic()
    problem = make_problem(cover, np.ones(6), np.zeros(6, dtype=int), ["all"])
    s = solve(problem, Goal(target=1.0, per_borough=False, max_docks=1), time_limit_s=10)
    assert s.status == "infeasible" and "--max-docks 1" in s.message and s.chosen == []


def test_bad_goals_are_refused() -> None:
    with pytest.raises(NetworkPlanError, match="target"):
        Goal(target=1.5)
    with pytest.raises(NetworkPlanError, match="target"):
        Goal(target=0.0)
    with pytest.raises(NetworkPlanError, match="docks"):
        Goal(docks=-1)


# --- a synthetic map: a strip where greedy takes the middle -----------------------------------


def strip_airspace(length_m: float, height_m: float = 200.0) -> Airspace:
    """A long thin operating area south of central London, no zones."""
    x0, y0 = -length_m / 2, -15_000.0
    ring = [(x0, y0), (x0 + length_m, y0), (x0 + length_m, y0 + height_m), (x0, y0 + height_m)]
    return Airspace(Polygon(LONDON_FRAME.xy_to_lonlat_array(ring)), [])


@pytest.fixture(scope="module")
def strip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Airspace, Path]:
    """Length 3.6 r; candidates at 0.9 r from each end and in the middle. The middle one reaches
    2 r of the strip, each end one 1.9 r: greedy takes the middle first and then needs both ends
    (three docks); the two end ones alone reach everything (two)."""
    r = (120.0 - TRIAL.fixed_s) * TRIAL.ground_speed_m_s
    length = 3.6 * r
    air = strip_airspace(length)
    path = tmp_path_factory.mktemp("strip") / "candidates.csv"
    y = -15_000.0 + 100.0
    rows = ["name,lat,lon,roof_alt_amsl_m"]
    for name, x in (
        ("west", -length / 2 + 0.9 * r),
        ("middle", 0.0),
        ("east", length / 2 - 0.9 * r),
    ):
        p = LONDON_FRAME.to_latlon(x, y)
        rows.append(f"{name},{p.lat_deg!r},{p.lon_deg!r},41.5")
    path.write_text("\n".join(rows) + "\n")
    return air, path


def test_synthetic_map_greedy_is_provably_suboptimal(strip: tuple[Airspace, Path]) -> None:
    air, path = strip
    grid = make_grid(air, 100.0)
    reach = Reach(grid, TRIAL, 120.0, air)
    cands, info = load_candidates(path, air)
    assert [c.name for c in cands] == ["west", "middle", "east"] and info.count == 3
    assert cands[0].roof_alt_amsl_m == 41.5
    cells = [set(reach.cells(c.position).tolist()) for c in cands]
    area = set(np.flatnonzero(grid.in_area.ravel()).tolist())
    # Proof by enumeration: no single candidate covers the strip, the two ends do.
    assert all(not area <= cells[j] for j in range(3))
    assert area <= cells[0] | cells[2]
    assert len(cells[1]) > max(len(cells[0]), len(cells[2]))  # greedy's first pick is the middle
    plan = plan_network(reach, cands, Goal(target=1.0, per_borough=False))
    assert plan.greedy.docks == 3 and plan.greedy.chosen[0] == 1
    assert plan.optimal.docks == 2 and sorted(plan.optimal.chosen) == [0, 2]
    assert plan.optimal.status == "optimal" and plan.optimal.gap <= 0.01
    assert plan.optimal.shares[-1] == pytest.approx(1.0)
    # K = 2: the solver covers all of it, greedy (middle + one end) does not.
    plan2 = plan_network(reach, cands, Goal(target=1.0, per_borough=False, docks=2))
    assert plan2.optimal.shares[-1] == pytest.approx(1.0)
    assert plan2.greedy.shares[-1] < 0.9


def test_demand_weights_move_the_plan(strip: tuple[Airspace, Path], tmp_path: Path) -> None:
    air, path = strip
    grid = make_grid(air, 100.0)
    reach = Reach(grid, TRIAL, 120.0, air)
    cands, _ = load_candidates(path, air)
    # All the calls come from the east end: one dock there serves them all.
    r = reach.radius_m
    east = [LONDON_FRAME.to_latlon(1.6 * r + dx, -15_000.0 + 100.0) for dx in (-100.0, 0.0, 50.0)]
    weights_file = tmp_path / "calls.csv"
    weights_file.write_text(
        "lat,lon,weight\n"
        + "".join(
            f"{p.lat_deg!r},{p.lon_deg!r},{w}\n" for p, w in zip(east, (1, 2, 3), strict=True)
        )
        + "51.9,-0.1,5\n"  # outside London: dropped
    )
    w, info = load_weights(weights_file, grid)
    assert w.sum() == pytest.approx(6.0) and info.count == 3 and info.dropped["outside_area"] == 1
    plan = plan_network(reach, cands, Goal(target=1.0, per_borough=False), weights=w)
    assert [cands[j].name for j in plan.optimal.chosen] == ["east"]
    assert plan.greedy.docks == 1 and plan.optimal.shares[-1] == pytest.approx(1.0)


def test_polygon_weights_spread_over_their_cells(
    strip: tuple[Airspace, Path], tmp_path: Path
) -> None:
    air, _ = strip
    grid = make_grid(air, 100.0)
    x0 = grid.x0
    ring = [(x0, -16_000.0), (x0 + 1000.0, -16_000.0), (x0 + 1000.0, -14_000.0), (x0, -14_000.0)]
    lonlat = LONDON_FRAME.xy_to_lonlat_array(ring).tolist()
    feature = {
        "type": "Feature",
        "properties": {"weight": 100},
        "geometry": {"type": "Polygon", "coordinates": [[*lonlat, lonlat[0]]]},
    }
    f = tmp_path / "ward.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    w, _ = load_weights(f, grid)
    assert w.sum() == pytest.approx(100.0)
    assert np.count_nonzero(w) == 20  # 10 columns x 2 rows of the strip
    assert w[:, 10:].sum() == 0


def test_bad_files_say_why(tmp_path: Path, airspace: Airspace) -> None:
    grid = make_grid(airspace, 1000.0)
    bad = tmp_path / "c.csv"
    bad.write_text("name,x,y\na,1,2\n")
    with pytest.raises(NetworkPlanError, match="lat and lon"):
        load_candidates(bad, airspace)
    bad.write_text("lat,lon\n51.5,not-a-number\n")
    with pytest.raises(NetworkPlanError, match="not a number"):
        load_candidates(bad, airspace)
    bad.write_text("lat,lon\n51.47,-0.4543\n52.5,-0.1\n")  # Heathrow, then Northamptonshire
    with pytest.raises(NetworkPlanError, match=r"no usable candidate.*nofly.*outside_area"):
        load_candidates(bad, airspace)
    w = tmp_path / "w.csv"
    w.write_text("lat,lon,weight\n51.5,-0.12,-3\n")
    with pytest.raises(NetworkPlanError, match="negative"):
        load_weights(w, grid)
    g = tmp_path / "w.geojson"
    g.write_text("{not json")
    with pytest.raises(NetworkPlanError, match="not valid JSON"):
        load_weights(g, grid)
    with pytest.raises(NetworkPlanError, match="cannot read"):
        load_weights(tmp_path / "missing.csv", grid)


# --- London: the coverage model's reach, kept sites, unreachable boroughs ----------------------


def test_reach_is_the_coverage_models(airspace: Airspace) -> None:
    """Reach.cells is exactly the cells coverage() puts within 120 s, including routes around
    a zone (a site by Heathrow) and cells blocked by it."""
    grid = make_grid(airspace, 250.0)
    reach = Reach(grid, TRIAL, 120.0, airspace)
    for p in (LatLon(51.5, -0.12), LatLon(51.4985, -0.43), LatLon(51.52, 0.03)):
        xy = np.array(airspace.frame.to_xy(*p))
        t = TRIAL.time_s(_site_distances(airspace, grid, xy)).ravel()
        assert set(np.flatnonzero(t <= 120.0).tolist()) == set(reach.cells(p).tolist())


@pytest.fixture(scope="module")
def london_plan(airspace: Airspace) -> tuple[Reach, NetworkPlan]:
    grid = make_grid(airspace, 500.0)
    reach = Reach(grid, TRIAL, 120.0, airspace)
    cands = lattice_candidates(grid, 3000.0)
    kept = site_positions(load_sites("met-trial"))
    plan = plan_network(reach, cands, Goal(target=0.8, per_borough=True), kept=kept)
    return reach, plan


def test_london_every_borough_or_the_reason(london_plan: tuple[Reach, NetworkPlan]) -> None:
    _, plan = london_plan
    names = [*plan.problem.group_names, "Greater London"]
    short = {s.group: s for s in plan.shortfalls}
    assert "Hillingdon" in short and "Heathrow FRZ" in short["Hillingdon"].zones
    assert "no-fly" in short["Hillingdon"].reason and short["Hillingdon"].max_share < 0.8
    assert plan.optimal.status == "optimal" and plan.optimal.gap <= 0.01
    for k, name in enumerate(names[:-1]):
        want = short[name].max_share if name in short else 0.8
        assert plan.optimal.shares[k] >= want - 1e-6, name
        assert plan.greedy.shares[k] >= want - 1e-6, name
    assert plan.optimal.docks <= plan.greedy.docks


def test_planned_site_set_reproduces_the_planned_shares(
    london_plan: tuple[Reach, NetworkPlan], airspace: Airspace, tmp_path: Path
) -> None:
    """coverage() of the written site set gives back the plan's shares: one model."""
    _, plan = london_plan
    kept = load_sites("met-trial")
    chosen = plan.chosen(plan.optimal)
    raw = planned_site_set(kept, chosen, ["Camden"] * len(chosen), name="t", description="d")
    path = tmp_path / "planned.json"
    path.write_text(json.dumps(raw))
    site_set = load_sites(str(path))
    assert len(site_set.sites) == 3 + len(chosen)
    assert len(site_set.docks) == 9 + len(chosen)
    two = planned_site_set(kept, chosen[:4], [""] * 4, name="t", description="", docks_per_site=2)
    assert len(parse_sites(two).docks) == 9 + 8
    assert site_set.cruise_speed_m_s == 20.0 and site_set.sites[0].docks[0].dock_id == "islington-1"
    assert site_set.sites[3].roof_alt_amsl_m == 30.0 and site_set.sites[3].site_id == "plan-001"
    result = coverage(site_set, airspace, cell_m=500.0)
    boroughs = result.borough_stats()
    for k, name in enumerate(plan.problem.group_names):
        assert boroughs[name]["within_120s"] == pytest.approx(plan.optimal.shares[k], abs=1e-4)
    assert result.london_stats()["within_120s"] == pytest.approx(plan.optimal.shares[-1], abs=1e-4)


def test_planned_site_set_refuses_more_than_250_drones() -> None:
    kept = parse_sites({"sites": []})
    many = [Candidate(f"c{k}", 51.5, -0.1 + k * 1e-4) for k in range(130)]
    with pytest.raises(NetworkPlanError, match="250"):
        planned_site_set(kept, many, [""] * 130, name="x", description="", docks_per_site=2)


def test_no_candidates_is_an_error(airspace: Airspace) -> None:
    grid = make_grid(airspace, 1000.0)
    with pytest.raises(NetworkPlanError, match="no candidate"):
        build_problem(Reach(grid, TRIAL, 120.0, airspace), [])


def test_every_candidate_combination_checked_on_a_small_london_case(airspace: Airspace) -> None:
    """Brute force over all subsets of eight candidates around Islington: the solver's count is
    the true minimum for 95 % of Islington."""
    grid = make_grid(airspace, 500.0)
    reach = Reach(grid, TRIAL, 120.0, airspace)
    centre = airspace.frame.to_xy(51.546, -0.106)
    cands = [
        Candidate(f"c{k}", *airspace.frame.to_latlon(centre[0] + dx, centre[1] + dy))
        for k, (dx, dy) in enumerate(itertools.product((-1500.0, 0.0, 1500.0), (-1500.0, 1500.0)))
    ] + [
        Candidate("n", *airspace.frame.to_latlon(centre[0], centre[1] + 2500.0)),
        Candidate("s", *airspace.frame.to_latlon(centre[0], centre[1] - 2500.0)),
    ]
    problem = build_problem(reach, cands)
    k = problem.group_names.index("Islington")
    goal = Goal(target=0.95, per_borough=True)
    best = min(
        (
            len(sub)
            for n in range(len(cands) + 1)
            for sub in itertools.combinations(range(8), n)
            if problem.shares(list(sub))[k] >= min(0.95, problem.max_share()[k]) - 1e-9
            and all(
                problem.shares(list(sub))[j] >= min(0.95, problem.max_share()[j]) - 1e-9
                for j in range(len(problem.group_names))
                if problem.total[j] > 0
            )
        ),
    )
    assert solve(problem, goal, time_limit_s=30).docks == best
