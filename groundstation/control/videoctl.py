"""Live video on the controller: the I/O half of ``groundstation.core.camera_rules``.

For every drone, :class:`VideoControl`

- discovers its camera through the MAVLink camera protocol (``CameraLink.camera_info``, bounded
  by a timeout and retried: a camera that never answers is a NO_CAMERA state with its reason,
  never a wait), or takes the stream configured for its dock;
- has the relay watch that stream, and keeps the relay's state for the drone (LIVE,
  RECONNECTING, LOST) as the relay reports it;
- publishes the drone's ``VideoDescriptor`` retained on ``drones/{id}/video`` when it changes;
- follows the sortie (:meth:`sortie_changed`, called by ``Controller.apply``): recording from
  launch until the drone is down, the gimbal on the incident in transit and on scene, a
  geotagged still on arrival kept as evidence;
- answers the pilot's ``drone_camera`` requests (:meth:`command`).

Everything outside is reached through narrow Protocols passed in: the cameras
(``groundstation.core.vehicle.CameraFleet``), the relay (:class:`StreamRelay`), the bus
(:class:`Publisher`), the journal (:class:`EventLog`) and the controller (:class:`VideoHost`).
A camera error is a reason (in a reply, the journal, the log), never an exception that stops a
sortie: the sortie goes on without video.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import msgspec

from groundstation import contract as c
from groundstation.core import camera_rules as rules
from groundstation.core import sortie as so
from groundstation.core.ports import Publisher
from groundstation.core.vehicle import CameraFleet, CameraInfo, Photo, VehicleSample
from groundstation.errors import GroundStationError, Refused, VehicleError
from missions.sites import Dock, SiteSet, with_dock

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VideoConfig:
    """How the controller handles video. Built once at the edge (CLI, tests)."""

    enabled: bool = True
    discover_timeout_s: float = 5.0
    """How long a camera discovery waits for a camera to answer."""
    discover_guard_s: float = 5.0
    """Beyond the timeout, how long before a discovery that did not return is abandoned."""
    retry_s: float = 30.0
    """A drone without a camera (or without its stream information) is asked again this often."""
    photo_timeout_s: float = 10.0
    snapshot_settle_s: float = 1.0
    """On arrival, the still is taken this long after the drone is on scene (gimbal settled)."""
    gimbal_retry_s: float = 2.0
    period_s: float = 0.5
    """How often descriptors are compared and published, and gimbal commands retried."""
    max_discoveries: int = 8
    """Camera discoveries in flight at once (each holds MAVSDK calls on the fleet's pool)."""


class StreamRelay(Protocol):
    """The relay as the controller uses it (``groundstation.video.relay.VideoRelay``): it takes
    each drone's RTP stream once, serves it to viewers and records evidence. Its state callback
    is wired to :meth:`VideoControl.relay_state` by whoever builds both."""

    async def watch(self, drone_id: str, rtp_port: int) -> object: ...
    async def unwatch(self, drone_id: str) -> None: ...
    async def start_recording(self, drone_id: str, incident_id: str, sortie_id: str) -> object: ...
    async def stop_recording(self, drone_id: str) -> object: ...
    async def add_snapshot(
        self,
        drone_id: str,
        incident_id: str,
        source: str,
        lat_deg: float,
        lon_deg: float,
        alt_m: float,
        taken_ms: int,
    ) -> object: ...
    def url_for(self, drone_id: str) -> str: ...


class EventLog(Protocol):
    def event(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        drone_id: str | None = None,
        incident_id: str | None = None,
    ) -> None: ...


class VideoHost(Protocol):
    """What video needs of the controller: its sorties and samples, heights, its tasks."""

    active: bool

    def sortie_of(self, drone_id: str) -> so.Sortie | None: ...
    def sample(self, drone_id: str) -> VehicleSample: ...
    def amsl(self, drone_id: str, alt_rel_m: float) -> float: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


@dataclass(slots=True)
class DroneVideo:
    """One drone's video bookkeeping (all I/O facing; the decisions are camera_rules')."""

    camera: CameraInfo | None = None
    stream: rules.Stream | None = None
    no_stream_reason: str = "looking for a camera"
    discovered: bool = False
    """True once a camera with a stream was found (no more discovery)."""
    discovering: bool = False
    tried: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once a discovery has ended: until then a drone without a stream is not published."""
    next_discovery_s: float = 0.0
    watching: int | None = None
    watch_busy: bool = False
    next_watch_s: float = 0.0
    stop_pending: bool = False
    taken: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while the relay takes the stream."""
    """A stop_recording is on its way: the relay must not drop the stream before it."""
    relay: rules.RelayStatus | None = None
    recording_for: str | None = None
    recording_ok: bool = False
    look: rules.GimbalCommand | None = None
    look_gen: int = 0
    applied_gen: int = 0
    look_busy: bool = False
    next_look_s: float = 0.0
    look_error: str = ""
    override: bool = False
    """The pilot pointed the camera: the sortie re-aims it only on its next phase or a reset."""
    last_body: bytes = b""
    snapshots: list[Photo] = field(default_factory=list)
    followed: tuple[c.Phase, str | None, so.Target | None] | None = None
    """The sortie as video last followed it (phase, incident, target)."""


class VideoControl:
    """See the module docstring. ``await video.run()`` in the controller's TaskGroup."""

    def __init__(
        self,
        config: VideoConfig,
        site_set: SiteSet,
        *,
        host: VideoHost,
        cameras: CameraFleet | None,
        relay: StreamRelay | None,
        bus: Publisher,
        journal: EventLog,
    ) -> None:
        self.config = config
        self.site_set = site_set
        self.host = host
        self.cameras = cameras
        self.relay = relay
        self.bus = bus
        self.journal = journal
        self.drones: dict[str, DroneVideo] = {}
        self._discoveries = asyncio.Semaphore(max(1, config.max_discoveries))
        for dock in site_set.docks:
            self.add_dock(dock)

    def add_dock(self, dock: Dock) -> None:
        """A dock's drone (at start, or registered later: groundstation.control.registration)."""
        if self.site_set.dock(dock.dock_id) is None:
            self.site_set = with_dock(self.site_set, dock)
        dv = self.drones[dock.drone_id] = DroneVideo()
        if dock.video is not None:
            # A dock's configured stream is there from the start; a camera may replace it.
            dv.stream, dv.no_stream_reason = rules.choose_stream(None, dock.video)
        if self.cameras is None:
            dv.discovered = True
            dv.tried.set()
            if dv.stream is None:
                dv.no_stream_reason = "no camera link on this controller"

    # --- inputs -----------------------------------------------------------------------------

    def relay_state(self, drone_id: str, status: rules.RelayStatus) -> None:
        """The relay's state callback for one stream (stores it; published by the loop)."""
        dv = self.drones.get(drone_id)
        if dv is not None:
            dv.relay = status

    def sortie_changed(self, drone_id: str, before: so.Sortie, after: so.Sortie) -> None:
        """Called by ``Controller.apply`` after every change of a sortie: recording, gimbal and
        the arrival still follow it."""
        dv = self.drones.get(drone_id)
        if dv is None or not self.config.enabled or not self.host.active:
            return
        dv.followed = (after.phase, after.incident_id, after.target)
        for change in rules.recording_changes(dv.recording_for, after.phase, after.incident_id):
            match change:
                case rules.StopRecording():
                    dv.recording_for, dv.recording_ok = None, False
                    dv.stop_pending = True
                    self.host.spawn(self._stop_recording(drone_id), f"rec-stop:{drone_id}")
                case rules.StartRecording(incident_id=incident_id):
                    dv.recording_for, dv.recording_ok = incident_id, False
                    self.host.spawn(
                        self._start_recording(drone_id, incident_id), f"rec-start:{drone_id}"
                    )
        if after.phase != before.phase or after.target != before.target:
            look = self._sortie_look(drone_id, after)
            if look is not None:
                dv.override = False
                self._aim(dv, look)
        if rules.arrival_snapshot(before.phase, after.phase, after.incident_id):
            self.host.spawn(
                self._arrival_snapshot(drone_id, after.incident_id), f"snapshot:{drone_id}"
            )

    def forget_published(self) -> None:
        """After a (re)connection: publish every descriptor again."""
        for dv in self.drones.values():
            dv.last_body = b""

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        if not self.config.enabled:
            return
        while True:
            now = time.monotonic()
            for drone_id, dv in self.drones.items():
                self._discover_if_due(drone_id, dv, now)
                if not self.host.active:
                    continue
                self._catch_up(drone_id, dv)
                self._watch_if_due(drone_id, dv, now)
                due = dv.applied_gen != dv.look_gen and now >= dv.next_look_s
                if dv.look is not None and due and not dv.look_busy:
                    dv.look_busy = True
                    self.host.spawn(self._apply_look(drone_id, dv), f"gimbal:{drone_id}")
                if dv.tried.is_set() or dv.stream is not None:
                    await self._publish(drone_id, dv)
            await asyncio.sleep(self.config.period_s)

    def _catch_up(self, drone_id: str, dv: DroneVideo) -> None:
        """A sortie video has not followed (a restart or a take-over carried it on from the
        journal): follow it now, as if it had just reached its phase."""
        s = self.host.sortie_of(drone_id)
        if s is None or dv.followed == (s.phase, s.incident_id, s.target):
            return
        phase = dv.followed[0] if dv.followed is not None else c.Phase.DOCKED
        self.sortie_changed(drone_id, replace(s, phase=phase), s)

    def _discover_if_due(self, drone_id: str, dv: DroneVideo, now: float) -> None:
        if dv.discovered or dv.discovering or now < dv.next_discovery_s:
            return
        if self.cameras is None or self.cameras.camera(drone_id) is None:
            return  # the drone itself is not there yet
        dv.discovering = True
        self.host.spawn(self._discover(drone_id, dv), f"camera:{drone_id}")

    async def _discover(self, drone_id: str, dv: DroneVideo) -> None:
        dock = self.site_set.dock_of_drone(drone_id)
        configured = dock.video if dock is not None else None
        timeout = self.config.discover_timeout_s
        try:
            async with self._discoveries:
                cam = self.cameras.camera(drone_id) if self.cameras is not None else None
                # The adapter honours the timeout; the guard makes sure of it.
                info = (
                    None
                    if cam is None
                    else await asyncio.wait_for(
                        cam.camera_info(timeout), timeout + self.config.discover_guard_s
                    )
                )
            reason = "" if info is not None else f"no camera answered within {timeout:g} s"
        except TimeoutError:
            info, reason = None, f"no camera answered within {timeout:g} s"
        except GroundStationError as exc:
            info, reason = None, f"camera discovery failed: {exc}"
        finally:
            dv.discovering = False
            dv.tried.set()
        stream, no_stream = rules.choose_stream(info, configured)
        dv.camera = info
        dv.discovered = info is not None and bool(info.streams)
        if not dv.discovered:
            dv.next_discovery_s = time.monotonic() + self.config.retry_s
            if stream is None:
                no_stream = f"{reason or no_stream}; asking again every {self.config.retry_s:g} s"
        if stream != dv.stream:
            log.info(
                "%s: video %s",
                drone_id,
                f"from {stream.camera} on UDP {stream.rtp_port}"
                if stream
                else f"none ({no_stream})",
            )
        dv.stream, dv.no_stream_reason = stream, no_stream

    def _watch_if_due(self, drone_id: str, dv: DroneVideo, now: float) -> None:
        if self.relay is None or dv.watch_busy or now < dv.next_watch_s:
            return
        s = self.host.sortie_of(drone_id)
        want = rules.watch_port(
            dv.stream,
            busy=s is not None and s.busy,
            recording=dv.recording_for is not None or dv.stop_pending,
        )
        if want == dv.watching:
            return
        dv.watch_busy = True
        self.host.spawn(self._watch(drone_id, dv, want), f"watch:{drone_id}")

    async def _watch(self, drone_id: str, dv: DroneVideo, want: int | None) -> None:
        assert self.relay is not None
        try:
            if dv.watching is not None:
                dv.taken.clear()
                await self.relay.unwatch(drone_id)
                dv.watching, dv.relay = None, None
            if want is not None:
                await self.relay.watch(drone_id, want)
                dv.watching = want
                dv.taken.set()
        except GroundStationError as exc:
            log.warning("%s: the relay cannot take UDP %s: %s", drone_id, want, exc)
            dv.relay = rules.RelayStatus(c.VideoState.LOST, f"relay: {exc}")
            dv.next_watch_s = time.monotonic() + self.config.retry_s
        finally:
            dv.watch_busy = False

    # --- the descriptor ---------------------------------------------------------------------

    def descriptor(self, drone_id: str) -> c.VideoDescriptor:
        dv = self.drones[drone_id]
        s = self.host.sortie_of(drone_id)
        state, reason = rules.video_state(
            dv.stream,
            dv.no_stream_reason,
            dv.relay,
            airborne=s is not None and s.airborne,
            relay_running=self.relay is not None,
        )
        cam = self.cameras.camera(drone_id) if self.cameras is not None else None
        return rules.descriptor(
            drone_id,
            c.now_ms(),
            dv.stream,
            state,
            reason,
            url=self.relay.url_for(drone_id) if self.relay is not None else None,
            recording=dv.recording_for is not None and dv.recording_ok,
            relay=dv.relay,
            gimbal=cam.gimbal_attitude() if cam is not None else None,
        )

    async def _publish(self, drone_id: str, dv: DroneVideo) -> None:
        desc = self.descriptor(drone_id)
        body = msgspec.json.encode(msgspec.structs.replace(desc, ts_ms=0))
        if body == dv.last_body:
            return
        try:
            ok = await self.bus.publish(c.drone_video(drone_id), c.encode(desc), qos=1, retain=True)
        except GroundStationError as exc:
            log.debug("%s: video descriptor not published: %s", drone_id, exc)
            return
        if ok:
            dv.last_body = body

    # --- the gimbal -------------------------------------------------------------------------

    def _sortie_look(self, drone_id: str, s: so.Sortie) -> rules.GimbalCommand | None:
        target = (s.target.lat_deg, s.target.lon_deg) if s.target is not None else None
        return rules.sortie_look(s.phase, target, self.host.amsl(drone_id, 0.0))

    @staticmethod
    def _aim(dv: DroneVideo, look: rules.GimbalCommand) -> None:
        dv.look = look
        dv.look_gen += 1
        dv.next_look_s = 0.0

    async def _apply_look(self, drone_id: str, dv: DroneVideo) -> None:
        gen, look = dv.look_gen, dv.look
        try:
            if look is not None:
                await self._send_look(drone_id, look)
            dv.applied_gen, dv.look_error = gen, ""
        except GroundStationError as exc:
            if str(exc) != dv.look_error:
                log.warning("%s: gimbal: %s (retrying)", drone_id, exc)
            dv.look_error = str(exc)
            dv.next_look_s = time.monotonic() + self.config.gimbal_retry_s
        finally:
            dv.look_busy = False

    async def _send_look(self, drone_id: str, look: rules.GimbalCommand) -> None:
        cam = self.cameras.camera(drone_id) if self.cameras is not None else None
        if cam is None:
            raise Refused(c.Result.VEHICLE_FAILED, f"{drone_id} has no camera link")
        match look:
            case rules.LookAt():
                await cam.gimbal_roi(look.lat_deg, look.lon_deg, look.alt_amsl_m)
            case rules.Point():
                await cam.gimbal_pitch_yaw(look.pitch_deg, look.yaw_deg)
            case rules.LookNowhere():
                await cam.gimbal_roi_none()

    # --- evidence ---------------------------------------------------------------------------

    async def _start_recording(self, drone_id: str, incident_id: str) -> None:
        if self.relay is None:
            return
        dv = self.drones[drone_id]
        sortie_id = f"{drone_id}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        # The relay records what it takes: wait (briefly) for it to take the stream.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(dv.taken.wait(), self.config.discover_timeout_s + 5.0)
        if dv.watching is None or dv.recording_for != incident_id:
            if dv.recording_for == incident_id:
                self.journal.event(
                    "warning",
                    "recording_failed",
                    f"{drone_id}: recording not started: no stream ({dv.no_stream_reason})",
                    drone_id=drone_id,
                    incident_id=incident_id,
                )
            return
        try:
            await self.relay.start_recording(drone_id, incident_id, sortie_id)
        except GroundStationError as exc:
            self.journal.event(
                "warning",
                "recording_failed",
                f"{drone_id}: recording not started: {exc}",
                drone_id=drone_id,
                incident_id=incident_id,
            )
            return
        if dv.recording_for == incident_id:
            dv.recording_ok = True
        self.journal.event(
            "info",
            "recording_started",
            f"{drone_id}: recording {sortie_id}",
            drone_id=drone_id,
            incident_id=incident_id,
        )

    async def _stop_recording(self, drone_id: str) -> None:
        dv = self.drones[drone_id]
        if self.relay is None or dv.watching is None:
            # Nothing to stop: no stream was taken (no camera), or unwatch closed the recording.
            dv.stop_pending = False
            return
        try:
            await self.relay.stop_recording(drone_id)
        except GroundStationError as exc:
            log.warning("%s: recording not stopped cleanly: %s", drone_id, exc)
            return
        finally:
            dv.stop_pending = False
        self.journal.event(
            "info", "recording_stopped", f"{drone_id}: recording stopped", drone_id=drone_id
        )

    async def _arrival_snapshot(self, drone_id: str, incident_id: str | None) -> None:
        """The still on arrival: tried twice (a camera busy encoding may miss the first). A
        controller that has just (re)started and finds its drone on scene waits for the first
        camera discovery to end before it decides there is no camera."""
        await asyncio.sleep(self.config.snapshot_settle_s)
        wait_s = self.config.discover_timeout_s + self.config.discover_guard_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drones[drone_id].tried.wait(), wait_s)
        for attempt in (1, 2):
            try:
                await self.snapshot(drone_id, incident_id)
                return
            except Refused as exc:
                reason = exc.reason
                break  # no camera: trying again changes nothing
            except GroundStationError as exc:
                reason = str(exc)
                if attempt == 1:
                    log.info("%s: arrival still failed (%s), trying again", drone_id, reason)
                    await asyncio.sleep(self.config.gimbal_retry_s)
        self.journal.event(
            "warning",
            "snapshot_failed",
            f"{drone_id}: no arrival still: {reason}",
            drone_id=drone_id,
            incident_id=incident_id,
        )
        log.warning("%s: no arrival still: %s", drone_id, reason)

    async def snapshot(self, drone_id: str, incident_id: str | None) -> Photo:
        """A geotagged still, kept as evidence (the relay's evidence store and the journal)."""
        dv = self.drones[drone_id]
        cam = self.cameras.camera(drone_id) if self.cameras is not None else None
        if cam is None or dv.stream is None or not dv.stream.from_camera:
            raise Refused(c.Result.INVALID_STATE, f"{drone_id} has no camera to take a still")
        photo = await cam.take_photo(self.config.photo_timeout_s)
        dv.snapshots = [*dv.snapshots[-31:], photo]
        self.journal.event(
            "info",
            "snapshot",
            f"{drone_id}: still #{photo.index} at {photo.lat_deg:.6f},{photo.lon_deg:.6f} "
            f"{photo.alt_amsl_m:.1f} m AMSL: {photo.file_url}",
            drone_id=drone_id,
            incident_id=incident_id,
        )
        if self.relay is not None and incident_id is not None:
            try:
                await self.relay.add_snapshot(
                    drone_id,
                    incident_id,
                    photo.file_url,
                    photo.lat_deg,
                    photo.lon_deg,
                    photo.alt_amsl_m,
                    photo.taken_ms,
                )
            except GroundStationError as exc:
                log.warning("%s: still not kept as evidence: %s", drone_id, exc)
        return photo

    # --- the pilot ----------------------------------------------------------------------------

    def view(self, drone_id: str) -> rules.CameraView:
        dv = self.drones[drone_id]
        s = self.host.sortie_of(drone_id)
        smp = self.host.sample(drone_id)
        cam = self.cameras.camera(drone_id) if self.cameras is not None else None
        return rules.CameraView(
            drone_id=drone_id,
            pilot=s.pilot if s is not None else None,
            connected=cam is not None and smp.connected,
            stream=dv.stream,
            no_stream_reason=dv.no_stream_reason,
            position=(smp.lat_deg, smp.lon_deg) if smp.has_position else None,
            ground_amsl_m=self.host.amsl(drone_id, 0.0),
            gimbal=cam.gimbal_attitude() if cam is not None else None,
        )

    async def command(self, username: str, d: c.DroneCamera) -> dict[str, Any]:
        """Carry out a pilot's ``drone_camera`` request; raises Refused with the reason."""
        if d.drone_id not in self.drones:
            raise Refused(c.Result.UNKNOWN_DRONE, f"unknown drone {d.drone_id!r}")
        if not self.config.enabled:
            raise Refused(c.Result.INVALID_STATE, "video is disabled on this controller")
        decision = rules.camera_request(username, d, self.view(d.drone_id))
        dv = self.drones[d.drone_id]
        out: dict[str, Any] = {"drone_id": d.drone_id, "action": str(d.action)}
        match decision:
            case rules.Refusal(result=result, reason=reason):
                raise Refused(result, reason)
            case rules.Snapshot():
                s = self.host.sortie_of(d.drone_id)
                photo = await self._vehicle(
                    "snapshot", self.snapshot(d.drone_id, s.incident_id if s is not None else None)
                )
                out |= {
                    "lat_deg": photo.lat_deg,
                    "lon_deg": photo.lon_deg,
                    "alt_amsl_m": photo.alt_amsl_m,
                    "taken_ms": photo.taken_ms,
                    "index": photo.index,
                    "file_url": photo.file_url,
                }
                return out
            case rules.Reset():
                s = self.host.sortie_of(d.drone_id)
                look = (self._sortie_look(d.drone_id, s) if s is not None else None) or (
                    rules.LookNowhere()
                )
                dv.override = False
            case rules.LookAt() | rules.Point():
                look = decision
                dv.override = True
        self._aim(dv, look)
        gen = dv.look_gen
        await self._vehicle("gimbal", self._send_look(d.drone_id, look))
        if dv.look_gen == gen:
            dv.applied_gen = gen
        match look:
            case rules.Point():
                out |= {"pitch_deg": round(look.pitch_deg, 2), "yaw_deg": round(look.yaw_deg, 2)}
            case rules.LookAt():
                out |= {"lat_deg": look.lat_deg, "lon_deg": look.lon_deg}
        return out

    @staticmethod
    async def _vehicle(what: str, coro: Coroutine[Any, Any, T]) -> T:
        """Await a camera or gimbal call, its failure becoming a refusal with the reason."""
        try:
            return await coro
        except Refused:
            raise
        except VehicleError as exc:
            raise Refused(c.Result.VEHICLE_FAILED, f"{what}: {exc.result}") from exc
        except GroundStationError as exc:
            raise Refused(c.Result.VEHICLE_FAILED, f"{what}: {exc}") from exc
