"""The video relay's own CPU per viewer: ``python -m bench.bench_relay [--seconds S] [--json]``.

A real 1280x720 25 fps H.264 RTP stream at about 2.5 Mbit/s (lavfi testsrc2 with temporal
noise so that x264 spends the bitrate, libx264 ultrafast/zerolatency, a keyframe a second,
SPS/PPS in-band; encoded once, then sent in a loop by ``ffmpeg -re -c copy -f rtp``) goes to a
relay running in this process; 0, 1, 3 and 9 viewers
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
from typing import Any

from bench.common import Figure, machine
from groundstation.adapters.broker import free_udp_range
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


def encode_clip(path: Path, seconds: int = 10) -> None:
    """The camera's stream, encoded once before the run (so that the source costs nothing)."""
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
            "-i", "testsrc2=size=1280x720:rate=25,noise=alls=14:allf=t", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "1000k",
            "-x264-params", "keyint=25:min-keyint=25:scenecut=0:repeat-headers=1",
            "-pix_fmt", "yuv420p", "-f", "mpegts", str(path),
        ],
        check=True,
        timeout=300,
    )  # fmt: skip


def source_argv(clip: Path, port: int) -> list[str]:
    """The clip in a loop at its own pace, packetised by FFmpeg's RTP muxer, not re-encoded."""
    return [
        "ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(clip),
        "-c", "copy", "-f", "rtp", f"rtp://127.0.0.1:{port}",
    ]  # fmt: skip


async def _viewers_settled(relay: VideoRelay, n: int, timeout_s: float = 60.0) -> None:
    """Every viewer connected and past its first second of video (ffmpeg starts slowly on a
    busy machine and asks twice: credentials only after the 401)."""
    deadline = time.monotonic() + timeout_s
    while True:
        viewers = relay.counters("d1").viewers
        if len(viewers) == n and all(v.sent_chunks >= 25 for v in viewers):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(viewers)} of {n} viewers connected within {timeout_s} s")
        await asyncio.sleep(0.2)


async def measure(seconds: float, counts: tuple[int, ...]) -> dict[str, Any]:
    port = free_udp_range(2)
    with tempfile.TemporaryDirectory(prefix="dfr-bench-relay-") as tmp:
        clip = Path(tmp) / "clip.ts"
        await asyncio.to_thread(encode_clip, clip)
        cfg = RelayConfig(evidence_dir=Path(tmp))
        async with (
            VideoRelay(cfg, DemoUsers({"viewer": Role.VIEWER})) as relay,
            _process(*source_argv(clip, port)),
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
                    await _viewers_settled(relay, n)
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
                        "seconds": round(wall1 - wall0, 2),
                        "cpu_s": round(cpu1 - cpu0, 3),
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


def figures(result: dict[str, Any]) -> list[Figure]:
    """The per-viewer cost from CPU seconds per frame, so that a source slowed down by a busy
    machine does not flatter the figure: the ingest's cost per frame (no viewer) is taken off,
    the rest is divided by the frames written to viewers, and scaled to 25 fps."""
    rows = result["rows"]
    base = rows[0]
    ingest_s_per_frame = base["cpu_s"] / max(base["frames_in"], 1)
    per_viewer_frame = [
        (r["cpu_s"] - ingest_s_per_frame * r["frames_in"]) / max(r["frames_out"], 1)
        for r in rows[1:]
    ]
    per_viewer_pct = max(per_viewer_frame) * 25 * 100
    most = rows[-1]
    expected = most["frames_in"] * most["viewers"]
    lost_pct = 100 * most["dropped"] / expected if expected else 0.0
    return [
        Figure(
            "relay ingest (demux + remux), no viewer, 720p25 ~2.5 Mbit/s",
            round(ingest_s_per_frame * 25 * 100, 2),
            "% of a core",
            "-",
            None,
        ),
        Figure(
            "relay cost per viewer at 25 fps",
            round(per_viewer_pct, 2),
            "% of a core",
            f"<= {TARGET_PCT_PER_VIEWER}",
            per_viewer_pct <= TARGET_PCT_PER_VIEWER,
            note="worst of "
            + ", ".join(
                f"{r['viewers']} viewers {v * 2500:.2f} %"
                for r, v in zip(rows[1:], per_viewer_frame, strict=True)
            )
            + "; whole process "
            + ", ".join(f"{r['viewers']}: {r['cpu_pct']} %" for r in rows),
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
