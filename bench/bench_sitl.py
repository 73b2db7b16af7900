"""Simulator cost per vehicle: N vehicles at PX4's default stream rates, real time, no client.

    python -m bench.bench_sitl --drones 100 --seconds 5

Prints CPU % of one core per vehicle (time.process_time over wall time). Telemetry goes to
127.0.0.1 ports nobody listens on, so the encode and sendto costs are included.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time

from sitl import Home, SimFleet
from sitl.__main__ import homes_in_a_row


def free_base_port(count: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    return min(port, 65535 - count)


async def measure(drones: int, seconds: float, speedup: float) -> tuple[float, int, float]:
    homes = homes_in_a_row(Home(51.5072, -0.1276, 30.0), drones)
    async with SimFleet(homes, base_port=free_base_port(drones), speedup=speedup) as fleet:
        await asyncio.sleep(1.0)  # warm up
        sent0 = sum(e.bytes_sent for e in fleet.endpoints)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        sent = sum(e.bytes_sent for e in fleet.endpoints) - sent0
    return cpu / wall, sent, wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--drones", type=int, default=100)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--speedup", type=float, default=1.0)
    args = p.parse_args()
    share, sent, wall = asyncio.run(measure(args.drones, args.seconds, args.speedup))
    print(
        f"{args.drones} vehicles, speedup {args.speedup:g}: {100 * share:.1f} % of a core in all, "
        f"{100 * share / args.drones:.2f} % per vehicle, "
        f"{sent / wall / args.drones / 1000:.1f} kB/s per vehicle"
    )


if __name__ == "__main__":
    main()
