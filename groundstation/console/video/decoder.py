"""One live stream, decoded in its own thread into a one-slot latest-frame buffer (PyAV lives here).

:class:`StreamDecoder` opens the relay's MPEG-TS-over-HTTP URL (HTTP Basic auth with the
console's broker login, sent as a header so the password never appears in a URL or a log line)
with low-delay options, decodes H.264, reads the frame clock code from the luma plane, scales
and converts each frame to a ``QImage`` (RGB32, already at the size the UI asked for) and puts it
into a :class:`FrameSlot` that holds one frame: the newest wins, an unseen frame it replaces is
counted as dropped, nothing grows. The UI takes frames on its own timer and never waits for the
decoder; :meth:`StreamDecoder.close` only sets a flag (the thread ends within its read timeout).

Failures become states with a reason, never exceptions in the UI: connecting, playing, stalled
(no frame for :data:`STALL_S`), reconnecting (capped, jittered backoff), refused (401/403).
"""

from __future__ import annotations

import base64
import itertools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.codec.context import Flags, Flags2
from av.video.reformatter import VideoReformatter

from groundstation.console.qt import QImage, voidptr
from groundstation.console.video.clock import read_capture_ms
from groundstation.console.video.status import DecoderState

log = logging.getLogger(__name__)

STALL_S = 2.0
"""No frame for this long while connected: the picture is shown as stalled."""
OPEN_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 4.0
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 8.0
REFUSED_RETRY_S = 15.0
LATENCY_SAMPLES = 500
_FRAME_SEQ = itertools.count(1)
"""Frame numbers unique across decoders (a reconnect continues the same stats)."""
LOW_DELAY_OPTIONS: dict[str, str] = {
    # No "fflags nobuffer": it throws away the packets read while probing, the first keyframe
    # among them, and the picture then waits up to a GOP for the next one. With a tiny probe
    # the demuxer hands on each packet as it arrives anyway.
    "flags": "low_delay",
    "probesize": "2048",
    "analyzeduration": "0",
    # Without it FFmpeg reads 20 frames to estimate the frame rate before the first one is
    # decoded: 1.3 s more before the first picture.
    "fpsprobesize": "0",
    # The relay puts one whole access unit in each PES packet (with its length when it fits):
    # FFmpeg's H.264 parser would hold each one back until the next begins (40 ms at 25 fps).
    # Without the parser a probe larger than a few TS packets waited seconds for the first
    # picture (measured: 2.9 s with 32768 bytes, 0.03 s with 2048).
    "fflags": "noparse+nofillin",
    "reconnect": "0",
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture, converted for painting. ``pixels`` owns the memory ``image`` shows."""

    image: QImage
    pixels: npt.NDArray[np.uint8]
    seq: int
    source_width_px: int
    source_height_px: int
    capture_ms: int | None
    """Wall-clock capture time read from the frame clock code, None when the picture has none."""
    decoded_s: float
    """``time.time()`` when decoding finished."""


@dataclass(slots=True)
class VideoStats:
    """Counters of one stream, read by the UI and bench/ (bounded: the last N latencies only)."""

    decoded: int = 0
    shown: int = 0
    dropped: int = 0
    connects: int = 0
    decode_cpu_s: float = 0.0
    """CPU time of the decoder thread (read, demux, decode, clock code, scale and convert)."""
    paint_cpu_s: float = 0.0
    """CPU time of the UI thread painting this stream's frames (every view that shows it)."""
    last_shown_seq: int = -1
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    """Capture -> shown, milliseconds, for frames that carry the clock code."""

    def note_shown(self, frame: Frame, now_s: float) -> None:
        """A view painted ``frame``; counted once per frame however many views show it."""
        if frame.seq == self.last_shown_seq:
            return
        self.last_shown_seq = frame.seq
        self.shown += 1
        if frame.capture_ms is not None:
            self.latencies_ms.append(now_s * 1000.0 - frame.capture_ms)


class FrameSlot:
    """A one-frame buffer between the decoder thread and the UI: the newest frame wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._taken = True

    def put(self, frame: Frame) -> bool:
        """Store ``frame``; True when it replaced one the UI never took (a dropped frame)."""
        with self._lock:
            dropped = not self._taken
            self._frame, self._taken = frame, False
        return dropped

    def take(self) -> Frame | None:
        """The newest frame if the UI has not taken it yet, else None."""
        with self._lock:
            if self._taken:
                return None
            self._taken = True
            return self._frame

    def latest(self) -> Frame | None:
        with self._lock:
            return self._frame


def _fit(src_w: int, src_h: int, box: tuple[int, int] | None) -> tuple[int, int]:
    """The largest even size of the source's aspect within ``box``, never above the source."""
    if box is None or box[0] <= 0 or box[1] <= 0:
        return src_w, src_h
    scale = min(box[0] / src_w, box[1] / src_h, 1.0)
    return max(2, int(src_w * scale) & ~1), max(2, int(src_h * scale) & ~1)


class StreamDecoder:
    """Decodes one URL in a daemon thread until :meth:`close`; see the module docstring."""

    def __init__(
        self,
        drone_id: str,
        url: str,
        login: tuple[str, str | None] | None = None,
        *,
        open_timeout_s: float = OPEN_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        stall_s: float = STALL_S,
    ) -> None:
        self.drone_id = drone_id
        self.url = url
        self.slot = FrameSlot()
        self.stats = VideoStats()
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.stall_s = stall_s
        self.target_size: tuple[int, int] | None = None
        """The size the UI paints at; frames are scaled to fit it in the decoder thread."""
        self.on_frame: Callable[[], None] | None = None
        """Called from the decoder thread after each frame is put in the slot (the UI's wake-up:
        it shows the frame at once instead of at its next tick)."""
        self._options = dict(LOW_DELAY_OPTIONS)
        if login is not None and login[0]:
            token = base64.b64encode(f"{login[0]}:{login[1] or ''}".encode()).decode()
            self._options["headers"] = f"Authorization: Basic {token}\r\n"
        self._stop = threading.Event()
        self._state = DecoderState.CONNECTING
        self._reason = ""
        self._retry_at = 0.0
        self._last_frame_mono = 0.0
        self._thread = threading.Thread(target=self._run, name=f"video:{drone_id}", daemon=True)
        self._reformatter = VideoReformatter()
        """One scaler for the stream (each frame's own would build a new one every time)."""

    # --- control (UI thread) -------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Ask the thread to stop; never waits (it ends within its read timeout)."""
        self._stop.set()
        self._state = DecoderState.CLOSED

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def status(self, now_mono: float | None = None) -> tuple[DecoderState, str]:
        """The state as a viewer should see it now, with a human-readable reason."""
        now = time.monotonic() if now_mono is None else now_mono
        state, reason = self._state, self._reason
        if state == DecoderState.PLAYING:
            idle = now - self._last_frame_mono
            if idle > self.stall_s:
                return DecoderState.STALLED, f"no frame for {idle:.0f} s"
        elif state == DecoderState.RECONNECTING and self._retry_at > now:
            return state, f"{reason}; retry in {self._retry_at - now:.0f} s"
        return state, reason

    # --- the thread ---------------------------------------------------------------------------

    def _set(self, state: DecoderState, reason: str = "") -> None:
        if not self._stop.is_set():
            self._state, self._reason = state, reason

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._set(DecoderState.CONNECTING, "")
            try:
                got = self._play()
                reason = "the stream ended"
                if got:
                    failures = 0
            except (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError) as exc:
                code = 401 if isinstance(exc, av.error.HTTPUnauthorizedError) else 403
                what = "login refused" if code == 401 else "this login may not view video"
                self._set(DecoderState.REFUSED, f"{code}: {what}")
                self._wait(REFUSED_RETRY_S)
                continue
            except av.error.FFmpegError as exc:
                reason = _reason(exc)
            except (OSError, ValueError, IndexError) as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:  # a decoder bug must not end the thread silently
                log.exception("video %s: decoder failed", self.drone_id)
                reason = f"decoder error: {exc}"
            if self._stop.is_set():
                break
            failures += 1
            delay = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** (failures - 1))
            delay *= random.uniform(0.75, 1.0)
            self._retry_at = time.monotonic() + delay
            self._set(DecoderState.RECONNECTING, reason)
            log.info("video %s: %s; reconnecting in %.1f s", self.drone_id, reason, delay)
            self._wait(delay)

    def _wait(self, delay_s: float) -> None:
        self._retry_at = time.monotonic() + delay_s
        self._stop.wait(delay_s)

    def _play(self) -> bool:
        """Decode until the stream ends, fails or the decoder is closed; True if frames came."""
        got = False
        with av.open(
            self.url,
            options=self._options,
            timeout=(self.open_timeout_s, self.read_timeout_s),
        ) as container:
            if not container.streams.video:
                raise ValueError("the stream has no video")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            ctx.thread_type = "SLICE"  # frame threads would hold frames back
            ctx.flags |= Flags.low_delay
            ctx.flags2 |= Flags2.fast
            self.stats.connects += 1
            cpu = time.thread_time()
            for packet in container.demux(stream):
                if self._stop.is_set():
                    break
                for frame in packet.decode():
                    self._deliver(frame)
                    if not got:
                        got = True
                        self._set(DecoderState.PLAYING, "")
                now_cpu = time.thread_time()
                self.stats.decode_cpu_s += now_cpu - cpu
                cpu = now_cpu
        return got

    def _deliver(self, frame: av.VideoFrame) -> None:
        now_s = time.time()
        capture_ms = None
        if frame.format.name in ("yuv420p", "yuvj420p", "nv12", "gray"):
            plane = frame.planes[0]
            luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
            capture_ms = read_capture_ms(luma[: frame.height, : frame.width], int(now_s * 1000))
        w, h = _fit(frame.width, frame.height, self.target_size)
        rgb = np.asarray(
            self._reformatter.reformat(
                frame, width=w, height=h, format="bgra", interpolation="FAST_BILINEAR"
            ).to_ndarray(),
            np.uint8,
        )
        # The array may have padded rows: hand Qt its address and stride (no copy); the Frame
        # keeps the array alive as long as the image is used.
        # (PyQt6's stubs lack the sip.voidptr overload that Qt and PyQt6 have.)
        ptr, fmt = voidptr(rgb.ctypes.data), QImage.Format.Format_RGB32
        image = QImage(ptr, w, h, int(rgb.strides[0]), fmt)  # type: ignore[call-overload]
        seq = next(_FRAME_SEQ)
        self.stats.decoded += 1
        self._last_frame_mono = time.monotonic()
        if self.slot.put(
            Frame(image, rgb, seq, frame.width, frame.height, capture_ms, time.time())
        ):
            self.stats.dropped += 1
        if self.on_frame is not None:
            try:
                self.on_frame()
            except RuntimeError:  # the UI object is gone (the console is closing)
                self._stop.set()


def _reason(exc: av.error.FFmpegError) -> str:
    if isinstance(exc, av.error.HTTPError):
        return f"HTTP error: {exc.strerror}"
    if isinstance(exc, (av.error.ExitError, av.error.TimeoutError)):
        return "no answer from the video relay"
    if isinstance(exc, av.error.ConnectionRefusedError):
        return "the video relay refused the connection"
    return str(exc.strerror or exc)
