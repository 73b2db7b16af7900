"""Dispatch: incident received -> launch decided, with every gate and the airspace route checks.

    python -m bench.bench_dispatch [--docks 33 250 1000] [--incidents 300]

Synthetic fleets of N docks spread over Greater London (outside the no-fly zones), random
incidents inside London; each decision runs ``dispatch.choose`` over every drone, with the
London airspace (FRZs and operating area) checking each candidate's route. Figures: p50/p99 per
decision.
"""

from __future__ import annotations

import argparse
import random
import time

from bench.common import Figure, percentile
from groundstation.core.dispatch import Candidate, FlightModel, choose
from missions.airspace import Airspace

TARGETS_MS = {33: 20.0, 1000: 200.0}


def fleet(n: int, airspace: Airspace, rng: random.Random) -> list[Candidate]:
    out: list[Candidate] = []
    while len(out) < n:
        lat, lon = rng.uniform(51.30, 51.68), rng.uniform(-0.50, 0.32)
        if airspace.check_point(lat, lon) is not None:
            continue
        out.append(
            Candidate(
                drone_id=f"d{len(out)}",
                dock_id=f"k{len(out)}",
                lat_deg=lat,
                lon_deg=lon,
                dock_lat_deg=lat,
                dock_lon_deg=lon,
                battery_pct=rng.uniform(60, 100),
                connected=True,
                gps_ok=True,
                satellites=12,
                armable=True,
                dock_reason=None,
                wind_m_s=rng.uniform(0, 8),
            )
        )
    return out


def measure(n: int, incidents: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    airspace = Airspace.load_default()
    cands = fleet(n, airspace, rng)
    model = FlightModel()
    times: list[float] = []
    done = 0
    while done < incidents:
        lat, lon = rng.uniform(51.35, 51.65), rng.uniform(-0.45, 0.25)
        t0 = time.perf_counter()
        if airspace.check_point(lat, lon) is not None:
            continue
        choose(lat, lon, 2, cands, model, airspace)
        times.append((time.perf_counter() - t0) * 1000)
        done += 1
    return times


def figures(docks: list[int], incidents: int) -> list[Figure]:
    out: list[Figure] = []
    for n in docks:
        times = measure(n, incidents)
        p99 = percentile(times, 99)
        target = TARGETS_MS.get(n)
        out.append(
            Figure(
                f"dispatch decision p99, {n} docks",
                round(p99, 3),
                "ms",
                f"<= {target:g} ms" if target else "-",
                p99 <= target if target else None,
                note=f"p50 {percentile(times, 50):.3f} ms over {len(times)} incidents",
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docks", type=int, nargs="+", default=[33, 250, 1000])
    p.add_argument("--incidents", type=int, default=300)
    args = p.parse_args(argv)
    for f in figures(args.docks, args.incidents):
        print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
