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
