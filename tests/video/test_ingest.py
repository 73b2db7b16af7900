"""The relay's ingest hands each frame on as soon as its last RTP packet arrives, not when the
next frame begins, and its TS says each frame's length (so a player's demuxer need not wait for
the next one either). Frames from libx264 through FFmpeg's RTP muxer, one at a time."""

from __future__ import annotations

import itertools
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from groundstation.adapters.broker import free_udp_range
from groundstation.video.hub import Chunk
from groundstation.video.ingest import RtpIngest

pytestmark = pytest.mark.integration

TS_PACKET = 188


class Events:
    """An IngestEvents that keeps what it gets (called from the ingest thread)."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.sizes: list[tuple[int, int]] = []
        self.sessions = 0
        self.failures: list[str] = []
        self.changed = threading.Condition()

    def session_started(self) -> None:
        self.sessions += 1

    def picture_size(self, width_px: int, height_px: int) -> None:
        self.sizes.append((width_px, height_px))

    def chunk(self, chunk: Chunk) -> None:
        with self.changed:
            self.chunks.append(chunk)
            self.changed.notify_all()

    def session_failed(self, reason: str) -> None:
        self.failures.append(reason)

    def wait_for(self, count: int, timeout_s: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.chunks) >= count, timeout_s)


def pes_lengths(ts: bytes) -> list[int]:
    """PES_packet_length of every PES that starts in these TS packets (video PID only)."""
    out = []
    for k in range(0, len(ts) - TS_PACKET + 1, TS_PACKET):
        p = ts[k : k + TS_PACKET]
        if p[0] != 0x47 or not p[1] & 0x40:  # sync byte; payload unit start
            continue
        pos = 4
        if p[3] & 0x20:  # adaptation field
            pos += 1 + p[4]
        if p[pos : pos + 3] == b"\x00\x00\x01" and p[pos + 3] >= 0xE0:  # a video stream id
            out.append(int.from_bytes(p[pos + 4 : pos + 6], "big"))
    return out


def test_each_frame_goes_out_at_its_last_packet() -> None:
    port = free_udp_range(1)
    events = Events()
    ingest = RtpIngest("d1", port, events, read_timeout_s=5.0)
    ingest.start()
    try:
        with av.open(f"rtp://127.0.0.1:{port}", "w", format="rtp") as out:
            s = out.add_stream("libx264", rate=25, options={
                "preset": "ultrafast", "tune": "zerolatency",
                "x264-params": "repeat-headers=1:keyint=25:scenecut=0"})
            s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
            s.codec_context.time_base = Fraction(1, 90000)
            rng = np.random.default_rng(3)
            for i in range(4):
                img = rng.integers(0, 64, (240, 320, 3), dtype=np.uint8)  # frames < 64 KB
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = i * 3600, Fraction(1, 90000)
                for packet in s.encode(frame):
                    out.mux(packet)
                # nothing more is sent until this frame is out of the relay's ingest
                assert events.wait_for(i + 1, 3.0), f"frame {i} held back ({len(events.chunks)})"
                time.sleep(0.2)  # (a frame held for the next one would show up here)
                assert len(events.chunks) == i + 1
    finally:
        ingest.stop()
    assert events.sessions == 1 and not events.failures
    assert events.sizes == [(320, 240)]
    assert [c.key for c in events.chunks] == [True, False, False, False]
    pts = [c.pts for c in events.chunks]
    assert [b - a for a, b in itertools.pairwise(pts)] == [3600] * 3
    for c in events.chunks:
        assert len(c.data) % TS_PACKET == 0
        [length] = pes_lengths(c.data)  # one frame, one PES, its length written
        assert length > len(c.data) // 2, f"PES length {length} for {len(c.data)} bytes"
