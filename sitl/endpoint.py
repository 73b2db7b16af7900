"""A thin asyncio UDP endpoint around one SimVehicle: decode, hand to the model, encode, send.

Like PX4 SITL instance i, the endpoint binds an ephemeral UDP port and sends to a fixed remote
(host:base_port+i) where the ground station listens; it also answers every address that sends it
MAVLink (MAVSDK replies from its listening socket, so that is normally the same address).
All the messages due in one tick go out in one datagram, as PX4 does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from pymavlink.dialects.v20 import common as mav

from sitl.model import SimVehicle

log = logging.getLogger(__name__)
MAX_DATAGRAM = 1400
MAX_PEERS = 8  # ground stations a vehicle streams to (the configured remote + learned ones)


class VehicleEndpoint(asyncio.DatagramProtocol):
    """The UDP link of one vehicle."""

    def __init__(
        self,
        vehicle: SimVehicle,
        remote: tuple[str, int],
        clock: Callable[[], float],
        mirror: tuple[str, int] | None = None,
    ) -> None:
        self.vehicle = vehicle
        self.remote = remote
        # A second fixed destination (like a second PX4 MAVLink instance): a standby ground
        # station receives the same streams and may command the vehicle too.
        self.mirror = mirror
        self.peers: list[tuple[str, int]] = [remote] if mirror is None else [remote, mirror]
        self._clock = clock
        self._codec = mav.MAVLink(None, srcSystem=vehicle.state.system_id, srcComponent=1)
        self._codec.robust_parsing = True
        self._seq: dict[int, int] = {}  # per source component (camera, gimbal: sitl.camera)
        self._transport: asyncio.DatagramTransport | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        self.errors = 0

    @property
    def local_port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector transport is a DatagramTransport in all but its class hierarchy.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def error_received(self, exc: Exception) -> None:
        # ECONNREFUSED when nobody listens on the remote port yet: normal for a vehicle.
        log.debug("vehicle %d: %s", self.vehicle.state.system_id, exc)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.bytes_received += len(data)
        try:
            msgs = self._codec.parse_buffer(data) or []
        except mav.MAVError:
            return
        if addr not in self.peers and len(self.peers) < MAX_PEERS:
            self.peers.append(addr)
        now = self._clock()
        replies: list[Any] = []
        for msg in msgs:
            if msg.get_type() == "BAD_DATA":
                continue
            try:
                replies.extend(self.vehicle.handle(msg, now))
            except Exception:  # a simulator bug must not kill the link; tests check errors
                log.exception("vehicle %d: handling %s", self.vehicle.state.system_id, msg)
                self.errors += 1
        if replies:
            self.send(replies, [addr])

    def send(self, msgs: Iterable[Any], to: Iterable[tuple[str, int]] | None = None) -> None:
        """Encode and send; several messages share a datagram up to MAX_DATAGRAM bytes."""
        tr = self._transport
        if tr is None:
            return
        codec = self._codec
        chunks: list[bytes] = []
        size = 0
        datagrams: list[bytes] = []
        for msg in msgs:
            comp = getattr(msg, "src_component", 1)  # payload messages carry their component
            codec.srcComponent = comp
            codec.seq = self._seq.get(comp, 0)
            buf = msg.pack(codec)
            self._seq[comp] = (codec.seq + 1) & 0xFF
            if size + len(buf) > MAX_DATAGRAM and chunks:
                datagrams.append(b"".join(chunks))
                chunks, size = [], 0
            chunks.append(buf)
            size += len(buf)
        if chunks:
            datagrams.append(b"".join(chunks))
        for addr in to if to is not None else self.peers:
            for d in datagrams:
                tr.sendto(d, addr)
                self.bytes_sent += len(d)

    def tick(self, now_s: float) -> None:
        """Send whatever the vehicle has due."""
        msgs = self.vehicle.due_messages(now_s)
        if msgs:
            self.send(msgs)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
