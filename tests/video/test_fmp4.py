"""The browser view's remuxer: MPEG-TS chunks of a real x264 stream in, fragmented MP4 out that
FFmpeg decodes frame by frame, one fragment per frame, never re-encoded."""

from __future__ import annotations

import io
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from groundstation.video.fmp4 import Fmp4Remuxer, codec_string

pytestmark = pytest.mark.unit


def transport_stream(frames: int, width: int = 320, height: int = 240) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency",
                                        "x264-params": "keyint=25:repeat-headers=1"}
        rng = np.random.default_rng(1)
        for i in range(frames):
            picture = rng.integers(0, 64, (height * 3 // 2, width), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_ts_becomes_playable_fragmented_mp4_from_the_first_frame() -> None:
    """Every frame comes out (none lost to the demuxer's probing), each its own fragment."""
    ts = transport_stream(50)
    pieces: list[bytes] = []
    codecs: list[str] = []
    remux = Fmp4Remuxer("t", pieces.append, codecs.append)
    remux.start()
    for i in range(0, len(ts), 188 * 70):
        while not remux.feed(ts[i : i + 188 * 70]):  # full: the thread has not caught up
            time.sleep(0.01)
    remux.stop()  # the end of the input: the thread muxes what is left and ends
    assert remux.error is None
    assert codecs == ["avc1.42c00d"]  # x264 ultrafast: constrained baseline, level 1.3
    mp4 = b"".join(pieces)
    assert remux.frames == 50
    fragments = mp4.count(b"moof")
    assert mp4[4:8] == b"ftyp" and fragments == remux.frames  # a fragment per frame
    with av.open(io.BytesIO(mp4), "r") as player:
        decoded = sum(1 for _ in player.decode(video=0))
    assert decoded == fragments


def test_codec_string_from_sps() -> None:
    assert codec_string(b"\x00\x00\x00\x01\x67\x64\x00\x1f\xac") == "avc1.64001f"
    with pytest.raises(ValueError, match="too short"):
        codec_string(b"\x00\x00\x01\x67")
