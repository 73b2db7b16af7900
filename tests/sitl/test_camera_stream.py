"""The camera's video stream, decoded by the players the ground station's users have: GStreamer's
own RTP/H.264 pipeline as QGroundControl builds it, and ffprobe on an SDP file. Both must see
valid frames of the advertised size, carrying their capture time (the frame clock code)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from sitl import SimFleet
from sitl.camera import CameraConfig, StreamPolicy, clockcode
from tests.sitl.conftest import HOME, free_udp_ports

pytestmark = pytest.mark.integration

GST_CAPS = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264"
FRAMES = 30

SDP = """v=0
o=- 0 0 IN IP4 127.0.0.1
s=dfr
c=IN IP4 127.0.0.1
t=0 0
m=video {port} RTP/AVP 96
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1
"""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # scripts/setup installs them: missing is a broken machine, not a skip
        pytest.fail(f"{name} is not installed (scripts/setup installs GStreamer and FFmpeg)")
    return path


@contextlib.asynccontextmanager
async def streaming_fleet(policy: StreamPolicy = StreamPolicy.ALWAYS) -> AsyncIterator[SimFleet]:
    video_port = free_udp_ports(1)
    cfg = CameraConfig(video_base_port=video_port, policy=policy)
    async with SimFleet([HOME], base_port=free_udp_ports(1), speedup=5.0, camera=cfg) as fleet:
        yield fleet


async def _run(argv: list[str], timeout_s: float) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{argv[0]} did not finish in {timeout_s} s")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def test_gstreamer_qgc_pipeline_decodes_the_stream(tmp_path: Path) -> None:
    gst = _tool("gst-launch-1.0")
    async with streaming_fleet() as fleet:
        port = fleet.cameras[0].video_port
        sent_before = time.time()
        argv = [
            gst, "-q",
            "udpsrc", f"port={port}", f"caps={GST_CAPS}",
            "!", "rtpjitterbuffer", "latency=50",
            "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264",
            "!", "identity", f"eos-after={FRAMES}",
            # Raw grey frames (PNG encoding 30 frames would cost more than the stream itself).
            "!", "videoconvert", "!", "video/x-raw,format=GRAY8",
            "!", "multifilesink", f"location={tmp_path}/f%03d.gray",
        ]
        code, _, err = await _run(argv, 30.0)
    assert code == 0, err
    frames = sorted(tmp_path.glob("f*.gray"))  # noqa: ASYNC240 (the fleet is closed)
    assert len(frames) >= FRAMES - 1  # identity passes N-1 buffers before the EOS
    stamps = []
    for f in frames:
        data = f.read_bytes()
        assert len(data) == 1280 * 720, f"{f.name}: not a 1280x720 frame"  # the advertised size
        img = np.frombuffer(data, np.uint8).reshape(720, 1280)
        assert 20 < img[:600].mean() < 235, f"{f.name}: not a picture"
        stamps.append(clockcode.read(img))
    cv2.imwrite(str(tmp_path / "last.png"), img)
    # Every frame carries its capture time: increasing, from this run.
    assert stamps == sorted(stamps)
    assert stamps[0] >= clockcode.stamp_ms(sent_before) - 5_000
    assert stamps[-1] <= clockcode.stamp_ms(time.time())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g > 0 for g in gaps)  # (the frame rate under load is bench/'s to measure)


async def test_ffprobe_reads_the_stream_from_an_sdp_file(tmp_path: Path) -> None:
    ffprobe = _tool("ffprobe")
    async with streaming_fleet() as fleet:
        port = fleet.cameras[0].video_port
        sdp = tmp_path / "drone1.sdp"
        sdp.write_text(SDP.format(port=port))
        argv = [
            ffprobe, "-v", "error", "-protocol_whitelist", "file,udp,rtp",
            # 3 s of packets: a keyframe (one a second) and the frames after it, wherever it starts
            "-select_streams", "v", "-read_intervals", "%+#75",
            "-show_entries",
            "stream=codec_name,width,height:frame=width,height,pict_type,key_frame",
            "-of", "json", "-i", str(sdp),
        ]
        code, out, err = await _run(argv, 30.0)
    assert code == 0, err
    info = json.loads(out)
    (stream,) = info["streams"]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 1280, 720)
    frames = info["frames"]
    assert len(frames) >= 20
    assert all((f["width"], f["height"]) == (1280, 720) for f in frames)
    assert any(f["key_frame"] == 1 for f in frames)


async def test_only_airborne_vehicles_stream_unless_asked() -> None:
    async with streaming_fleet(StreamPolicy.AIRBORNE) as fleet:
        cam = fleet.cameras[0]
        await asyncio.sleep(1.0)
        assert fleet.camera_io is not None
        assert fleet.camera_io.streamers == {}  # on the ground, disarmed: nothing at all
        assert not cam.stream_running
        cam.stream_request = True  # what MAV_CMD_VIDEO_START_STREAMING sets
        await _until(lambda: cam.stream_running, 10.0, "the stream to start when asked")
        cam.stream_request = None
        await _until(lambda: not fleet.camera_io or not fleet.camera_io.streamers, 5.0,
                     "the encoder to stop on the ground")
        assert not cam.stream_running


async def _until(probe: object, timeout_s: float, what: str) -> None:
    assert callable(probe)
    end = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)
