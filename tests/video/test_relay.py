"""The relay with a real H.264 RTP source (PyAV libx264 in its own process) and real players:
ffmpeg, ffprobe, GStreamer and PyAV read ``http://user:pass@127.0.0.1:PORT/video/d1.ts``."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.journal import Journal
from groundstation.contract import Role, VideoState
from groundstation.tools.security import UserSpec, write_mosquitto_config
from groundstation.video import clockcode
from groundstation.video.auth import DemoUsers, PasswordFileUsers
from groundstation.video.hub import ViewerCounters
from groundstation.video.relay import RelayConfig, StreamStatus, VideoError, VideoRelay
from tests.video.video_helpers import (
    ffmpeg_frames,
    ffprobe_stream,
    gst_frames,
    http_status,
    pyav_frames,
    rtp_source,
    with_login,
)

pytestmark = pytest.mark.integration

DEMO = DemoUsers({"pilot": Role.OPERATOR, "viewer": Role.VIEWER, "dock1": Role.DOCK})


def _check_frames(frames: list[npt.NDArray[np.uint8]], n: int, width: int, height: int) -> None:
    """``n`` pictures of the right size, each carrying a capture time from the last minute,
    in order: real frames of the live stream, decoded."""
    assert len(frames) == n
    now = int(time.time() * 1000)
    times = []
    for frame in frames:
        assert frame.shape == (height, width)
        captured = clockcode.decode_ms(frame, now_ms=now)
        assert captured is not None, "a frame without a readable clock code"
        assert 0 <= now - captured < 60_000
        times.append(captured)
    assert times == sorted(times) and len(set(times)) == n


def _report_cli(journal: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``groundstation report --journal JOURNAL ...`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "groundstation", "report", "--journal", str(journal), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _wait_for(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"not so within {timeout_s} s"
        await asyncio.sleep(0.05)


async def _wait_state(states: list[StreamStatus], state: VideoState, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not states or states[-1].state != state:
        assert time.monotonic() < deadline, f"no {state} within {timeout_s} s: {states[-1:]}"
        await asyncio.sleep(0.05)


async def test_players_see_frames_of_the_advertised_size(tmp_path: Path) -> None:
    """ffmpeg, GStreamer and PyAV at once, and ffprobe; 1280x720 as the camera sends it."""
    port = free_udp_range(2)
    states: list[StreamStatus] = []
    cfg = RelayConfig(evidence_dir=tmp_path)
    async with VideoRelay(cfg, DEMO, on_state=states.append) as relay:
        first = await relay.watch("d1", port)
        assert first.state == VideoState.IDLE and "udp port" in first.reason
        url = relay.url_for("d1")
        assert url == f"http://127.0.0.1:{relay.port}/video/d1.ts"
        with rtp_source(port, 60, 1280, 720):
            await _wait_state(states, VideoState.LIVE, 20)
            viewer_url = with_login(url, "pilot", "x")
            probe, by_ffmpeg, by_gst, by_pyav = await asyncio.gather(
                ffprobe_stream(viewer_url),
                ffmpeg_frames(viewer_url, 30, 1280, 720),
                gst_frames(url, "viewer", "x", 30, 1280, 720),
                asyncio.to_thread(pyav_frames, viewer_url, 30),
            )
            assert (probe["codec_name"], probe["width"], probe["height"]) == ("h264", 1280, 720)
            for frames in (by_ffmpeg, by_gst, by_pyav):
                _check_frames(frames, 30, 1280, 720)
            status = relay.status("d1")
            # every player went away: the relay notices at its next write and forgets them
            await _wait_for(lambda: relay.counters("d1").viewers == [], 10)
            counters = relay.counters("d1")
        assert counters.frames_out >= 3 * 30 + 1
        assert counters.keyframes_in >= 1 and counters.sessions == 1
        assert (status.state, status.width_px, status.height_px) == (VideoState.LIVE, 1280, 720)
        assert status.fps == pytest.approx(25.0, abs=2.0)
        assert status.bitrate_kbps > 0


async def test_slow_viewer_loses_frames_others_do_not(tmp_path: Path) -> None:
    """A client that stops reading fills its queue and loses whole frames, then is dropped
    after the write timeout; a viewer beside it gets every frame in order."""
    port = free_udp_range(2)
    cfg = RelayConfig(evidence_dir=tmp_path, viewer_queue_chunks=25, write_timeout_s=3.0)
    async with VideoRelay(cfg, DEMO) as relay:
        await relay.watch("d1", port)
        with rtp_source(port, 60):
            await _wait_for(lambda: relay.status("d1").state == VideoState.LIVE, 20)
            stuck = socket.socket()
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.connect(("127.0.0.1", relay.port))
            token = base64.b64encode(b"viewer:x").decode()
            request = f"GET /video/d1.ts HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n"
            stuck.sendall(request.encode() + b"\r\n")
            seen: dict[str, ViewerCounters] = {}

            async def watch_counters() -> None:
                while True:
                    seen.update((v.user, v) for v in relay.counters("d1").viewers)
                    await asyncio.sleep(0.05)

            poller = asyncio.create_task(watch_counters())
            try:
                url = with_login(relay.url_for("d1"), "pilot", "x")
                frames = await ffmpeg_frames(url, 100, 848, 480)
                _check_frames(frames, 100, 848, 480)
                steps = np.diff([clockcode.decode_ms(f) for f in frames])
                assert max(steps) < 1000, "the good viewer missed frames"
                await _wait_for(lambda: relay.counters("d1").viewers == [], 15)
            finally:
                poller.cancel()
                stuck.close()
            assert seen["viewer"].dropped_chunks > 0
            assert seen["pilot"].dropped_chunks == 0
        counters = relay.counters("d1")
        assert counters.dropped > 0
        assert counters.frames_out > 100


async def test_logins_and_drones_are_checked(tmp_path: Path) -> None:
    """The broker's password file: wrong or no login 401, a dock 403, unknown drone 404."""
    conf = tmp_path / "broker"
    users = [
        UserSpec("alice", Role.OPERATOR, "a-pass"),
        UserSpec("dock-1", Role.DOCK, "d-pass"),
    ]
    write_mosquitto_config(conf, users, port=18831)
    port = free_udp_range(2)
    cfg = RelayConfig(evidence_dir=tmp_path / "ev")
    async with VideoRelay(cfg, PasswordFileUsers.from_dir(conf)) as relay:
        await relay.watch("d1", port)
        url = relay.url_for("d1")

        async def get(url: str, auth: tuple[str, str] | None) -> tuple[int, str, dict[str, str]]:
            return await asyncio.to_thread(http_status, url, auth)

        status, text, headers = await get(url, None)
        assert status == 401 and "no login" in text
        assert headers["WWW-Authenticate"] == 'Basic realm="dfr video"'
        status, text, _ = await get(url, ("alice", "wrong"))
        assert status == 401 and "wrong password" in text
        status, text, _ = await get(url, ("mallory", "a-pass"))
        assert status == 401
        status, text, _ = await get(url, ("dock-1", "d-pass"))
        assert status == 403 and "role dock may not view" in text
        status, text, _ = await get(url.replace("/d1.ts", "/d9.ts"), ("alice", "a-pass"))
        assert status == 404 and "d9" in text
        status, _, headers = await get(url, ("alice", "a-pass"))
        assert status == 200 and headers["Content-Type"] == "video/mp2t"
        assert relay.http_refused == 5

        with pytest.raises(VideoError, match="already watched"):
            await relay.watch("d1", port + 10)
        with pytest.raises(VideoError, match="d1's stream"):
            await relay.watch("d2", port)
        with pytest.raises(VideoError, match="drone id"):
            await relay.watch("../x", port + 10)
        with pytest.raises(VideoError, match="not watched"):
            await relay.start_recording("d7", "INC-1", "S-1")


async def test_stream_stops_and_comes_back(tmp_path: Path) -> None:
    """Source A stops: RECONNECTING, then LOST; source B (a new process, a new RTP session)
    starts: LIVE again. A viewer connected all along gets frames from both; the recording has
    the gap in its manifest and verifies; one changed byte or a deleted segment fails it."""
    port = free_udp_range(2)
    jpath = tmp_path / "journal.sqlite"
    journal = Journal(jpath)
    states: list[StreamStatus] = []
    cfg = RelayConfig(
        evidence_dir=tmp_path / "ev",
        segment_s=2.0,
        stall_s=1.0,
        patience_s=2.0,
        read_timeout_s=1.5,
    )
    async with VideoRelay(cfg, DEMO, journal, on_state=states.append) as relay:
        await relay.watch("d1", port)
        await relay.start_recording("d1", "INC-7", "S-1")
        url = with_login(relay.url_for("d1"), "pilot", "x")
        with rtp_source(port, 30):
            await _wait_state(states, VideoState.LIVE, 20)
            viewer = asyncio.create_task(asyncio.to_thread(pyav_frames, url, 10_000))
            await asyncio.sleep(4)
        stopped_ms = int(time.time() * 1000)
        await _wait_state(states, VideoState.RECONNECTING, 10)
        await _wait_state(states, VideoState.LOST, 10)
        lost = states[-1]
        assert "no video since" in lost.reason
        with rtp_source(port, 30):
            restarted_ms = int(time.time() * 1000)
            await _wait_state(states, VideoState.LIVE, 20)
            await asyncio.sleep(4)
        segments = await relay.stop_recording("d1")
        assert relay.status("d1").recording is False
        await relay.unwatch("d1")  # ends the viewer's response
        frames = await asyncio.wait_for(viewer, 30)
    journal.close()

    sequence = [s.state for n, s in enumerate(states) if n == 0 or s.state != states[n - 1].state]
    assert sequence == [
        VideoState.IDLE,
        VideoState.LIVE,
        VideoState.RECONNECTING,
        VideoState.LOST,
        VideoState.LIVE,
    ]
    captured = [clockcode.decode_ms(f) for f in frames]
    assert None not in captured
    assert any(c < stopped_ms for c in captured if c)  # before the stop ...
    assert any(c > restarted_ms for c in captured if c)  # ... and after the return

    manifest = json.loads((tmp_path / "ev" / "INC-7" / "manifest.json").read_text())
    (recording,) = manifest["recordings"]
    (gap,) = recording["gaps"]
    assert gap["end_ms"] is not None
    assert gap["start_ms"] <= stopped_ms + 500 and gap["end_ms"] >= restarted_ms
    assert len(recording["segments"]) == len(segments) >= 4
    assert any(s.end_ms <= gap["start_ms"] for s in segments)
    assert any(s.start_ms >= gap["end_ms"] for s in segments)

    listing = _report_cli(
        jpath,
    )
    assert listing.returncode == 0, listing.stderr
    assert "incident INC-7" in listing.stdout and f"{len(segments)} segments" in listing.stdout
    ok = _report_cli(jpath, "--verify")
    assert ok.returncode == 0, ok.stderr
    assert f"evidence verified: {len(segments)} file(s)" in ok.stdout

    victim = Path(segments[1].path)
    data = bytearray(victim.read_bytes())  # noqa: ASYNC240 - the test's own small files
    data[len(data) // 2] ^= 0x20
    victim.write_bytes(bytes(data))  # noqa: ASYNC240
    changed = _report_cli(jpath, "--verify")
    assert changed.returncode == 1
    assert f"CHANGED {victim}" in changed.stderr

    Path(segments[2].path).unlink()  # noqa: ASYNC240
    missing = _report_cli(jpath, "--verify")
    assert missing.returncode == 1
    assert f"MISSING {segments[2].path}" in missing.stderr


async def test_snapshot_through_the_relay(tmp_path: Path) -> None:
    """The controller hands over the camera's JPEG (its file:// URL) and the position."""
    jpath = tmp_path / "journal.sqlite"
    journal = Journal(jpath)
    camera_file = tmp_path / "camera" / "IMG_0001.jpg"
    camera_file.parent.mkdir()
    camera_file.write_bytes(b"\xff\xd8\xff\xe0 a real camera would put a JPEG here \xff\xd9")
    cfg = RelayConfig(evidence_dir=tmp_path / "ev")
    async with VideoRelay(cfg, DEMO, journal) as relay:
        snap = await relay.add_snapshot(
            "d1", "INC-3", camera_file.as_uri(), 51.5072, -0.1276, 96.5, 1_785_000_000_000
        )
        assert Path(snap.path).read_bytes() == camera_file.read_bytes()  # noqa: ASYNC240
        with pytest.raises(VideoError, match="no such file"):
            await relay.add_snapshot("d1", "INC-3", tmp_path / "gone.jpg", 51.5, 0.0, 90, 1)
        with pytest.raises(VideoError, match="out of range"):
            await relay.add_snapshot("d1", "INC-3", b"x", 91.0, 0.0, 90, 1)
    rows = journal.db.execute(
        "SELECT drone_id, incident_id, lat_deg, lon_deg, alt_m, sha256 FROM snapshots"
    ).fetchall()
    assert rows == [("d1", "INC-3", 51.5072, -0.1276, 96.5, snap.sha256)]
    journal.close()
    listing = _report_cli(jpath, "--verify")
    assert listing.returncode == 0, listing.stderr
    assert "evidence verified: 1 file(s) of 1 incident(s)" in listing.stdout


async def test_a_busy_port_is_explained_then_taken_when_free(tmp_path: Path) -> None:
    port = free_udp_range(2)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("0.0.0.0", port))
    states: list[StreamStatus] = []
    async with VideoRelay(
        RelayConfig(evidence_dir=tmp_path), DEMO, on_state=states.append
    ) as relay:
        await relay.watch("d1", port)
        try:
            await _wait_for(lambda: "in use" in relay.status("d1").reason, 15)
        finally:
            blocker.close()
        assert relay.status("d1").state == VideoState.IDLE
        assert (
            relay.status("d1").reason
            == f"cannot receive on udp port {port}: Address already in use"
        )
        with rtp_source(port, 20):
            await _wait_state(states, VideoState.LIVE, 20)


async def test_drones_on_consecutive_ports_both_play(tmp_path: Path) -> None:
    """5600 + instance, as PX4 SITL sends: FFmpeg's RTP input also binds port + 1 (RTCP), so
    without the relay's forwarder the first drone's stream took the second drone's port."""
    port = free_udp_range(2)
    async with VideoRelay(RelayConfig(evidence_dir=tmp_path), DEMO) as relay:
        await relay.watch("d1", port)
        await relay.watch("d2", port + 1)
        with rtp_source(port, 30), rtp_source(port + 1, 30, 640, 360):
            await _wait_for(
                lambda: all(relay.status(d).state == VideoState.LIVE for d in ("d1", "d2")), 20
            )
            one, two = await asyncio.gather(
                asyncio.to_thread(pyav_frames, with_login(relay.url_for("d1"), "pilot", "x"), 5),
                asyncio.to_thread(pyav_frames, with_login(relay.url_for("d2"), "pilot", "x"), 5),
            )
        assert [f.shape[:2] for f in one] == [(480, 848)] * 5
        assert [f.shape[:2] for f in two] == [(360, 640)] * 5


async def test_late_viewer_decodes_when_the_camera_sends_headers_once(tmp_path: Path) -> None:
    """A camera that sends SPS/PPS with its first keyframe only: the relay gives later
    keyframes the last ones, so a viewer who joins afterwards still decodes."""
    port = free_udp_range(2)
    async with VideoRelay(RelayConfig(evidence_dir=tmp_path), DEMO) as relay:
        await relay.watch("d1", port)
        with rtp_source(port, 30, 848, 480, headers="once"):
            await _wait_for(lambda: relay.counters("d1").keyframes_in >= 3, 20)
            frames = await ffmpeg_frames(
                with_login(relay.url_for("d1"), "pilot", "x"), 10, 848, 480
            )
            _check_frames(frames, 10, 848, 480)
            assert relay.counters("d1").headers_added >= 2
            assert (relay.status("d1").width_px, relay.status("d1").height_px) == (848, 480)
