"""Partner logins on the relay (a real H.264 RTP source): a partner watches only a drone its
agency has shared now, asked at the request and every second while it watches; cut off within
2 s of the share ending, while the force's own viewer goes on."""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from groundstation.adapters.broker import free_udp_range
from groundstation.contract import Role, VideoState
from groundstation.video.auth import DemoUsers, ViewGate
from groundstation.video.relay import RelayConfig, VideoRelay
from tests.video.video_helpers import http_status, rtp_source

pytestmark = pytest.mark.integration

USERS = DemoUsers({"pilot": Role.OPERATOR, "lfb-view": Role.PARTNER_VIEWER})


@dataclass
class Gate:
    """The controller's sharing as the relay sees it
    (groundstation.control.sharing.Sharing.may_watch)."""

    shared: set[str] = field(default_factory=set)

    def may_watch(self, username: str, role: Role, drone_id: str) -> str | None:
        ok = drone_id in self.shared
        return None if ok else f"drone {drone_id} is not over an incident shared with lfb"


def _gate(gate: Gate) -> ViewGate:
    return gate


async def _open(port: int, user: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    token = base64.b64encode(f"{user}:x".encode()).decode()
    writer.write(f"GET /video/d1.ts HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n\r\n"
                 .encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    return reader, writer, head


async def _bytes_for(reader: asyncio.StreamReader, seconds: float) -> tuple[int, bool]:
    """Bytes read in ``seconds``, and whether the relay closed the stream."""
    total, deadline = 0, time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            break
        if not chunk:
            return total, True
        total += len(chunk)
    return total, False


async def test_a_partner_watches_only_while_shared(tmp_path: Path) -> None:
    port = free_udp_range(1)
    async with VideoRelay(RelayConfig(evidence_dir=tmp_path), USERS) as relay:
        await relay.watch("d1", port)
        url = relay.url_for("d1")
        with rtp_source(port, 60, 320, 240):
            for _ in range(200):
                if relay.status("d1").state == VideoState.LIVE:
                    break
                await asyncio.sleep(0.1)
            # No sharing on this relay: a partner login sees nothing.
            status, body, _ = await asyncio.to_thread(http_status, url, ("lfb-view", "x"))
            assert (status, body) == (
                403, "lfb-view: role partner-viewer: no incident is shared on this relay\n")
            gate = Gate()
            relay.gate = _gate(gate)
            status, body, _ = await asyncio.to_thread(http_status, url, ("lfb-view", "x"))
            assert (status, body) == (403, "lfb-view: drone d1 is not over an incident shared "
                                           "with lfb\n")
            gate.shared.add("d1")
            partner, p_writer, head = await _open(relay.port, "lfb-view")
            pilot, o_writer, o_head = await _open(relay.port, "pilot")
            assert head.startswith(b"HTTP/1.1 200") and o_head.startswith(b"HTTP/1.1 200")
            got, closed = await _bytes_for(partner, 1.5)
            assert got > 1000 and not closed  # live video while shared
            gate.shared.clear()  # the share ends
            t0 = time.monotonic()
            _, closed = await _bytes_for(partner, 5.0)
            cut_s = time.monotonic() - t0
            assert closed and cut_s < 2.0, cut_s
            print(f"relay: partner viewer cut off {cut_s:.2f} s after the share ended")
            got, closed = await _bytes_for(pilot, 1.0)
            assert got > 1000 and not closed  # the force's own viewer goes on
            for w in (p_writer, o_writer):
                w.close()
