"""The fan-out of one drone's stream, sans-IO: chunks in, bounded per-viewer queues out.

A :class:`Chunk` is the MPEG-TS bytes of one H.264 access unit, muxed once by the ingest thread
(:mod:`groundstation.video.ingest`). A keyframe chunk starts with the PAT/PMT (FFmpeg's muxer
repeats them before every keyframe) and carries the SPS/PPS the camera sends in-band, so a
player can start decoding from it.

The hub keeps the current group of pictures (the latest keyframe and what followed it): a new
viewer gets it first, so its player has a picture at once. Each viewer has a queue bounded in
chunks and bytes. A viewer that does not keep up loses whole chunks: when its queue is full the
backlog is dropped and it resumes at the next keyframe (the newest wins; a keyframe arriving on
a full queue replaces the backlog at once). Runs on the event loop only.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass

__all__ = ["Chunk", "Meter", "StreamHub", "Viewer", "ViewerCounters"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole MPEG-TS packets of one access unit."""

    data: bytes
    key: bool
    wall_ms: int
    """When the relay received the frame (the recorder's clock)."""
    pts: int = 0
    """Presentation time in the 90 kHz clock of the output (the meter's clock)."""


@dataclass(frozen=True, slots=True)
class ViewerCounters:
    viewer_id: int
    user: str
    sent_chunks: int
    sent_bytes: int
    dropped_chunks: int
    queued_chunks: int


class Viewer:
    """One HTTP viewer's bounded queue. ``next()`` returns ``None`` once the viewer is closed."""

    _ids = itertools.count(1)

    def __init__(self, user: str, *, max_chunks: int, max_bytes: int) -> None:
        self.viewer_id = next(self._ids)
        self.user = user
        self.max_chunks = max_chunks
        self.max_bytes = max_bytes
        self._queue: deque[Chunk] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._closed = False
        self.waiting_key = True
        self._resyncing = False
        self.sent_chunks = 0
        self.sent_bytes = 0
        self.dropped_chunks = 0

    def offer(self, chunk: Chunk) -> None:
        if self._closed:
            return
        if self.waiting_key and not chunk.key:
            if self._resyncing:
                self.dropped_chunks += 1
            return
        full = (
            len(self._queue) >= self.max_chunks
            or self._queued_bytes + len(chunk.data) > self.max_bytes
        )
        if full:
            self.dropped_chunks += len(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            if not chunk.key:
                self.dropped_chunks += 1
                self.waiting_key = self._resyncing = True
                return
        self.waiting_key = self._resyncing = False
        self._queue.append(chunk)
        self._queued_bytes += len(chunk.data)
        self._wakeup.set()

    async def next(self) -> Chunk | None:
        while not self._queue:
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        chunk = self._queue.popleft()
        self._queued_bytes -= len(chunk.data)
        self.sent_chunks += 1
        self.sent_bytes += len(chunk.data)
        return chunk

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
        self._queued_bytes = 0
        self._wakeup.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def counters(self) -> ViewerCounters:
        return ViewerCounters(
            self.viewer_id,
            self.user,
            self.sent_chunks,
            self.sent_bytes,
            self.dropped_chunks,
            len(self._queue),
        )


class Meter:
    """Frames per second and kbit/s of the frames received in the last ``window_ms``, timed by
    the stream's own clock (a burst after a stall does not read as a high frame rate)."""

    def __init__(self, window_ms: int = 2000) -> None:
        self.window_ms = window_ms
        self._samples: deque[tuple[int, int, int]] = deque()

    def add(self, wall_ms: int, pts: int, size: int) -> None:
        if self._samples and pts <= self._samples[-1][1]:
            self._samples.clear()  # the clock went back: a new stream
        self._samples.append((wall_ms, pts, size))
        self._trim(wall_ms)

    def _trim(self, now_ms: int) -> None:
        while self._samples and self._samples[0][0] < now_ms - self.window_ms:
            self._samples.popleft()

    def rates(self, now_ms: int) -> tuple[float, int]:
        """(fps, kbit/s); zeros with fewer than 2 frames in the window."""
        self._trim(now_ms)
        if len(self._samples) < 2:
            return 0.0, 0
        span_s = (self._samples[-1][1] - self._samples[0][1]) / 90_000
        if span_s <= 0:
            return 0.0, 0
        frames = len(self._samples) - 1
        size = sum(s[2] for s in self._samples) - self._samples[0][2]
        return round(frames / span_s, 1), int(size * 8 / span_s / 1000)


class StreamHub:
    """The fan-out of one drone: the current GOP, the viewers, the meter."""

    def __init__(self, *, max_chunks: int = 50, max_bytes: int = 16 << 20) -> None:
        self.max_chunks = max_chunks
        self.max_bytes = max_bytes
        self._gop: list[Chunk] = []
        self._gop_bytes = 0
        self.viewers: dict[int, Viewer] = {}
        self.meter = Meter()
        self.chunks_in = 0
        self.bytes_in = 0
        self.keyframes_in = 0
        self.last_wall_ms: int | None = None

    def push(self, chunk: Chunk) -> None:
        self.chunks_in += 1
        self.bytes_in += len(chunk.data)
        self.last_wall_ms = chunk.wall_ms
        self.meter.add(chunk.wall_ms, chunk.pts, len(chunk.data))
        if chunk.key:
            self.keyframes_in += 1
            self._gop = [chunk]
            self._gop_bytes = len(chunk.data)
        elif self._gop:
            if len(self._gop) < self.max_chunks and self._gop_bytes < self.max_bytes:
                self._gop.append(chunk)
                self._gop_bytes += len(chunk.data)
            else:  # no keyframe for too long: new viewers wait for the next one
                self._gop = []
                self._gop_bytes = 0
        for viewer in self.viewers.values():
            viewer.offer(chunk)

    def add_viewer(self, user: str) -> Viewer:
        viewer = Viewer(user, max_chunks=self.max_chunks, max_bytes=self.max_bytes)
        for chunk in self._gop:
            viewer.offer(chunk)
        self.viewers[viewer.viewer_id] = viewer
        return viewer

    def remove_viewer(self, viewer: Viewer) -> None:
        viewer.close()
        self.viewers.pop(viewer.viewer_id, None)

    def restart(self) -> None:
        """A new ingest session (the stream came back): what follows does not continue the old
        GOP, so forget it and have every viewer resume at the next keyframe."""
        self._gop = []
        self._gop_bytes = 0
        for viewer in self.viewers.values():
            viewer.waiting_key = True

    def close(self) -> None:
        for viewer in list(self.viewers.values()):
            viewer.close()
        self.viewers.clear()
        self._gop = []
