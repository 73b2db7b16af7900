"""Taking one drone's H.264 RTP stream (the only module that imports PyAV).

A thread per stream opens the SDP with FFmpeg's RTP demuxer, and remuxes each H.264 access unit,
as it comes, into MPEG-TS with FFmpeg's muxer, never decoding or re-encoding: one
:class:`~groundstation.video.hub.Chunk` per frame, whole 188-byte TS packets. The muxer lives as
long as the thread, so the output is one continuous transport stream across stream losses:
timestamps are rebased so that they keep rising when the camera comes back (a restarted camera
starts its RTP clock anywhere).

FFmpeg's H.264 parser hands out an access unit when the next one begins (one frame of delay,
40 ms at 25 fps). A read that waits more than ``read_timeout_s`` for a packet ends the session:
the demuxer is closed and opened again (a fresh one resynchronises cleanly on a restarted
sender), and keeps trying until stopped. Events go to an :class:`IngestEvents` from this thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import av
import av.error

from groundstation.video.hub import Chunk

__all__ = ["IngestEvents", "RtpIngest", "parameter_sets", "sdp_for"]

log = logging.getLogger(__name__)

FRAME_TICKS = 3600
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
    """One stream's thread. ``start()``, then ``stop()`` from any thread (joins within about
    ``read_timeout_s``)."""

    def __init__(
        self,
        name: str,
        sdp_path: Path,
        events: IngestEvents,
        *,
        read_timeout_s: float = 1.0,
        retry_s: float = 1.0,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.sdp_path = sdp_path
        self.events = events
        self.read_timeout_s = read_timeout_s
        self.retry_s = retry_s
        self.port = port
        """The stream's UDP port (RTCP on the next), to explain a failure to open it."""
        self.sessions = 0
        self.packets = 0
        self.flushed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"video-ingest-{name}", daemon=True)
        self._collector = _Collector()
        self._out: av.container.OutputContainer | None = None
        self._out_stream: av.video.stream.VideoStream | None = None
        self._last_dts: int | None = None
        self._step = FRAME_TICKS
        self._headers: tuple[bytes, bytes] | None = None
        self.headers_added = 0
        """Keyframes the camera sent without SPS/PPS, given the last ones it sent."""

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
                    failed = self._session()
                except Exception as exc:  # a bug must not end the stream for good: say, retry
                    log.exception("%s: ingest failed", self.name)
                    failed = f"ingest error: {exc}"
                if failed:
                    self.events.session_failed(failed)
                    self._stop.wait(self.retry_s)
        finally:
            if self._out is not None:
                try:
                    self._out.close()
                except av.error.FFmpegError as exc:  # pragma: no cover - closing a byte sink
                    log.debug("%s: closing the muxer: %s", self.name, exc)

    def _session(self) -> str | None:
        """Open the stream and relay it until it stalls (None) or fails (the reason)."""
        try:
            inp = av.open(
                str(self.sdp_path),
                format="sdp",
                options={"protocol_whitelist": "file,udp,rtp"},
                timeout=(self.read_timeout_s, self.read_timeout_s),
            )
        except av.error.ExitError:
            return None  # nothing arrived within the timeout: try again
        except (av.error.FFmpegError, OSError) as exc:
            busy = self._port_busy()
            if busy:
                return busy
            return f"cannot open the RTP stream: {exc}"
        try:
            if not inp.streams.video:
                return "the stream has no video"
            ist = inp.streams.video[0]
            extradata = ist.codec_context.extradata
            if self._headers is None and extradata:
                sps, pps, _ = parameter_sets(bytes(extradata))
                if sps is not None and pps is not None:
                    self._headers = (sps, pps)
            offset: int | None = None
            sized = False
            last: tuple[float, int] | None = None
            for raw in inp.demux(ist):
                if self._stop.is_set():
                    return None
                if raw.size == 0:
                    continue
                # a keyframe's SPS/PPS are kept even when it cannot be relayed (no timestamp)
                packet = self._complete(raw) if raw.is_keyframe else raw
                if packet.pts is None:
                    continue
                now = time.monotonic()
                if last is not None and self._held_back(now - last[0], packet.pts - last[1]):
                    self.flushed += 1
                    continue
                last = (now, packet.pts)
                if offset is None:
                    self.sessions += 1
                    self.events.session_started()
                    if self._out is None:
                        self._out = av.open(
                            self._collector, "w", format="mpegts", options={"flush_packets": "1"}
                        )
                        self._out_stream = self._out.add_stream_from_template(ist)
                    base = 0 if self._last_dts is None else self._last_dts + self._step
                    offset = base - packet.pts
                if packet.is_keyframe and not sized:
                    sized = self._measure(packet)
                self._relay(packet, offset)
            return None
        except av.error.ExitError:
            return None  # read timeout: the stream stalled
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            return f"stream error: {exc}"
        finally:
            inp.close()

    def _complete(self, packet: av.Packet[Any]) -> av.Packet[Any]:
        """A keyframe that can start a picture: remember its SPS/PPS, or give it the last ones
        when the camera sends them only once (so that a viewer who joins later can decode)."""
        data = bytes(packet)
        sps, pps, at = parameter_sets(data)
        if sps is not None and pps is not None:
            self._headers = (sps, pps)
            return packet
        if self._headers is None:
            return packet
        out = av.Packet(data[:at] + self._headers[0] + self._headers[1] + data[at:])
        out.pts, out.dts, out.time_base = packet.pts, packet.dts, packet.time_base
        out.is_keyframe = True
        self.headers_added += 1
        return out

    def _port_busy(self) -> str | None:
        """FFmpeg says "invalid data" when it cannot bind the port: say what it is."""
        if self.port is None:
            return None
        for port in (self.port, self.port + 1):  # RTP, then RTCP
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("0.0.0.0", port))
                except OSError as exc:
                    return f"cannot receive on udp port {port}: {exc.strerror or exc}"
        return None

    def _held_back(self, wall_s: float, pts_ticks: int) -> bool:
        """The frame FFmpeg's H.264 parser held back until the next one began, let out when the
        read timed out: it comes a read timeout after the previous frame, one frame later in
        the stream's clock (a stream that really resumes has advanced its clock with the wall
        clock). Relaying it would show a stale picture and break the gap in two."""
        return wall_s >= 0.9 * self.read_timeout_s and pts_ticks < wall_s * 90_000 / 2

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
        dts = (packet.dts if packet.dts is not None else pts) + offset
        if self._last_dts is not None:
            if dts <= self._last_dts:
                dts = self._last_dts + 1
            elif dts - self._last_dts < 10 * FRAME_TICKS:
                self._step = dts - self._last_dts
        packet.pts = max(pts + offset, dts)
        packet.dts = dts
        self._last_dts = dts
        key = bool(packet.is_keyframe)
        packet.stream = self._out_stream
        self._out.mux(packet)
        data = self._collector.take()
        self.packets += 1
        if data:
            self.events.chunk(Chunk(data, key, int(time.time() * 1000), packet.pts))
