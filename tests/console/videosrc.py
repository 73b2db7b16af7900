"""A real H.264 MPEG-TS-over-HTTP source for the console's video tests (stands in for the relay).

One PyAV encoder per drone (libx264, ultrafast, zerolatency, a keyframe a second, SPS/PPS before
each keyframe) renders a moving picture with the frame clock code of VIDEO-DESIGN.md drawn in
its bottom-left band, muxes it to MPEG-TS and fans the bytes out to HTTP viewers served by
aiohttp on 127.0.0.1 (Basic auth; a new viewer starts at the latest keyframe). The test can
pause a stream (the connection stays open, nothing arrives), drop its viewers, or refuse users.
Everything runs in this process's own threads, so the console's event loop is not involved.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import av
import numpy as np
from aiohttp import web

from groundstation.adapters.broker import free_port

CELL = 16
BITS = 48


def draw_clock(y_plane: np.ndarray, t_s: float) -> None:
    """Draw the frame clock code (VIDEO-DESIGN.md) of wall time ``t_s`` into a luma plane."""
    h = y_plane.shape[0]
    y_plane[h - 40 : h - 8, 8 : 16 + BITS * CELL + 8] = 0
    ms = int(t_s * 1000) % 2**BITS
    for k in range(BITS):
        if (ms >> (BITS - 1 - k)) & 1:
            x = 16 + k * CELL
            y_plane[h - 32 : h - 16, x : x + CELL] = 255


@dataclass
class _Stream:
    drone_id: str
    width: int
    height: int
    fps: int
    viewers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[bytes | None]]] = field(
        default_factory=list
    )
    gop: list[bytes] = field(default_factory=list)
    paused: bool = False
    frames: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _key: bool = False

    # The muxer's file object: every write is one flushed muxed packet (or a part of one).
    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        with self.lock:
            if self._key:
                self.gop = []
                self._key = False
            if len(self.gop) < 4096:
                self.gop.append(chunk)
            if not self.paused:
                for loop, q in self.viewers:
                    loop.call_soon_threadsafe(_offer, q, chunk)
        return len(chunk)

    def add_viewer(self, loop: asyncio.AbstractEventLoop, q: asyncio.Queue[bytes | None]) -> None:
        with self.lock:
            for chunk in self.gop:
                _offer(q, chunk)
            self.viewers.append((loop, q))

    def remove_viewer(self, q: asyncio.Queue[bytes | None]) -> None:
        with self.lock:
            self.viewers = [(lp, vq) for lp, vq in self.viewers if vq is not q]

    def drop_viewers(self) -> None:
        with self.lock:
            for loop, q in self.viewers:
                loop.call_soon_threadsafe(_offer, q, None)
            self.viewers = []

    def run(self) -> None:
        out = av.open(
            self,
            "w",
            format="mpegts",
            container_options={"flush_packets": "1", "mpegts_flags": "pat_pmt_at_frames"},
        )
        vs = out.add_stream(
            "libx264",
            rate=self.fps,
            options={
                "preset": "ultrafast",
                "tune": "zerolatency",
                "x264-params": f"keyint={self.fps}:min-keyint={self.fps}:repeat-headers=1",
            },
        )
        vs.width, vs.height, vs.pix_fmt = self.width, self.height, "yuv420p"
        vs.bit_rate = 2_500_000
        w, h = self.width, self.height
        yuv = np.zeros((h * 3 // 2, w), np.uint8)
        yuv[h:] = 128
        ramp = (np.arange(w, dtype=np.uint16) * 255 // max(1, w - 1)).astype(np.uint8)
        base = np.broadcast_to(ramp, (h, w))
        t0 = time.monotonic()
        n = 0
        try:
            while not self.stop.is_set():
                due = t0 + n / self.fps
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                shift = (n * 8) % w
                yuv[:h] = np.roll(base, shift, axis=1)
                box = (n * 6) % max(1, h - 140)
                yuv[box : box + 100, w // 2 - 50 : w // 2 + 50] = 235 if n % 50 < 25 else 20
                draw_clock(yuv[:h], time.time())
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                frame.pts = n
                for packet in vs.encode(frame):
                    if packet.is_keyframe:
                        with self.lock:
                            self._key = True
                    out.mux(packet)
                n += 1
                self.frames = n
        finally:
            with contextlib.suppress(Exception):
                out.close()


def _offer(q: asyncio.Queue[bytes | None], chunk: bytes | None) -> None:
    if chunk is None:
        while not q.empty():
            q.get_nowait()
    with contextlib.suppress(asyncio.QueueFull):
        q.put_nowait(chunk)


class VideoSource:
    """``GET /video/{drone_id}.ts`` for each added drone; users map to passwords; ``forbidden``
    users authenticate but may not view (403), as the relay's dock role."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        forbidden: frozenset[str] = frozenset(),
    ) -> None:
        self.users = users
        self.forbidden = forbidden
        self.port = free_port()
        self.streams: dict[str, _Stream] = {}
        self._threads: list[threading.Thread] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._server = threading.Thread(target=self._serve, name="videosrc-http", daemon=True)
        self._ready = threading.Event()
        self.requests: list[tuple[str, int]] = []

    def url(self, drone_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/video/{drone_id}.ts"

    def add(self, drone_id: str, width: int = 1280, height: int = 720, fps: int = 25) -> str:
        s = _Stream(drone_id, width, height, fps)
        self.streams[drone_id] = s
        t = threading.Thread(target=s.run, name=f"videosrc-{drone_id}", daemon=True)
        t.start()
        self._threads.append(t)
        return self.url(drone_id)

    def pause(self, drone_id: str, paused: bool = True) -> None:
        self.streams[drone_id].paused = paused

    def drop_viewers(self, drone_id: str) -> None:
        self.streams[drone_id].drop_viewers()

    def __enter__(self) -> VideoSource:
        self._server.start()
        if not self._ready.wait(10):
            raise RuntimeError("video source did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self.streams.values():
            s.stop.set()
            s.drop_viewers()
        for t in self._threads:
            t.join(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._server.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/video/{name}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

    def _user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        with contextlib.suppress(ValueError):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users is not None and self.users.get(user) == password:
                return user
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        drone_id = name.removesuffix(".ts")
        stream = self.streams.get(drone_id)
        if self.users is not None:
            user = self._user(request)
            if user is None:
                self.requests.append((drone_id, 401))
                raise web.HTTPUnauthorized(
                    headers={"WWW-Authenticate": 'Basic realm="dfr"'}, text="login needed"
                )
            if user in self.forbidden:
                self.requests.append((drone_id, 403))
                raise web.HTTPForbidden(text=f"role of {user} may not view")
        if stream is None:
            self.requests.append((drone_id, 404))
            raise web.HTTPNotFound(text=f"no stream for {drone_id}")
        self.requests.append((drone_id, 200))
        resp = web.StreamResponse(headers={"Content-Type": "video/mp2t"})
        await resp.prepare(request)
        q: asyncio.Queue[bytes | None] = asyncio.Queue(1024)
        stream.add_viewer(asyncio.get_running_loop(), q)
        try:
            while (chunk := await q.get()) is not None:
                await resp.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stream.remove_viewer(q)
        return resp


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """A port that accepts TCP connections (the kernel's backlog) and never answers."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/video/never.ts"
    finally:
        sock.close()


__all__ = ["VideoSource", "black_hole", "draw_clock"]
