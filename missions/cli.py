"""Entry points the ``groundstation`` CLI wires in: ``coverage`` and ``mission``.

    coverage --sites NAME|FILE [--png OUT] [--json] [--optimise K] [--cell-m M] [--wind-m-s W]
    mission import PLAN [--json]
    mission export IN.json OUT.plan

``mission import --json`` prints the normalised plan as JSON; ``mission export`` reads that JSON
(or a .plan) and writes a QGroundControl .plan file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from missions.plan import (
    ComplexItem,
    Plan,
    PlanError,
    item_to_json,
    load_plan,
    parse_plan,
    plan_to_json,
    save_plan,
)
from missions.sites import SiteSetError, load_sites


def coverage_main(argv: list[str]) -> int:
    """``coverage``: time-to-scene statistics (and optionally a PNG) for a site set."""
    parser = argparse.ArgumentParser(prog="coverage", description=coverage_main.__doc__)
    parser.add_argument("--sites", required=True, help="built-in site set name or JSON file")
    parser.add_argument("--png", type=Path, help="write the heat map here")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.add_argument("--optimise", type=int, default=0, metavar="K", help="add K sites")
    parser.add_argument(
        "--optimise-for",
        action="append",
        default=[],
        metavar="BOROUGH",
        help="place the K sites for this borough (repeatable; default all of London)",
    )
    parser.add_argument("--cell-m", type=float, default=250.0)
    parser.add_argument("--wind-m-s", type=float, default=0.0, help="headwind on every leg")
    parser.add_argument(
        "--cruise-m-s", type=float, help="another aircraft's cruise speed (default: the site set's)"
    )
    parser.add_argument(
        "--launch-s", type=float, default=16.0, help="dock open and take-off (default 16 s)"
    )
    args = parser.parse_args(argv)
    if args.optimise_for and not args.optimise:
        print("coverage: --optimise-for needs --optimise K", file=sys.stderr)
        return 2
    from missions.coverage import coverage, optimise

    try:
        sites = load_sites(args.sites)
        kwargs: dict[str, Any] = {
            "cell_m": args.cell_m,
            "wind_m_s": args.wind_m_s,
            "cruise_m_s": args.cruise_m_s,
            "launch_s": args.launch_s,
        }
        result = (
            optimise(sites, args.optimise, boroughs=args.optimise_for, **kwargs)
            if args.optimise
            else coverage(sites, **kwargs)
        )
    except (SiteSetError, ValueError) as exc:
        print(f"coverage: {exc}", file=sys.stderr)
        return 2
    data = result.to_json()
    if args.png:
        from missions.render import render_png

        render_png(result, args.png)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        key = f"within_{result.threshold_s:g}s"
        print(f"{data['site_set']}: {data['sites']} sites")
        print(f"{'borough':<24} {key:>12} {'median_s':>9}")
        for name, st in sorted(data["boroughs"].items()):
            med = "-" if st["median_s"] is None else f"{st['median_s']:.0f}"
            print(f"{name:<24} {st[key]:>12.1%} {med:>9}")
        lon = data["london"]
        med = "-" if lon["median_s"] is None else f"{lon['median_s']:.0f}"
        print(f"{'Greater London':<24} {lon[key]:>12.1%} {med:>9}")
        if "optimise" in data:
            opt = data["optimise"]
            where = ", ".join(opt["for"])
            print(
                f"optimise for {where}: added {opt['added']}, "
                f"{opt['before']:.1%} -> {opt['after']:.1%}"
            )
        if args.png:
            print(f"wrote {args.png}")
    return 0


def plan_summary_json(plan: Plan) -> dict[str, Any]:
    """The JSON ``mission import --json`` prints: items, geofence, rally, home, types."""
    full = plan_to_json(plan)
    return {
        "items": [item_to_json(i) for i in plan.items],
        "geofence": full["geoFence"],
        "rally": full["rallyPoints"],
        "home": None
        if plan.home is None
        else [plan.home.lat_deg, plan.home.lon_deg, plan.home.alt_amsl_m],
        "firmware_type": plan.firmware_type,
        "vehicle_type": plan.vehicle_type,
        "complex_items": [i.complex_type for i in plan.items if isinstance(i, ComplexItem)],
        "plan": full,
    }


def _plan_from_json(raw: Any) -> Plan:
    if isinstance(raw, dict) and raw.get("fileType") == "Plan":
        return parse_plan(raw)
    if isinstance(raw, dict) and isinstance(raw.get("plan"), dict):
        return parse_plan(raw["plan"])
    if isinstance(raw, dict) and isinstance(raw.get("items"), list):
        home = raw.get("home")
        mission: dict[str, Any] = {
            "items": raw["items"],
            "firmwareType": raw.get("firmware_type", 12),
            "vehicleType": raw.get("vehicle_type", 2),
            "version": 2,
        }
        if home is not None:
            mission["plannedHomePosition"] = home
        return parse_plan(
            {
                "fileType": "Plan",
                "geoFence": raw.get("geofence") or {"circles": [], "polygons": [], "version": 2},
                "groundStation": "QGroundControl",
                "mission": mission,
                "rallyPoints": raw.get("rally") or {"points": [], "version": 2},
                "version": 1,
            }
        )
    raise PlanError("expected a .plan JSON or the output of 'mission import --json'")


def mission_main(argv: list[str]) -> int:
    """``mission import PLAN [--json]`` and ``mission export IN.json OUT.plan``."""
    parser = argparse.ArgumentParser(prog="mission", description=mission_main.__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    imp = sub.add_parser("import", help="read a QGroundControl .plan")
    imp.add_argument("plan", type=Path)
    imp.add_argument("--json", action="store_true")
    exp = sub.add_parser("export", help="write a QGroundControl .plan")
    exp.add_argument("input", type=Path)
    exp.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.verb == "import":
            plan = load_plan(args.plan)
            if args.json:
                print(json.dumps(plan_summary_json(plan), indent=2))
            else:
                print(
                    f"{args.plan}: {len(plan.items)} items, "
                    f"{len(plan.geofence.polygons)} fence polygons, "
                    f"{len(plan.geofence.circles)} fence circles, {len(plan.rally)} rally points"
                )
            return 0
        raw = json.loads(args.input.read_text(encoding="utf-8"))
        save_plan(_plan_from_json(raw), args.output)
        print(f"wrote {args.output}")
        return 0
    except (OSError, json.JSONDecodeError, PlanError) as exc:
        print(f"mission: {exc}", file=sys.stderr)
        return 2


def _plan_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groundstation plan",
        description="The fewest docks (or, with --docks K, the K docks covering the most) so that "
        "every borough (--per-borough) or London as a whole reaches a target share within the "
        "threshold, solved exactly (HiGHS) next to the greedy answer. See docs/coverage.md.",
    )
    p.add_argument("--target", type=float, default=0.8, help="share to reach (default 0.8)")
    p.add_argument("--per-borough", action="store_true", help="the target holds in every borough")
    p.add_argument("--docks", type=int, metavar="K", help="place K docks covering the most")
    p.add_argument("--max-docks", type=int, metavar="N", help="give up above N new docks")
    p.add_argument(
        "--sites", default="met-trial", help="site set kept (name or JSON file; 'none' for none)"
    )
    p.add_argument("--candidates", type=Path, help="candidate sites (GeoJSON or CSV points)")
    p.add_argument(
        "--lattice-m", type=float, help="candidate lattice spacing (default 1.5 x the reach)"
    )
    p.add_argument("--weights", type=Path, help="demand weights (GeoJSON or CSV); default area")
    p.add_argument("--cell-m", type=float, default=250.0)
    p.add_argument("--threshold-s", type=float, default=120.0)
    p.add_argument(
        "--cruise-m-s", type=float, help="aircraft cruise speed (default the site set's)"
    )
    p.add_argument("--launch-s", type=float, default=16.0, help="dock open and take-off")
    p.add_argument("--wind-m-s", type=float, default=0.0, help="headwind on every leg")
    p.add_argument("--time-limit", type=float, default=110.0, help="solver time limit, seconds")
    p.add_argument("--docks-per-site", type=int, default=1, help="docks on each new site")
    p.add_argument("--roof-alt-m", type=float, default=30.0, help="roof altitude AMSL of new sites")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--png", type=Path, help="write the coverage map of the optimal network")
    p.add_argument("--out-sites", type=Path, help="write the optimal network as a site set")
    return p


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _check_plan_args(args: argparse.Namespace) -> None:
    """Refuse bad options with the reason (NetworkPlanError)."""
    import math

    from missions.netplan import NetworkPlanError

    checks = [
        (
            args.docks is not None and args.max_docks is not None,
            "--docks K and --max-docks N do not go together",
        ),
        (
            args.out_sites is not None and args.out_sites.suffix != ".json",
            f"--out-sites {args.out_sites}: must end in .json (load_sites reads it)",
        ),
        (
            not (math.isfinite(args.cell_m) and 25.0 <= args.cell_m <= 2000.0),
            f"--cell-m {args.cell_m}: must be 25-2000 m",
        ),
        (
            not (math.isfinite(args.time_limit) and args.time_limit > 0),
            f"--time-limit {args.time_limit}: must be positive",
        ),
        (
            args.cruise_m_s is not None
            and not (math.isfinite(args.cruise_m_s) and 1.0 <= args.cruise_m_s <= 60.0),
            f"--cruise-m-s {args.cruise_m_s}: must be 1-60 m/s",
        ),
        (
            not (math.isfinite(args.launch_s) and 0.0 <= args.launch_s <= 600.0),
            f"--launch-s {args.launch_s}: must be 0-600 s",
        ),
        (
            not (math.isfinite(args.wind_m_s) and args.wind_m_s >= 0),
            f"--wind-m-s {args.wind_m_s}: must be zero or positive",
        ),
        (
            not (math.isfinite(args.threshold_s) and 0 < args.threshold_s <= 3600),
            f"--threshold-s {args.threshold_s}: must be in (0, 3600]",
        ),
        (
            args.lattice_m is not None
            and not (math.isfinite(args.lattice_m) and args.lattice_m > 0),
            f"--lattice-m {args.lattice_m}: must be positive",
        ),
    ]
    for bad, why in checks:
        if bad:
            raise NetworkPlanError(why)


def _borough_at(grid: Any, lat_deg: float, lon_deg: float) -> str:
    x, y = grid.frame.to_xy(lat_deg, lon_deg)
    i = min(grid.nx - 1, max(0, int((x - grid.x0) // grid.cell_m)))
    j = min(grid.ny - 1, max(0, int((y - grid.y0) // grid.cell_m)))
    k = int(grid.borough[j, i])
    return str(grid.borough_names[k]) if k >= 0 else ""


def _run_plan(args: argparse.Namespace) -> tuple[dict[str, Any], Any, dict[str, Any] | None]:
    """Build, solve and describe the plan: (JSON, the coverage inputs, the site-set JSON)."""
    from missions.airspace import Airspace
    from missions.coverage import FlightModel, make_grid, site_positions
    from missions.netplan import (
        Goal,
        Reach,
        default_lattice_m,
        lattice_candidates,
        plan_network,
    )
    from missions.netplan_files import load_candidates, load_weights, planned_site_set
    from missions.sites import SiteSet

    _check_plan_args(args)
    goal = Goal(args.target, args.per_borough, args.docks, args.max_docks)
    kept = (
        SiteSet("none", "no kept sites", (), cruise_speed_m_s=20.0)
        if args.sites == "none"
        else load_sites(args.sites)
    )
    cruise = kept.cruise_speed_m_s if args.cruise_m_s is None else args.cruise_m_s
    air = Airspace.load_default()
    grid = make_grid(air, args.cell_m)
    model = FlightModel(
        launch_s=args.launch_s,
        cruise_alt_rel_m=kept.cruise_alt_rel_m,
        cruise_speed_m_s=cruise,
        wind_m_s=args.wind_m_s,
    )
    reach = Reach(grid, model, args.threshold_s, air)
    if args.candidates is not None:
        candidates, cand_info = load_candidates(args.candidates, air)
        cand_json = cand_info.to_json()
    else:
        step = args.lattice_m or default_lattice_m(reach.radius_m, grid.cell_m)
        candidates = lattice_candidates(grid, step)
        cand_json = {"source": f"lattice {step:g} m", "count": len(candidates), "dropped": {}}
    weights = None
    demand_json: dict[str, Any] = {"source": "area", "count": int(grid.in_area.sum())}
    if args.weights is not None:
        weights, w_info = load_weights(args.weights, grid)
        demand_json = w_info.to_json()
    plan = plan_network(
        reach,
        candidates,
        goal,
        kept=site_positions(kept),
        weights=weights,
        time_limit_s=args.time_limit,
    )
    data = plan.to_json()
    data.update(
        site_set=kept.name,
        kept_sites=len(kept.sites),
        cell_m=grid.cell_m,
        threshold_s=args.threshold_s,
        model={
            "launch_s": model.launch_s,
            "climb_m_s": model.climb_m_s,
            "cruise_speed_m_s": model.cruise_speed_m_s,
            "wind_m_s": model.wind_m_s,
        },
        candidate_source=cand_json,
        demand=demand_json,
    )
    chosen = plan.chosen(plan.optimal)
    out_raw = None
    if args.out_sites is not None and chosen:
        what = (
            f"{args.docks} docks covering the most"
            if args.docks is not None
            else f"{args.target:.0%} of {'every borough' if args.per_borough else 'London'}"
        )
        out_raw = planned_site_set(
            kept,
            chosen,
            [_borough_at(grid, c.lat_deg, c.lon_deg) for c in chosen],
            name=args.out_sites.stem,
            description=(
                f"groundstation plan: {kept.name} kept plus {len(chosen)} new sites for "
                f"{what} within {args.threshold_s:g} s ({cruise:g} m/s, launch "
                f"{args.launch_s:g} s, {args.cell_m:g} m cells, demand "
                f"{demand_json['source']}, candidates {cand_json['source']}). New sites "
                f"without a roof altitude in the candidate file get {args.roof_alt_m:g} m AMSL."
            ),
            docks_per_site=args.docks_per_site,
            roof_alt_amsl_m=args.roof_alt_m,
        )
    return data, (kept, air, cruise, [c.position for c in chosen]), out_raw


def plan_main(argv: list[str]) -> int:
    """``plan``: the dock network for a coverage target (missions.netplan)."""
    import time

    from missions.netplan import NetworkPlanError

    args = _plan_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        data, (kept, air, cruise, added), out_raw = _run_plan(args)
    except (SiteSetError, NetworkPlanError, ValueError) as exc:
        print(f"plan: {exc}", file=sys.stderr)
        return 2
    if out_raw is not None:
        args.out_sites.write_text(json.dumps(out_raw, indent=1) + "\n", encoding="utf-8")
        data["out_sites"] = str(args.out_sites)
    if args.png is not None:
        from missions.coverage import coverage
        from missions.render import render_png

        result = coverage(
            kept,
            air,
            cell_m=args.cell_m,
            wind_m_s=args.wind_m_s,
            launch_s=args.launch_s,
            threshold_s=args.threshold_s,
            cruise_m_s=cruise,
            extra_sites=added,
        )
        result.added = tuple(added)
        render_png(result, args.png)
        data["png"] = str(args.png)
    data["wall_s"] = round(time.perf_counter() - start, 2)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_plan(data)
    if data["optimal"]["status"] == "infeasible":
        print(f"plan: {data['optimal']['message']}", file=sys.stderr)
        return 1
    return 0


def _print_plan(d: dict[str, Any]) -> None:
    opt, gr = d["optimal"], d["greedy"]
    scope = "every borough" if d["per_borough"] else "Greater London"
    ask = (
        f"{d['docks_asked']} new docks covering the most of {scope}"
        if d["docks_asked"] is not None
        else f"{d['target']:.0%} of {scope}"
    )
    print(
        f"plan: {ask} within {d['threshold_s']:g} s; aircraft {d['model']['cruise_speed_m_s']:g} "
        f"m/s, launch {d['model']['launch_s']:g} s (reach {d['reach_m'] / 1000:.2f} km); "
        f"kept {d['site_set']} ({d['kept_sites']} sites)"
    )
    print(
        f"  {d['cell_m']:g} m cells, demand {d['demand']['source']}, "
        f"{d['candidates']} candidates ({d['candidate_source']['source']}), "
        f"{d['demand_points']} demand points; built in {d['build_s']:.1f} s"
    )
    gap = "-" if opt["gap"] is None else f"{opt['gap']:.2%}"
    print(
        f"optimal: {opt['docks']} docks, gap {gap} ({opt['status']}, bound {opt['bound']}), "
        f"solved in {opt['solve_s']:.1f} s"
    )
    if opt["message"] and opt["status"] != "optimal":
        print(f"  {opt['message']}")
    print(f"greedy:  {gr['docks']} docks ({gr['docks'] - opt['docks']:+d} against optimal)")
    if gr["message"]:
        print(f"  {gr['message']}")
    print(
        f"lowest borough: optimal {_pct(opt['lowest_borough'])}, greedy "
        f"{_pct(gr['lowest_borough'])}; Greater London: optimal {_pct(opt['london'])}, greedy "
        f"{_pct(gr['london'])}"
    )
    for u in d["unreachable"]:
        print(f"cannot reach {d['target']:.0%}: {u['reason']}")
    if d["per_borough"] or d["docks_asked"] is not None:
        print(f"{'borough':<24} {'optimal':>8} {'greedy':>8}")
        for name, share in sorted(opt["boroughs"].items()):
            print(f"{name:<24} {share:>8.1%} {gr['boroughs'].get(name, 0.0):>8.1%}")
    if "out_sites" in d:
        print(f"wrote {d['out_sites']}")
    if "png" in d:
        print(f"wrote {d['png']}")
