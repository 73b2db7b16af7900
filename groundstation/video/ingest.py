"""Taking one drone's H.264 RTP stream (the only module that imports PyAV).

A thread per stream receives the RTP datagrams on the stream's UDP port, puts each H.264 access
unit back together itself (:mod:`groundstation.video.rtp`, RFC 6184) and remuxes it, the moment
its last packet (the RTP marker bit) arrives, into MPEG-TS with FFmpeg's muxer, never decoding or
re-encoding: one :class:`~groundstation.video.hub.Chunk` per frame, whole 188-byte TS packets.
(FFmpeg's own RTP demuxer was used before: its H.264 parser hands out an access unit only when
the next one begins, one frame late, and it binds the port after the stream's for RTCP, so
drones on consecutive ports took each other's.)

The muxer lives as long as the thread, so the output is one continuous transport stream across
stream losses: timestamps are rebased so that they keep rising when the camera comes back (a
restarted camera starts its RTP clock anywhere). A session starts at a keyframe and ends when no
datagram came for ``read_timeout_s`` or another source (SSRC) takes over; an access unit with a
lost packet is not relayed and the stream resumes at the next keyframe. Events go to an
:class:`IngestEvents` from this thread.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from fractions import Fraction
from typing import Any, Protocol

import av
import av.error

from groundstation.video.hub import Chunk
from groundstation.video.rtp import AccessUnit, H264Depacketizer, RtpError, parse_rtp

__all__ = [
    "IngestEvents",
    "RtpIngest",
    "parameter_sets",
    "sdp_for",
]

log = logging.getLogger(__name__)

FRAME_TICKS = 3600
RTP_CLOCK = Fraction(1, 90000)
_WRAP = 1 << 32
RECV_BYTES = 65536
SOCKET_BUFFER_BYTES = 1 << 20
"""One frame at 25 fps in the 90 kHz clock: the step between two sessions' timestamps."""


_START = b"\x00\x00\x01"
_NAL_SPS, _NAL_PPS, _NAL_AUD = 7, 8, 9
_NAL_SLICES = frozenset({1, 5})


def parameter_sets(data: bytes) -> tuple[bytes | None, bytes | None, int]:
    """The SPS and PPS NAL units (each with a 4-byte start code) in front of the first slice of
    an Annex B access unit, and the offset after a leading access unit delimiter (where headers
    go). Only the headers are scanned, never the slice data."""
    sps = pps = None
    after_aud = 0
    pos = data.find(_START)
    while 0 <= pos < len(data) - 3:
        nal_type = data[pos + 3] & 0x1F
        if nal_type in _NAL_SLICES:
            break
        nxt = data.find(_START, pos + 3)
        end = len(data) if nxt < 0 else nxt
        nal = data[pos + 3 : end].rstrip(b"\x00")  # a NAL never ends in 0: that is a start code
        if nal_type == _NAL_SPS:
            sps = b"\x00" + _START + nal
        elif nal_type == _NAL_PPS:
            pps = b"\x00" + _START + nal
        elif nal_type == _NAL_AUD and after_aud == 0:
            after_aud = pos + 3 + len(nal)
        if nxt < 0:
            break
        pos = nxt
    return sps, pps, after_aud


def sdp_for(port: int, host: str = "127.0.0.1") -> str:
    """The SDP a receiver needs for a drone's stream (docs/video.md): H.264, PT 96, mode 1."""
    return (
        "v=0\n"
        f"o=- 0 0 IN IP4 {host}\n"
        "s=dfr\n"
        f"c=IN IP4 {host}\n"
        "t=0 0\n"
        f"m=video {port} RTP/AVP 96\n"
        "a=rtpmap:96 H264/90000\n"
        "a=fmtp:96 packetization-mode=1\n"
    )


class IngestEvents(Protocol):
    """Called from the ingest thread: implementations hand over to the event loop."""

    def session_started(self) -> None:
        """The first packet of a session (the stream started, or came back)."""

    def picture_size(self, width_px: int, height_px: int) -> None:
        """The size read from a session's first keyframe (its SPS)."""

    def chunk(self, chunk: Chunk) -> None: ...

    def session_failed(self, reason: str) -> None: ...


class _Collector:
    """The file object FFmpeg's muxer writes into."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out




class RtpIngest:
    """One stream's thread. ``start()``, then ``stop()`` from any thread (joins within a
    quarter of a second)."""

    def __init__(
        self,
        name: str,
        port: int,
        events: IngestEvents,
        *,
        read_timeout_s: float = 1.0,
        retry_s: float = 1.0,
        host: str = "0.0.0.0",  # the camera sends from the vehicle's network
    ) -> None:
        self.name = name
        self.port = port
        self.host = host
        self.events = events
        self.read_timeout_s = read_timeout_s
        self.retry_s = retry_s
        self.sessions = 0
        self.packets = 0
        """Access units relayed."""
        self.datagrams = 0
        self.malformed = 0
        """Datagrams that are not RTP (or carry no payload)."""
        self.damaged = 0
        """Access units not relayed: a packet of them was lost, or no keyframe yet."""
        self.depacketizer = H264Depacketizer()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"video-ingest-{name}", daemon=True)
        self._collector = _Collector()
        self._out: av.container.OutputContainer | None = None
        self._out_stream: av.video.stream.VideoStream | None = None
        self._template: av.container.InputContainer | None = None
        self._last_dts: int | None = None
        self._step = FRAME_TICKS
        self._headers: tuple[bytes, bytes] | None = None
        self.headers_added = 0
        """Keyframes the camera sent without SPS/PPS, given the last ones it sent."""
        # the session: its source, its clock (unwrapped) and the offset onto the output's
        self._ssrc: int | None = None
        self._offset = 0
        self._ts_last: int | None = None
        self._ts_ext = 0
        self._need_key = True
        self._sized = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end and wait for it (blocking: call it in a worker thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    failed = self._receive()
                except Exception as exc:  # a bug must not end the stream for good: say, retry
                    log.exception("%s: ingest failed", self.name)
                    failed = f"ingest error: {exc}"
                self._end_session()
                if failed:
                    self.events.session_failed(failed)
                    self._stop.wait(self.retry_s)
        finally:
            for container in (self._out, self._template):
                if container is not None:
                    try:
                        container.close()
                    except av.error.FFmpegError as exc:  # pragma: no cover - a byte sink
                        log.debug("%s: closing: %s", self.name, exc)

    def _receive(self) -> str | None:
        """Take datagrams until stopped (None) or the socket fails (the reason)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            return f"cannot receive on udp port {self.port}: {exc.strerror or exc}"
        with sock:
            sock.settimeout(min(0.25, self.read_timeout_s))
            last = time.monotonic()
            while not self._stop.is_set():
                try:
                    data = sock.recv(RECV_BYTES)
                except TimeoutError:
                    if self._ssrc is not None and time.monotonic() - last >= self.read_timeout_s:
                        self._end_session()  # stalled: what comes next is a new session
                    continue
                last = time.monotonic()
                self.datagrams += 1
                try:
                    packet = parse_rtp(data)
                except RtpError as exc:
                    self.malformed += 1
                    level = logging.WARNING if self.malformed == 1 else logging.DEBUG
                    log.log(level, "%s: udp %d: not RTP H.264: %s", self.name, self.port, exc)
                    continue
                for unit in self.depacketizer.push(packet):
                    self._take(unit)
        return None

    def _end_session(self) -> None:
        self._ssrc = None
        self._need_key = True
        self.depacketizer = H264Depacketizer()

    def _take(self, unit: AccessUnit) -> None:
        if unit.ssrc != self._ssrc:
            self._ssrc = unit.ssrc
            self._ts_last = None
            self._need_key = True
        if not unit.complete or (self._need_key and not unit.keyframe):
            self.damaged += 1
            self._need_key = True
            return
        data = self._complete(unit.data) if unit.keyframe else unit.data
        if self._out is None and not self._open_muxer(data):
            self.damaged += 1
            return
        if self._ts_last is None:  # the session's first picture (a keyframe)
            self.sessions += 1
            self.events.session_started()
            self._ts_ext = 0
            base = 0 if self._last_dts is None else self._last_dts + self._step
            self._offset = base
            self._sized = False
        else:
            self._ts_ext += (unit.timestamp - self._ts_last + _WRAP // 2) % _WRAP - _WRAP // 2
        self._ts_last = unit.timestamp
        self._need_key = False
        packet = av.Packet(data)
        packet.pts = packet.dts = self._ts_ext
        packet.time_base = RTP_CLOCK
        packet.is_keyframe = unit.keyframe
        if unit.keyframe and not self._sized:
            self._sized = self._measure(packet)
        self._relay(packet, self._offset)

    def _open_muxer(self, keyframe: bytes) -> bool:
        """The TS muxer, its H.264 stream's parameters read from the first keyframe (its SPS)
        by FFmpeg's raw H.264 demuxer."""
        try:
            template = av.open(io.BytesIO(keyframe), "r", format="h264")
            if not template.streams.video:
                template.close()
                return False
            # Each frame's PES packet says its length (when under 64 KB): a demuxer hands it on
            # when its last byte arrives, not when the next frame begins.
            options = {"flush_packets": "1", "omit_video_pes_length": "0"}
            out = av.open(self._collector, "w", format="mpegts", options=options)
            self._out_stream = out.add_stream_from_template(template.streams.video[0])
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.debug("%s: no stream parameters in the keyframe: %s", self.name, exc)
            return False
        self._out, self._template = out, template
        return True

    def _complete(self, data: bytes) -> bytes:
        """A keyframe that can start a picture: remember its SPS/PPS, or give it the last ones
        when the camera sends them only once (so that a viewer who joins later can decode)."""
        sps, pps, at = parameter_sets(data)
        if sps is not None and pps is not None:
            self._headers = (sps, pps)
            return data
        if self._headers is None:
            return data
        self.headers_added += 1
        return data[:at] + self._headers[0] + self._headers[1] + data[at:]

    def _measure(self, packet: av.Packet[Any]) -> bool:
        """Decode a keyframe once to learn the picture size from the stream itself."""
        try:
            decoder = av.CodecContext.create("h264", "r")
            frames = decoder.decode(packet) or decoder.decode(None)
        except av.error.FFmpegError as exc:
            log.debug("%s: size of the keyframe: %s", self.name, exc)
            return False
        if not frames:
            return False
        frame = frames[0]
        assert isinstance(frame, av.VideoFrame)
        self.events.picture_size(frame.width, frame.height)
        return True

    def _relay(self, packet: av.Packet[Any], offset: int) -> None:
        assert self._out is not None and self._out_stream is not None
        pts = packet.pts
        assert pts is not None
        dts = pts + offset
        if self._last_dts is not None:
            if dts <= self._last_dts:
                dts = self._last_dts + 1
            elif dts - self._last_dts < 10 * FRAME_TICKS:
                self._step = dts - self._last_dts
        packet.pts = packet.dts = dts
        self._last_dts = dts
        key = bool(packet.is_keyframe)
        packet.stream = self._out_stream
        self._out.mux(packet)
        data = self._collector.take()
        self.packets += 1
        if data:
            self.events.chunk(Chunk(data, key, int(time.time() * 1000), packet.pts))
