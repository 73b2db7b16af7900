"""CPU per telemetry message of the controller's publish path alone, against a real mosquitto.

    python -m bench.bench_publish [--drones 100] [--rounds 300]

Rounds of one message per drone (a real ``Telemetry`` payload, its own topic each), one round
every 10 ms as the fan-out sends them, through ``Bus.publish_nowait``; and the same payloads
through a bare awaited aiomqtt publish (``Bus.publish``), the baseline of the cost-per-message
figure. CPU is this process's (``time.process_time``), so the figure stays meaningful on a
loaded machine (wall-clock latency does not); the broker's CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus

ROUND_S = 0.01


def payloads(drones: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(drones):
        tel = c.Telemetry(
            drone_id=f"uav-{i:03d}",
            ts_ms=c.now_ms(),
            seq=1,
            lat_deg=51.5 + i * 1e-4,
            lon_deg=-0.12,
            alt_rel_m=60.0,
            alt_amsl_m=90.0,
            heading_deg=90.0,
            ground_speed_m_s=14.0,
            climb_m_s=0.0,
            battery_pct=80.0,
            battery_v=15.7,
            flight_mode="MISSION",
            armed=True,
            in_air=True,
            gps_fix=3,
            satellites=15,
            link_ok=True,
            phase=c.Phase.TRANSIT,
        )
        out.append((c.drone_telemetry(tel.drone_id), c.encode(tel)))
    return out


async def nowait_us(bus: Bus, msgs: list[tuple[str, bytes]], rounds: int) -> float:
    cpu0 = time.process_time()
    for _ in range(rounds):
        for topic, body in msgs:
            bus.publish_nowait(topic, body)
        await asyncio.sleep(ROUND_S)
    return 1e6 * (time.process_time() - cpu0) / (rounds * len(msgs))


async def awaited_us(bus: Bus, msgs: list[tuple[str, bytes]], rounds: int) -> float:
    cpu0 = time.process_time()
    for _ in range(rounds):
        for topic, body in msgs:
            await bus.publish(topic, body)
        await asyncio.sleep(ROUND_S)
    return 1e6 * (time.process_time() - cpu0) / (rounds * len(msgs))


async def measure(drones: int, rounds: int) -> tuple[float, float]:
    msgs = payloads(drones)
    async with (
        Mosquitto(persistence=False) as mq,
        Bus(mq.config, f"bench-publish-{os.getpid()}") as bus,
    ):
        await nowait_us(bus, msgs, 20)
        await awaited_us(bus, msgs, 20)
        return await nowait_us(bus, msgs, rounds), await awaited_us(bus, msgs, rounds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--drones", type=int, default=100)
    p.add_argument("--rounds", type=int, default=300)
    args = p.parse_args(argv)
    nowait, awaited = asyncio.run(measure(args.drones, args.rounds))
    print(
        f"{args.drones} drones: publish_nowait {nowait:.1f} us/msg, "
        f"awaited aiomqtt publish {awaited:.1f} us/msg (CPU of this process)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
