"""Live video, measured side by side in one run (issue 14): ``python -m bench.bench_video
[--drones 3] [--viewers 3] [--seconds 20] [--json]``.

Real parts, each its own process on loopback:

- the simulator (``SimFleet`` with cameras, in a child process of this module): each vehicle
  streams 1280x720 25 fps H.264 over RTP to the relay's ports once airborne;
- the relay (``groundstation.video.relay.VideoRelay``, in a child process) watching every drone;
- viewers: PyAV processes that open the relay's MPEG-TS-over-HTTP URL with the console's
  low-delay options, decode every frame and read its frame clock code (the capture time);
- this process: MAVSDK (``adapters.mavsdk_link``) arms the vehicles and takes them off, and
  records when each one's in-air flag arrives over MAVLink.

Phases: the viewers connect (the streams are idle: the vehicles are on the ground), the vehicles
take off (first frame after the in-air flag), the steady state with every viewer (camera CPU per
encoder thread from /proc/PID/task/TID/stat, relay CPU, viewer CPU, frames lost counted by clock
code against the camera's own count, latency), one viewer alone (latency), no viewer (the
relay's ingest cost, the base of its cost per viewer, computed as ``bench.bench_relay`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import bench_relay
from bench.common import CLOCK_TICKS, Child, Figure, machine, percentile, process_cpu_s

TARGET_LATENCY_P95_MS = 150.0
TARGET_CAMERA_PCT = 25.0
TARGET_DECODE_PCT = 15.0
TARGET_LOST_PCT = 1.0
TARGET_FIRST_FRAME_S = 2.0
FPS = 25
PORT_STEP = 1
"""Streams on consecutive UDP ports, as 5600 + instance (the relay's forwarder holds each public
port; FFmpeg's RTP + RTCP pair is private: docs/video.md "Measured")."""
VIEWER_USER = "viewer"
LOW_DELAY_OPTIONS = {
    # The console's decoder options (groundstation/console/video/decoder.py).
    "flags": "low_delay",
    "probesize": "2048",
    "analyzeduration": "0",
    "fpsprobesize": "0",
    "fflags": "noparse+nofillin",
    "reconnect": "0",
}


def thread_cpu_s(pid: int, tid: int) -> float:
    """User + system CPU seconds of one thread of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _write_json(path: Path, value: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    tmp.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    for _ in range(50):
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return value
        time.sleep(0.02)
    raise RuntimeError(f"no status in {path}")


# --- the children ---------------------------------------------------------------------------


async def _stop_on_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_sim(drones: int, base_port: int, video_base_port: int, status: Path) -> None:
    """The fleet with cameras (airborne vehicles stream); its encoder threads in ``status``."""
    from sitl import Home, SimFleet
    from sitl.__main__ import homes_in_a_row
    from sitl.camera import CameraConfig

    stop = await _stop_on_signal()
    homes = homes_in_a_row(Home(51.5072, -0.1276, 30.0), drones)
    camera = CameraConfig(video_base_port=video_base_port)
    fleet = SimFleet(homes, base_port, camera=camera)
    for i, payload in enumerate(fleet.cameras):
        payload.video_port = video_base_port + PORT_STEP * i
    async with fleet:
        print("sim: ready", flush=True)
        while not stop.is_set():
            io = fleet.camera_io
            tids = {t.name: t.native_id for t in threading.enumerate()}
            streams = {
                f"d{i + 1}": {
                    "tid": tids.get(f"camera-{s.name}"),
                    "frames": s.frames_sent,
                    "cpu_s": s.cpu_s,
                    "sending": s.sending,
                }
                for i, s in (io.streamers.items() if io is not None else ())
            }
            _write_json(status, {"t": time.time(), "streams": streams})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)


async def run_relay(drones: int, rtp_base: int, status: Path) -> None:
    """The relay watching d1..dN on rtp_base+i; its counters and own CPU in ``status``."""
    from groundstation.contract import Role
    from groundstation.video.auth import DemoUsers
    from groundstation.video.relay import RelayConfig, VideoRelay

    stop = await _stop_on_signal()
    with tempfile.TemporaryDirectory(prefix="dfr-bench-video-") as tmp:
        cfg = RelayConfig(evidence_dir=Path(tmp))
        async with VideoRelay(cfg, DemoUsers({VIEWER_USER: Role.VIEWER})) as relay:
            for i in range(drones):
                await relay.watch(f"d{i + 1}", rtp_base + PORT_STEP * i)
            print(f"relay: port {relay.port}", flush=True)
            while not stop.is_set():
                t = os.times()
                streams = {}
                for d in relay.watched():
                    c, s = relay.counters(d), relay.status(d)
                    streams[d] = {
                        "state": s.state.value,
                        "frames_in": c.frames_in,
                        "frames_out": c.frames_out,
                        "dropped": c.dropped,
                        "viewers": len(c.viewers),
                        "fps": s.fps,
                        "kbps": s.bitrate_kbps,
                        "size": f"{s.width_px}x{s.height_px}",
                    }
                _write_json(
                    status, {"t": time.time(), "cpu_s": t.user + t.system, "streams": streams}
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)


def run_viewer(url: str, out: Path) -> None:
    """Decode the relay's stream; one line per frame: capture ms (clock code) and decoded ms."""
    import av
    import numpy as np

    from groundstation.video.clockcode import decode_ms

    token = base64.b64encode(f"{VIEWER_USER}:x".encode()).decode()
    options = {**LOW_DELAY_OPTIONS, "headers": f"Authorization: Basic {token}\r\n"}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with (
        out.open("w", buffering=1, encoding="utf-8") as f,
        av.open(url, options=options, timeout=(120.0, 10.0)) as container,
    ):
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"  # frame threads would hold frames back (as the console)
        for packet in container.demux(stream):
            for frame in packet.decode():
                now = time.time()
                plane = frame.planes[0]
                luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
                band = luma[frame.height - 40 : frame.height, : frame.width]  # the code's band
                captured = decode_ms(band, now_ms=int(now * 1000))
                f.write(f"{captured if captured is not None else -1} {now * 1000:.1f}\n")


def run_console(url: str, out: Path, seconds: float) -> None:
    """The real console offscreen watching ``url`` (bench/bench_console_video.py's measurement:
    a baseline without video, then the drone's video in the pane and the grid); the result and
    its figures as JSON in ``out``."""
    import dataclasses
    import importlib

    # (by name: the editable install's module map predates the console's bench)
    bench_console_video = importlib.import_module("bench.bench_console_video")

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from groundstation.console.qt import QApplication

    import qasync  # isort: skip

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
        result = runner.run(bench_console_video.measure(seconds, url, VIEWER_USER, "x"))
    value = dataclasses.asdict(result)
    value["figures"] = [f.as_json() for f in result.figures()]
    _write_json(out, value)


# --- the run --------------------------------------------------------------------------------


@dataclass(slots=True)
class ViewerRun:
    drone: str
    out: Path
    child: Child


def _frames(path: Path) -> list[tuple[int, float]]:
    rows = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2:
                with contextlib.suppress(ValueError):
                    rows.append((int(parts[0]), float(parts[1])))
    return rows


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


class Run:
    """The orchestration: children, MAVSDK, the phases; results in ``self.r``."""

    def __init__(self, work: Path, drones: int, viewers: int, seconds: float) -> None:
        self.work = work
        self.drones = [f"d{i + 1}" for i in range(drones)]
        self.viewers_per = viewers
        self.seconds = seconds
        self.r: dict[str, Any] = {"loads": {}, "viewers_per": viewers}
        self.sim_status = work / "sim.json"
        self.in_air: dict[str, float] = {}
        """When each drone's in-air flag arrived over MAVLink (wall clock)."""
        self.commanded: dict[str, float] = {}
        self.relay_status = work / "relay.json"

    def _child(self, name: str, *argv: str) -> Child:
        return Child("-m", "bench.bench_video", *argv, log=self.work / f"{name}.log")

    async def run(self) -> dict[str, Any]:
        from groundstation.adapters.broker import free_udp_range
        from groundstation.adapters.mavsdk_link import DroneEndpoint, MavsdkFleet

        n = len(self.drones)
        mav_base, rtp_base = free_udp_range(n), free_udp_range(PORT_STEP * n)
        relay = self._child("relay", "_relay", str(n), str(rtp_base), str(self.relay_status))
        sim = self._child("sim", "_sim", str(n), str(mav_base), str(rtp_base), str(self.sim_status))
        endpoints = [
            DroneEndpoint(d, i + 1, f"udpin://0.0.0.0:{mav_base + i}")
            for i, d in enumerate(self.drones)
        ]
        async with relay, sim:
            await relay.wait_for("relay: port", 60)
            await sim.wait_for("sim: ready", 60)
            port = int(relay.log.read_text().split("relay: port")[1].split()[0])
            self.url = f"http://127.0.0.1:{port}/video/{{}}.ts"
            self.sim_pid = sim.pid
            self.relay_pid = relay.pid
            async with MavsdkFleet(endpoints) as fleet, contextlib.AsyncExitStack() as stack:
                if not await fleet.wait_all(60):
                    raise RuntimeError("MAVSDK did not discover every simulated vehicle")
                viewers = []

                async def connect(d: str, k: int) -> None:
                    out = self.work / f"view-{d}-{k}.txt"
                    child = self._child(f"viewer-{d}-{k}", "_viewer", self.url.format(d), str(out))
                    await stack.enter_async_context(child)
                    viewers.append(ViewerRun(d, out, child))

                # 1. one drone, one viewer: first frame, latency and camera CPU of one stream
                first = self.drones[0]
                await connect(first, 0)
                await self._wait_viewers(1)
                await self._take_off(fleet, [first])
                await self._first_frames(viewers)
                await asyncio.sleep(3.0)  # past the first keyframe's burst
                await self._window(viewers, "one")
                await self._console(first)
                # 2. every drone, every viewer (connected before the others take off)
                for d in self.drones:
                    for k in range(self.viewers_per):
                        if (d, k) != (first, 0):
                            await connect(d, k)
                await self._wait_viewers(len(viewers))
                await self._take_off(fleet, self.drones[1:])
                await self._first_frames(viewers)
                await asyncio.sleep(3.0)
                await self._window(viewers, "all")
                # 3. no viewer: the relay's ingest alone
                for v in viewers:
                    await v.child.__aexit__(None, None, None)
                await self._no_viewer()
        return self.r

    async def _wait_viewers(self, count: int) -> None:
        deadline = time.monotonic() + 90
        while True:
            streams = _read_json(self.relay_status)["streams"]
            if sum(s["viewers"] for s in streams.values()) >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the viewers did not all connect to the relay: {streams}")
            await asyncio.sleep(0.2)

    async def _take_off(self, fleet: Any, drones: list[str]) -> None:
        if not drones:
            return
        vehicles = {d: fleet.get(d) for d in drones}
        for d, v in vehicles.items():

            def listener(d: str = d, v: Any = v) -> None:  # MAVSDK's thread: keep it tiny
                if d not in self.in_air and v.sample().in_air:
                    self.in_air[d] = time.time()

            v.set_listener(listener)
        deadline = time.monotonic() + 60
        while not all(v.sample().armable for v in vehicles.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the vehicles never became armable")
            await asyncio.sleep(0.2)

        async def go(d: str) -> None:
            await vehicles[d].arm()
            self.commanded[d] = time.time()
            await vehicles[d].takeoff(20.0)

        self.r["loads"][f"take-off {','.join(drones)}"] = _load()
        await asyncio.gather(*(go(d) for d in drones))
        deadline = time.monotonic() + 60
        while not all(d in self.in_air for d in drones):
            if time.monotonic() > deadline:
                raise RuntimeError(f"in air over MAVLink: only {sorted(self.in_air)}")
            await asyncio.sleep(0.05)

    async def _first_frames(self, viewers: list[ViewerRun], timeout_s: float = 60.0) -> None:
        """First decoded frame of each airborne drone after its in-air flag (None: none within
        ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while not all(_frames(v.out) for v in viewers):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        rows = self.r.setdefault("first_frame", {})
        for d in self.drones:
            if d in rows or d not in self.in_air:
                continue
            firsts = [f[0] for v in viewers if v.drone == d and (f := _frames(v.out))]
            if not firsts:
                rows[d] = {"after_in_air_s": None}
                continue
            shown = min(at for _, at in firsts) / 1000
            rows[d] = {
                "after_in_air_s": round(shown - self.in_air[d], 3),
                "viewers": f"{len(firsts)} of {sum(1 for v in viewers if v.drone == d)}",
                "last_viewer_after_in_air_s": round(
                    max(at for _, at in firsts) / 1000 - self.in_air[d], 3
                ),
                "after_takeoff_cmd_s": round(shown - self.commanded[d], 3),
                "captured_after_in_air_s": round(
                    min(c for c, _ in firsts) / 1000 - self.in_air[d], 3
                ),
                "load": _load(),
            }

    def _threads(self, sim: dict[str, Any]) -> dict[str, float]:
        return {
            d: thread_cpu_s(self.sim_pid, s["tid"])
            for d, s in sim["streams"].items()
            if s["tid"] is not None and s["sending"]
        }

    async def _window(self, viewers: list[ViewerRun], key: str) -> None:
        """The steady state over ``self.seconds``: cameras, relay, viewers, loss, latency."""
        sim0, relay0 = _read_json(self.sim_status), _read_json(self.relay_status)
        thr0 = self._threads(sim0)
        sim_cpu0 = process_cpu_s(self.sim_pid)
        view0 = {id(v): process_cpu_s(v.child.pid) for v in viewers}
        wall0 = time.monotonic()
        load0 = _load()
        await asyncio.sleep(self.seconds)
        sim1, relay1 = _read_json(self.sim_status), _read_json(self.relay_status)
        thr1 = self._threads(sim1)
        sim_cpu1 = process_cpu_s(self.sim_pid)
        view1 = {id(v): process_cpu_s(v.child.pid) for v in viewers}
        wall = time.monotonic() - wall0
        w: dict[str, Any] = {"load": f"{load0}; at the end {_load()}", "seconds": round(wall, 1)}
        # cameras: CPU of each encoder thread per frame, at 25 fps
        cams = {}
        for d in thr0.keys() & thr1.keys():
            frames = sim1["streams"][d]["frames"] - sim0["streams"][d]["frames"]
            cpu = thr1[d] - thr0[d]
            own = sim1["streams"][d]["cpu_s"] - sim0["streams"][d]["cpu_s"]
            cams[d] = {
                "frames": frames,
                "fps": round(frames / wall, 2),
                "thread_cpu_s": round(cpu, 3),
                "pct_at_25fps": round(100 * cpu / max(frames, 1) * FPS, 2),
                "thread_time_pct_at_25fps": round(100 * own / max(frames, 1) * FPS, 2),
            }
        w["camera"] = dict(sorted(cams.items()))
        w["sim_process_pct"] = round(100 * (sim_cpu1 - sim_cpu0) / wall, 1)
        # loss and latency per viewer, by clock code, over the sim's window, once every viewer
        # has decoded past the window's end (frames still in flight are not lost)
        t0_ms, t1_ms = sim0["t"] * 1000, sim1["t"] * 1000
        deadline = time.monotonic() + 15
        while not all(any(c >= t1_ms for c, _ in _frames(v.out)[-50:]) for v in viewers):
            if time.monotonic() > deadline:
                break  # a viewer that fell that far behind has lost those frames
            await asyncio.sleep(0.2)
        rows, lat_all = [], []
        for v in viewers:
            frames = _frames(v.out)
            inside = [(c, at) for c, at in frames if t0_ms <= c < t1_ms]
            captured = [c for c, _ in inside]
            expected = sim1["streams"][v.drone]["frames"] - sim0["streams"][v.drone]["frames"]
            lat = [at - c for c, at in inside]
            lat_all += lat
            cpu = view1[id(v)] - view0[id(v)]
            rows.append(
                {
                    "drone": v.drone,
                    "expected": expected,
                    "received": len(set(captured)),
                    "duplicates": len(captured) - len(set(captured)),
                    "unreadable": sum(1 for c, _ in frames if c < 0),
                    "cpu_pct": round(100 * cpu / wall, 1),
                    "pct_at_25fps": round(100 * cpu / max(len(set(captured)), 1) * FPS, 1),
                    "p95_ms": round(percentile(lat, 95), 1),
                }
            )
        w["viewers"] = rows
        w["latency_ms"] = _summary(lat_all)
        watching = sum(s["viewers"] for s in relay1["streams"].values())
        w["relay"] = self._relay_row(relay0, relay1, watching)
        self.r[key] = w

    def _relay_row(self, r0: dict[str, Any], r1: dict[str, Any], viewers: int) -> dict[str, Any]:
        def total(key: str, r: dict[str, Any]) -> int:
            return int(sum(s[key] for s in r["streams"].values()))

        seconds = r1["t"] - r0["t"]
        cpu = r1["cpu_s"] - r0["cpu_s"]
        return {
            "viewers": viewers,
            "seconds": round(seconds, 2),
            "cpu_s": round(cpu, 3),
            "cpu_pct": round(100 * cpu / seconds, 2),
            "frames_in": total("frames_in", r1) - total("frames_in", r0),
            "frames_out": total("frames_out", r1) - total("frames_out", r0),
            "dropped": total("dropped", r1) - total("dropped", r0),
            "fps": [s["fps"] for s in r1["streams"].values()],
            "kbps": [s["kbps"] for s in r1["streams"].values()],
            "size": sorted({s["size"] for s in r1["streams"].values()}),
        }

    async def _console(self, drone: str) -> None:
        """The console offscreen on the relay's URL (one drone airborne, its PyAV viewer on)."""
        out = self.work / "console.json"
        seconds = max(5.0, self.seconds / 2)
        load = _load()
        async with self._child("console", "_console", self.url.format(drone), str(out),
                               str(seconds)) as child:  # fmt: skip
            assert child.proc is not None
            try:
                await asyncio.wait_for(child.proc.wait(), 120 + 3 * seconds)
            except TimeoutError:
                self.r["console"] = {"error": "timed out", "load": load}
                return
        if child.proc.returncode != 0 or not out.exists():
            log = child.log.read_text(errors="replace")[-300:]
            self.r["console"] = {"error": f"exit {child.proc.returncode}: {log}", "load": load}
            return
        self.r["console"] = {**_read_json(out), "load": f"{load}; at the end {_load()}"}

    async def _no_viewer(self) -> None:
        await asyncio.sleep(1.0)
        r0 = _read_json(self.relay_status)
        load = _load()
        await asyncio.sleep(max(5.0, self.seconds / 2))
        r1 = _read_json(self.relay_status)
        self.r["no_viewer"] = {"load": load, "relay": self._relay_row(r0, r1, 0)}


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1),
    }


async def measure(
    drones: int, viewers: int, seconds: float, workdir: Path | None = None
) -> dict[str, Any]:
    """The whole run; the children's logs and the viewers' frames go to ``workdir`` (kept) or a
    temporary directory."""
    if workdir is not None:
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        return await Run(workdir, drones, viewers, seconds).run()
    with tempfile.TemporaryDirectory(prefix="dfr-bench-video-") as tmp:
        return await Run(Path(tmp), drones, viewers, seconds).run()


def _worst(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return None if len(known) < len(values) or not known else max(known)


def figures(r: dict[str, Any]) -> list[Figure]:
    one, every = r["one"], r["all"]
    n_view, drones = len(every["viewers"]), len(every["camera"])
    lat1, lat_all = one["latency_ms"], every["latency_ms"]
    p95 = lat1.get("p95")
    figs = [
        Figure(
            "video latency capture -> decoded (PyAV viewer of the relay), 720p25, p95",
            p95,
            "ms",
            f"<= {TARGET_LATENCY_P95_MS:.0f}",
            p95 is not None and p95 <= TARGET_LATENCY_P95_MS,
            note=f"one drone, one viewer: p50 {lat1.get('p50')} ms over {lat1['n']} frames, "
            f"{one['load']}; {drones} drones x {r['viewers_per']} viewers: p50 "
            f"{lat_all.get('p50')} p95 {lat_all.get('p95')} ms",
        )
    ]
    cam1 = next(iter(one["camera"].values()))
    cams = every["camera"]
    worst = max(c["pct_at_25fps"] for c in cams.values())
    figs.append(
        Figure(
            "camera render + encode per 720p25 stream (encoder thread CPU)",
            cam1["pct_at_25fps"],
            "% of a core",
            f"<= {TARGET_CAMERA_PCT:.0f}",
            cam1["pct_at_25fps"] <= TARGET_CAMERA_PCT,
            note=f"one stream, per frame x 25 ({cam1['fps']} fps rendered, {one['load']}); "
            f"{drones} streams in one simulator: worst {worst} % ("
            + ", ".join(f"{d} {c['pct_at_25fps']} % at {c['fps']} fps" for d, c in cams.items())
            + f"), simulator process {every['sim_process_pct']} %",
        )
    )
    v1 = one["viewers"][0]
    view_all = [v["pct_at_25fps"] for v in every["viewers"]]
    figs.append(
        Figure(
            "viewer decode per 720p25 stream (PyAV process, no display)",
            v1["pct_at_25fps"],
            "% of a core",
            "-",
            None,
            note=f"decode + clock code only, no scaling or painting, per frame x 25; "
            f"{n_view} viewers {min(view_all)}-{max(view_all)} %",
        )
    )
    figs += bench_relay.figures({"rows": [r["no_viewer"]["relay"], every["relay"]]})
    rows = every["viewers"]
    expected = sum(v["expected"] for v in rows)
    received = sum(v["received"] for v in rows)
    lost = 100 * (expected - received) / expected if expected else float("nan")
    figs.append(
        Figure(
            f"frames lost, {drones} airborne drones x {r['viewers_per']} viewers on "
            f"{os.cpu_count()} cores",
            round(lost, 2),
            "%",
            f"< {TARGET_LOST_PCT:.0f}",
            lost < TARGET_LOST_PCT,
            note=f"{expected - received} of {expected} over {every['seconds']} s (capture times "
            "read per viewer vs the cameras' own count); worst viewer "
            + str(max(v["expected"] - v["received"] for v in rows))
            + f", {sum(v['duplicates'] for v in rows)} seen twice; {every['load']}",
        )
    )
    console = r.get("console", {})
    if "figures" in console:
        for f in console["figures"]:
            figs.append(
                Figure(
                    f["name"] + " (relay of the simulator's camera)",
                    f["value"],
                    f["unit"],
                    f["target"],
                    f["holds"],
                    note=f"{f.get('note', '')}; {console['load']}",
                )
            )
    else:
        figs.append(
            Figure(
                "console video capture -> shown latency p95",
                None,
                "ms",
                f"<= {TARGET_LATENCY_P95_MS:.0f}",
                False,
                note=f"console run failed: {console.get('error')}",
            )
        )
    ff = r["first_frame"]
    worst_ff = _worst([x["after_in_air_s"] for x in ff.values()])
    figs.append(
        Figure(
            "first frame after take-off (MAVLink in-air flag -> decoded by a viewer)",
            worst_ff,
            "s",
            f"<= {TARGET_FIRST_FRAME_S:.0f}",
            worst_ff is not None and worst_ff <= TARGET_FIRST_FRAME_S,
            note="worst of "
            + "; ".join(
                f"{d} {x['after_in_air_s']} s"
                + (
                    f" (captured {x['captured_after_in_air_s']} s after the flag, take-off "
                    f"command -> frame {x['after_takeoff_cmd_s']} s, {x['load']})"
                    if x["after_in_air_s"] is not None
                    else " (no frame within 60 s)"
                )
                for d, x in ff.items()
            ),
        )
    )
    return figs


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_sim":
        asyncio.run(run_sim(int(argv[1]), int(argv[2]), int(argv[3]), Path(argv[4])))
        return 0
    if argv and argv[0] == "_relay":
        asyncio.run(run_relay(int(argv[1]), int(argv[2]), Path(argv[3])))
        return 0
    if argv and argv[0] == "_console":
        run_console(argv[1], Path(argv[2]), float(argv[3]))
        return 0
    if argv and argv[0] == "_viewer":
        run_viewer(argv[1], Path(argv[2]))
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.bench_video", description=__doc__)
    p.add_argument("--drones", type=int, default=3)
    p.add_argument("--viewers", type=int, default=3, help="per drone")
    p.add_argument("--seconds", type=float, default=20.0, help="the steady-state window")
    p.add_argument("--json", action="store_true")
    p.add_argument("--workdir", type=Path, help="keep the logs and frame records here")
    args = p.parse_args(argv)
    result = asyncio.run(measure(args.drones, args.viewers, args.seconds, args.workdir))
    figs = figures(result)
    if args.json:
        print(json.dumps({"machine": machine(), **result, "figures": [f.as_json() for f in figs]}))
    else:
        print(json.dumps(result, indent=1), file=sys.stderr)
        for f in figs:
            print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
