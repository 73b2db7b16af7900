"""Operator services: the ``data`` of each operator method, which struct each method takes
(``OPERATOR_DATA``), and the per-method envelopes tagged by ``method`` (``OPERATOR_REQUESTS``)."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Final, Literal, Union

import msgspec

from groundstation.contract._base import Id, Lat, Lon, Tid, UnitInterval
from groundstation.contract.docks import DockRegister
from groundstation.contract.enums import OperatorMethod
from groundstation.contract.partners import (
    IncidentLinkCreate,
    IncidentLinkRevoke,
    IncidentMethane,
    IncidentRequest,
    IncidentRequestDecide,
    IncidentShare,
)
from groundstation.contract.tracking import DroneTrack, DroneTrackStop


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
