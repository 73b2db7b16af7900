"""RTP/H.264 depacketization (RFC 6184) as the relay does it: hand-built packets for each rule,
and a real sender (FFmpeg's RTP muxer) whose access units must come back byte for byte, each at
its own last packet."""

from __future__ import annotations

import re
import socket
from fractions import Fraction

import av
import numpy as np
import pytest

from groundstation.video.rtp import AccessUnit, H264Depacketizer, RtpError, RtpPacket, parse_rtp

pytestmark = pytest.mark.unit

SPS = bytes([0x67, 0x42, 0x00, 0x1F, 0xAA])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65]) + bytes(range(1, 200))
SLICE = bytes([0x41]) + bytes(range(50, 90))


def rtp(seq: int, ts: int, payload: bytes, *, marker: bool = False, ssrc: int = 7) -> RtpPacket:
    return RtpPacket(96, marker, seq % 65536, ts, ssrc, payload)


def stap_a(*nals: bytes) -> bytes:
    return bytes([0x18]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


def fu_a(nal: bytes, size: int) -> list[bytes]:
    """The NAL unit in FU-A fragments of at most ``size`` payload bytes."""
    head, body = nal[0], nal[1:]
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    out = []
    for k, part in enumerate(parts):
        fu = (head & 0x1F) | (0x80 if k == 0 else 0) | (0x40 if k == len(parts) - 1 else 0)
        out.append(bytes([(head & 0xE0) | 28, fu]) + part)
    return out


def annexb(*nals: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + n for n in nals)


def test_parse_rtp_header_fields_and_refusals() -> None:
    header = bytes([0x80 | 0x10 | 0x01, 0x80 | 96]) + (513).to_bytes(2, "big")
    header += (90_000).to_bytes(4, "big") + (0xDEADBEEF).to_bytes(4, "big")
    header += (1).to_bytes(4, "big")  # one CSRC
    header += b"\xbe\xde" + (1).to_bytes(2, "big") + b"\x00" * 4  # a one-word extension
    p = parse_rtp(header + SLICE)
    assert (p.payload_type, p.marker, p.sequence, p.timestamp, p.ssrc) == (
        96, True, 513, 90_000, 0xDEADBEEF)
    assert p.payload == SLICE
    padded = bytes([0xA0, 96]) + bytes(10) + SLICE + b"\x00\x00\x03"
    assert parse_rtp(padded).payload == SLICE
    with pytest.raises(RtpError, match="shorter"):
        parse_rtp(b"\x80\x60")
    with pytest.raises(RtpError, match="version 0"):
        parse_rtp(bytes(12) + SLICE)
    with pytest.raises(RtpError, match="RTCP"):
        parse_rtp(bytes([0x80, 200]) + bytes(10) + SLICE)  # a sender report (PT 200 & 0x7f)
    with pytest.raises(RtpError, match="no payload"):
        parse_rtp(bytes([0x80, 96]) + bytes(10))


def test_an_access_unit_leaves_at_its_marker_bit() -> None:
    d = H264Depacketizer()
    assert d.push(rtp(1, 3600, stap_a(SPS, PPS))) == []
    frags = fu_a(IDR, 60)
    for k, frag in enumerate(frags[:-1]):
        assert d.push(rtp(2 + k, 3600, frag)) == []
    [unit] = d.push(rtp(1 + len(frags), 3600, frags[-1], marker=True))
    assert unit == AccessUnit(annexb(SPS, PPS, IDR), 3600, 7, keyframe=True, complete=True)
    [unit] = d.push(rtp(2 + len(frags), 7200, SLICE, marker=True))
    assert unit == AccessUnit(annexb(SLICE), 7200, 7, keyframe=False, complete=True)


def test_lost_marker_ends_the_unit_at_the_next_timestamp() -> None:
    d = H264Depacketizer()
    assert d.push(rtp(1, 3600, SLICE)) == []  # its marker packet is not lost: there is none
    [unit] = d.push(rtp(2, 7200, SLICE))
    assert unit.timestamp == 3600 and unit.complete


def test_a_lost_packet_marks_its_unit_incomplete_and_late_ones_are_dropped() -> None:
    d = H264Depacketizer()
    frags = fu_a(IDR, 60)
    d.push(rtp(10, 3600, frags[0]))
    # frags[1] lost
    [unit] = d.push(rtp(12, 3600, frags[2], marker=True))
    assert not unit.complete and d.lost == 1
    assert d.push(rtp(11, 3600, frags[1])) == [] and d.late == 1
    [unit] = d.push(rtp(13, 7200, SLICE, marker=True))
    assert unit.complete
    # wrapping sequence numbers are not a loss
    d = H264Depacketizer()
    units = [d.push(rtp(seq, 3600 * seq, SLICE, marker=True)) for seq in (65534, 65535, 65536)]
    assert all(u.complete for [u] in units) and d.lost == 0 and d.late == 0


def test_a_new_source_starts_afresh_and_odd_payloads_are_refused() -> None:
    d = H264Depacketizer()
    d.push(rtp(100, 3600, fu_a(IDR, 60)[0]))
    old, first = d.push(rtp(5, 900, SLICE, marker=True, ssrc=8))
    assert old.ssrc == 7 and not old.complete  # its end never came
    assert first.ssrc == 8 and first.complete
    [unit] = d.push(rtp(6, 4500, SLICE, marker=True, ssrc=8))
    assert unit.complete and d.lost == 0
    [bad] = d.push(rtp(7, 8100, bytes([0x19, 0, 0]), marker=True, ssrc=8))  # STAP-B
    assert not bad.complete and d.unsupported == 1
    [cut] = d.push(rtp(8, 11700, stap_a(SLICE)[:-3], marker=True, ssrc=8))
    assert not cut.complete


def _nals(data: bytes) -> list[bytes]:
    return [n.rstrip(b"\x00") for n in re.split(b"\x00\x00\x01", data) if n.rstrip(b"\x00")]


def test_a_real_senders_units_come_back_whole() -> None:
    """libx264 + FFmpeg's RTP muxer (as the camera sends): every access unit it encoded comes
    back with the same NAL units, each when its last packet arrives."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    port = rx.getsockname()[1]
    sent: list[bytes] = []
    with av.open(f"rtp://127.0.0.1:{port}", "w", format="rtp") as out:
        s = out.add_stream("libx264", rate=25, options={
            "preset": "ultrafast", "tune": "zerolatency",
            "x264-params": "repeat-headers=1:keyint=5:scenecut=0"})
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        s.codec_context.time_base = Fraction(1, 90000)
        rng = np.random.default_rng(1)
        for i in range(12):
            img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)  # big: fragmented
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i * 3600, Fraction(1, 90000)
            for packet in s.encode(frame):
                sent.append(bytes(packet))
                out.mux(packet)
    d = H264Depacketizer()
    units: list[AccessUnit] = []
    rx.settimeout(0.5)
    with rx:
        while True:
            try:
                data = rx.recv(65536)
            except TimeoutError:
                break
            rtp_packet = parse_rtp(data)
            got = d.push(rtp_packet)
            assert bool(got) == rtp_packet.marker  # out at its own last packet, not later
            units += got
    assert len(units) == len(sent) == 12
    assert [_nals(u.data) for u in units] == [_nals(p) for p in sent]
    assert [u.keyframe for u in units] == [i % 5 == 0 for i in range(12)]
    assert all(u.complete for u in units) and d.lost == 0
