"""Console load: N drones x 10 Hz telemetry through mosquitto, map and tables live.

    python -m bench.bench_console [--drones 33 100] [--seconds 10] [--fed | --replay]

A separate process publishes the telemetry (so its CPU is not counted); this process runs the
real console window (offscreen unless DISPLAY is set) in a qasync loop and reports, per load:
CPU of this process as a share of one core (process time / wall time over the measured window),
telemetry received per second, publish-to-console latency (p50/p99), publish to the frame that
moves the drone on the map (p50/p99), the mean CPU per frame update (model to scene), the mean
CPU per map repaint and repaints per second.
``--fed``: no broker, a round of telemetry every 100 ms straight into the model.
``--replay``: no broker and the window's timers driven in simulated time: the share of a core
the console needs to keep up, whatever a loaded machine gives it (docs/performance.md).
Targets (issue 21): 100 drones at 10 Hz <= 25 % of one core; at 250, lag p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import BrokerConfig, Bus
from groundstation.tasks import freeze_heap

if TYPE_CHECKING:
    from groundstation.console.qt import QApplication
    from groundstation.console.window import MainWindow

CENTRE = (51.51, -0.13)
TARGET_CPU_PCT = 25.0  # issue 21 (was 35 %), at 100 drones
TARGET_LAG_P99_MS = 50.0  # issue 21: usable at 250 drones


# --- publisher (a separate process) ---------------------------------------------------------


def fleet_round(drones: int, seq: int, ts_ms: int) -> list[c.Telemetry]:
    """One round of telemetry: every drone circling its own point over central London."""
    rnd = random.Random(7)
    out = []
    for i in range(drones):
        lat0, lon0 = CENTRE[0] + rnd.uniform(-0.04, 0.04), CENTRE[1] + rnd.uniform(-0.07, 0.07)
        radius = rnd.uniform(0.002, 0.01)
        a = seq * 0.1 * 0.2 + i
        out.append(
            c.Telemetry(
                drone_id=f"uav-{i:03d}",
                ts_ms=ts_ms,
                seq=seq,
                lat_deg=lat0 + radius * math.sin(a),
                lon_deg=lon0 + radius * 1.6 * math.cos(a),
                alt_rel_m=60.0,
                alt_amsl_m=90.0,
                heading_deg=(math.degrees(-a)) % 360,
                ground_speed_m_s=14.0,
                climb_m_s=0.0,
                battery_pct=80.0 - seq * 0.01,
                battery_v=15.7,
                flight_mode="MISSION",
                armed=True,
                in_air=True,
                gps_fix=3,
                satellites=15,
                link_ok=True,
                phase=c.Phase.TRANSIT,
            )
        )
    return out


async def publish(port: int, drones: int, hz: float, seconds: float) -> None:
    async with Bus(BrokerConfig(port=port), f"bench-pub-{os.getpid()}") as bus:
        period = 1.0 / hz
        t_next = time.monotonic()
        seq = 0
        end = t_next + seconds
        while time.monotonic() < end:
            # Queued on the bus and written in one pass (as the controller's fan-out does): an
            # awaited publish per message could not keep 1000 msg/s going on a loaded machine.
            for tel in fleet_round(drones, seq, c.now_ms()):
                bus.publish_nowait(c.drone_telemetry(tel.drone_id), c.encode(tel))
            seq += 1
            t_next += period
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))


async def start_publisher(port: int, drones: int, seconds: float) -> asyncio.subprocess.Process:
    """:func:`publish` in a process of its own (its CPU is not the measured process's)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bench_console",
        "--publish",
        str(port),
        "--drones",
        str(drones),
        "--seconds",
        str(seconds),
    )


def offline_window() -> tuple[QApplication, MainWindow]:
    """The real main window, shown (offscreen unless DISPLAY is set), with no broker behind it."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from groundstation.console.bridge import Bridge
    from groundstation.console.config import ConsoleConfig
    from groundstation.console.qt import QApplication
    from groundstation.console.window import MainWindow
    from missions.sites import load_sites

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    config = ConsoleConfig(broker=BrokerConfig(port=1), user="bench")
    window = MainWindow(config, Bridge(config.broker, config.user), load_sites("met-trial"))
    window.show()
    return app, window


def fed_cpu(drones: int, seconds: float, warmup_s: float = 3.0) -> str:
    """The console's own cost with no broker: each 100 ms a round of telemetry (encoded and
    decoded, as the bridge does) goes straight into the window's model; CPU of this process per
    round fed. Does not depend on a publisher getting CPU (a loaded machine), and leaves out the
    MQTT receive path."""
    from groundstation.console.qt import QTimer

    app, window = offline_window()
    window.map.set_view(*CENTRE, 0.05)
    fed = [0]
    marks: list[tuple[float, float, int]] = []

    def feed() -> None:
        for tel in fleet_round(drones, fed[0], c.now_ms()):
            window.model.apply_telemetry(c.decode(c.encode(tel), c.Telemetry))
        fed[0] += 1

    def mark() -> None:
        marks.append((time.perf_counter(), time.process_time(), fed[0]))
        if len(marks) == 2:
            app.quit()

    timer = QTimer()
    timer.setInterval(100)
    timer.timeout.connect(feed)
    timer.start()
    QTimer.singleShot(int(warmup_s * 1000), mark)
    QTimer.singleShot(int((warmup_s + seconds) * 1000), mark)
    app.exec()
    timer.stop()
    window.close()
    (w0, c0, n0), (w1, c1, n1) = marks
    rounds = max(1, n1 - n0)
    pct = 100 * (c1 - c0) / (w1 - w0)
    return (
        f"{drones:4d} drones x 10 Hz fed in-process: console CPU {pct:5.1f} % of one core, "
        f"{1000 * (c1 - c0) / rounds:5.1f} ms CPU per round of {drones} "
        f"({rounds} rounds in {w1 - w0:.1f} s)"
    )


def replay_cpu(drones: int, seconds: float, warmup_s: float = 2.0) -> str:
    """CPU the console needs per second of a fleet's telemetry, independent of how much CPU a
    loaded machine gives it: the window's timers are stopped and driven in simulated time (one
    round of telemetry every 100 ms, a frame at the window's frame rate, tables, video tick and
    the 1 Hz tick at theirs), with Qt's pending paints flushed after each step. Reports CPU of
    this process per simulated second (= share of a core needed to keep up), the frame update
    and the map paint per frame."""
    app, window = offline_window()
    for _ in range(20):
        app.processEvents()
    window.map.set_view(*CENTRE, 0.05)
    timers = (window.frame_timer, window.table_timer, window.slow_timer, window.video.timer)
    for t in timers:
        t.stop()
    step_s = 1 / 60

    def feed(seq: int) -> None:
        for tel in fleet_round(drones, seq, c.now_ms()):
            window.model.apply_telemetry(c.decode(c.encode(tel), c.Telemetry))

    jobs: dict[str, tuple[float, Callable[[int], object]]] = {  # name: (period, action)
        "telemetry": (0.1, feed),
        "frame": (1 / window.config.frame_hz, lambda _r: window._frame()),
        "tables": (1 / window.config.table_hz, lambda _r: window._refresh_tables()),
        "video": (0.1, lambda _r: window.video.tick()),
        "1 Hz": (1.0, lambda _r: window._tick_1hz()),
    }
    due = dict.fromkeys(jobs, 0.0)
    counts = dict.fromkeys(jobs, 0)
    cpu = dict.fromkeys([*jobs, "paint"], 0.0)
    frames = 0
    map_paints, map_paint_s = 0, 0.0
    t_sim = 0.0
    while t_sim < warmup_s + seconds:
        measuring = t_sim >= warmup_s
        if not measuring:
            map_paints, map_paint_s = window.map.paints, window.map.paint_s
        for name, (period, action) in jobs.items():
            if t_sim >= due[name]:
                c0 = time.process_time()
                action(counts[name])
                if measuring:
                    cpu[name] += time.process_time() - c0
                    frames += name == "frame"
                counts[name] += 1
                due[name] += period
        c0 = time.process_time()
        app.processEvents()  # the paints the step asked for
        if measuring:
            cpu["paint"] += time.process_time() - c0
        t_sim += step_s
    map_paints = window.map.paints - map_paints
    map_paint_s = window.map.paint_s - map_paint_s
    window.close()
    total = sum(cpu.values())
    parts = ", ".join(f"{k} {100 * v / seconds:.1f}" for k, v in cpu.items())
    return (
        f"{drones:4d} drones x 10 Hz replayed: console needs {100 * total / seconds:5.1f} % "
        f"of one core ({parts}); per frame: update {1000 * cpu['frame'] / max(1, frames):5.2f} ms, "
        f"paint {1000 * cpu['paint'] / max(1, frames):5.2f} ms (CPU), of which the map "
        f"{1000 * map_paint_s / max(1, map_paints):5.2f} ms x {map_paints / seconds:4.1f}/s"
    )


# --- console side ----------------------------------------------------------------------------


@dataclass
class Result:
    drones: int
    cpu_pct: float
    rx_per_s: float
    lag_p50_ms: float
    lag_p99_ms: float
    shown_p50_ms: float
    shown_p99_ms: float
    frame_ms: float
    paint_ms: float
    paints_per_s: float

    def line(self) -> str:
        verdict = (
            ""
            if self.drones != 100
            else ("  PASS" if self.cpu_pct <= TARGET_CPU_PCT else "  OVER TARGET")
        )
        return (
            f"{self.drones:4d} drones x 10 Hz: console CPU {self.cpu_pct:5.1f} % of one core, "
            f"{self.rx_per_s:6.0f} msg/s, lag p50 {self.lag_p50_ms:5.1f} ms "
            f"p99 {self.lag_p99_ms:6.1f} ms, on the map p50 {self.shown_p50_ms:5.1f} ms "
            f"p99 {self.shown_p99_ms:6.1f} ms, frame update {self.frame_ms:5.2f} ms, "
            f"map repaint {self.paint_ms:5.2f} ms x {self.paints_per_s:4.1f}/s{verdict}"
        )


async def measure(drones: int, seconds: float, warmup_s: float = 2.0) -> Result:
    from groundstation.console.bridge import Bridge
    from groundstation.console.config import ConsoleConfig
    from groundstation.console.model import Dirty
    from groundstation.console.window import MainWindow
    from missions.sites import load_sites

    async with Mosquitto() as mq:
        config = ConsoleConfig(broker=mq.config, user="bench")
        bridge = Bridge(config.broker, config.user)
        window = MainWindow(config, bridge, load_sites("met-trial"))
        window.show()
        window.map.set_view(*CENTRE, 0.05)
        freeze_heap()  # as the console does once its window is up (groundstation.console.app)
        lags: list[float] = []
        shown: list[float] = []
        measuring = False

        def on_tel(tel: c.Telemetry) -> None:
            if measuring:
                lags.append(time.time() * 1000 - tel.ts_ms)

        bridge.telemetry.connect(on_tel)
        take_dirty = window.model.take_dirty

        def take_dirty_timed() -> Dirty:
            """Publish -> the frame that moves the drone on the map (what the pilot sees)."""
            dirty = take_dirty()
            if measuring:
                now_ms = time.time() * 1000
                for drone_id in dirty.drones:
                    tel = window.model.drones[drone_id].tel
                    if tel is not None:
                        shown.append(now_ms - tel.ts_ms)
            return dirty

        window.model.take_dirty = take_dirty_timed  # type: ignore[method-assign]
        bus_task = asyncio.create_task(bridge.run(), name="bench:console-bus")
        pub = await start_publisher(mq.port, drones, seconds + warmup_s + 2)
        try:
            await asyncio.sleep(warmup_s)
            f0, ft0 = window.frames, window.frame_time_s
            p0, pt0 = window.map.paints, window.map.paint_s
            n0 = window.model.telemetry_count
            w0, c0 = time.perf_counter(), time.process_time()
            measuring = True
            await asyncio.sleep(seconds)
            measuring = False
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            frames = max(1, window.frames - f0)
            paints = max(1, window.map.paints - p0)
            lags.sort()
            shown.sort()
            return Result(
                drones=drones,
                cpu_pct=100 * cpu / wall,
                rx_per_s=(window.model.telemetry_count - n0) / wall,
                lag_p50_ms=statistics.median(lags) if lags else float("nan"),
                lag_p99_ms=lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"),
                shown_p50_ms=statistics.median(shown) if shown else float("nan"),
                shown_p99_ms=shown[int(0.99 * (len(shown) - 1))] if shown else float("nan"),
                frame_ms=1000 * (window.frame_time_s - ft0) / frames,
                paint_ms=1000 * (window.map.paint_s - pt0) / paints,
                paints_per_s=(window.map.paints - p0) / wall,
            )
        finally:
            with contextlib.suppress(ProcessLookupError):
                pub.terminate()
            await pub.wait()
            bus_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bus_task
            window.close()
            window.deleteLater()


def run(drone_counts: list[int], seconds: float) -> list[Result]:
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from groundstation.console.qt import QApplication

    import qasync  # isort: skip

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    results = []
    for n in drone_counts:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            result = runner.run(measure(n, seconds))
        print(result.line(), flush=True)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--drones", type=int, nargs="+", default=[33, 100])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--publish", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="one JSON list of results")
    p.add_argument(
        "--fed", action="store_true", help="no broker: telemetry fed into the model (CPU only)"
    )
    p.add_argument(
        "--replay",
        action="store_true",
        help="no broker, timers driven in simulated time: CPU needed per second (loaded machine)",
    )
    args = p.parse_args(argv)
    if args.fed:
        for n in args.drones:
            print(fed_cpu(n, args.seconds), flush=True)
        return 0
    if args.replay:
        for n in args.drones:
            print(replay_cpu(n, args.seconds), flush=True)
        return 0
    if args.publish:
        asyncio.run(publish(args.publish, args.drones[0], 10.0, args.seconds))
        return 0
    if args.json:
        import contextlib
        import dataclasses
        import io
        import json

        with contextlib.redirect_stdout(io.StringIO()):
            results = run(args.drones, args.seconds)
        print(json.dumps([dataclasses.asdict(r) for r in results]))
        return 0
    results = run(args.drones, args.seconds)
    worst = max((r.cpu_pct for r in results if r.drones >= 100), default=0.0)
    return 0 if worst <= TARGET_CPU_PCT else 1


if __name__ == "__main__":
    raise SystemExit(main())
