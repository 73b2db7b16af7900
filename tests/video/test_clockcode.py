"""The frame clock code reader: round trips through grey, RGB and a real H.264 encode/decode."""

from __future__ import annotations

import time
from fractions import Fraction

import av
import numpy as np
import pytest

from groundstation.video import clockcode as cc
from tests.video.video_helpers import draw_clock

pytestmark = pytest.mark.unit

NOW_MS = 1_785_000_000_123


def _noise(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.mark.parametrize("ms", [NOW_MS, NOW_MS - 3_600_000, NOW_MS + 59_999, NOW_MS + 1])
def test_grey_round_trip(ms: int) -> None:
    frame = _noise((720, 1280))
    draw_clock(frame, ms)
    assert cc.read_raw(frame) == ms % cc.MODULUS
    assert cc.decode_ms(frame, now_ms=NOW_MS) == ms
    assert cc.latency_ms(frame, now_ms=NOW_MS + 80) == NOW_MS + 80 - ms


def test_rgb_round_trip_and_small_picture() -> None:
    frame = _noise((480, 854, 3))
    draw_clock(frame, NOW_MS)
    assert cc.decode_ms(frame, now_ms=NOW_MS + 5) == NOW_MS
    rgba = np.concatenate([frame, np.zeros((480, 854, 1), np.uint8)], axis=2)
    assert cc.decode_ms(rgba, now_ms=NOW_MS) == NOW_MS


def test_without_code_or_too_far_is_none() -> None:
    black = np.zeros((720, 1280), np.uint8)
    assert cc.decode_ms(black, now_ms=NOW_MS) is None
    frame = _noise((720, 1280))
    draw_clock(frame, NOW_MS - 2 * cc.VALID_WITHIN_MS)
    assert cc.decode_ms(frame, now_ms=NOW_MS) is None
    assert cc.latency_ms(frame, now_ms=NOW_MS) is None


def test_modulus_wrap_picks_nearest() -> None:
    now = 3 * cc.MODULUS + 100  # the reader's clock just past a wrap of the 48-bit value
    frame = np.zeros((720, 1280), np.uint8)
    draw_clock(frame, now - 1000)  # captured just before the wrap
    assert cc.decode_ms(frame, now_ms=now) == now - 1000


def test_bad_shapes_are_refused_with_reason() -> None:
    with pytest.raises(cc.ClockCodeError, match="too small"):
        cc.read_raw(np.zeros((100, 320), np.uint8))
    with pytest.raises(cc.ClockCodeError, match="shape"):
        cc.read_raw(np.zeros((720, 1280, 2), np.uint8))
    with pytest.raises(cc.ClockCodeError, match="shape"):
        cc.read_raw(np.zeros(10, np.uint8))


def test_survives_h264_at_the_streams_bitrate() -> None:
    """Encoded with libx264 ultrafast/zerolatency at 2.5 Mbit/s on a busy picture, decoded
    with FFmpeg: every frame's code reads back exactly."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = 1280, 720, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.bit_rate = 2_500_000
    enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
    dec = av.CodecContext.create("h264", "r")
    now = int(time.time() * 1000)
    sent = [now - 1000 + 40 * i for i in range(10)]
    got: list[int | None] = []
    for i, ms in enumerate(sent):
        rgb = _noise((720, 1280, 3), seed=i)
        draw_clock(rgb, ms)
        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        vf.pts = i
        for pkt in enc.encode(vf):
            got += [cc.decode_ms(f.to_ndarray(format="gray"), now_ms=now) for f in dec.decode(pkt)]
    for pkt in enc.encode(None):
        got += [cc.decode_ms(f.to_ndarray(format="gray"), now_ms=now) for f in dec.decode(pkt)]
    assert got == sent
