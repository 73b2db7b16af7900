"""The video relay: each drone's RTP/H.264 stream taken once, served to many viewers as MPEG-TS
over HTTP (aiohttp; the only module that imports it), recorded as evidence on request.

    async with VideoRelay(config, authenticator, evidence_sink, on_state=cb) as relay:
        await relay.watch("d1", rtp_port=5601)
        relay.url_for("d1")                  # http://HOST:PORT/video/d1.ts
        await relay.start_recording("d1", incident_id, sortie_id)
        ...
        await relay.stop_recording("d1")

``GET /video/{drone_id}.ts`` needs HTTP Basic credentials of a role that may view (every role but
``dock``): 401 without a valid login, 403 for a dock, 404 for a drone the relay does not watch,
each with a one-line reason. The ingest (demux + remux) runs in a thread per stream; the event
loop only moves bytes, and password hashing runs in worker threads. Stream states follow
``contract.VideoState``: IDLE until the first frame, LIVE, RECONNECTING after ``stall_s``
without a frame, LOST after ``patience_s`` more, LIVE again when frames return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from aiohttp import web

from groundstation.contract import Role, VideoState, valid_id
from groundstation.errors import GroundStationError
from groundstation.video.auth import (
    GATED_ROLES,
    Authenticator,
    BasicCredentials,
    ViewGate,
    may_view,
    parse_basic,
)
from groundstation.video.evidence import (
    EvidenceSink,
    EvidenceStore,
    RecordingRecord,
    SegmentRecord,
    SegmentRecorder,
    SnapshotRecord,
)
from groundstation.video.hub import Chunk, StreamHub, Viewer, ViewerCounters
from groundstation.video.ingest import RtpIngest

__all__ = [
    "RelayConfig",
    "StreamCounters",
    "StreamStatus",
    "VideoError",
    "VideoRelay",
]

log = logging.getLogger(__name__)


class VideoError(GroundStationError):
    """A relay call that cannot be done (unknown drone, already watched, not recording...)."""


@dataclass(frozen=True, slots=True)
class RelayConfig:
    host: str = "127.0.0.1"
    """Address the HTTP server binds."""
    port: int = 0
    """0: a free port (read it back from ``VideoRelay.port``)."""
    public_host: str | None = None
    """Host name put in viewer URLs (default: ``host``, or 127.0.0.1 when binding 0.0.0.0)."""
    evidence_dir: Path = Path("dfr-evidence")
    segment_s: float = 10.0
    stall_s: float = 1.5
    """No frame for this long: RECONNECTING (and a gap in a recording)."""
    patience_s: float = 10.0
    """RECONNECTING for this long: LOST."""
    read_timeout_s: float = 2.0
    """After this long without a packet, what comes next is a new session (a restarted camera)."""
    viewer_queue_chunks: int = 50
    viewer_queue_bytes: int = 16 << 20
    write_timeout_s: float = 10.0
    """A viewer whose socket takes no data for this long is dropped."""
    viewer_sndbuf_bytes: int = 128 << 10
    """The kernel's send buffer per viewer (Linux doubles it): small, so that a slow viewer's
    backlog is in the relay's queue, where the drop policy is, not seconds deep in the kernel."""
    realm: str = "dfr video"


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What the relay knows of one drone's stream (maps onto ``contract.VideoDescriptor``)."""

    drone_id: str
    state: VideoState
    reason: str
    url: str
    source: str
    width_px: int = 0
    height_px: int = 0
    fps: float = 0.0
    bitrate_kbps: int = 0
    recording: bool = False
    ts_ms: int = 0


@dataclass(frozen=True, slots=True)
class StreamCounters:
    drone_id: str
    frames_in: int
    bytes_in: int
    keyframes_in: int
    frames_out: int
    """Chunks written to viewers, over every viewer there has been."""
    dropped: int
    """Chunks dropped for slow viewers, over every viewer there has been."""
    sessions: int
    segments: int
    headers_added: int = 0
    """Keyframes the camera sent without SPS/PPS, given the last ones it sent."""
    viewers: list[ViewerCounters] = field(default_factory=list)


StateCallback = Callable[[StreamStatus], None]
GATE_RECHECK_S = 1.0
"""A partner viewer's permission is checked again this often while it watches."""


def _ms() -> int:
    return int(time.time() * 1000)


def _hms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S UTC")


class _Stream:
    """One watched drone: its ingest thread, hub, recorder and state (loop side)."""

    def __init__(
        self,
        relay: VideoRelay,
        drone_id: str,
        port: int,
        host: str,
        on_state: StateCallback | None,
    ) -> None:
        cfg = relay.config
        self.relay = relay
        self.drone_id = drone_id
        self.port = port
        self.source = f"rtp://{host}:{port}"
        self.on_state = on_state
        self.hub = StreamHub(max_chunks=cfg.viewer_queue_chunks, max_bytes=cfg.viewer_queue_bytes)
        self.ingest = RtpIngest(drone_id, port, self, read_timeout_s=cfg.read_timeout_s)
        self.recorder: SegmentRecorder | None = None
        self.state = VideoState.IDLE
        self.reason = f"waiting for the stream on udp port {port}"
        self.width_px = 0
        self.height_px = 0
        self.error: str | None = None
        self.frames_out_done = 0
        self.dropped_done = 0
        self.segments = 0
        self._emitted: StreamStatus | None = None
        self._emitted_at = 0.0

    # --- IngestEvents: called from the ingest thread ---------------------------------------

    def session_started(self) -> None:
        self.relay._post(self._session)

    def picture_size(self, width_px: int, height_px: int) -> None:
        self.relay._post(lambda: self._size(width_px, height_px))

    def chunk(self, chunk: Chunk) -> None:
        recorder = self.recorder
        if recorder is not None and (error := recorder.feed(chunk)) is not None:
            log.error("%s: %s", self.drone_id, error)
        self.relay._post(lambda: self._push(chunk))

    def session_failed(self, reason: str) -> None:
        self.relay._post(lambda: self._failed(reason))

    # --- loop side -------------------------------------------------------------------------

    def _session(self) -> None:
        self.error = None
        self.hub.restart()

    def _size(self, width_px: int, height_px: int) -> None:
        if (width_px, height_px) != (self.width_px, self.height_px):
            self.width_px, self.height_px = width_px, height_px
            self.emit(force=True)

    def _failed(self, reason: str) -> None:
        self.error = reason
        if self.state != VideoState.LIVE and reason != self.reason:
            log.warning("%s: %s", self.drone_id, reason)
            self.reason = reason
            self.emit(force=True)

    def _push(self, chunk: Chunk) -> None:
        self.hub.push(chunk)
        if self.state != VideoState.LIVE:
            self.set_state(VideoState.LIVE, "")

    def set_state(self, state: VideoState, reason: str) -> None:
        self.state, self.reason = state, reason
        self.emit(force=True)

    def tick(self, now_ms: int) -> None:
        cfg = self.relay.config
        last = self.hub.last_wall_ms
        if last is None:
            return
        silent_ms = now_ms - last
        if self.state == VideoState.LIVE and silent_ms > cfg.stall_s * 1000:
            self.hub.restart()
            self.set_state(VideoState.RECONNECTING, f"no video since {_hms(last)}")
        elif (
            self.state == VideoState.RECONNECTING
            and silent_ms > (cfg.stall_s + cfg.patience_s) * 1000
        ):
            self.set_state(
                VideoState.LOST,
                f"no video since {_hms(last)}: gone for more than "
                f"{cfg.stall_s + cfg.patience_s:.0f} s",
            )
        else:
            self.emit(force=False)

    def status(self) -> StreamStatus:
        fps, kbps = self.hub.meter.rates(_ms()) if self.state == VideoState.LIVE else (0.0, 0)
        return StreamStatus(
            drone_id=self.drone_id,
            state=self.state,
            reason=self.reason,
            url=self.relay.url_for(self.drone_id),
            source=self.source,
            width_px=self.width_px,
            height_px=self.height_px,
            fps=fps,
            bitrate_kbps=kbps,
            recording=self.recorder is not None,
            ts_ms=_ms(),
        )

    def emit(self, *, force: bool) -> None:
        """Report the status on a change of state (at once) or of measurements (the first one
        after a second, then at most every 5 s: fps by more than 1, bitrate by more than 10 %,
        or the picture size)."""
        callback = self.on_state or self.relay.on_state
        if callback is None:
            return
        status = self.status()
        old = self._emitted
        if not force and old is not None:
            # the first measurement after a change soon, later ones at most every 5 s
            if time.monotonic() - self._emitted_at < (1.0 if old.fps == 0 else 5.0):
                return
            changed = (
                abs(status.fps - old.fps) > 1.0
                or abs(status.bitrate_kbps - old.bitrate_kbps) > 0.1 * max(old.bitrate_kbps, 1)
                or (status.width_px, status.height_px) != (old.width_px, old.height_px)
            )
            if not changed:
                return
        self._emitted, self._emitted_at = status, time.monotonic()
        try:
            callback(status)
        except Exception:
            log.exception("%s: video state callback failed", self.drone_id)

    def remove_viewer(self, viewer: Viewer) -> None:
        self.frames_out_done += viewer.sent_chunks
        self.dropped_done += viewer.dropped_chunks
        self.hub.remove_viewer(viewer)

    def counters(self) -> StreamCounters:
        viewers = [v.counters() for v in self.hub.viewers.values()]
        return StreamCounters(
            drone_id=self.drone_id,
            frames_in=self.hub.chunks_in,
            bytes_in=self.hub.bytes_in,
            keyframes_in=self.hub.keyframes_in,
            frames_out=self.frames_out_done + sum(v.sent_chunks for v in viewers),
            dropped=self.dropped_done + sum(v.dropped_chunks for v in viewers),
            sessions=self.ingest.sessions,
            segments=self.segments,
            headers_added=self.ingest.headers_added,
            viewers=viewers,
        )


class VideoRelay:
    """The relay as an async context manager: HTTP server up on enter, everything stopped and
    every recording closed on exit."""

    def __init__(
        self,
        config: RelayConfig,
        authenticator: Authenticator,
        evidence: EvidenceSink | None = None,
        *,
        on_state: StateCallback | None = None,
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.evidence = evidence
        self.on_state = on_state
        self.gate: ViewGate | None = None
        """Who of the partner logins may watch which drone now (groundstation.control.sharing)."""
        self._streams: dict[str, _Stream] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port = config.port
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._store: EvidenceStore | None = None
        self.http_requests = 0
        self.http_refused = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._tmp = tempfile.TemporaryDirectory(prefix="dfr-relay-")
        self._store = EvidenceStore(self.config.evidence_dir, self.evidence, self._post)
        app = web.Application()
        app.router.add_get("/video/{drone_id}.ts", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise VideoError(
                f"video relay cannot listen on {self.config.host}:{self.config.port}: {exc}"
            ) from exc
        addresses = self._runner.addresses
        if addresses:
            self._port = int(addresses[0][1])
        self._ticker = asyncio.create_task(self._tick_loop(), name="video-relay-ticker")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for drone_id in list(self._streams):
            await self.unwatch(drone_id)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _post(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(fn)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = _ms()
            for stream in list(self._streams.values()):
                stream.tick(now)

    # --- the API the controller uses -------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    def url_for(self, drone_id: str) -> str:
        host = self.config.public_host or self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._port}/video/{drone_id}.ts"

    async def watch(
        self,
        drone_id: str,
        rtp_port: int,
        *,
        host: str = "127.0.0.1",
        on_state: StateCallback | None = None,
    ) -> StreamStatus:
        """Take the drone's RTP stream on ``rtp_port``; its state goes to ``on_state`` (or the
        relay's). Returns the first status (IDLE until frames arrive)."""
        if self._tmp is None:
            raise VideoError("the relay is not running (use it as an async context manager)")
        if not valid_id(drone_id):
            raise VideoError(f"drone id {drone_id!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        if not 1 <= rtp_port <= 65535:
            raise VideoError(f"{drone_id}: RTP port {rtp_port} out of range 1-65535")
        if drone_id in self._streams:
            raise VideoError(f"{drone_id}: already watched (unwatch it first)")
        for other in self._streams.values():
            if other.port == rtp_port:
                raise VideoError(f"{drone_id}: udp port {rtp_port} is {other.drone_id}'s stream")
        stream = _Stream(self, drone_id, rtp_port, host, on_state)
        self._streams[drone_id] = stream
        stream.ingest.start()
        stream.emit(force=True)
        return stream.status()

    async def unwatch(self, drone_id: str) -> None:
        """Stop taking the stream: viewers' responses end, a recording is closed."""
        stream = self._streams.pop(drone_id, None)
        if stream is None:
            raise VideoError(f"{drone_id}: not watched")
        stream.hub.close()
        await asyncio.to_thread(stream.ingest.stop)
        if stream.recorder is not None:
            await self._finish(stream)

    def add_web_viewer(self, drone_id: str, user: str) -> Viewer | None:
        """A viewer of the drone's chunks for the browser view (``groundstation.web``), which
        has checked its share link; None when the relay does not watch the drone."""
        stream = self._streams.get(drone_id)
        if stream is None:
            return None
        viewer = stream.hub.add_viewer(user)
        log.info("%s: viewer %d (%s) for the browser view", drone_id, viewer.viewer_id, user)
        return viewer

    def remove_web_viewer(self, drone_id: str, viewer: Viewer) -> None:
        stream = self._streams.get(drone_id)
        if stream is not None:
            stream.remove_viewer(viewer)
        else:
            viewer.close()

    def watched(self) -> list[str]:
        return sorted(self._streams)

    def status(self, drone_id: str) -> StreamStatus:
        return self._stream(drone_id).status()

    def counters(self, drone_id: str) -> StreamCounters:
        return self._stream(drone_id).counters()

    def _stream(self, drone_id: str) -> _Stream:
        stream = self._streams.get(drone_id)
        if stream is None:
            raise VideoError(f"{drone_id}: not watched")
        return stream

    async def start_recording(
        self, drone_id: str, incident_id: str, sortie_id: str
    ) -> RecordingRecord:
        """Record the drone's stream as evidence of an incident, from its next keyframe."""
        stream = self._stream(drone_id)
        if stream.recorder is not None:
            rec = stream.recorder
            if (rec.incident_id, rec.sortie_id) == (incident_id, sortie_id):
                return rec.record
            raise VideoError(
                f"{drone_id}: already recording incident {rec.incident_id} sortie {rec.sortie_id}"
            )
        for name, value in (("incident id", incident_id), ("sortie id", sortie_id)):
            if not valid_id(value):
                raise VideoError(f"{drone_id}: {name} {value!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        assert self._store is not None
        store = self._store
        cfg = self.config
        recorder = await asyncio.to_thread(
            SegmentRecorder,
            store,
            drone_id,
            incident_id,
            sortie_id,
            segment_s=cfg.segment_s,
            gap_ms=int(cfg.stall_s * 1000),
        )
        stream.recorder = recorder
        stream.emit(force=True)
        return recorder.record

    async def stop_recording(self, drone_id: str) -> list[SegmentRecord]:
        """Close the recording (its last segment hashed and journaled); its segments."""
        stream = self._stream(drone_id)
        if stream.recorder is None:
            return []
        segments = await self._finish(stream)
        stream.emit(force=True)
        return segments

    async def _finish(self, stream: _Stream) -> list[SegmentRecord]:
        recorder = stream.recorder
        assert recorder is not None
        stream.recorder = None
        await asyncio.to_thread(recorder.close)
        stream.segments += len(recorder.segments)
        await asyncio.sleep(0)  # let the posted journal writes run before the caller goes on
        return list(recorder.segments)

    async def add_snapshot(
        self,
        drone_id: str,
        incident_id: str,
        source: Path | str | bytes,
        lat_deg: float,
        lon_deg: float,
        alt_m: float,
        taken_ms: int,
    ) -> SnapshotRecord:
        """Copy a snapshot (bytes, a path or the camera's ``file://`` URL) into the evidence
        store with its geotag, and journal its hash."""
        if self._store is None:
            raise VideoError("the relay is not running")
        for name, value in (("drone id", drone_id), ("incident id", incident_id)):
            if not valid_id(value):
                raise VideoError(f"snapshot: {name} {value!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        if not (-90.0 <= lat_deg <= 90.0 and -180.0 <= lon_deg <= 180.0):
            raise VideoError(f"snapshot of {drone_id}: position {lat_deg}, {lon_deg} out of range")
        try:
            snap = await asyncio.to_thread(
                self._store.add_snapshot,
                drone_id,
                incident_id,
                source,
                lat_deg,
                lon_deg,
                alt_m,
                taken_ms,
            )
        except (OSError, ValueError) as exc:
            raise VideoError(f"snapshot of {drone_id}: {exc}") from exc
        await asyncio.sleep(0)
        return snap

    # --- HTTP ------------------------------------------------------------------------------

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.http_refused += 1
        headers = (
            {"WWW-Authenticate": f'Basic realm="{self.config.realm}"'} if status == 401 else {}
        )
        return web.Response(status=status, text=reason + "\n", headers=headers)

    def _gate_refusal(self, username: str, role: Role, drone_id: str) -> str | None:
        """Why a partner login may not watch this drone now (None for the force's roles)."""
        if role not in GATED_ROLES:
            return None
        if self.gate is None:
            return f"role {role.value}: no incident is shared on this relay"
        return self.gate.may_watch(username, role, drone_id)

    async def _login(self, request: web.Request) -> tuple[BasicCredentials, Role] | web.Response:
        creds = parse_basic(request.headers.get("Authorization"))
        if isinstance(creds, str):
            return self._refuse(401, creds)
        try:
            role = await asyncio.to_thread(
                self.authenticator.authenticate, creds.username, creds.password
            )
        except GroundStationError as exc:
            log.warning("video login check failed: %s", exc)
            return self._refuse(503, f"logins cannot be checked now: {exc}")
        if role is None:
            return self._refuse(
                401, f"login {creds.username!r} refused: unknown user or wrong password"
            )
        if not may_view(role):
            return self._refuse(403, f"role {role.value} may not view video")
        return creds, role

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.http_requests += 1
        login = await self._login(request)
        if isinstance(login, web.Response):
            return login
        creds, role = login
        drone_id = request.match_info["drone_id"]
        refused = self._gate_refusal(creds.username, role, drone_id)
        if refused is not None:
            return self._refuse(403, f"{creds.username}: {refused}")
        stream = self._streams.get(drone_id)
        if stream is None:
            return self._refuse(
                404, f"no video for drone {drone_id!r}: the relay does not watch it"
            )
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None and self.config.viewer_sndbuf_bytes > 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.viewer_sndbuf_bytes)
        resp = web.StreamResponse(
            headers={"Content-Type": "video/mp2t", "Cache-Control": "no-store"}
        )
        try:
            await resp.prepare(request)
        except ConnectionError:
            return resp  # the viewer left before the headers went out
        viewer = stream.hub.add_viewer(creds.username)
        log.info(
            "%s: viewer %d (%s) from %s", drone_id, viewer.viewer_id, creds.username, request.remote
        )
        try:
            recheck_s = time.monotonic() + GATE_RECHECK_S
            while (chunk := await viewer.next()) is not None:
                if role in GATED_ROLES and time.monotonic() >= recheck_s:
                    recheck_s = time.monotonic() + GATE_RECHECK_S
                    refused = self._gate_refusal(creds.username, role, drone_id)
                    if refused is not None:  # no longer shared: cut off
                        log.info("%s: viewer %d (%s) cut off: %s", drone_id,
                                 viewer.viewer_id, creds.username, refused)
                        resp.force_close()  # end the connection, not only this response
                        break
                async with asyncio.timeout(self.config.write_timeout_s):
                    await resp.write(chunk.data)
        except TimeoutError:
            log.info(
                "%s: viewer %d stuck for %.0f s: dropped",
                drone_id,
                viewer.viewer_id,
                self.config.write_timeout_s,
            )
            if request.transport is not None:
                request.transport.abort()  # its buffers are full: do not wait to flush them
        except ConnectionError as exc:
            log.info("%s: viewer %d gone: %s", drone_id, viewer.viewer_id, exc)
        finally:
            stream.remove_viewer(viewer)
        return resp
