"""Microbenchmarks for the dispatcher's hot calls: ``python -m bench.bench_missions``."""

from __future__ import annotations

import time

from missions.airspace import Airspace
from missions.sites import load_sites


def _per_call_us(fn: object, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / n * 1e6


def main() -> int:
    air = Airspace.load_default()
    docks = load_sites("london").docks
    incident = (51.5095, -0.1252)  # the West End
    n = 2000

    def every_dock() -> None:
        for d in docks:
            air.check_route(d.lat_deg, d.lon_deg, *incident)

    clear = _per_call_us(lambda: air.check_route(51.5339, -0.1087, *incident), n)
    blocked = _per_call_us(lambda: air.check_route(51.5200, 0.0000, 51.4900, 0.1200), n)
    point = _per_call_us(lambda: air.check_point(*incident), n)
    all_docks = _per_call_us(every_dock, 50)
    detour = _per_call_us(lambda: air.plan_route(51.5200, 0.0000, 51.4900, 0.1200), 200)
    print(f"check_point           {point:8.1f} us")
    print(f"check_route (clear)   {clear:8.1f} us")
    print(f"check_route (zone)    {blocked:8.1f} us")
    print(f"check_route x{len(docks)} docks {all_docks:8.1f} us per incident")
    print(f"plan_route (detour)   {detour:8.1f} us")

    from missions.coverage import coverage

    start = time.perf_counter()
    coverage(load_sites("london"), air)
    print(f"coverage london 250 m {time.perf_counter() - start:8.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
