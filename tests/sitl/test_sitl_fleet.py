"""SimFleet on real sockets without MAVSDK: ports, system ids, and the two clocks."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest
from pymavlink.dialects.v20 import common as mav

from sitl import Home, SimFleet
from tests.sitl.conftest import HOME, free_udp_ports

pytestmark = pytest.mark.integration


async def test_speedup_scales_physics_not_the_link() -> None:
    base = free_udp_ports(1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", base))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    counts: Counter[str] = Counter()
    try:
        async with SimFleet([HOME], base_port=base, speedup=10.0) as fleet:
            t0, sim0 = loop.time(), fleet.sim_time_s
            while loop.time() - t0 < 2.0:
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.5)
                except TimeoutError:
                    continue
                parser = mav.MAVLink(None)
                for m in parser.parse_buffer(data) or []:
                    counts[m.get_type()] += 1
            wall = loop.time() - t0
            sim = fleet.sim_time_s - sim0
    finally:
        sock.close()
    assert sim == pytest.approx(10.0 * wall, rel=0.1)
    assert 2 <= counts["HEARTBEAT"] <= 3  # 1 Hz wall clock, not 10 Hz
    assert 25 <= counts["ATTITUDE"] <= 35  # 15 Hz wall clock


def test_fleet_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SimFleet([])
    with pytest.raises(ValueError, match="speedup"):
        SimFleet([HOME], speedup=0.0)
    with pytest.raises(ValueError, match="250"):
        SimFleet([Home(0.0, 0.0, 0.0)] * 251)


async def test_vehicle_i_is_system_i_plus_1_on_port_p_plus_i() -> None:
    base = free_udp_ports(3)
    socks = []
    for i in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", base + i))
        s.setblocking(False)
        socks.append(s)
    loop = asyncio.get_running_loop()
    try:
        async with SimFleet([HOME] * 3, base_port=base) as fleet:
            assert fleet.ports == [base, base + 1, base + 2]
            for i, s in enumerate(socks):
                data = await asyncio.wait_for(loop.sock_recv(s, 4096), 2.0)
                msgs = mav.MAVLink(None).parse_buffer(data) or []
                assert {m.get_srcSystem() for m in msgs} == {i + 1}
                assert {m.get_srcComponent() for m in msgs} == {1}
    finally:
        for s in socks:
            s.close()
