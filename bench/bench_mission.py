"""Mission upload: 10, 100 and 200 items to the simulator through MAVSDK's MissionRaw.

    python -m bench.bench_mission [--items 10 100 200]

A real MAVSDK client, the simulator on loopback, the MISSION_COUNT / MISSION_REQUEST_INT /
MISSION_ITEM_INT / MISSION_ACK exchange; the figure is the wall time of ``upload_mission``,
best of three.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import groundstation.adapters.mavsdk_link  # noqa: F401  (routes MAVSDK's own log lines to logging)
from bench.common import Figure
from groundstation.adapters.broker import free_udp_range
from missions.geo import offset
from sitl import Home, SimFleet

HOME = Home(51.5072, -0.1276, 30.0)


async def measure(counts: list[int]) -> dict[int, float]:
    from mavsdk import ComponentType, Configuration, Mavsdk
    from mavsdk.plugins.mission_raw import MissionItem, MissionRaw

    base = free_udp_range(1)
    out: dict[int, float] = {}
    async with SimFleet([HOME], base_port=base):
        loop = asyncio.get_running_loop()
        m = Mavsdk(Configuration.create_with_component_type(ComponentType.GROUND_STATION))
        try:
            await loop.run_in_executor(None, m.add_any_connection, f"udpin://0.0.0.0:{base}")
            system = await loop.run_in_executor(None, m.first_autopilot, 10.0)
            mission = MissionRaw(system)
            for n in counts:
                items = []
                for i in range(n):
                    p = offset(HOME.lat_deg, HOME.lon_deg, 10.0 * (i % 20), 10.0 * (i // 20))
                    items.append(
                        MissionItem(
                            seq=i,
                            frame=3,
                            command=16 if i else 22,
                            current=int(i == 0),
                            autocontinue=1,
                            param1=0.0,
                            param2=2.0,
                            param3=0.0,
                            param4=float("nan"),
                            x=round(p.lat_deg * 1e7),
                            y=round(p.lon_deg * 1e7),
                            z=30.0,
                            mission_type=0,
                        )
                    )
                best = float("inf")
                for _ in range(3):
                    t0 = time.perf_counter()
                    await loop.run_in_executor(None, mission.upload_mission, items)
                    best = min(best, time.perf_counter() - t0)
                out[n] = best
        finally:
            await loop.run_in_executor(None, m.destroy)
    return out


def figures(counts: list[int]) -> list[Figure]:
    times = asyncio.run(measure(counts))
    return [
        Figure(
            f"mission upload, {n} items",
            round(t, 3),
            "s",
            "<= 1 s" if n == 200 else "-",
            t <= 1.0 if n == 200 else None,
        )
        for n, t in times.items()
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, nargs="+", default=[10, 100, 200])
    args = p.parse_args(argv)
    for f in figures(args.items):
        print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
