"""CPU per telemetry message of the receive path (``Bus.messages``), against a real mosquitto.

    python -m bench.bench_receive [--drones 100] [--seconds 10]

A publisher process (``bench.bench_console --publish``) sends N drones' telemetry at 10 Hz; this
process subscribes to ``drones/+/telemetry`` with a :class:`~groundstation.adapters.bus.Bus` on a
plain asyncio loop, as the console's bridge and the controller read their requests, and decodes
each message. Reported: CPU of this process per message received (``time.process_time``, so it
stays meaningful on a loaded machine), messages a second, and publish -> received latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass

from bench.bench_console import start_publisher
from bench.common import percentile
from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus

WARM_UP_S = 2.0


@dataclass(frozen=True, slots=True)
class Received:
    drones: int
    per_s: float
    cpu_us_per_msg: float
    p50_ms: float
    p99_ms: float

    def line(self) -> str:
        return (
            f"{self.drones:4d} drones: {self.per_s:7.0f} msg/s received, "
            f"{self.cpu_us_per_msg:6.1f} us CPU per message, latency p50 {self.p50_ms:.1f} ms "
            f"p99 {self.p99_ms:.1f} ms"
        )


async def measure(drones: int, seconds: float) -> Received:
    async with Mosquitto(persistence=False) as mq:
        pub = await start_publisher(mq.port, drones, seconds + WARM_UP_S + 5)
        try:
            async with Bus(mq.config, f"bench-recv-{os.getpid()}", queue_limit=100_000) as bus:
                await bus.subscribe(c.ALL_TELEMETRY)
                msgs = bus.messages()
                await anext(msgs)
                warm_end = time.monotonic() + WARM_UP_S
                while time.monotonic() < warm_end:
                    c.decode((await anext(msgs)).payload, c.Telemetry)
                latencies: list[float] = []
                cpu0, t0 = time.process_time(), time.monotonic()
                end = t0 + seconds
                while time.monotonic() < end:
                    tel = c.decode((await anext(msgs)).payload, c.Telemetry)
                    latencies.append(time.time() * 1000 - tel.ts_ms)
                cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        finally:
            pub.kill()
            await pub.wait()
    return Received(
        drones=drones,
        per_s=len(latencies) / wall,
        cpu_us_per_msg=1e6 * cpu / max(1, len(latencies)),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--drones", type=int, nargs="+", default=[100])
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    for n in args.drones:
        print(asyncio.run(measure(n, args.seconds)).line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
