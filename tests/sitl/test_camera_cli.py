"""`python -m sitl` with its camera: RTP packets of H.264 arrive where the options say."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sitl.conftest import free_udp_ports

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_cli_streams_rtp_to_the_video_port_when_always() -> None:
    base, video = free_udp_ports(1), free_udp_ports(1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", video))
        rx.settimeout(15.0)
        proc = subprocess.Popen(
            [sys.executable, "-m", "sitl", "--home", "51.5,-0.12,30", "--base-port", str(base),
             "--video", "always", "--video-base-port", str(video)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == f"sitl: 1 vehicles, ports {base}..{base}"
            assert proc.stdout.readline().startswith(
                f"sitl: video (always) to 127.0.0.1:{video}..{video}")
            packets = [rx.recv(65535) for _ in range(20)]
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    for p in packets:
        assert p[0] >> 6 == 2  # RTP version 2
        assert p[1] & 0x7F == 96  # dynamic payload type 96, as the SDP says
    nal_types = {p[12] & 0x1F for p in packets}
    assert nal_types & {1, 5, 7, 8, 28}  # H.264 NAL units (slices, SPS, PPS, FU-A)


def test_cli_rejects_bad_camera_options() -> None:
    for args, why in ((["--camera-hfov", "0"], "FOV"), (["--incident", "x"], "LAT,LON")):
        proc = subprocess.run([sys.executable, "-m", "sitl", "--home", "51.5,-0.12,30", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        assert proc.returncode != 0
        assert why in proc.stderr
