"""The camera's I/O: one encoder thread per streaming vehicle, one photo thread for the fleet.

The simulator's asyncio loop never renders or encodes: each tick it puts the newest View of
every streaming vehicle into that vehicle's one-frame slot (newest wins) and hands photo jobs to
the photo thread; the threads render, stamp the frame clock code, encode with PyAV's libx264
(ultrafast, zerolatency, SPS/PPS repeated, a keyframe a second) and send RTP over UDP with
FFmpeg's rtp muxer, or write a JPEG and report back on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from sitl.camera import clockcode
from sitl.camera.actors import Crowd
from sitl.camera.protocol import CameraConfig, CameraPayload, CaptureJob, StreamPolicy
from sitl.camera.render import Image, Renderer, View, i420_planes
from sitl.camera.scene import TileCache

log = logging.getLogger(__name__)

RTP_CLOCK = Fraction(1, 90000)
RETRY_S = 1.0  # after an encoder/socket error
JPEG_QUALITY = 90
PHOTO_QUEUE = 16


def x264_options(fps: int) -> dict[str, str]:
    return {
        "preset": "ultrafast",
        "threads": "1",  # encode in the calling thread: its CPU time is the whole cost
        "tune": "zerolatency",
        "x264-params": f"repeat-headers=1:keyint={fps}:min-keyint={fps}:scenecut=0",
    }


class RtpEncoder:
    """H.264 frames to rtp://host:port (payload type 96, packetization mode 1)."""

    def __init__(self, host: str, port: int, config: CameraConfig) -> None:
        lens = config.lens
        self._out = av.open(f"rtp://{host}:{port}", mode="w", format="rtp")
        try:
            s = self._out.add_stream("libx264", rate=config.fps, options=x264_options(config.fps))
            s.width, s.height, s.pix_fmt = lens.width_px, lens.height_px, "yuv420p"
            s.bit_rate = config.bitrate_bps
            s.codec_context.time_base = RTP_CLOCK
        except Exception:
            self._out.close()
            raise
        self._stream = s
        h, w = lens.height_px, lens.width_px
        self._yuv: Image = np.empty((h * 3 // 2, w), np.uint8)
        # One frame reused (x264 copies the picture in, synchronously with zerolatency): the
        # picture is rendered into its planes, not into a new frame each time.
        self._frame = av.VideoFrame(w, h, "yuv420p")
        y, u, v = (
            np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)[:, : p.width]
            for p in self._frame.planes
        )
        self.planes: tuple[Image, Image, Image] = (y, u, v)
        """The Y, U and V planes send_planes() encodes: render into them."""
        self._t0: float | None = None
        self._last_pts = -1
        self.frames = 0

    def send(self, bgr: Image, t_s: float) -> None:
        """Encode and send one BGR frame captured at wall-clock t_s."""
        h, w = bgr.shape[:2]
        cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420, dst=self._yuv)
        for plane, part in zip(self.planes, i420_planes(self._yuv, w, h), strict=True):
            np.copyto(plane, part)
        self.send_planes(t_s)

    def send_planes(self, t_s: float) -> None:
        """Encode and send the picture in ``planes``, captured at wall-clock t_s."""
        frame = self._frame
        if self._t0 is None:
            self._t0 = t_s
        pts = max(round((t_s - self._t0) / RTP_CLOCK), self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = RTP_CLOCK
        for packet in self._stream.encode(frame):
            self._out.mux(packet)
        self.frames += 1

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
        except (av.FFmpegError, ValueError):
            pass
        finally:
            self._out.close()


class VideoStreamer:
    """One vehicle's encoder thread: renders the newest View at the configured frame rate."""

    def __init__(
        self, name: str, renderer: Renderer, host: str, port: int, config: CameraConfig,
        on_running: Callable[[bool], None],
    ) -> None:
        self.name = name
        self.renderer = renderer
        self.host, self.port = host, port
        self.config = config
        self.sending = False  # False: keep warm (tile built), send nothing
        self.frames_sent = 0
        self.cpu_s = 0.0  # thread CPU spent rendering and encoding
        self.errors = 0
        self._slot: View | None = None
        self._on_running = on_running
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def offer(self, view: View) -> None:
        """The newest view (one slot: an older one not yet rendered is dropped)."""
        self._slot = view

    def stop(self, timeout_s: float | None = 5.0) -> None:
        """Ask the thread to stop; wait for it unless timeout_s is None (from the event loop)."""
        self._stop.set()
        if timeout_s is not None and self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        period = 1.0 / self.config.fps
        encoder: RtpEncoder | None = None
        next_t = time.monotonic()
        running = False
        warm = False  # one frame rendered: the tile is built
        try:
            while not self._stop.is_set():
                view = self._slot
                c0 = time.thread_time()
                try:
                    if view is not None and self.sending:
                        if encoder is None:
                            encoder = RtpEncoder(self.host, self.port, self.config)
                        t = time.time()
                        self.renderer.render_i420(view, encoder.planes)
                        warm = True
                        clockcode.draw_i420(encoder.planes, t)
                        encoder.send_planes(t)
                        self.frames_sent += 1
                    elif view is not None and not warm:
                        self.renderer.render(view)  # builds the tile
                        warm = True
                    if not self.sending and encoder is not None:
                        encoder.close()
                        encoder = None
                except (av.FFmpegError, OSError, ValueError) as exc:
                    self.errors += 1
                    level = logging.WARNING if self.errors == 1 else logging.DEBUG
                    log.log(level, "camera %s: stream to %s:%d: %s (retrying every %.0f s)",
                            self.name, self.host, self.port, exc, RETRY_S)
                    if encoder is not None:
                        _close_quietly(encoder)
                        encoder = None
                    self._stop.wait(RETRY_S)
                self.cpu_s += time.thread_time() - c0
                now_running = encoder is not None and self.sending
                if now_running != running:
                    running = now_running
                    self._on_running(running)
                next_t += period
                delay = next_t - time.monotonic()
                if delay < -period:  # fell behind: drop frames, do not burst
                    next_t = time.monotonic()
                    delay = 0.0
                self._stop.wait(max(delay, 0.0))
        finally:
            if encoder is not None:
                _close_quietly(encoder)
            if running:
                self._on_running(False)


def _close_quietly(encoder: RtpEncoder) -> None:
    try:
        encoder.close()
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.debug("camera: closing the encoder: %s", exc)


class PhotoWriter:
    """Renders and writes photos (JPEG) in one thread; reports back on the event loop."""

    def __init__(self, directory: Path, renderer: Renderer, loop: asyncio.AbstractEventLoop):
        self.directory = directory
        self.renderer = renderer
        self._loop = loop
        self._jobs: queue.Queue[tuple[CameraPayload, CaptureJob] | None] = queue.Queue(PHOTO_QUEUE)
        self._thread = threading.Thread(target=self._run, name="camera-photos", daemon=True)
        self._thread.start()

    def submit(self, payload: CameraPayload, job: CaptureJob) -> None:
        try:
            self._jobs.put_nowait((payload, job))
        except queue.Full:
            log.warning("camera: photo queue full, photo %d failed", job.index)
            payload.capture_done(job, None)

    def close(self, timeout_s: float = 5.0) -> None:
        try:
            self._jobs.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            payload, job = item
            url: str | None = None
            try:
                img = self.renderer.render(job.view)
                clockcode.draw(img, job.time_utc_us / 1e6)
                path = self.directory / f"sys{payload.system_id}_IMG_{job.index:05d}.jpg"
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if ok:
                    path.write_bytes(buf.tobytes())
                    url = path.resolve().as_uri()
                else:
                    log.warning("camera: JPEG encoding of photo %d failed", job.index)
            except (OSError, ValueError, cv2.error) as exc:
                log.warning("camera: photo %d of vehicle %d failed: %s", job.index,
                            payload.system_id, exc)
            try:
                self._loop.call_soon_threadsafe(payload.capture_done, job, url)
            except RuntimeError:  # the loop is closed: the fleet is gone
                return


class CameraIO:
    """The fleet's camera I/O: streamers started and stopped as vehicles take off and land, the
    newest view offered each tick, photos written. Built and closed by SimFleet."""

    def __init__(
        self, payloads: list[CameraPayload], config: CameraConfig, default_host: str,
        loop: asyncio.AbstractEventLoop, tiles: TileCache | None = None,
    ) -> None:
        self.payloads = payloads
        self.config = config
        self.host = config.video_host or default_host
        self.tiles = tiles if tiles is not None else TileCache()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.image_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sitl-camera-")
            directory = Path(self._tmp.name)
        else:
            directory = Path(config.image_dir)
            directory.mkdir(parents=True, exist_ok=True)
        self.image_dir = directory
        self.streamers: dict[int, VideoStreamer] = {}
        self._stopping: list[VideoStreamer] = []
        self._loop = loop
        self.photos = PhotoWriter(
            directory, Renderer(config.lens, self.tiles, Crowd(config.seed)), loop
        )
        warm = [p for p in payloads if p.config.policy is not StreamPolicy.OFF]
        for p in payloads:
            p.io_attached = True
        docks = {self.tiles.key_for(v.lat_deg, v.lon_deg) for v in (p.view() for p in warm)}
        # The tile at each dock, built once, when the cache holds them all: more would only
        # evict each other (a planned network's 144 docks built as many 48 MB tiles at start-up,
        # 35 s of a loaded machine before the simulator answered); a dock's tile is otherwise
        # built when its drone arms (wants_renderer).
        if len(docks) <= self.tiles.size:
            for p in warm:
                self.photos.renderer.prefetch(p.view())

    def tick(self) -> None:
        scenes = tuple(dict.fromkeys(p.incident for p in self.payloads if p.incident))
        for i, p in enumerate(self.payloads):
            p.other_incidents = scenes
            for job in p.pending_captures:
                self.photos.submit(p, job)
            p.pending_captures.clear()
            s = self.streamers.get(i)
            if p.wants_renderer():
                if s is None:
                    s = self._start(i, p)
                s.sending = p.wants_stream()
                s.offer(p.view())
            elif s is not None:
                s.stop(None)  # the thread ends by itself; close() waits for it
                self._stopping.append(s)
                del self.streamers[i]
                p.stream_running = False
        self._stopping = [s for s in self._stopping if s.alive]

    def _start(self, i: int, p: CameraPayload) -> VideoStreamer:
        def running(on: bool) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
                self._loop.call_soon_threadsafe(setattr, p, "stream_running", on)

        renderer = Renderer(self.config.lens, self.tiles, Crowd(self.config.seed))
        s = VideoStreamer(f"sys{p.system_id}", renderer, self.host, p.video_port, self.config,
                          running)
        s.start()
        self.streamers[i] = s
        return s

    def close(self) -> None:
        """Stop every thread and wait for them (blocking: run it off the event loop)."""
        for s in [*self.streamers.values(), *self._stopping]:
            s.stop()
        self.streamers.clear()
        self._stopping.clear()
        self.photos.close()
        for p in self.payloads:
            p.stream_running = False
            p.io_attached = False
        if self._tmp is not None:
            self._tmp.cleanup()
