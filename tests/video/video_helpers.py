"""Helpers for the video tests: the clock code encoder (the camera's own lives in sitl/camera/;
this one exists only to test the reader) and a real H.264 RTP source."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from groundstation.video import clockcode as cc


def draw_clock(frame: npt.NDArray[np.uint8], ms: int) -> None:
    """Draw the clock code of ``ms`` into an (H, W) grey or (H, W, 3) RGB frame, in place."""
    height = frame.shape[0]
    value = ms % cc.MODULUS
    band_right = cc.ORIGIN_X_PX + cc.BITS * cc.CELL_PX + cc.BAND_PAD_PX
    frame[height - 40 : height - 8, 8:band_right] = 0
    top = height - 32
    for k in range(cc.BITS):
        if (value >> (cc.BITS - 1 - k)) & 1:
            x = cc.ORIGIN_X_PX + k * cc.CELL_PX
            frame[top : top + cc.CELL_PX, x : x + cc.CELL_PX] = 255


# --- a real RTP source and real players ---------------------------------------------------------

SOURCE = Path(__file__).with_name("rtp_source.py")


@contextlib.contextmanager
def rtp_source(
    port: int, seconds: float, width: int = 848, height: int = 480, headers: str = "always"
) -> Iterator[subprocess.Popen[bytes]]:
    """``rtp_source.py`` in its own process, up once it has sent its first frame; stopped after."""
    proc = subprocess.Popen(
        [sys.executable, str(SOURCE), str(port), str(seconds), str(width), str(height), headers],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == b"streaming", f"the RTP source did not start: {line!r}"
        yield proc
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def with_login(url: str, user: str, password: str) -> str:
    return url.replace("http://", f"http://{user}:{password}@", 1)


def _split(raw: bytes, width: int, height: int) -> list[npt.NDArray[np.uint8]]:
    size = width * height
    return [
        np.frombuffer(raw[i : i + size], np.uint8).reshape(height, width)
        for i in range(0, len(raw) - size + 1, size)
    ]


async def _run(args: list[str], timeout_s: float) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{args[0]} did not finish within {timeout_s} s") from None
    assert proc.returncode is not None
    return proc.returncode, out, err


async def ffmpeg_frames(
    url: str, n: int, width: int, height: int, timeout_s: float = 60.0
) -> list[npt.NDArray[np.uint8]]:
    """``ffmpeg -i URL``: the first ``n`` decoded frames as grey pictures."""
    rc, out, err = await _run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-i",
            url,
            "-frames:v",
            str(n),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        timeout_s,
    )
    assert rc == 0, err.decode(errors="replace")
    return _split(out, width, height)


async def gst_frames(
    url: str,
    user: str,
    password: str,
    n: int,
    width: int,
    height: int,
    timeout_s: float = 60.0,
) -> list[npt.NDArray[np.uint8]]:
    """GStreamer: ``souphttpsrc ! tsdemux ! h264parse ! avdec_h264``, ``n`` grey frames."""
    rc, out, err = await _run(
        [
            "gst-launch-1.0",
            "-q",
            "souphttpsrc",
            f"location={url}",
            f"user-id={user}",
            f"user-pw={password}",
            "!",
            "tsdemux",
            "!",
            "h264parse",
            "!",
            "avdec_h264",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=GRAY8",
            "!",
            "identity",
            f"eos-after={n}",
            "!",
            "fdsink",
            "fd=1",
        ],
        timeout_s,
    )
    assert rc == 0, err.decode(errors="replace")
    # identity's eos-after lets a few buffers more through (33 for 30 here): keep the first n
    return _split(out, width, height)[:n]


async def ffprobe_stream(url: str, timeout_s: float = 60.0) -> dict[str, object]:
    rc, out, err = await _run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", url],
        timeout_s,
    )
    assert rc == 0, err.decode(errors="replace")
    streams = json.loads(out)["streams"]
    assert streams, "ffprobe found no video stream"
    stream: dict[str, object] = streams[0]
    return stream


def pyav_frames(url: str, n: int) -> list[npt.NDArray[np.uint8]]:
    """PyAV (FFmpeg in-process, as the console decodes): ``n`` grey frames. Blocking."""
    frames: list[npt.NDArray[np.uint8]] = []
    with av.open(url, timeout=(20.0, 10.0)) as container:
        for frame in container.decode(video=0):
            frames.append(np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8))
            if len(frames) >= n:
                break
    return frames


def http_status(url: str, auth: tuple[str, str] | None) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers of a GET refused by the relay (blocking: call in a thread)."""
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, "", dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)
