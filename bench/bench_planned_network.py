"""A planned network flown: ``groundstation plan`` for London, then ``groundstation demo`` on it.

    python -m bench.bench_planned_network [--target 0.8] [--incidents 2] [--speedup 10]

Plans the docks for the target share of every borough within two minutes (250 m cells; the
trial's sites kept), writes the site set, and flies the demo on it headless (one simulated drone
per dock, the simulated docks, the controller, and mosquitto when installed), as a user runs
them. Figures: the plan's docks, the demo's incidents flown, its wall time and the CPU of the
demo and its children (simulator, broker). A whole flight takes about a minute of a loaded
2-core machine, so it is measured here and in docs/coverage.md, not in the test suite.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Figure

ROOT = Path(__file__).resolve().parents[1]


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def plan(target: float, out: Path) -> tuple[int, float]:
    """The optimal number of docks and the solver's gap (%), with the site set written."""
    proc = subprocess.run(
        [sys.executable, "-m", "groundstation", "plan", "--target", str(target), "--per-borough",
         "--out-sites", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, check=False,
    )  # fmt: skip
    m = re.search(r"optimal: (\d+) docks, gap ([\d.]+)%", proc.stdout)
    if proc.returncode != 0 or m is None:
        raise SystemExit(f"plan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return int(m.group(1)), float(m.group(2))


def fly(sites: Path, incidents: int, speedup: float) -> tuple[dict[str, object], int, float, float]:
    """The demo's summary, exit code, wall seconds and CPU seconds (demo and children)."""
    cpu0, t0 = children_cpu_s(), time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "groundstation", "demo", "--headless", "--sites", str(sites),
         "--incidents", str(incidents), "--speedup", str(speedup), "--seed", "1",
         "--on-scene", "5", "--no-video", "--timeout", "600"],
        capture_output=True, text=True, cwd=ROOT, timeout=900, check=False,
    )  # fmt: skip
    wall, cpu = time.monotonic() - t0, children_cpu_s() - cpu0
    lines = proc.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        summary = {}
    if not isinstance(summary, dict) or proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    return summary, proc.returncode, wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_planned_network", description=__doc__)
    p.add_argument("--target", type=float, default=0.8)
    p.add_argument("--incidents", type=int, default=2)
    p.add_argument("--speedup", type=float, default=10.0)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dfr-bench-plan-") as tmp:
        sites = Path(tmp) / "plan.json"
        docks, gap = plan(args.target, sites)
        summary, rc, wall, cpu = fly(sites, args.incidents, args.speedup)
    completed = summary.get("completed", 0)
    flown = isinstance(completed, int) and completed == args.incidents and rc == 0
    figures = [
        Figure("planned docks", docks, "docks", "gap <= 1 %", gap <= 1.0, note=f"gap {gap:g} %"),
        Figure("incidents flown and closed", completed if isinstance(completed, int) else 0,
               "incidents", f"== {args.incidents}, exit 0", flown, note=f"exit {rc}"),
        Figure("demo wall time", round(wall, 1), "s", "-", None,
               note=f"speedup {args.speedup:g}, demo's own {summary.get('wall_s')} s of flying"),
        Figure("demo CPU (with simulator and broker)", round(cpu, 1), "s", "-", None,
               note=f"{100 * cpu / wall:.0f} % of one core on average"),
    ]
    for f in figures:
        print(f.line())
    return 0 if flown else 1


if __name__ == "__main__":
    sys.exit(main())
