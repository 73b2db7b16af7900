"""Console video: decode + display CPU per 720p25 stream, frames shown and dropped, latency.

    python -m bench.bench_console_video [--seconds 15] [--url URL --user U --password P]

Without ``--url`` a separate ``ffmpeg`` process serves the stream the way the relay does (H.264
720p25, x264 ultrafast/zerolatency, a keyframe a second, MPEG-TS over HTTP; encoded once, then
looped without re-encoding so it keeps 25 fps on a busy machine), so its CPU is not counted.
This process runs the real console window (offscreen unless DISPLAY is set): first
``--seconds`` with the drone in the air but no video (the baseline), then as long with its video
in the pane and in the grid. The figure is this process's extra CPU (process time / wall time,
all threads) for the one stream. Capture -> shown latency needs frames with the frame clock code
(the simulated camera's, through the relay: pass its URL); ffmpeg's test picture has none.
Target (issue 14): console decode + display <= 15 % of a core per 720p25 stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, percentile, process_cpu_s
from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_port
from groundstation.adapters.bus import Bus

TARGET_CPU_PCT = 15.0
DRONE = "uav-bench-1"


@dataclass(frozen=True, slots=True)
class Result:
    baseline_pct: float
    video_pct: float
    decoded: int
    shown: int
    dropped: int
    seconds: float
    size: str
    latencies_ms: list[float]
    decode_cpu_s: float
    paint_cpu_s: float
    tick_cpu_s: float

    @property
    def threads_pct(self) -> float:
        """Decoder thread + painting per frame at 25 frames a second, + the video timer."""
        if not self.decoded or not self.shown:
            return float("nan")
        per_frame_s = self.decode_cpu_s / self.decoded + self.paint_cpu_s / self.shown
        return (per_frame_s * 25 + self.tick_cpu_s / self.seconds) * 100

    @property
    def process_pct(self) -> float:
        """The whole console's CPU with the stream minus without, scaled to 25 fps (the source
        may deliver a little less on a busy machine)."""
        fps = self.decoded / self.seconds
        return (self.video_pct - self.baseline_pct) * 25 / fps if fps else float("nan")

    def figures(self) -> list[Figure]:
        p50 = percentile(self.latencies_ms, 50) if self.latencies_ms else None
        p95 = percentile(self.latencies_ms, 95) if self.latencies_ms else None
        fps = self.decoded / self.seconds
        return [
            Figure(
                "console video decode + display CPU per 720p25 stream",
                round(self.process_pct, 1),
                "% of a core",
                f"<= {TARGET_CPU_PCT:.0f}",
                self.process_pct <= TARGET_CPU_PCT,
                f"(whole console {self.video_pct:.1f} % with the stream at {fps:.1f} fps, "
                f"{self.baseline_pct:.1f} % without; {self.size})",
            ),
            Figure(
                "console video CPU in its own threads per 720p25 stream",
                round(self.threads_pct, 1),
                "% of a core",
                f"<= {TARGET_CPU_PCT:.0f}",
                self.threads_pct <= TARGET_CPU_PCT,
                f"(decoder thread {self.decode_cpu_s / max(1, self.decoded) * 1000:.1f} ms/frame, "
                f"painting {self.paint_cpu_s / max(1, self.shown) * 1000:.1f} ms/frame, "
                f"timer {self.tick_cpu_s / self.seconds * 100:.1f} %)",
            ),
            Figure(
                "console video frames shown",
                round(self.shown / self.seconds, 1),
                "fps",
                ">= 24",
                self.shown / self.seconds >= 24,
                f"({self.decoded} decoded, {self.shown} shown, {self.dropped} dropped)",
            ),
            Figure(
                "console video capture -> shown latency p95",
                None if p95 is None else round(p95),
                "ms",
                "<= 150",
                None if p95 is None else p95 <= 150,
                "(no frame clock code in this source)"
                if p50 is None
                else f"(p50 {p50:.0f} ms, {len(self.latencies_ms)} frames)",
            ),
        ]


def ffmpeg_source(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """Encode 10 s of 720p25 once, then serve it in a loop at its own rate without re-encoding
    (so that the source keeps 25 fps on a busy machine and costs the console nothing)."""
    clip = workdir / "clip.ts"
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-t", "10",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-g", "25", "-b:v", "2500k", "-pix_fmt", "yuv420p", "-f", "mpegts", str(clip),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return subprocess.Popen(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
            "-i", str(clip), "-c", "copy",
            "-f", "mpegts", "-listen", "1", f"http://127.0.0.1:{port}/video/{DRONE}.ts",
        ],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


async def measure(
    seconds: float, url: str | None, user: str | None, password: str | None
) -> Result:
    """Run inside a qasync loop over a QApplication (see :func:`main`)."""
    from groundstation.console.bridge import Bridge
    from groundstation.console.config import ConsoleConfig
    from groundstation.console.window import MainWindow

    source = None
    workdir = tempfile.TemporaryDirectory(prefix="dfr-bench-video-")
    if url is None:
        port = free_port()
        source = ffmpeg_source(port, Path(workdir.name))
        url = f"http://127.0.0.1:{port}/video/{DRONE}.ts"
    try:
        async with Mosquitto(persistence=False) as mq, Bus(mq.config, "bench-video") as bus:
            broker = mq.config
            if user:
                import dataclasses

                broker = dataclasses.replace(broker, username=user, password=password)
            config = ConsoleConfig(broker=broker, sites=None, auto_select=False)
            bridge = Bridge(config.broker, config.user)
            window = MainWindow(config, bridge, None)
            window.resize(1600, 1000)
            window.show()
            bus_task = asyncio.create_task(bridge.run(), name="bench:console-bus")
            tel_task = asyncio.create_task(_telemetry(bus), name="bench:telemetry")
            try:
                await asyncio.sleep(2.0)
                window.select_drone(DRONE)
                baseline = await _cpu_over(seconds)
                desc = c.VideoDescriptor(
                    drone_id=DRONE, ts_ms=c.now_ms(), state=c.VideoState.LIVE, url=url,
                    width_px=1280, height_px=720, fps=25.0, live=True,
                )  # fmt: skip
                await bus.publish(c.drone_video(DRONE), c.encode(desc), qos=1, retain=True)
                video = window.video
                deadline = time.monotonic() + 10
                while not (video.stats.get(DRONE) and video.stats[DRONE].shown > 25):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"no video from {url}")
                    await asyncio.sleep(0.1)
                st = video.stats[DRONE]
                d0, s0, x0 = st.decoded, st.shown, st.dropped
                dc0, pc0, tc0 = st.decode_cpu_s, st.paint_cpu_s, video.tick_cpu_s
                st.latencies_ms.clear()
                with_video = await _cpu_over(seconds)
                frame = video.frames.get(DRONE)
                size = (
                    f"{frame.source_width_px}x{frame.source_height_px} shown at "
                    f"{frame.image.width()}x{frame.image.height()} + a grid tile"
                    if frame
                    else "?"
                )
                return Result(
                    baseline,
                    with_video,
                    st.decoded - d0,
                    st.shown - s0,
                    st.dropped - x0,
                    seconds,
                    size,
                    list(st.latencies_ms),
                    st.decode_cpu_s - dc0,
                    st.paint_cpu_s - pc0,
                    video.tick_cpu_s - tc0,
                )
            finally:
                for task in (tel_task, bus_task):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                window.close()
    finally:
        if source is not None:
            source.terminate()
            source.wait(5)
        workdir.cleanup()


async def _cpu_over(seconds: float) -> float:
    pid = os.getpid()
    c0, t0 = process_cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return (process_cpu_s(pid) - c0) / (time.monotonic() - t0) * 100


async def _telemetry(bus: Bus) -> None:
    seq = 0
    while True:
        tel = c.Telemetry(
            drone_id=DRONE, ts_ms=c.now_ms(), seq=seq, lat_deg=51.51, lon_deg=-0.14,
            alt_rel_m=60.0, alt_amsl_m=90.0, heading_deg=90.0, ground_speed_m_s=10.0,
            climb_m_s=0.0, battery_pct=80.0, battery_v=15.8, flight_mode="MISSION",
            armed=True, in_air=True, gps_fix=3, satellites=14, link_ok=True,
        )  # fmt: skip
        await bus.publish(c.drone_telemetry(DRONE), c.encode(tel), qos=0)
        seq += 1
        await asyncio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_console_video", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--url", help="a relay URL to watch instead of the ffmpeg test stream")
    p.add_argument("--user")
    p.add_argument("--password")
    args = p.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from groundstation.console.qt import QApplication

    import qasync  # isort: skip

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        result = runner.run(measure(args.seconds, args.url, args.user, args.password))
    for fig in result.figures():
        print(fig.line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
