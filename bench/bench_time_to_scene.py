"""Time to scene on the simulator's own clock, phase by phase:
``python -m bench.bench_time_to_scene [--speedup 10] [--incidents 2]``.

Runs ``groundstation demo``'s stack (headless, no video) and prints, for each incident, when
each phase began (preflight: dispatched, dock opening and the vehicle configured; launching:
arm and take-off to the safe height; transit; on scene) in wall seconds and in simulated
seconds read on the simulator's clock (``sitl --clock-every``), the dispatcher's ETAs, the
achieved speed-up (simulated seconds per wall second) and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

from groundstation.harness import demo


def phases(lines: list[tuple[float, str]], clock: demo.SimClock) -> list[dict[str, Any]]:
    """Each incident's phase changes ("[  t] drone phase for inc"), from its first."""
    seen: dict[str, list[tuple[float, str]]] = {}
    for unix_s, line in lines:
        parts = line.split()
        if len(parts) >= 5 and parts[-2] == "for":
            seen.setdefault(parts[-1], []).append((unix_s, parts[-3]))
    out: list[dict[str, Any]] = []
    for inc, ph in seen.items():
        t0 = ph[0][0]
        s0 = clock.sim_s_at(t0)
        row: dict[str, Any] = {"incident": inc}
        for unix_s, name in ph:
            s1 = clock.sim_s_at(unix_s)
            sim = None if s0 is None or s1 is None else round(s1 - s0, 1)
            row.setdefault(name, {"wall_s": round(unix_s - t0, 2), "sim_s": sim})
        out.append(row)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    lines: list[tuple[float, str]] = []

    def out(line: str) -> None:
        lines.append((time.time(), line))
        print(line, flush=True)

    opts = demo.DemoOptions(sites=args.sites, speedup=args.speedup, seed=args.seed,
                            on_scene_s=args.on_scene, video=False)
    clock = demo.SimClock()
    load0 = os.getloadavg()
    result = await demo.run_demo(opts, None, args.incidents, timeout_s=args.timeout, out=out,
                                 clock=clock)
    return {
        "result": result.as_json(),
        "phases": phases(lines, clock),
        "loadavg_start": [round(x, 1) for x in load0],
        "loadavg_end": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_time_to_scene")
    p.add_argument("--sites", default="met-trial")
    p.add_argument("--incidents", type=int, default=2)
    p.add_argument("--speedup", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--on-scene", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=300.0)
    args = p.parse_args()
    print(json.dumps(asyncio.run(main_async(args))), flush=True)


if __name__ == "__main__":
    main()
