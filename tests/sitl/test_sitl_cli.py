"""`python -m sitl` as a real process: ready line, MAVLink on the ports, clean exit on signals."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import common as mav

from tests.sitl.conftest import free_udp_ports

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sitl", *args], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_home_row_sends_heartbeats_and_exits_cleanly(sig: signal.Signals) -> None:
    base = free_udp_ports(2)
    listeners = []
    for i in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", base + i))
        s.settimeout(5.0)
        listeners.append(s)
    proc = start("--drones", "2", "--base-port", str(base), "--home", "51.5,-0.12,30",
                 "--speedup", "5")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"sitl: 2 vehicles, ports {base}..{base + 1}"
        for i, s in enumerate(listeners):
            parser = mav.MAVLink(None)
            data, _ = s.recvfrom(4096)
            msgs = parser.parse_buffer(data) or []
            assert msgs
            assert {m.get_srcSystem() for m in msgs} == {i + 1}
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=10)
        for s in listeners:
            s.close()
    assert proc.returncode == 0, err


def test_cli_sites_one_vehicle_per_dock() -> None:
    from missions.sites import load_sites

    docks = len(load_sites("met-trial").docks)
    base = free_udp_ports(docks)
    proc = start("--sites", "met-trial", "--base-port", str(base))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == f"sitl: {docks} vehicles, ports {base}..{base + docks - 1}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_cli_rejects_bad_home() -> None:
    proc = start("--home", "nonsense")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert "LAT,LON,ALT" in err
