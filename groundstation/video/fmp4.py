"""The relay's stream for a web browser: MPEG-TS chunks in, fragmented MP4 out (PyAV, no
re-encoding; the browser view's only PyAV adapter, as ``ingest.py`` is the relay's).

A browser does not play MPEG-TS, but Media Source Extensions play fragmented MP4: an init
segment (``ftyp`` + an empty ``moov``) and then one ``moof`` + ``mdat`` per frame
(``movflags=empty_moov+default_base_moof+frag_every_frame``: a fragment per frame, so the
browser gets each picture as soon as the relay does, not a GOP later). FFmpeg's TS demuxer and
MP4 muxer only repackage the H.264 access units, never decode them.

One :class:`Fmp4Remuxer` per web viewer runs in a thread: ``feed()`` (event loop) puts TS bytes
in a bounded queue, the thread demuxes and muxes, and ``on_output`` receives each piece of MP4
from the thread. ``codec`` is the RFC 6381 string MSE needs (``avc1.PPCCLL``, from the SPS).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from collections.abc import Callable

import av
import av.error

from groundstation.video.ingest import parameter_sets

__all__ = ["Fmp4Remuxer", "codec_string"]

log = logging.getLogger(__name__)

MOVFLAGS = "empty_moov+default_base_moof+frag_every_frame"


def codec_string(sps: bytes) -> str:
    """``avc1.PPCCLL`` of an SPS NAL unit (with or without its start code)."""
    nal = sps.lstrip(b"\x00")
    nal = nal[1:] if nal[:1] == b"\x01" else nal
    if len(nal) < 4:
        raise ValueError("SPS too short")
    return f"avc1.{nal[1]:02x}{nal[2]:02x}{nal[3]:02x}"


class _Input(io.RawIOBase):
    """A blocking reader over a bounded queue of byte strings (empty: end of stream)."""

    def __init__(self, max_chunks: int) -> None:
        self.q: queue.Queue[bytes] = queue.Queue(max_chunks)
        self._buf = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf and not self._eof:
            data = self.q.get()
            if not data:
                self._eof = True
            self._buf = data
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class _Output(io.RawIOBase):
    def __init__(self, sink: Callable[[bytes], object]) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        data = bytes(b)
        if data:
            self.sink(data)
        return len(data)


class Fmp4Remuxer:
    """TS in (:meth:`feed`, from the event loop), fMP4 out (``on_output``, from its thread)."""

    def __init__(
        self,
        name: str,
        on_output: Callable[[bytes], object],
        on_codec: Callable[[str], object],
        *,
        max_chunks: int = 100,
        probe_bytes: int = 2_000_000,
    ) -> None:
        self.name = name
        self.on_output = on_output
        self.on_codec = on_codec
        self._in = _Input(max_chunks)
        self._thread = threading.Thread(target=self._run, name=f"fmp4-{name}", daemon=True)
        self.frames = 0
        self.error: str | None = None
        self.dropped = 0
        self.probe_bytes = probe_bytes

    def start(self) -> None:
        self._thread.start()

    def feed(self, ts: bytes) -> bool:
        """Queue TS bytes; False when the queue is full (the caller drops the viewer)."""
        try:
            self._in.q.put_nowait(ts)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def stop(self) -> None:
        """End the input; the thread finishes (call from a worker thread: it joins)."""
        while True:
            try:
                self._in.q.put_nowait(b"")
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._in.q.get_nowait()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            self._remux()
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self.error = str(exc)
            log.info("%s: remux ended: %s", self.name, exc)

    def _remux(self) -> None:
        source = av.open(
            self._in, "r", format="mpegts",
            # probing stops once it knows the stream (the first whole keyframe); the bound
            # only has to hold one, whatever its size. No "nobuffer": it would drop the frames
            # read while probing (the relay's current GOP, what lets the picture start at once)
            options={"probesize": str(self.probe_bytes), "analyzeduration": "0"},
        )
        try:
            video = source.streams.video[0]
            sink = av.open(_Output(self.on_output), "w", format="mp4",
                           options={"movflags": MOVFLAGS, "flush_packets": "1"})
            try:
                out = sink.add_stream_from_template(video)
                told = False
                for packet in source.demux(video):
                    if packet.dts is None or packet.size == 0:
                        continue
                    if not told:
                        if not packet.is_keyframe:
                            continue
                        sps, pps, _ = parameter_sets(bytes(packet))
                        if sps is None or pps is None:
                            continue
                        if not out.codec_context.extradata:
                            # the probe ended inside the first keyframe: MP4's avcC comes
                            # from the keyframe's own SPS/PPS
                            out.codec_context.extradata = sps + pps
                        self.on_codec(codec_string(sps))
                        told = True
                    packet.stream = out
                    sink.mux(packet)
                    self.frames += 1
            finally:
                sink.close()
        finally:
            source.close()
