"""A thin asyncio UDP endpoint around one SimVehicle: decode, hand to the model, encode, send.

Like PX4 SITL instance i, the endpoint binds an ephemeral UDP port and sends to a fixed remote
(host:base_port+i) where the ground station listens; it also answers every address that sends it
MAVLink (MAVSDK replies from its listening socket, so that is normally the same address).
All the messages due in one tick go out in one datagram, as PX4 does.

Each wake-up reads every datagram waiting on the socket and answers them together: MAVSDK sends
its requests in bursts (its camera plugin asks each component for four messages every five
seconds, and sends the older command when a request is denied), and a datagram per answer was
a third of the simulator's sends at 250 vehicles.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from pymavlink.dialects.v20 import common as mav

from sitl.model import SimVehicle

log = logging.getLogger(__name__)
MAX_DATAGRAM = 1400
MAX_PEERS = 8  # ground stations a vehicle streams to (the configured remote + learned ones)
MAX_READS = 64  # datagrams read per wake-up (then the other vehicles' turn)
RECV_BYTES = 65536


class VehicleEndpoint:
    """The UDP link of one vehicle (``open`` binds it on the running loop)."""

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
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._replies: dict[tuple[str, int], list[Any]] = {}
        self.bytes_sent = 0
        self.bytes_received = 0
        self.errors = 0

    @property
    def local_port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    def open(self, host: str, loop: asyncio.AbstractEventLoop) -> None:
        """Bind an ephemeral port on host and start reading."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind((host, 0))
            loop.add_reader(sock.fileno(), self._readable)
        except BaseException:
            sock.close()
            raise
        self._sock, self._loop = sock, loop

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(MAX_READS):
            try:
                data, addr = sock.recvfrom(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ECONNREFUSED reported for an earlier send
                log.debug("vehicle %d: %s", self.vehicle.state.system_id, exc)
                continue
            self.datagram_received(data, addr)
        if self._replies:
            replies, self._replies = self._replies, {}
            for to, msgs in replies.items():
                self.send(msgs, [to])

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
        if replies:  # answered once every waiting datagram is read (_readable)
            self._replies.setdefault(addr, []).extend(replies)

    def send(self, msgs: Iterable[Any], to: Iterable[tuple[str, int]] | None = None) -> None:
        """Encode and send; several messages share a datagram up to MAX_DATAGRAM bytes."""
        sock = self._sock
        if sock is None:
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
                try:
                    sock.sendto(d, addr)
                except OSError as exc:  # a full buffer or nobody there: lost, as with PX4
                    log.debug("vehicle %d: send to %s: %s", self.vehicle.state.system_id, addr,
                              exc)
                    continue
                self.bytes_sent += len(d)

    def tick(self, now_s: float) -> None:
        """Send whatever the vehicle has due."""
        msgs = self.vehicle.due_messages(now_s)
        if msgs:
            self.send(msgs)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
