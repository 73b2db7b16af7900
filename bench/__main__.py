"""``groundstation bench [--quick] [--json]`` (or ``python -m bench``): the benchmark suite.

Real processes on loopback (mosquitto, ``python -m sitl``, the controller, a subscriber, the
console); each figure is printed with its target and whether it holds, and the machine is
described, since the figures only mean something next to it. The machines are shared and noisy:
where a figure has a natural ceiling in the same run (a bare aiomqtt publish for the cost per
message) it is given as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import bench_dispatch, bench_launch, bench_mission, bench_telemetry
from bench.bench_console import TARGET_CPU_PCT, TARGET_LAG_P99_MS
from bench.common import Figure, machine


def telemetry_figures(quick: bool) -> list[Figure]:
    seconds = 4.0 if quick else 15.0

    async def run() -> list[Figure]:
        with tempfile.TemporaryDirectory(prefix="dfr-bench-") as tmp:
            work = Path(tmp)
            loads = [await bench_telemetry.measure(n, seconds, work) for n in (1, 33, 100)]
            bare = await bench_telemetry.bare_publish_us(loads[-1].payload)
            figs = bench_telemetry.figures(loads, bare)
            # The fleet ceiling: 100 was measured above; go up until a run misses.
            best = 100 if bench_telemetry.carries(loads[-1]) else 0
            tried = [f"100: slowest {loads[-1].slowest_hz:.1f} msg/s"]
            if best:
                # --quick stops at 100 (the target); the full run searches up to 250.
                for n in () if quick else (150, 200, 250):
                    load = await bench_telemetry.measure(n, seconds, work)
                    tried.append(f"{n}: p99 {load.p99_ms:.0f} ms, slowest {load.slowest_hz:.1f}")
                    if load.kept_logs:
                        tried[-1] += (
                            f" ({load.slowest_id}, longest silence {load.slowest_gap_s:.1f} s;"
                            f" logs in {load.kept_logs})"
                        )
                    if not bench_telemetry.carries(load):
                        break
                    best = n
            figs.append(
                Figure(
                    "fleet ceiling at 10 Hz (p99 <= 100 ms, no loss, every drone >= 9.5 msg/s)",
                    best,
                    "drones",
                    "250" if not quick else ">= 100",
                    best >= (100 if quick else 250),  # issue 21: 250 on every full run
                    note=f"tried {'; '.join(tried)}; 250 is MAVLink's system-id space",
                )
            )
            return figs

    return asyncio.run(run())


def console_figures(quick: bool) -> list[Figure]:
    seconds = "4" if quick else "10"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_console",
            "--drones",
            "33",
            "100",
            "250",
            "--seconds",
            seconds,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        return [
            Figure(
                "console CPU, 100 drones x 10 Hz",
                None,
                "% of one core",
                f"<= {TARGET_CPU_PCT:g} %",
                False,
                note=f"bench failed: {out.stderr[-300:]}",
            )
        ]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    figs = []
    for r in results:
        n = r["drones"]
        figs.append(
            Figure(
                f"console CPU, {n} drones x 10 Hz",
                round(r["cpu_pct"], 1),
                "% of one core",
                f"<= {TARGET_CPU_PCT:g} %" if n == 100 else "-",
                r["cpu_pct"] <= TARGET_CPU_PCT if n == 100 else None,
                note=f"{r['rx_per_s']:.0f} msg/s received; frame update {r['frame_ms']:.2f} ms, "
                f"map repaint {r['paint_ms']:.1f} ms x {r['paints_per_s']:.0f}/s",
            )
        )
        figs.append(
            Figure(
                f"console lag p99, publish -> received, {n} drones x 10 Hz",
                round(r["lag_p99_ms"], 1),
                "ms",
                f"<= {TARGET_LAG_P99_MS:g} ms" if n == 250 else "-",
                r["lag_p99_ms"] <= TARGET_LAG_P99_MS if n == 250 else None,
                note=f"p50 {r['lag_p50_ms']:.1f} ms; publish -> on the map p50 "
                f"{r['shown_p50_ms']:.0f} ms, p99 {r['shown_p99_ms']:.0f} ms (the map moves "
                "at the next 15 Hz frame)",
            )
        )
    return figs


def sim_figures(quick: bool) -> list[Figure]:
    from bench.bench_sitl import measure

    n = 100
    share, _, _ = asyncio.run(measure(n, 3.0 if quick else 10.0, 1.0))
    per = 100 * share / n
    return [
        Figure(
            "simulator CPU per vehicle at PX4 default rates",
            round(per, 3),
            "% of one core",
            "<= 1 %",
            per <= 1.0,
            note=f"{n} vehicles in one process",
        )
    ]


def video_figures(quick: bool) -> list[Figure]:
    """bench/bench_video.py in its own process (it starts the simulator, the relay and the
    viewers as processes of their own)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_video",
            "--seconds",
            "8" if quick else "20",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if out.returncode != 0:
        return [
            Figure(
                "video latency capture -> decoded, 720p25, p95",
                None,
                "ms",
                "<= 150",
                False,
                note=f"bench failed: {out.stderr[-300:]}",
            )
        ]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return [
        Figure(f["name"], f["value"], f["unit"], f["target"], f["holds"], f.get("note", ""))
        for f in report["figures"]
    ]


SECTIONS: list[tuple[str, Callable[[bool], list[Figure]]]] = [
    ("telemetry", telemetry_figures),
    ("dispatch", lambda q: bench_dispatch.figures([33, 250, 1000], 150 if q else 500)),
    ("launch", lambda q: bench_launch.figures(2 if q else 5)),
    ("mission", lambda q: bench_mission.figures([10, 100, 200])),
    ("console", console_figures),
    ("simulator", sim_figures),
    ("video", video_figures),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="groundstation bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs (under 3 minutes)")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--only", nargs="+", choices=[name for name, _ in SECTIONS])
    args = p.parse_args(argv)
    t0 = time.monotonic()
    figures: list[Figure] = []
    for name, section in SECTIONS:
        if args.only and name not in args.only:
            continue
        if args.json:
            with contextlib.redirect_stdout(io.StringIO()):
                figures += section(args.quick)
        else:
            print(f"== {name}", flush=True)
            got = section(args.quick)
            for f in got:
                mark = {True: "holds", False: "MISSES", None: ""}[f.holds]
                print(
                    f"  {f.name:<66} {f.value!s:>9} {f.unit:<14} target {f.target:<10} "
                    f"{mark}  {f.note}",
                    flush=True,
                )
            figures += got
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": args.quick,
        "seconds": round(time.monotonic() - t0, 1),
        "figures": [f.as_json() for f in figures],
    }
    if args.json:
        print(json.dumps(report))
    else:
        held = sum(1 for f in figures if f.holds)
        targets = sum(1 for f in figures if f.holds is not None)
        print(f"{held}/{targets} targets hold ({report['seconds']} s)")
    return 0 if all(f.holds is not False for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
