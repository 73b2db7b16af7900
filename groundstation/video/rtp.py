"""RTP (RFC 3550) carrying H.264 (RFC 6184, packetization mode 1) back to access units. Pure.

The relay depacketizes the camera's stream itself instead of FFmpeg's RTP demuxer: FFmpeg's H.264
parser hands out an access unit only when the next one begins (40 ms late at 25 fps), while the
sender marks the last packet of each access unit (the RTP marker bit), so an access unit can go
out the moment its last packet arrives. Packetisation is protocol work, not codec work: no
picture is decoded here.

:class:`H264Depacketizer` takes parsed packets (:func:`parse_rtp`) in arrival order and returns
the access units they complete, in Annex B form (each NAL unit behind a 4-byte start code):
single NAL unit packets (types 1-23), STAP-A (24) and FU-A (28). An access unit ends at the
marker bit, or when a packet of a later timestamp (or another SSRC) arrives first. A lost packet
(a gap in the sequence numbers) makes the access unit it belongs to ``complete=False``; the
caller decides what to do with it (the relay waits for the next keyframe).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AccessUnit", "H264Depacketizer", "RtpError", "RtpPacket", "parse_rtp"]

START_CODE = b"\x00\x00\x00\x01"
NAL_IDR = 5
STAP_A = 24
FU_A = 28
_SEQ_MOD = 1 << 16
_HEADER_BYTES = 12


class RtpError(ValueError):
    """A datagram that is not an RTP packet we can take (the reason in the message)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    marker: bool
    sequence: int
    timestamp: int
    """In the stream's clock (90 kHz for video), 32 bits, wrapping."""
    ssrc: int
    payload: bytes


def parse_rtp(datagram: bytes) -> RtpPacket:
    """The RTP packet in a UDP datagram; RtpError says why it is not one."""
    if len(datagram) < _HEADER_BYTES:
        raise RtpError(f"{len(datagram)} bytes: shorter than an RTP header")
    b0, b1 = datagram[0], datagram[1]
    if b0 >> 6 != 2:
        raise RtpError(f"RTP version {b0 >> 6}, not 2")
    pt = b1 & 0x7F
    if 72 <= pt <= 76:
        raise RtpError(f"payload type {pt}: an RTCP packet, not RTP")
    start = _HEADER_BYTES + 4 * (b0 & 0x0F)  # CSRC list
    if b0 & 0x10:  # header extension: 4 bytes, then its length in 32-bit words
        if len(datagram) < start + 4:
            raise RtpError("header extension cut short")
        start += 4 + 4 * int.from_bytes(datagram[start + 2 : start + 4], "big")
    end = len(datagram)
    if b0 & 0x20:  # padding: its length in the last byte
        end -= datagram[-1]
    if end <= start:
        raise RtpError("no payload")
    return RtpPacket(
        payload_type=pt,
        marker=bool(b1 & 0x80),
        sequence=int.from_bytes(datagram[2:4], "big"),
        timestamp=int.from_bytes(datagram[4:8], "big"),
        ssrc=int.from_bytes(datagram[8:12], "big"),
        payload=datagram[start:end],
    )


@dataclass(frozen=True, slots=True)
class AccessUnit:
    """One picture's NAL units, Annex B."""

    data: bytes
    timestamp: int
    ssrc: int
    keyframe: bool
    """It holds an IDR slice (a decoder can start here, given SPS/PPS)."""
    complete: bool
    """No packet of it was lost and every payload was understood."""


class H264Depacketizer:
    """Packets in (arrival order), access units out. Counters: ``lost`` packets (by sequence
    gaps), ``late`` packets (older than one already taken, dropped), ``unsupported`` payloads."""

    def __init__(self) -> None:
        self.lost = 0
        self.late = 0
        self.unsupported = 0
        self._parts: list[bytes] = []
        self._ts: int | None = None
        self._ssrc: int | None = None
        self._next_seq: int | None = None
        self._key = False
        self._damaged = False
        self._in_fu = False

    def push(self, packet: RtpPacket) -> list[AccessUnit]:
        out: list[AccessUnit] = []
        if packet.ssrc != self._ssrc:
            self._emit(out)  # what is left of the old source: its end never came
            self._ssrc, self._next_seq = packet.ssrc, None
        if self._next_seq is not None:
            ahead = (packet.sequence - self._next_seq) % _SEQ_MOD
            if ahead >= _SEQ_MOD // 2:  # behind the last one taken: late or duplicated
                self.late += 1
                return out
            if ahead:
                self.lost += ahead
                self._damaged = True
                self._in_fu = False
        self._next_seq = (packet.sequence + 1) % _SEQ_MOD
        if self._ts is not None and packet.timestamp != self._ts:
            self._emit(out)  # the marker of the previous one was lost
        self._ts = packet.timestamp
        self._payload(packet.payload)
        if packet.marker:
            self._emit(out)
        return out

    def _emit(self, out: list[AccessUnit]) -> None:
        if (self._parts or self._damaged) and self._ts is not None and self._ssrc is not None:
            complete = not self._damaged and not self._in_fu
            out.append(AccessUnit(b"".join(self._parts), self._ts, self._ssrc, self._key, complete))
        self._parts = []
        self._ts = None
        self._key = self._damaged = self._in_fu = False

    def _nal(self, nal: bytes) -> None:
        self._parts.append(START_CODE)
        self._parts.append(nal)
        if nal[0] & 0x1F == NAL_IDR:
            self._key = True

    def _payload(self, p: bytes) -> None:
        nal_type = p[0] & 0x1F
        if 1 <= nal_type <= 23:
            self._nal(p)
        elif nal_type == STAP_A:
            pos = 1
            while pos + 2 <= len(p):
                size = int.from_bytes(p[pos : pos + 2], "big")
                pos += 2
                if size == 0 or pos + size > len(p):
                    self._damaged = True
                    return
                self._nal(p[pos : pos + size])
                pos += size
        elif nal_type == FU_A and len(p) > 2:
            fu = p[1]
            if fu & 0x80:  # start: the NAL header is rebuilt from the indicator and FU header
                if self._in_fu:
                    self._damaged = True  # the previous fragment's end never came
                self._in_fu = True
                self._parts.append(START_CODE)
                header = (p[0] & 0xE0) | (fu & 0x1F)
                self._parts.append(bytes((header,)))
                if fu & 0x1F == NAL_IDR:
                    self._key = True
            elif not self._in_fu:
                self._damaged = True  # a middle or an end without its start
                return
            self._parts.append(p[2:])
            if fu & 0x40:
                self._in_fu = False
        else:
            self.unsupported += 1
            self._damaged = True
