"""The contract's shared enumerations: sortie phases, incident states, roles and their methods,
result codes, and the services a dock or the controller answers."""

from __future__ import annotations

import enum
from typing import Final


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
