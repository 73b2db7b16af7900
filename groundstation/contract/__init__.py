"""The MQTT contract: every topic name and every payload, in one place.

Nothing else in the code base builds a topic string or a payload by hand. Payloads are msgspec
Structs: encoding is one call, decoding validates types, ranges and required fields, and the same
types produce the JSON Schemas of ``docs/asyncapi.yaml`` (see ``groundstation.asyncapi``).

The envelope follows the DJI Cloud API that dock makers already speak::

    request  {"tid", "bid", "timestamp", "method", "data": {...}}
    reply    {"tid", "bid", "timestamp", "method", "data": {"result": 0, "output": {...}}}
    refusal  {"tid", "bid", "timestamp", "method",
              "data": {"result": <code>, "output": {"reason": "..."}}}

Telemetry is the exception: it is sent often, so it is a flat object without an envelope.
All topics start with ``dfr/v1/``.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeVar, Union

import msgspec

PREFIX: Final = "dfr/v1"

# --- identifiers -----------------------------------------------------------------------------

Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Lat = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
MAX_PAYLOAD_BYTES: Final = 64 * 1024
COMMAND_TTL_S: Final = 30
"""Commands older than this are not acted on (MQTT 5 message expiry and the envelope timestamp)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def new_tid() -> str:
    return uuid.uuid4().hex


def valid_id(value: str) -> bool:
    """True for an id usable in a topic level (URL-safe, 1-64 characters)."""
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "_.-" for c in value)


# --- enums ------------------------------------------------------------------------------------


class Phase(enum.StrEnum):
    """Where a drone is in its sortie, as shown to pilots."""

    DOCKED = "docked"
    PREFLIGHT = "preflight"
    LAUNCHING = "launching"
    TRANSIT = "transit"
    ON_SCENE = "on_scene"
    RETURNING = "returning"
    LANDING = "landing"
    CHARGING = "charging"
    FAULT = "fault"


class IncidentStatus(enum.StrEnum):
    NEW = "new"
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    CLOSED = "closed"
    REJECTED = "rejected"


class Role(enum.StrEnum):
    CONTROLLER = "controller"
    OPERATOR = "operator"
    VIEWER = "viewer"
    DOCK = "dock"
    CAD = "cad"
    PARTNER_VIEWER = "partner-viewer"
    """Another emergency service's user: sees what is shared with its agency (docs/partners.md)."""
    PARTNER_DISPATCHER = "partner-dispatcher"
    """A partner viewer who may also ask the force for a drone (``incident_request``)."""


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class JobStatus(enum.StrEnum):
    """DJI Cloud API job states, reported in dock events."""

    SENT = "sent"
    IN_PROGRESS = "in_progress"
    OK = "ok"
    PAUSED = "paused"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"


class Result(enum.IntEnum):
    """The ``result`` of a reply: 0 is success, anything else a refusal with a reason."""

    OK = 0
    MALFORMED = 1
    UNKNOWN_METHOD = 2
    UNKNOWN_DRONE = 3
    FORBIDDEN = 4
    AIRSPACE = 5
    NOT_AUTHORITY = 6
    INVALID_STATE = 7
    VEHICLE_FAILED = 8
    BUSY = 9
    UNKNOWN_INCIDENT = 10
    OUT_OF_RANGE = 11
    TIMEOUT = 12
    EXPIRED = 13
    DUPLICATE = 14
    DOCK_FAULT = 15
    UNKNOWN_DOCK = 16
    UNKNOWN_AGENCY = 17
    RATE_LIMITED = 18
    UNKNOWN_REQUEST = 19
    UNKNOWN_TARGET = 20
    """``drone_track``: no position has been heard from that unit or CAD target."""


class DockMethod(enum.StrEnum):
    """Services a controller calls on a dock (DJI Cloud API names)."""

    COVER_OPEN = "cover_open"
    COVER_CLOSE = "cover_close"
    CHARGE_OPEN = "charge_open"
    CHARGE_CLOSE = "charge_close"
    DRONE_OPEN = "drone_open"
    DRONE_CLOSE = "drone_close"
    DEVICE_REBOOT = "device_reboot"


class OperatorMethod(enum.StrEnum):
    """Services an operator, console or CAD system calls on the controller."""

    INCIDENT_CREATE = "incident_create"
    INCIDENT_CLOSE = "incident_close"
    INCIDENT_SHARE = "incident_share"
    INCIDENT_UNSHARE = "incident_unshare"
    INCIDENT_METHANE = "incident_methane"
    INCIDENT_REQUEST = "incident_request"
    INCIDENT_REQUEST_DECIDE = "incident_request_decide"
    INCIDENT_LINK_CREATE = "incident_link_create"
    INCIDENT_LINK_REVOKE = "incident_link_revoke"
    AUTHORITY_GRAB = "authority_grab"
    AUTHORITY_RELEASE = "authority_release"
    DRONE_GOTO = "drone_goto"
    DRONE_ORBIT = "drone_orbit"
    DRONE_HOLD = "drone_hold"
    DRONE_ALTITUDE = "drone_altitude"
    DRONE_RETURN = "drone_return"
    DRONE_LAND = "drone_land"
    SORTIE_RESUME = "sortie_resume"
    DRONE_MISSION = "drone_mission"
    DRONE_CAMERA = "drone_camera"
    DOCK_COMMAND = "dock_command"
    INCIDENT_GET = "incident_get"
    DOCK_REGISTER = "dock_register"
    DRONE_TRACK = "drone_track"
    DRONE_TRACK_STOP = "drone_track_stop"


ROLE_METHODS: Final[dict[Role, frozenset[OperatorMethod]]] = {
    Role.OPERATOR: frozenset(OperatorMethod) - {OperatorMethod.INCIDENT_REQUEST},
    Role.CONTROLLER: frozenset(OperatorMethod) - {OperatorMethod.INCIDENT_REQUEST},
    Role.CAD: frozenset(
        {OperatorMethod.INCIDENT_CREATE, OperatorMethod.INCIDENT_CLOSE, OperatorMethod.INCIDENT_GET}
    ),
    Role.VIEWER: frozenset(),
    Role.DOCK: frozenset({OperatorMethod.DOCK_REGISTER}),  # itself only (registration.py)
    Role.PARTNER_VIEWER: frozenset(),
    Role.PARTNER_DISPATCHER: frozenset({OperatorMethod.INCIDENT_REQUEST}),
}
"""Which operator methods each role may call (the broker's ACL enforces the topic)."""


# --- topics -----------------------------------------------------------------------------------


def drone_telemetry(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/telemetry"


def drone_state(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/state"


def drone_video(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/video"


def dock_topic(dock_id: str, leaf: str) -> str:
    """``docks/{dock_id}/{leaf}``: osd, state, status, services(_reply), events(_reply)."""
    if leaf not in DOCK_LEAVES:
        raise ValueError(f"unknown dock topic leaf {leaf!r}")
    return f"{PREFIX}/docks/{dock_id}/{leaf}"


DOCK_LEAVES: Final = (
    "osd",
    "state",
    "status",
    "services",
    "services_reply",
    "events",
    "events_reply",
    "assignment",
)


def incident(incident_id: str) -> str:
    return f"{PREFIX}/incidents/{incident_id}"


def drone_tracking(drone_id: str) -> str:
    return f"{PREFIX}/drones/{drone_id}/tracking"


def unit_position(unit_id: str) -> str:
    """A ground unit's automatic vehicle location (a police car's AVL), from CAD/AVL."""
    return f"{PREFIX}/units/{unit_id}/position"


def target_position(target_id: str) -> str:
    """A moving point CAD wants followed (a reported suspect's position)."""
    return f"{PREFIX}/targets/{target_id}/position"


def operator_services(username: str) -> str:
    return f"{PREFIX}/operators/{username}/services"


def operator_services_reply(username: str) -> str:
    return f"{PREFIX}/operators/{username}/services_reply"


def controller_status(controller_id: str) -> str:
    return f"{PREFIX}/controllers/{controller_id}/status"


def controller_events(controller_id: str) -> str:
    return f"{PREFIX}/controllers/{controller_id}/events"


def traffic_feed(feed_id: str) -> str:
    return f"{PREFIX}/traffic/feeds/{feed_id}"


def traffic_picture(controller_id: str) -> str:
    return f"{PREFIX}/traffic/picture/{controller_id}"


# Subscription filters.
ALL_TRAFFIC_FEEDS: Final = f"{PREFIX}/traffic/feeds/+"
ALL_TRAFFIC_PICTURES: Final = f"{PREFIX}/traffic/picture/+"
ALL_TELEMETRY: Final = f"{PREFIX}/drones/+/telemetry"
ALL_DRONE_STATE: Final = f"{PREFIX}/drones/+/state"
ALL_DRONE_VIDEO: Final = f"{PREFIX}/drones/+/video"
ALL_INCIDENTS: Final = f"{PREFIX}/incidents/+"
ALL_OPERATOR_SERVICES: Final = f"{PREFIX}/operators/+/services"
ALL_CONTROLLER_STATUS: Final = f"{PREFIX}/controllers/+/status"
ALL_CONTROLLER_EVENTS: Final = f"{PREFIX}/controllers/+/events"
ALL_DRONE_TRACKING: Final = f"{PREFIX}/drones/+/tracking"
ALL_UNIT_POSITIONS: Final = f"{PREFIX}/units/+/position"
ALL_TARGET_POSITIONS: Final = f"{PREFIX}/targets/+/position"


def all_dock(leaf: str) -> str:
    return f"{PREFIX}/docks/+/{leaf}"


@dataclass(frozen=True, slots=True)
class TopicRef:
    """A parsed topic: which channel kind and the ids in it."""

    kind: str  # "drone", "dock", "incident", "operator", "controller", "unit", "target"
    ident: str
    leaf: str  # e.g. "telemetry", "services"; "" for incidents


def parse_topic(topic: str) -> TopicRef | None:
    """Split a contract topic into its parts, or None for anything that is not ours."""
    parts = topic.split("/")
    if len(parts) < 3 or f"{parts[0]}/{parts[1]}" != PREFIX:
        return None
    kinds = {
        "drones": "drone",
        "docks": "dock",
        "operators": "operator",
        "controllers": "controller",
        "units": "unit",
        "targets": "target",
    }
    if parts[2] == "incidents" and len(parts) == 4:
        return TopicRef("incident", parts[3], "")
    if parts[2] in kinds and len(parts) == 5:
        return TopicRef(kinds[parts[2]], parts[3], parts[4])
    return None


# --- payloads: telemetry and state ------------------------------------------------------------


class Telemetry(msgspec.Struct, frozen=True, kw_only=True):
    """``drones/{drone_id}/telemetry``: QoS 0, not retained; 10 Hz in flight, 1 Hz on the ground."""

    drone_id: Id
    ts_ms: int
    seq: int
    lat_deg: Lat
    lon_deg: Lon
    alt_rel_m: float
    alt_amsl_m: float
    heading_deg: float
    ground_speed_m_s: float
    climb_m_s: float
    battery_pct: Percent
    battery_v: float
    flight_mode: str
    armed: bool
    in_air: bool
    gps_fix: int
    satellites: int
    link_ok: bool
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    phase: Phase | None = None
    age_ms: int | None = None
    """How old the vehicle's sample was when the controller published it."""


class HealthGates(msgspec.Struct, frozen=True, kw_only=True):
    """Pre-flight gates as last evaluated; False with a reason in ``failed``."""

    gps_ok: bool = False
    armable: bool = False
    battery_ok: bool = False
    link_ok: bool = False
    dock_ok: bool = False
    failed: list[str] = msgspec.field(default_factory=list)


class DroneState(msgspec.Struct, frozen=True, kw_only=True):
    """``drones/{drone_id}/state``: retained, published on change."""

    drone_id: Id
    ts_ms: int
    phase: Phase
    dock_id: Id | None = None
    home_dock_id: Id | None = None
    incident_id: Id | None = None
    pilot: str | None = None
    health: HealthGates = msgspec.field(default_factory=HealthGates)
    last_failsafe: str | None = None
    target_lat_deg: Lat | None = None
    target_lon_deg: Lon | None = None
    orbit_radius_m: float | None = None
    eta_s: float | None = None
    controller_id: str | None = None


# --- payloads: video ----------------------------------------------------------------------------


class VideoState(enum.StrEnum):
    """What a viewer of a drone's video gets now, and why not when it gets nothing."""

    LIVE = "live"
    """Frames arrive at the relay; ``url`` plays them."""
    IDLE = "idle"
    """A camera is known but does not stream (the drone is docked; streams start in the air)."""
    RECONNECTING = "reconnecting"
    """The stream stopped; the relay waits for it to come back (``reason`` says since when)."""
    LOST = "lost"
    """The stream has been gone past the relay's patience; the sortie goes on without video."""
    NO_CAMERA = "no_camera"
    """The drone has no camera component and no stream configured for its dock."""


class VideoDescriptor(msgspec.Struct, frozen=True, kw_only=True):
    """``drones/{drone_id}/video``: retained, QoS 1, published on change.

    ``url`` is what a viewer opens (the relay: MPEG-TS over HTTP, with the same login as the
    broker); ``source`` is where the relay takes the drone's stream from (RTP/H.264 over UDP)."""

    drone_id: Id
    ts_ms: int
    state: VideoState
    reason: str = ""
    url: str | None = None
    source: str | None = None
    codec: str = "h264"
    width_px: Annotated[int, msgspec.Meta(ge=0, le=8192)] = 0
    height_px: Annotated[int, msgspec.Meta(ge=0, le=8192)] = 0
    fps: Annotated[float, msgspec.Meta(ge=0.0, le=240.0)] = 0.0
    bitrate_kbps: Annotated[int, msgspec.Meta(ge=0)] = 0
    hfov_deg: Annotated[float, msgspec.Meta(ge=0.0, le=360.0)] | None = None
    live: bool = False
    recording: bool = False
    camera: str | None = None
    """Vendor and model from CAMERA_INFORMATION, or "configured stream" for a dock's stream."""
    gimbal_pitch_deg: float | None = None
    gimbal_yaw_deg: float | None = None
    """Gimbal attitude as last reported (pitch down negative; yaw relative to the vehicle)."""


# --- payloads: incidents ----------------------------------------------------------------------


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """``incidents/{incident_id}``: retained incident record."""

    incident_id: Id
    status: IncidentStatus
    lat_deg: Lat
    lon_deg: Lon
    priority: Annotated[int, msgspec.Meta(ge=1, le=3)]
    summary: str = ""
    created_by: str | None = None
    assigned_drone: Id | None = None
    eta_s: float | None = None
    reason: str | None = None
    created_ms: int
    dispatched_ms: int | None = None
    on_scene_ms: int | None = None
    closed_ms: int | None = None


# --- payloads: envelopes ----------------------------------------------------------------------


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """A service request or an event (DJI Cloud API envelope). ``data`` is checked per method."""

    tid: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    bid: str = ""
    timestamp: int
    method: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    need_reply: int = 0
    gateway: str | None = None


class ReplyData(msgspec.Struct, frozen=True, kw_only=True):
    result: int
    output: dict[str, Any] = msgspec.field(default_factory=dict)


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    tid: str
    bid: str = ""
    timestamp: int
    method: str
    data: ReplyData


def make_request(method: str, data: msgspec.Struct | dict[str, Any], *, bid: str = "") -> Request:
    payload = msgspec.to_builtins(data) if isinstance(data, msgspec.Struct) else data
    return Request(tid=new_tid(), bid=bid, timestamp=now_ms(), method=method, data=payload)


def make_reply(
    tid: str, method: str, result: Result, output: dict[str, Any] | None = None, *, bid: str = ""
) -> Reply:
    return Reply(
        tid=tid,
        bid=bid,
        timestamp=now_ms(),
        method=method,
        data=ReplyData(result=int(result), output=output or {}),
    )


def refusal(tid: str, method: str, result: Result, reason: str, *, bid: str = "") -> Reply:
    return make_reply(tid, method, result, {"reason": reason}, bid=bid)


# --- operator method data ---------------------------------------------------------------------


class IncidentCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    lat_deg: Lat
    lon_deg: Lon
    priority: Annotated[int, msgspec.Meta(ge=1, le=3)] = 2
    summary: Annotated[str, msgspec.Meta(max_length=500)] = ""
    incident_id: Id | None = None


class IncidentRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    incident_id: Id


class DroneRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drone_id: Id


AltRel = Annotated[float, msgspec.Meta(ge=5.0, le=120.0)]


class DroneGoto(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drone_id: Id
    lat_deg: Lat
    lon_deg: Lon
    alt_rel_m: AltRel


class DroneOrbit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drone_id: Id
    lat_deg: Lat
    lon_deg: Lon
    radius_m: Annotated[float, msgspec.Meta(ge=10.0, le=500.0)] = 40.0
    speed_m_s: Annotated[float, msgspec.Meta(ge=1.0, le=12.0)] = 5.0


class DroneAltitude(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drone_id: Id
    alt_rel_m: AltRel


class DroneMission(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fly a QGroundControl plan (the ``.plan`` file's JSON object) with a drone the caller
    holds; ``rebase`` moves the plan's planned home to where the drone is now."""

    drone_id: Id
    plan: dict[str, Any]
    rebase: bool = True


class CameraAction(enum.StrEnum):
    """What ``drone_camera`` asks of a drone's camera and gimbal."""

    POINT = "point"
    """Gimbal to ``pitch_deg`` (and ``yaw_deg``, relative to the vehicle's heading)."""
    LOOK_AT = "look_at"
    """Gimbal on a ground point (region of interest): ``lat_deg``, ``lon_deg``."""
    LOOK_AT_IMAGE = "look_at_image"
    """Gimbal towards a point of the current picture: ``x``, ``y`` in 0..1 from top left."""
    RESET = "reset"
    """Back to what the sortie looks at (the incident)."""
    SNAPSHOT = "snapshot"
    """A geotagged still, kept as evidence."""


UnitInterval = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class DroneCamera(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drone_id: Id
    action: CameraAction
    pitch_deg: Annotated[float, msgspec.Meta(ge=-90.0, le=30.0)] | None = None
    yaw_deg: Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)] | None = None
    lat_deg: Lat | None = None
    lon_deg: Lon | None = None
    x: UnitInterval | None = None
    y: UnitInterval | None = None


class DockCommand(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Dock maintenance by an operator: reboot a dock (clears a fault such as a stuck cover),
    or open or close its cover. Refused while the dock's drone is out or the dock is busy; the
    reply relays the dock's answer, the job's end comes as an alert with the dock's id."""

    dock_id: Id
    method: Literal["device_reboot", "cover_open", "cover_close"]


# --- partner services: method data (groundstation.sharing, docs/partners.md) -----------------

Agency = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
"""An agency id: the force's own (e.g. ``met``) or a partner's (``lfb``, ``las``, ``npas``, ...)."""
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
Text = Annotated[str, msgspec.Meta(max_length=500)]


class IncidentShare(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``incident_share`` / ``incident_unshare``: the incident, the agencies, and why (audited)."""

    incident_id: Id
    agencies: Annotated[list[Agency], msgspec.Meta(min_length=1, max_length=16)]
    reason: Reason


class Methane(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """JESIP's M/ETHANE report, filled by the force's operator from what the drone sees."""

    major_incident: bool = False
    """M: major incident declared?"""
    exact_location: Text = ""
    """E: exact location, in words (the incident's coordinates go with it)."""
    lat_deg: Lat | None = None
    lon_deg: Lon | None = None
    incident_type: Text = ""
    """T: type of incident."""
    hazards: Text = ""
    """H: hazards, present and potential."""
    access: Text = ""
    """A: access routes to the scene that are safe to use."""
    casualties: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    """N: number of casualties (None: not known); their kind in ``casualties_detail``."""
    casualties_detail: Text = ""
    services_present: Annotated[list[Agency], msgspec.Meta(max_length=16)] = msgspec.field(
        default_factory=list
    )
    """E: emergency services present ..."""
    services_required: Annotated[list[Agency], msgspec.Meta(max_length=16)] = msgspec.field(
        default_factory=list
    )
    """... and required."""


class IncidentMethane(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``incident_methane``: the M/ETHANE record of an incident (replaces the previous one)."""

    incident_id: Id
    methane: Methane


class IncidentRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``incident_request``: a partner dispatcher asks the force for a drone."""

    lat_deg: Lat
    lon_deg: Lon
    priority: Annotated[int, msgspec.Meta(ge=1, le=3)] = 2
    incident_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    location: Text = ""
    reason: Reason


class RequestDecision(enum.StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"


class IncidentRequestDecide(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``incident_request_decide``: a force operator approves or declines a partner's request."""

    request_id: Id
    decision: RequestDecision
    reason: Reason


class IncidentLinkCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``incident_link_create``: a share link to the browser view of an incident
    (``groundstation.web``); the reply carries the URL (and the PIN) once, the journal the why."""

    incident_id: Id
    reason: Reason
    expires_s: Annotated[int, msgspec.Meta(ge=60, le=86_400)] = 3600
    max_viewers: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    agency: Agency | None = None
    """The partner it is for (the incident must be shared with it; the link stops when it is
    no longer); None: the force's own decision."""
    pin: bool = False
    """Ask for a PIN the ground station chooses (in the reply only), to tell by phone."""


class IncidentLinkRevoke(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``incident_link_revoke``: end a share link now; its open viewers are closed at once."""

    link_id: Id
    reason: Reason


class DockRegister(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Add a dock to the running controller (``groundstation.registration``): sent by the dock
    itself (its login is its ``dock_id``) or by an operator. The controller checks it, connects
    to the drone, tells the dock its drone (``assignment``) and keeps it in its site-set file."""

    dock_id: Id
    site_id: Id
    """One of the controller's sites (the dock stands on its roof)."""
    lat_deg: Lat
    lon_deg: Lon
    alt_amsl_m: Annotated[float, msgspec.Meta(ge=-100.0, le=5000.0)]
    """The dock's pad: the roof's altitude above mean sea level."""
    drone_id: Id | None = None
    """The drone living in it; default ``uav-{dock_id}``."""
    system_id: Annotated[int, msgspec.Meta(ge=1, le=250)] | None = None
    """The drone's MAVLink system id; default the next free one."""
    mavlink_url: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    """Where the controller reaches the drone (``udpin://0.0.0.0:14547``, ``tcpout://host:5760``,
    ``serial:///dev/ttyUSB0:57600``); default the controller's base port + its fleet index."""
# --- tracking a moving target (groundstation.core.tracking_rules, groundstation.trackctl) ---------


class TrackSource(enum.StrEnum):
    """Where the position of a tracked target comes from."""

    VIDEO = "video"
    """The drone camera's own tracker, locked on a point of the picture (``x``, ``y``)."""
    UNIT = "unit"
    """A ground unit's automatic vehicle location on ``units/{unit_id}/position``."""
    CAD = "cad"
    """A moving point CAD sends on ``targets/{target_id}/position``."""


class TrackState(enum.StrEnum):
    """Where a drone's tracking is, as consoles show it."""

    ACQUIRING = "acquiring"
    """Started; waiting for the first position of the target (or the camera's lock)."""
    FOLLOWING = "following"
    """The drone follows the target (PX4 Follow Target fed with its positions)."""
    HELD = "held"
    """The target went where the drone may not (a no-fly zone, out of Greater London): the
    drone orbits at the edge, and follows again when the target comes out."""
    LOST = "lost"
    """No position for too long, or the camera lost it: the drone orbits the last known point."""
    STOPPED = "stopped"
    """Tracking ended (``stop_reason`` says by whom and why); the drone orbits on scene."""


TrackReason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class DroneTrack(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Track a moving target with a drone. ``reason`` (the legal basis) is required and is kept
    in the journal with who asked and when. ``source`` says which of ``x``/``y`` (a point of the
    drone's picture, 0..1 from the top left), ``unit_id`` or ``target_id`` names the target."""

    drone_id: Id
    source: TrackSource
    reason: TrackReason
    x: UnitInterval | None = None
    y: UnitInterval | None = None
    unit_id: Id | None = None
    target_id: Id | None = None


class DroneTrackStop(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    drone_id: Id
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class TargetPosition(msgspec.Struct, frozen=True, kw_only=True):
    """``units/{unit_id}/position`` (a ground unit's AVL) and ``targets/{target_id}/position``
    (a moving point from CAD): QoS 0, not retained, typically 1-5 Hz. ``ts_ms`` is when the fix
    was taken (UTC); velocity is north/east/down in m/s when known."""

    id: Id
    ts_ms: int
    lat_deg: Lat
    lon_deg: Lon
    alt_amsl_m: float | None = None
    vel_n_m_s: float | None = None
    vel_e_m_s: float | None = None
    vel_d_m_s: float | None = None


class ImageBox(msgspec.Struct, frozen=True, kw_only=True):
    """The camera tracker's box around the target, in 0..1 of the picture from the top left."""

    left: float
    top: float
    right: float
    bottom: float


class TrackingStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``drones/{drone_id}/tracking``: retained, QoS 1, on change (and every second while
    tracking, for the distance). An empty retained payload: never tracked."""

    drone_id: Id
    ts_ms: int
    state: TrackState
    source: TrackSource
    target: str
    """The unit or target id, or "video" for the camera's tracker."""
    reason: str
    started_by: str
    started_ms: int
    since_ms: int
    """When ``state`` began."""
    detail: str = ""
    """Why the state is what it is (the zone that holds the drone, how long the target is lost)."""
    target_lat_deg: Lat | None = None
    target_lon_deg: Lon | None = None
    target_speed_m_s: float | None = None
    target_age_s: float | None = None
    distance_m: float | None = None
    """From the drone to the target, horizontally."""
    box: ImageBox | None = None
    stopped_by: str | None = None
    stop_reason: str | None = None


OPERATOR_DATA: Final[dict[OperatorMethod, type[msgspec.Struct]]] = {
    OperatorMethod.INCIDENT_CREATE: IncidentCreate,
    OperatorMethod.INCIDENT_CLOSE: IncidentRef,
    OperatorMethod.INCIDENT_SHARE: IncidentShare,
    OperatorMethod.INCIDENT_UNSHARE: IncidentShare,
    OperatorMethod.INCIDENT_METHANE: IncidentMethane,
    OperatorMethod.INCIDENT_REQUEST: IncidentRequest,
    OperatorMethod.INCIDENT_REQUEST_DECIDE: IncidentRequestDecide,
    OperatorMethod.INCIDENT_LINK_CREATE: IncidentLinkCreate,
    OperatorMethod.INCIDENT_LINK_REVOKE: IncidentLinkRevoke,
    OperatorMethod.AUTHORITY_GRAB: DroneRef,
    OperatorMethod.AUTHORITY_RELEASE: DroneRef,
    OperatorMethod.DRONE_GOTO: DroneGoto,
    OperatorMethod.DRONE_ORBIT: DroneOrbit,
    OperatorMethod.DRONE_HOLD: DroneRef,
    OperatorMethod.DRONE_ALTITUDE: DroneAltitude,
    OperatorMethod.DRONE_RETURN: DroneRef,
    OperatorMethod.DRONE_LAND: DroneRef,
    OperatorMethod.SORTIE_RESUME: DroneRef,
    OperatorMethod.DRONE_MISSION: DroneMission,
    OperatorMethod.DRONE_CAMERA: DroneCamera,
    OperatorMethod.DOCK_COMMAND: DockCommand,
    OperatorMethod.INCIDENT_GET: IncidentRef,
    OperatorMethod.DOCK_REGISTER: DockRegister,
    OperatorMethod.DRONE_TRACK: DroneTrack,
    OperatorMethod.DRONE_TRACK_STOP: DroneTrackStop,
}


# --- docks ------------------------------------------------------------------------------------


class CoverState(enum.IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2
    FAULT = 3


class DockMode(enum.IntEnum):
    """DJI's dock mode_code."""

    IDLE = 0
    DEBUG = 1
    REMOTE_DEBUG = 2
    UPGRADING = 3
    WORKING = 4


class ChargeState(msgspec.Struct, frozen=True, kw_only=True):
    state: int  # 0 idle, 1 charging
    capacity_percent: Percent


class NetworkState(msgspec.Struct, frozen=True, kw_only=True):
    type: int = 2  # 1 4G, 2 ethernet
    quality: Annotated[int, msgspec.Meta(ge=0, le=5)] = 5
    rate_kb_s: float = 0.0


class DockOsd(msgspec.Struct, frozen=True, kw_only=True):
    """``docks/{dock_id}/osd``: periodic dock telemetry (DJI field names)."""

    dock_id: Id
    ts_ms: int
    mode_code: DockMode
    cover_state: CoverState
    drone_in_dock: bool
    drone_charge_state: ChargeState
    wind_speed_m_s: Annotated[float, msgspec.Meta(ge=0.0)]
    rainfall: Annotated[int, msgspec.Meta(ge=0, le=3)]
    environment_temperature_c: float
    emergency_stop_state: bool
    network_state: NetworkState = msgspec.field(default_factory=NetworkState)
    lat_deg: Lat | None = None
    lon_deg: Lon | None = None


class DockState(msgspec.Struct, frozen=True, kw_only=True):
    """``docks/{dock_id}/state``: retained, on change."""

    dock_id: Id
    ts_ms: int
    mode_code: DockMode
    cover_state: CoverState
    drone_in_dock: bool
    charging: bool
    fault: str | None = None


class DockAssignment(msgspec.Struct, frozen=True, kw_only=True):
    """``docks/{dock_id}/assignment``: retained, from the controller: which drone lives in this
    dock (its telemetry is ``drones/{drone_id}/telemetry``) and where the site set puts it."""

    dock_id: Id
    drone_id: Id
    site_id: str
    lat_deg: Lat
    lon_deg: Lon
    alt_amsl_m: float
    ts_ms: int = 0


class Presence(msgspec.Struct, frozen=True, kw_only=True):
    """``.../status``: retained; the Last Will sets ``offline``."""

    status: Literal["online", "offline"]
    ts_ms: int = 0


class JobProgress(msgspec.Struct, frozen=True, kw_only=True):
    percent: Annotated[int, msgspec.Meta(ge=0, le=100)]
    step_key: str = ""


class JobEventOutput(msgspec.Struct, frozen=True, kw_only=True):
    status: JobStatus
    progress: JobProgress
    reason: str | None = None


# --- controller -------------------------------------------------------------------------------


class ControllerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``controllers/{controller_id}/status``: retained; Last Will ``offline``."""

    controller_id: Id
    status: Literal["online", "offline"]
    ts_ms: int = 0
    drones: int = 0
    role: Literal["active", "standby"] = "active"


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """``controllers/{controller_id}/events``: alerts and failsafes with a severity."""

    ts_ms: int
    severity: Severity
    code: str
    message: str
    drone_id: Id | None = None
    incident_id: Id | None = None
    dock_id: Id | None = None


# --- payloads: crewed traffic (groundstation.core.traffic_rules) ----------------------------------

Icao = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{6}$")]


class TrafficReport(msgspec.Struct, frozen=True, kw_only=True):
    """One ADS-B position of a crewed aircraft, as a receiver decodes it (dump1090's fields)."""

    icao: Icao
    """24-bit ICAO address, 6 lower-case hex digits."""
    callsign: str = ""
    lat_deg: Lat
    lon_deg: Lon
    alt_amsl_m: float
    """Geometric (GNSS) altitude when the receiver has it, else barometric."""
    heading_deg: Annotated[float, msgspec.Meta(ge=0.0, lt=360.0)]
    """Track over ground, degrees from true north."""
    speed_m_s: Annotated[float, msgspec.Meta(ge=0.0, le=400.0)]
    climb_m_s: float = 0.0
    emitter_type: Annotated[int, msgspec.Meta(ge=0, le=19)] = 0
    """ADSB_EMITTER_TYPE (7 rotorcraft, 1 light, ...)."""
    ts_ms: int
    """When the position was received (Unix ms)."""


class TrafficFeed(msgspec.Struct, frozen=True, kw_only=True):
    """``traffic/feeds/{feed_id}``: a ground receiver's reports (QoS 0, about 1 Hz)."""

    aircraft: Annotated[list[TrafficReport], msgspec.Meta(max_length=500)]


class TrafficAircraft(msgspec.Struct, frozen=True, kw_only=True):
    """One aircraft of the merged picture: the newest report and who heard it."""

    report: TrafficReport
    source: Id
    """The drone whose receiver heard it (ADSB_VEHICLE), or the feed id."""
    age_s: float
    conflict_drones: list[Id] = []
    """Drones (flying, or launches held) it is predicted near."""


class TrafficPicture(msgspec.Struct, frozen=True, kw_only=True):
    """``traffic/picture/{controller_id}``: every crewed aircraft the controller knows; 1 Hz."""

    controller_id: Id
    ts_ms: int
    aircraft: list[TrafficAircraft]


# --- encode / decode --------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
T = TypeVar("T")


def encode(obj: msgspec.Struct) -> bytes:
    return _encoder.encode(obj)


class ContractError(ValueError):
    """A payload that does not fit its channel. ``reason`` is safe to send back to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(payload: bytes | bytearray, kind: type[T]) -> T:
    """Decode and validate a payload; raise ContractError with a readable reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return msgspec.json.decode(payload, type=kind)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise ContractError(str(exc)) from exc


def decode_data(data: dict[str, Any], kind: type[T]) -> T:
    """Validate the ``data`` of an envelope against a method's struct."""
    try:
        return msgspec.convert(data, type=kind)
    except msgspec.ValidationError as exc:
        raise ContractError(f"data: {exc}") from exc


# --- typed envelopes per channel (validation and the AsyncAPI document) -----------------------

Tid = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class NoData(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``data`` of a dock service: the dock methods take no arguments."""


class DockServiceRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``docks/{dock_id}/services``: a controller calls a dock method (QoS 1, MQTT 5 expiry)."""

    tid: Tid
    bid: str = ""
    timestamp: int
    method: DockMethod
    data: NoData = msgspec.field(default_factory=NoData)
    need_reply: int = 0
    gateway: str | None = None


class DockJobEventData(msgspec.Struct, frozen=True, kw_only=True):
    result: int
    output: JobEventOutput


class DockEvent(msgspec.Struct, frozen=True, kw_only=True):
    """``docks/{dock_id}/events``: job progress; the controller answers on events_reply."""

    tid: Tid
    bid: str
    timestamp: int
    method: DockMethod
    need_reply: int = 1
    data: DockJobEventData
    gateway: str | None = None


class _OperatorEnvelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="method"):
    tid: Tid
    bid: str = ""
    timestamp: int
    need_reply: int = 0
    gateway: str | None = None


def _operator_variant(method: OperatorMethod) -> type[msgspec.Struct]:
    name = "".join(part.title() for part in method.value.split("_")) + "Request"
    return msgspec.defstruct(
        name,
        [("data", OPERATOR_DATA[method])],
        bases=(_OperatorEnvelope,),
        tag=method.value,
        frozen=True,
        kw_only=True,
        module=__name__,
    )


OPERATOR_REQUESTS: Final[dict[OperatorMethod, type[msgspec.Struct]]] = {
    m: _operator_variant(m) for m in OperatorMethod
}
"""One envelope type per operator method, tagged by ``method``, with its typed ``data``."""

OperatorRequest: Any = Union[tuple(OPERATOR_REQUESTS.values())]  # noqa: UP007
"""``operators/{username}/services``: the union of the per-method envelopes."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of the contract: its address template, payload type and MQTT settings."""

    name: str
    address: str  # with {parameters}, e.g. "dfr/v1/docks/{dock_id}/osd"
    payload: Any  # a msgspec-decodable type
    qos: int
    retain: bool
    sender: str  # who publishes: controller, dock, operator (or cad)
    summary: str
    expiry_s: int | None = None
    last_will: str | None = None  # payload a Last Will puts here, if any
    id_field: str | None = None  # payload field that must equal the topic's id
    content_type: str = "application/json"  # CAP alerts are XML (application/cap+xml)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(p[1:-1] for p in self.address.split("/") if p.startswith("{"))

    def match(self, topic: str) -> dict[str, str] | None:
        """The parameter values if ``topic`` is on this channel, else None."""
        want, got = self.address.split("/"), topic.split("/")
        if len(want) != len(got):
            return None
        params: dict[str, str] = {}
        for w, g in zip(want, got, strict=True):
            if w.startswith("{"):
                if not valid_id(g):
                    return None
                params[w[1:-1]] = g
            elif w != g:
                return None
        return params


def _dock(leaf: str) -> str:
    return f"{PREFIX}/docks/{{dock_id}}/{leaf}"


CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "droneTelemetry",
        f"{PREFIX}/drones/{{drone_id}}/telemetry",
        Telemetry,
        0,
        False,
        "controller",
        "Drone position, attitude, battery and link; 10 Hz in flight.",
        id_field="drone_id",
    ),
    Channel(
        "droneState",
        f"{PREFIX}/drones/{{drone_id}}/state",
        DroneState,
        1,
        True,
        "controller",
        "Drone sortie phase, health gates, pilot and target; on change.",
        id_field="drone_id",
    ),
    Channel(
        "droneVideo",
        f"{PREFIX}/drones/{{drone_id}}/video",
        VideoDescriptor,
        1,
        True,
        "controller",
        "Where and how to watch a drone's live video, and why not when there is none.",
        id_field="drone_id",
    ),
    Channel(
        "droneTracking",
        f"{PREFIX}/drones/{{drone_id}}/tracking",
        TrackingStatus,
        1,
        True,
        "controller",
        "A drone's tracking of a moving target: state, source, target, distance, who and why.",
        id_field="drone_id",
    ),
    Channel(
        "unitPosition",
        f"{PREFIX}/units/{{unit_id}}/position",
        TargetPosition,
        0,
        False,
        "cad",
        "A ground unit's automatic vehicle location (position, velocity, time of fix).",
        id_field="id",
    ),
    Channel(
        "targetPosition",
        f"{PREFIX}/targets/{{target_id}}/position",
        TargetPosition,
        0,
        False,
        "cad",
        "A moving point CAD wants a drone to follow (same shape as a unit's position).",
        id_field="id",
    ),
    Channel(
        "dockOsd",
        _dock("osd"),
        DockOsd,
        0,
        False,
        "dock",
        "Dock telemetry: cover, charge, weather, emergency stop; 1 Hz, 2 Hz during a job.",
        id_field="dock_id",
    ),
    Channel(
        "dockState",
        _dock("state"),
        DockState,
        1,
        True,
        "dock",
        "Dock state on change: mode, cover, drone in dock, charging, fault.",
        id_field="dock_id",
    ),
    Channel(
        "dockStatus",
        _dock("status"),
        Presence,
        1,
        True,
        "dock",
        "Dock presence: online on connection, offline by the dock's Last Will.",
        last_will='{"status":"offline"}',
    ),
    Channel(
        "dockAssignment",
        _dock("assignment"),
        DockAssignment,
        1,
        True,
        "controller",
        "Which drone lives in the dock (and the dock's position in the site set).",
        id_field="dock_id",
    ),
    Channel(
        "dockServices",
        _dock("services"),
        DockServiceRequest,
        1,
        False,
        "controller",
        "A dock method call (cover_open, ...). New tid per attempt, same bid per job.",
        expiry_s=COMMAND_TTL_S,
    ),
    Channel(
        "dockServicesReply",
        _dock("services_reply"),
        Reply,
        1,
        False,
        "dock",
        "The dock's answer to a service request, matched by tid.",
    ),
    Channel(
        "dockEvents",
        _dock("events"),
        DockEvent,
        1,
        False,
        "dock",
        "Job progress and end of a dock job (bid), need_reply 1.",
    ),
    Channel(
        "dockEventsReply",
        _dock("events_reply"),
        Reply,
        1,
        False,
        "controller",
        "The controller's acknowledgement of a dock event, matched by tid.",
    ),
    Channel(
        "incident",
        f"{PREFIX}/incidents/{{incident_id}}",
        Incident,
        1,
        True,
        "controller",
        "The incident record; an empty retained payload clears it.",
        id_field="incident_id",
    ),
    Channel(
        "operatorServices",
        f"{PREFIX}/operators/{{username}}/services",
        OperatorRequest,
        1,
        False,
        "operator",
        "An operator, console or CAD request (or a dock's dock_register). The username level "
        "is the MQTT login.",
        expiry_s=COMMAND_TTL_S,
    ),
    Channel(
        "operatorServicesReply",
        f"{PREFIX}/operators/{{username}}/services_reply",
        Reply,
        1,
        False,
        "controller",
        "The controller's answer to an operator request, by tid.",
    ),
    Channel(
        "controllerStatus",
        f"{PREFIX}/controllers/{{controller_id}}/status",
        ControllerStatus,
        1,
        True,
        "controller",
        "Controller presence: online on connection, offline by its Last Will.",
        last_will='{"controller_id":"<controller_id>","status":"offline"}',
        id_field="controller_id",
    ),
    Channel(
        "controllerEvents",
        f"{PREFIX}/controllers/{{controller_id}}/events",
        Alert,
        1,
        False,
        "controller",
        "Alerts and failsafes with a severity.",
    ),
    Channel(
        "trafficFeed",
        f"{PREFIX}/traffic/feeds/{{feed_id}}",
        TrafficFeed,
        0,
        False,
        "feed",
        "Crewed aircraft heard by a ground ADS-B receiver (e.g. dump1090), about 1 Hz.",
    ),
    Channel(
        "trafficPicture",
        f"{PREFIX}/traffic/picture/{{controller_id}}",
        TrafficPicture,
        0,
        False,
        "controller",
        "The merged traffic picture (drones' receivers and ground feeds), 1 Hz.",
        id_field="controller_id",
    ),
)
"""Every channel of the contract. ``groundstation.asyncapi`` renders and validates against it."""


def channel_for(topic: str) -> tuple[Channel, dict[str, str]] | None:
    """The channel a concrete topic belongs to, with its parameter values."""
    for ch in ALL_CHANNELS:
        params = ch.match(topic)
        if params is not None:
            return ch, params
    return None


# --- high availability and partitioned dispatch (groundstation.ha, groundstation.partition) ---


def controller_lease(cluster_id: str) -> str:
    """``controllers/{cluster_id}/lease``: who is the active controller of a hot-standby pair."""
    return f"{PREFIX}/controllers/{cluster_id}/lease"


def incident_offers(incident_id: str) -> str:
    """``incidents/{incident_id}/offers``: each partitioned controller's best ETA for it."""
    return f"{PREFIX}/incidents/{incident_id}/offers"


ALL_INCIDENT_OFFERS: Final = f"{PREFIX}/incidents/+/offers"


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """``controllers/{cluster_id}/lease``: retained, QoS 1, renewed every second by the active.

    ``holder`` None means released (a clean stop). A claim and a renewal look the same; the
    greatest ``(epoch, holder)`` wins. ``ttl_ms`` is the validity the holder promises to renew
    within; receivers time it on their own clock from receipt (no clock sync needed)."""

    cluster_id: Id
    holder: Id | None
    epoch: Annotated[int, msgspec.Meta(ge=0)]
    ttl_ms: Annotated[int, msgspec.Meta(ge=100, le=60_000)] = 3000
    ts_ms: int = 0


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """``incidents/{incident_id}/offers``: QoS 1, not retained. One per controller per round.

    ``eta_s`` None: this controller has no drone that can go (``reason`` says why). The award is
    the least ``eta_s``, ties to the least ``controller_id``; every controller computes it."""

    incident_id: Id
    controller_id: Id
    round: Annotated[int, msgspec.Meta(ge=0)] = 0
    eta_s: float | None = None
    drone_id: Id | None = None
    reason: str | None = None
    lat_deg: Lat
    lon_deg: Lon
    priority: Annotated[int, msgspec.Meta(ge=1, le=3)] = 2
    summary: str = ""
    created_by: str | None = None
    created_ms: int = 0
    ts_ms: int = 0


HA_CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "controllerLease",
        f"{PREFIX}/controllers/{{cluster_id}}/lease",
        Lease,
        1,
        True,
        "controller",
        "Hot-standby lease: holder and epoch, renewed every second.",
        id_field="cluster_id",
    ),
    Channel(
        "incidentOffers",
        f"{PREFIX}/incidents/{{incident_id}}/offers",
        Offer,
        1,
        False,
        "controller",
        "Partitioned dispatch: each controller's best ETA for an incident.",
        id_field="incident_id",
    ),
)
"""Channels of the HA and partition protocols, not yet in ``CHANNELS`` (the AsyncAPI owner adds
them and regenerates ``docs/asyncapi.yaml``)."""


# --- partner services: the per-agency namespace (groundstation.sharing, docs/partners.md) ------


def agency_root(agency: str) -> str:
    """``agencies/{agency}``: everything a partner agency may read is under it (broker ACL)."""
    return f"{PREFIX}/agencies/{agency}"


def agency_incident(agency: str, incident_id: str) -> str:
    return f"{agency_root(agency)}/incidents/{incident_id}"


def agency_incident_cap(agency: str, incident_id: str) -> str:
    return f"{agency_root(agency)}/incidents/{incident_id}/cap"


def agency_telemetry(agency: str, drone_id: str) -> str:
    return f"{agency_root(agency)}/drones/{drone_id}/telemetry"


def agency_video(agency: str, drone_id: str) -> str:
    return f"{agency_root(agency)}/drones/{drone_id}/video"


def agency_traffic(agency: str) -> str:
    return f"{agency_root(agency)}/traffic"


def agency_request(agency: str, request_id: str) -> str:
    return f"{agency_root(agency)}/requests/{request_id}"


ALL_AGENCY_REQUESTS: Final = f"{PREFIX}/agencies/+/requests/+"


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    """Waiting for a force operator (``incident_request_decide``)."""
    APPROVED = "approved"
    """An incident was created for it (``incident_id``) and shared with the agency."""
    DECLINED = "declined"
    REJECTED = "rejected"
    """Approved, but the incident could not be flown (airspace): ``decision_reason`` says why."""


class PartnerRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``agencies/{agency}/requests/{request_id}``: retained; each step of a partner's request."""

    request_id: Id
    agency: Agency
    requested_by: str
    ts_ms: int
    status: RequestStatus
    lat_deg: Lat
    lon_deg: Lon
    priority: Annotated[int, msgspec.Meta(ge=1, le=3)]
    incident_type: str
    location: str = ""
    reason: str
    decided_by: str | None = None
    """A force operator's login, or ``policy`` when the written policy approved it."""
    decision_reason: str | None = None
    decided_ms: int | None = None
    incident_id: Id | None = None


class SharedIncident(msgspec.Struct, frozen=True, kw_only=True):
    """``agencies/{agency}/incidents/{incident_id}``: retained; the incident as shared with one
    agency: where, its state, the drone over it (whose telemetry and video are mirrored under
    ``agencies/{agency}/drones/{drone_id}/``) and the M/ETHANE record. Empty: no longer shared."""

    incident_id: Id
    agency: Agency
    ts_ms: int
    status: IncidentStatus
    lat_deg: Lat
    lon_deg: Lon
    priority: Annotated[int, msgspec.Meta(ge=1, le=3)]
    summary: str = ""
    drone_id: Id | None = None
    eta_s: float | None = None
    created_ms: int
    on_scene_ms: int | None = None
    closed_ms: int | None = None
    shared_by: str
    shared_ms: int
    reason: str
    methane: Methane | None = None
    request_id: Id | None = None


def _agency(path: str) -> str:
    return f"{PREFIX}/agencies/{{agency}}/{path}"


PARTNER_CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "agencyIncident",
        _agency("incidents/{incident_id}"),
        SharedIncident,
        1,
        True,
        "controller",
        "An incident shared with a partner agency, with its drone and M/ETHANE record.",
        id_field="incident_id",
    ),
    Channel(
        "agencyIncidentCap",
        _agency("incidents/{incident_id}/cap"),
        str,
        1,
        True,
        "controller",
        "The shared incident's M/ETHANE record as an OASIS CAP 1.2 alert (XML).",
        content_type="application/cap+xml",
    ),
    Channel(
        "agencyTelemetry",
        _agency("drones/{drone_id}/telemetry"),
        Telemetry,
        0,
        False,
        "controller",
        "The telemetry of a drone over an incident shared with the agency (mirrored).",
        id_field="drone_id",
    ),
    Channel(
        "agencyVideo",
        _agency("drones/{drone_id}/video"),
        VideoDescriptor,
        1,
        True,
        "controller",
        "Where to watch a shared drone (the relay admits the agency while it is shared).",
        id_field="drone_id",
    ),
    Channel(
        "agencyRequest",
        _agency("requests/{request_id}"),
        PartnerRequest,
        1,
        True,
        "controller",
        "A partner's request for a drone: pending, approved (with its incident) or declined.",
        id_field="request_id",
    ),
    Channel(
        "agencyTraffic",
        _agency("traffic"),
        TrafficPicture,
        0,
        False,
        "controller",
        "The crewed-aircraft picture, 1 Hz, while the agency has an open incident shared with it.",
    ),
)
"""The per-agency namespace: a partner's logins may read ``agencies/{their agency}/#`` only."""


ALL_CHANNELS: Final[tuple[Channel, ...]] = CHANNELS + HA_CHANNELS + PARTNER_CHANNELS
"""Every channel of the contract: ``channel_for``, ``asyncapi.validate`` and the document use it."""
