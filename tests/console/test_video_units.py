"""The video pieces without a window: the clock code reader, the one-slot buffer, the texts."""

from __future__ import annotations

import time
from fractions import Fraction

import av
import numpy as np
import pytest

from groundstation import contract as c
from groundstation.console.qt import QImage
from groundstation.console.video.clock import read_capture_ms
from groundstation.console.video.decoder import Frame, FrameSlot, VideoStats, _fit
from groundstation.console.video.status import (
    DecoderState,
    no_video_text,
    overlay_due,
    overlay_lines,
)
from tests.console import scenario as sc
from tests.console.videosrc import draw_clock


def test_clock_code_survives_a_real_h264_round_trip() -> None:
    w, h = 1280, 720
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.framerate = Fraction(25)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
    dec = av.CodecContext.create("h264", "r")
    now = time.time()
    stamps = [now - 0.5 + i * 0.04 + 0.0007 * i for i in range(10)]
    read: list[int | None] = []
    rng = np.random.default_rng(1)
    for i, t in enumerate(stamps):
        yuv = np.full((h * 3 // 2, w), 128, np.uint8)
        yuv[:h] = rng.integers(0, 255, (h, w), dtype=np.uint8)  # noise: the worst case for x264
        draw_clock(yuv[:h], t)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = i
        for packet in enc.encode(frame):
            for out in dec.decode(packet):
                plane = out.planes[0]
                luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)[
                    :h, :w
                ]
                read.append(read_capture_ms(luma, int(now * 1000)))
    assert read == [int(t * 1000) for t in stamps[: len(read)]] and len(read) >= 5


def test_clock_code_absent_or_too_small_reads_none() -> None:
    now_ms = int(time.time() * 1000)
    assert read_capture_ms(np.zeros((720, 1280), np.uint8), now_ms) is None  # 0 = 1970
    assert read_capture_ms(np.full((720, 1280), 255, np.uint8), now_ms) is None  # 8900 years
    assert read_capture_ms(np.zeros((180, 320), np.uint8), now_ms) is None  # no room for it
    grey = np.zeros((720, 1280), np.uint8)
    draw_clock(grey, now_ms / 1000 - 2 * 86_400)  # two days off: not a capture time of ours
    assert read_capture_ms(grey, now_ms) is None


def _frame(seq: int) -> Frame:
    px = np.zeros((2, 2, 4), np.uint8)
    return Frame(QImage(2, 2, QImage.Format.Format_RGB32), px, seq, 2, 2, None, 0.0)


def test_one_slot_buffer_keeps_only_the_newest_frame() -> None:
    slot = FrameSlot()
    assert slot.take() is None
    assert slot.put(_frame(1)) is False
    assert slot.put(_frame(2)) is True  # frame 1 was never taken: dropped
    assert slot.put(_frame(3)) is True
    got = slot.take()
    assert got is not None and got.seq == 3
    assert slot.take() is None  # nothing new
    assert slot.put(_frame(4)) is False
    stats = VideoStats()
    stats.note_shown(_frame(4), 1.0)
    stats.note_shown(_frame(4), 1.1)  # the same frame in a second view counts once
    assert stats.shown == 1
    for n in range(2000):
        stats.latencies_ms.append(float(n))
    assert len(stats.latencies_ms) == stats.latencies_ms.maxlen


def test_fit_keeps_aspect_and_never_upscales() -> None:
    assert _fit(1280, 720, None) == (1280, 720)
    assert _fit(1280, 720, (640, 640)) == (640, 360)
    assert _fit(1280, 720, (4000, 4000)) == (1280, 720)
    assert _fit(1280, 720, (301, 1000)) == (300, 168)


def _desc(
    state: c.VideoState, url: str | None = "http://x/v.ts", reason: str = ""
) -> c.VideoDescriptor:
    return c.VideoDescriptor(drone_id="uav-1", ts_ms=0, state=state, url=url, reason=reason)


@pytest.mark.parametrize(
    ("desc", "decoder", "text"),
    [
        (None, None, "No video: the controller has not described this drone's camera"),
        (
            _desc(c.VideoState.NO_CAMERA, None, "no camera found"),
            None,
            "No camera: no camera found",
        ),
        (_desc(c.VideoState.IDLE, None), None, "Camera idle (it streams in the air)"),
        (_desc(c.VideoState.LOST, reason="gone 30 s"), None, "Stream lost: gone 30 s"),
        (
            _desc(c.VideoState.RECONNECTING, reason="since 12:00:01"),
            (DecoderState.PLAYING, ""),
            "Stream reconnecting: since 12:00:01",
        ),
        (_desc(c.VideoState.LIVE, None), None, "No video: the descriptor names no URL"),
        (_desc(c.VideoState.LIVE), (DecoderState.CONNECTING, ""), "Connecting to the video relay…"),
        (_desc(c.VideoState.LIVE), (DecoderState.PLAYING, ""), None),
        (
            _desc(c.VideoState.LIVE),
            (DecoderState.STALLED, "no frame for 3 s"),
            "Stream stalled: no frame for 3 s",
        ),
        (
            _desc(c.VideoState.LIVE),
            (DecoderState.RECONNECTING, "no answer; retry in 2 s"),
            "Reconnecting: no answer; retry in 2 s",
        ),
        (
            _desc(c.VideoState.LIVE),
            (DecoderState.REFUSED, "403: this login may not view video"),
            "Video refused: 403: this login may not view video",
        ),
    ],
)
def test_no_video_text(
    desc: c.VideoDescriptor | None, decoder: tuple[DecoderState, str] | None, text: str | None
) -> None:
    assert no_video_text(desc, decoder) == text


def test_overlay_lines() -> None:
    tel = sc.telemetry("uav-1", 51.5, -0.14, alt=61.6, heading=7.0)
    inc = sc.incident("inc-9", 51.5, -0.13)
    top, bottom = overlay_lines("uav-1", tel, inc, capture_ms=1_700_000_000_250)
    assert top == "uav-1  22:13:20 UTC"
    assert bottom == "ALT 62 m   HDG 007°   TO inc-9 692 m"
    _, bottom = overlay_lines("uav-1", tel, inc, capture_ms=None, compact=True)
    assert bottom == "ALT 62 m   HDG 007°   TO 692 m"
    desc = c.VideoDescriptor(
        drone_id="uav-1", ts_ms=0, state=c.VideoState.LIVE, recording=True, gimbal_pitch_deg=-35
    )
    top, bottom = overlay_lines("uav-1", None, None, None, desc, now_s=0.0)
    assert top == "uav-1  00:00:00 UTC  ● REC"
    assert bottom == "TILT -35°"


def test_a_tile_with_no_picture_refreshes_its_overlay_once_a_second() -> None:
    assert overlay_due(None, 5.0)  # never shown
    assert not overlay_due(5.0, 5.9)
    assert overlay_due(5.0, 6.0)
