"""A real H.264 RTP source for the video tests, run as its own process:

    python rtp_source.py PORT SECONDS [WIDTH HEIGHT [HEADERS]]

HEADERS ``once`` sends the SPS/PPS in-band with the first keyframe only (as a GStreamer camera
with rtph264pay config-interval=0 does); by default they come before every keyframe.

PyAV's libx264 (ultrafast, zerolatency, a keyframe every second, SPS/PPS repeated) packetised by
FFmpeg's rtp muxer to rtp://127.0.0.1:PORT at 25 fps, ~2.5 Mbit/s at 720p, each frame carrying
its capture time in the clock code (docs/video.md). A moving pattern with changing grain, about
the stream's bitrate. Prints "streaming" once the first frame is sent.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt
from av.stream import Stream

BITS, CELL, X0 = 48, 16, 16


def draw_clock(y: npt.NDArray[np.uint8], ms: int) -> None:
    h = y.shape[0]
    y[h - 40 : h - 8, 8 : X0 + BITS * CELL + 8] = 16
    for k in range(BITS):
        if (ms >> (BITS - 1 - k)) & 1:
            y[h - 32 : h - 16, X0 + k * CELL : X0 + (k + 1) * CELL] = 235


def without_headers(packet: av.Packet[Stream]) -> av.Packet[Stream]:
    """The keyframe without its SPS/PPS NAL units (types 7 and 8)."""
    data = bytes(packet)
    starts: list[int] = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0 and len(starts) < 8:
        starts.append(pos)
        if data[pos + 3] & 0x1F in (1, 5):
            break
        pos = data.find(b"\x00\x00\x01", pos + 3)
    keep = bytearray(data[: starts[0]])
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(data)
        if data[start + 3] & 0x1F not in (7, 8):
            keep += data[start:end]
    out = av.Packet(bytes(keep))
    out.pts, out.dts, out.time_base = packet.pts, packet.dts, packet.time_base
    out.stream, out.is_keyframe = packet.stream, True
    return out


def main() -> None:
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    width, height = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (1280, 720)
    once = len(sys.argv) > 5 and sys.argv[5] == "once"
    out = av.open(f"rtp://127.0.0.1:{port}", "w", format="rtp")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.bit_rate = 2_500_000 * width * height // (1280 * 720)
    stream.codec_context.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "x264-params": "keyint=25:min-keyint=25:scenecut=0:repeat-headers=1",
    }
    xs = np.arange(width, dtype=np.int32)[None, :]
    ys = np.arange(height, dtype=np.int32)[:, None]
    base = ((xs // 40 + ys // 40) % 2 * 120 + 60 + (xs * 60 // width)).astype(np.uint8)
    uv = np.full((height // 2, width), 128, np.uint8)
    # fine detail that changes every frame (eight noise pictures in turn), so that the encoder
    # spends about the bitrate a camera over a city would
    rng = np.random.default_rng(7)
    grain = [rng.integers(0, 24, (height, width), dtype=np.uint8) for _ in range(8)]
    t0 = time.time()
    i = 0
    while time.time() - t0 < seconds:
        y = np.roll(base, (i * 6) % width, axis=1) + grain[i % 8]
        draw_clock(y, int(time.time() * 1000))
        frame = av.VideoFrame.from_ndarray(np.vstack([y, uv]), format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, 25)
        for packet in stream.encode(frame):
            if once and i > 0 and packet.is_keyframe:
                packet = without_headers(packet)  # noqa: PLW2901
            out.mux(packet)
        if i == 0:
            print("streaming", flush=True)
        i += 1
        time.sleep(max(0.0, t0 + i / 25 - time.time()))
    out.close()


if __name__ == "__main__":
    main()
