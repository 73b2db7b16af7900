"""The video relay's own CPU per viewer: ``python -m bench.bench_relay [--seconds S] [--json]``.

A real 1280x720 25 fps H.264 RTP stream at about 2.5 Mbit/s (``ffmpeg -re``, lavfi testsrc2
with temporal noise so that x264 spends the bitrate, libx264 ultrafast/zerolatency, a keyframe a
second, SPS/PPS in-band) goes to a relay running in this process; 0, 1, 3 and 9 viewers
(``ffmpeg -i http://... -c copy -f null -``, each its own process) watch it. This process's CPU
(the relay's ingest thread, fan-out and HTTP writes; nothing else runs in it) is measured for
each count; the cost per viewer is the slope over the viewers. Frames lost by viewers are the
relay's drop counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench.common import Figure, machine
from groundstation.broker import free_udp_range
from groundstation.contract import Role, VideoState
from groundstation.video.auth import DemoUsers
from groundstation.video.relay import RelayConfig, VideoRelay

TARGET_PCT_PER_VIEWER = 2.0


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


@contextlib.asynccontextmanager
async def _process(*argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def source_argv(port: int) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi",
        "-i", "testsrc2=size=1280x720:rate=25,noise=alls=14:allf=t",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "1000k",
        "-x264-params", "keyint=25:min-keyint=25:scenecut=0:repeat-headers=1",
        "-pix_fmt", "yuv420p", "-f", "rtp", f"rtp://127.0.0.1:{port}",
    ]  # fmt: skip


async def measure(seconds: float, counts: tuple[int, ...]) -> dict[str, object]:
    port = free_udp_range(2)
    with tempfile.TemporaryDirectory(prefix="dfr-bench-relay-") as tmp:
        cfg = RelayConfig(evidence_dir=Path(tmp))
        async with (
            VideoRelay(cfg, DemoUsers({"viewer": Role.VIEWER})) as relay,
            _process(*source_argv(port)),
        ):
            await relay.watch("d1", port)
            deadline = time.monotonic() + 30
            while relay.status("d1").state != VideoState.LIVE:
                if time.monotonic() > deadline:
                    raise RuntimeError("the source never reached the relay")
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)
            url = relay.url_for("d1").replace("http://", "http://viewer:x@")
            rows = []
            for n in counts:
                async with contextlib.AsyncExitStack() as stack:
                    for _ in range(n):
                        await stack.enter_async_context(
                            _process(
                                "ffmpeg",
                                "-nostdin",
                                "-v",
                                "error",
                                "-i",
                                url,
                                "-c",
                                "copy",
                                "-f",
                                "null",
                                "-",
                            )
                        )
                    await asyncio.sleep(2.0)  # viewers connected and past their first GOP
                    before = relay.counters("d1")
                    cpu0, wall0 = _cpu_s(), time.monotonic()
                    await asyncio.sleep(seconds)
                    cpu1, wall1 = _cpu_s(), time.monotonic()
                    after = relay.counters("d1")
                    status = relay.status("d1")
                frames_in = after.frames_in - before.frames_in
                rows.append(
                    {
                        "viewers": n,
                        "cpu_pct": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 2),
                        "frames_in": frames_in,
                        "frames_out": after.frames_out - before.frames_out,
                        "dropped": after.dropped - before.dropped,
                        "bitrate_kbps": status.bitrate_kbps,
                        "fps": status.fps,
                        "size": f"{status.width_px}x{status.height_px}",
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rows": rows}


def figures(result: dict[str, object]) -> list[Figure]:
    rows = result["rows"]
    assert isinstance(rows, list)
    base = rows[0]["cpu_pct"]
    with_viewers = [r for r in rows if r["viewers"] > 0]
    n = [r["viewers"] for r in with_viewers]
    cpu = [r["cpu_pct"] for r in with_viewers]
    # least-squares slope through (0, base) and the viewer counts
    xs = [0, *n]
    ys = [base, *cpu]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    most = with_viewers[-1]
    expected = most["frames_in"] * most["viewers"]
    lost_pct = 100 * most["dropped"] / expected if expected else 0.0
    return [
        Figure("relay ingest, no viewer (720p25 ~2.5 Mbit/s)", base, "% of a core", "-", None),
        Figure(
            "relay cost per viewer",
            round(slope, 2),
            "% of a core",
            f"<= {TARGET_PCT_PER_VIEWER}",
            slope <= TARGET_PCT_PER_VIEWER,
            note=", ".join(f"{r['viewers']} viewers {r['cpu_pct']} %" for r in with_viewers),
        ),
        Figure(
            f"frames dropped by the relay, {most['viewers']} viewers",
            round(lost_pct, 3),
            "%",
            "< 1",
            lost_pct < 1.0,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_relay", description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0, help="measured per viewer count")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.seconds, (0, 1, 3, 9)))
    figs = figures(result)
    if args.json:
        print(
            json.dumps(
                {"machine": machine(), **result, "figures": [f.as_json() for f in figs]}, indent=2
            )
        )
    else:
        for f in figs:
            print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
