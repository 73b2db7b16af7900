"""The rules of live video, as pure functions (no I/O, no clock): which stream a drone uses,
what its video descriptor says, where the gimbal looks in each phase of a sortie, when recording
starts and stops, when the arrival snapshot is taken, how a click in the picture becomes gimbal
angles, and which ``drone_camera`` requests are refused and why.

``groundstation.control.videoctl`` carries out what these rules decide (MAVSDK's camera and gimbal,
the relay, the bus); the tests in ``tests/unit/test_video_rules.py`` exercise each rule alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from groundstation import contract as c
from groundstation.core.vehicle import CameraInfo, GimbalAttitude
from missions.geo import distance_m
from missions.sites import DockVideo

CONFIGURED = "configured stream"
PITCH_MIN_DEG, PITCH_MAX_DEG = -90.0, 30.0
MAX_LOOK_AT_M = 2000.0
"""A look-at point farther than this from the drone is refused: no camera of ours resolves it,
and it is most likely a mis-click on the map."""
RETURN_PITCH_DEG = -15.0
"""Returning and landing: the camera looks ahead and a little down."""
GIMBAL_ROUND_DEG = 1.0
"""Gimbal angles in the descriptor are rounded to this, so that it changes only when a person
would notice."""

LOOK_AT_INCIDENT = frozenset({c.Phase.LAUNCHING, c.Phase.TRANSIT, c.Phase.ON_SCENE})
LOOK_AHEAD = frozenset({c.Phase.RETURNING, c.Phase.LANDING})
RECORDING_PHASES = frozenset(
    {
        c.Phase.PREFLIGHT,
        c.Phase.LAUNCHING,
        c.Phase.TRANSIT,
        c.Phase.ON_SCENE,
        c.Phase.RETURNING,
        c.Phase.LANDING,
    }
)


# --- which stream ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stream:
    """The RTP/H.264 stream the relay takes for a drone, and what is known of it."""

    rtp_port: int
    camera: str
    width_px: int = 0
    height_px: int = 0
    fps: float = 0.0
    bitrate_kbps: int = 0
    hfov_deg: float = 0.0
    from_camera: bool = True
    """False for a dock's configured stream (no camera component: no stills)."""

    @property
    def source(self) -> str:
        return f"rtp://0.0.0.0:{self.rtp_port}"


_URL_PORT = re.compile(r"^(?:udp|rtp)://[^/]*:(\d{1,5})/?$")


def rtp_port(uri: str) -> int | None:
    """The UDP port of an RTP stream's uri: the port number as text, as QGroundControl reads
    VIDEO_STREAM_INFORMATION of type RTPUDP ("5601"), or ``udp://host:port`` / ``rtp://…``.
    None for anything else (RTSP, MPEG-TS over TCP, WHEP: not what the relay takes)."""
    text = uri.strip()
    m = re.fullmatch(r"\d{1,5}", text) or _URL_PORT.match(text)
    if m is None:
        return None
    port = int(m.group(1) if m.groups() else m.group(0))
    return port if 1 <= port <= 65535 else None


def choose_stream(
    camera: CameraInfo | None, configured: DockVideo | None
) -> tuple[Stream | None, str]:
    """The stream a drone's video comes from, and a reason when there is none.

    A camera's own RTP/UDP stream wins (its settings are the camera's); a camera that advertises
    no stream the relay can take falls back to the dock's configured stream, named after the
    camera; a drone with no camera uses the configured stream; with neither there is no video."""
    if camera is not None:
        for s in camera.streams:
            port = rtp_port(s.uri)
            if port is not None:
                return (
                    Stream(
                        rtp_port=port,
                        camera=camera.name,
                        width_px=s.width_px or camera.width_px,
                        height_px=s.height_px or camera.height_px,
                        fps=s.fps,
                        bitrate_kbps=s.bitrate_kbps,
                        hfov_deg=s.hfov_deg or camera.hfov_deg,
                    ),
                    "",
                )
    if configured is not None:
        return (
            Stream(
                rtp_port=configured.rtp_port,
                camera=camera.name if camera is not None else CONFIGURED,
                width_px=configured.width_px,
                height_px=configured.height_px,
                fps=configured.fps,
                bitrate_kbps=configured.bitrate_kbps,
                hfov_deg=configured.hfov_deg or (camera.hfov_deg if camera else 0.0),
                from_camera=camera is not None,
            ),
            "",
        )
    if camera is not None:
        uris = ", ".join(repr(s.uri) for s in camera.streams) or "none"
        return None, f"{camera.name} advertises no RTP/UDP stream (streams: {uris})"
    return None, "no camera answered and no stream is configured for the dock"


def watch_port(stream: Stream | None, *, busy: bool, recording: bool) -> int | None:
    """The UDP port the relay should take for a drone, or None. Cameras stream in the air: the
    relay takes a drone's stream from launch until it is down again and its recording closed
    (a fleet at rest in its docks costs the relay nothing)."""
    if stream is None or not (busy or recording):
        return None
    return stream.rtp_port


# --- the descriptor -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelayStatus:
    """What the relay reports of one stream (its state callback)."""

    state: c.VideoState
    reason: str = ""
    width_px: int = 0
    height_px: int = 0
    fps: float = 0.0


def video_state(
    stream: Stream | None,
    no_stream_reason: str,
    relay: RelayStatus | None,
    *,
    airborne: bool,
    relay_running: bool,
) -> tuple[c.VideoState, str]:
    """A drone's video state and its reason, from its stream and the relay's report."""
    if stream is None:
        return c.VideoState.NO_CAMERA, no_stream_reason or "no camera"
    if not relay_running:
        return c.VideoState.IDLE, "no relay on this controller (video disabled)"
    if relay is not None and relay.state == c.VideoState.LIVE:
        return c.VideoState.LIVE, ""
    if not airborne:
        return c.VideoState.IDLE, "on the ground: the camera streams in the air"
    if relay is None or relay.state in (c.VideoState.IDLE, c.VideoState.NO_CAMERA):
        return c.VideoState.IDLE, "waiting for the first frame"
    return relay.state, relay.reason


def _round(angle: float | None) -> float | None:
    if angle is None or not math.isfinite(angle):
        return None
    return round(angle / GIMBAL_ROUND_DEG) * GIMBAL_ROUND_DEG + 0.0


def descriptor(
    drone_id: str,
    ts_ms: int,
    stream: Stream | None,
    state: c.VideoState,
    reason: str,
    *,
    url: str | None,
    recording: bool,
    relay: RelayStatus | None,
    gimbal: GimbalAttitude | None,
) -> c.VideoDescriptor:
    """The retained ``drones/{id}/video`` message. The relay's measured size and rate win over
    the advertised ones while the stream is live."""
    live = state == c.VideoState.LIVE
    measured = relay if live and relay is not None else None
    return c.VideoDescriptor(
        drone_id=drone_id,
        ts_ms=ts_ms,
        state=state,
        reason=reason,
        url=url if stream is not None else None,
        source=stream.source if stream is not None else None,
        width_px=(measured.width_px if measured and measured.width_px else 0)
        or (stream.width_px if stream else 0),
        height_px=(measured.height_px if measured and measured.height_px else 0)
        or (stream.height_px if stream else 0),
        fps=round(
            (measured.fps if measured and measured.fps else 0.0) or (stream.fps if stream else 0.0),
            1,
        ),
        bitrate_kbps=stream.bitrate_kbps if stream else 0,
        hfov_deg=round(stream.hfov_deg, 1) if stream and stream.hfov_deg > 0 else None,
        live=live,
        recording=recording,
        camera=stream.camera if stream else None,
        gimbal_pitch_deg=_round(gimbal.pitch_deg) if gimbal else None,
        gimbal_yaw_deg=_round(gimbal.yaw_deg) if gimbal else None,
    )


# --- the gimbal during a sortie ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookAt:
    """Region of interest: the gimbal keeps the point in the picture as the drone moves."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(frozen=True, slots=True)
class Point:
    """Fixed gimbal angles (pitch down negative, yaw relative to the vehicle's heading)."""

    pitch_deg: float
    yaw_deg: float


@dataclass(frozen=True, slots=True)
class LookNowhere:
    """Region of interest cleared (the gimbal manager's own default)."""


GimbalCommand = LookAt | Point | LookNowhere


def sortie_look(
    phase: c.Phase, target: tuple[float, float] | None, ground_amsl_m: float
) -> GimbalCommand | None:
    """Where the gimbal looks in a phase: at the incident (ROI on the ground) from launch until
    the drone leaves the scene, ahead and a little down on the way home, and it is left alone
    in the dock (None)."""
    if phase in LOOK_AT_INCIDENT and target is not None:
        return LookAt(target[0], target[1], ground_amsl_m)
    if phase in LOOK_AHEAD:
        return Point(RETURN_PITCH_DEG, 0.0)
    return None


# --- evidence -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartRecording:
    incident_id: str


@dataclass(frozen=True, slots=True)
class StopRecording:
    pass


RecordingChange = StartRecording | StopRecording


def recording_changes(
    recording_for: str | None, phase: c.Phase, incident_id: str | None
) -> list[RecordingChange]:
    """Recording follows the sortie: it starts at launch (evidence per incident), moves to the
    new incident on a redirect, and stops once the drone is down (charging, docked, fault)."""
    want = incident_id if phase in RECORDING_PHASES and incident_id else None
    if want == recording_for:
        return []
    out: list[RecordingChange] = []
    if recording_for is not None:
        out.append(StopRecording())
    if want is not None:
        out.append(StartRecording(want))
    return out


def arrival_snapshot(before: c.Phase, after: c.Phase, incident_id: str | None) -> bool:
    """A geotagged still is taken when a drone arrives on scene."""
    return after == c.Phase.ON_SCENE and before != c.Phase.ON_SCENE and incident_id is not None


# --- the pilot's camera requests ---------------------------------------------------------------


def image_to_gimbal(
    x: float,
    y: float,
    *,
    hfov_deg: float,
    aspect: float,
    pitch_deg: float,
    yaw_deg: float,
) -> Point:
    """Gimbal angles that bring the picture's point (x, y in 0..1 from the top left) to the
    centre: a pinhole camera of ``hfov_deg`` and ``aspect`` (width / height), looking along the
    gimbal's current pitch and yaw (roll levelled by the gimbal)."""
    tan_h = math.tan(math.radians(hfov_deg) / 2.0)
    tan_v = tan_h / aspect
    # The ray in the camera frame: forward, right, down.
    ray = (1.0, (2.0 * x - 1.0) * tan_h, (2.0 * y - 1.0) * tan_v)
    th, ps = math.radians(pitch_deg), math.radians(yaw_deg)
    # Pitch (up positive) about the right axis, then yaw (right positive) about down.
    fx = ray[0] * math.cos(th) + ray[2] * math.sin(th)
    fz = -ray[0] * math.sin(th) + ray[2] * math.cos(th)
    fy = ray[1]
    vx = fx * math.cos(ps) - fy * math.sin(ps)
    vy = fx * math.sin(ps) + fy * math.cos(ps)
    pitch = math.degrees(math.atan2(-fz, math.hypot(vx, vy)))
    yaw = math.degrees(math.atan2(vy, vx))
    return Point(min(PITCH_MAX_DEG, max(PITCH_MIN_DEG, pitch)), yaw)


@dataclass(frozen=True, slots=True)
class Snapshot:
    pass


@dataclass(frozen=True, slots=True)
class Reset:
    """Back to what the sortie looks at."""


CameraCommand = LookAt | Point | Snapshot | Reset


@dataclass(frozen=True, slots=True)
class Refusal:
    result: c.Result
    reason: str


@dataclass(frozen=True, slots=True)
class CameraView:
    """What the controller knows of a drone when a camera request comes in."""

    drone_id: str
    pilot: str | None
    connected: bool
    stream: Stream | None
    no_stream_reason: str
    position: tuple[float, float] | None
    ground_amsl_m: float
    gimbal: GimbalAttitude | None


def camera_request(username: str, d: c.DroneCamera, view: CameraView) -> CameraCommand | Refusal:
    """Check a ``drone_camera`` request; the command to carry out, or the refusal and why.

    The caller's role has been checked (operators only). If another pilot holds the drone, only
    that pilot may point its camera. A look-at point must be a real coordinate within
    ``MAX_LOOK_AT_M`` of the drone; a click in the picture needs the camera's field of view and
    the gimbal's attitude; a still needs a camera component (a configured stream takes none)."""
    if view.pilot is not None and view.pilot != username:
        return Refusal(c.Result.NOT_AUTHORITY, f"{d.drone_id} is held by {view.pilot}")
    if not view.connected:
        return Refusal(c.Result.VEHICLE_FAILED, f"{d.drone_id} is not connected")
    match d.action:
        case c.CameraAction.POINT:
            if d.pitch_deg is None:
                return Refusal(c.Result.MALFORMED, "point needs pitch_deg (-90..30)")
            return Point(d.pitch_deg, d.yaw_deg if d.yaw_deg is not None else 0.0)
        case c.CameraAction.LOOK_AT:
            return _look_at(d, view)
        case c.CameraAction.LOOK_AT_IMAGE:
            return _look_at_image(d, view)
        case c.CameraAction.RESET:
            return Reset()
        case c.CameraAction.SNAPSHOT:
            if view.stream is None or not view.stream.from_camera:
                why = view.no_stream_reason if view.stream is None else "a configured stream"
                return Refusal(
                    c.Result.INVALID_STATE, f"{d.drone_id} has no camera to take a still: {why}"
                )
            return Snapshot()


def _look_at(d: c.DroneCamera, view: CameraView) -> LookAt | Refusal:
    lat, lon = d.lat_deg, d.lon_deg
    if lat is None or lon is None:
        return Refusal(c.Result.MALFORMED, "look_at needs lat_deg and lon_deg")
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return Refusal(c.Result.OUT_OF_RANGE, f"{lat},{lon} is not a position on Earth")
    if view.position is None:
        return Refusal(c.Result.INVALID_STATE, f"{d.drone_id} has no position yet")
    dist = distance_m(view.position[0], view.position[1], lat, lon)
    if dist > MAX_LOOK_AT_M:
        return Refusal(
            c.Result.OUT_OF_RANGE,
            f"the point is {dist / 1000:.1f} km from {d.drone_id}, beyond "
            f"{MAX_LOOK_AT_M / 1000:.1f} km",
        )
    return LookAt(lat, lon, view.ground_amsl_m)


def _look_at_image(d: c.DroneCamera, view: CameraView) -> Point | Refusal:
    if d.x is None or d.y is None:
        return Refusal(c.Result.MALFORMED, "look_at_image needs x and y (0..1 from top left)")
    s = view.stream
    if s is None or s.hfov_deg <= 0 or s.width_px <= 0 or s.height_px <= 0:
        return Refusal(
            c.Result.INVALID_STATE,
            f"{d.drone_id}: the camera's field of view is not known, cannot aim by the picture",
        )
    if view.gimbal is None:
        return Refusal(c.Result.INVALID_STATE, f"{d.drone_id}: no gimbal attitude reported yet")
    return image_to_gimbal(
        d.x,
        d.y,
        hfov_deg=s.hfov_deg,
        aspect=s.width_px / s.height_px,
        pitch_deg=view.gimbal.pitch_deg,
        yaw_deg=view.gimbal.yaw_deg,
    )
