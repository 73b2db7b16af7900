"""Partner services (``groundstation.control.sharing``, docs/partners.md): the ``data`` of the
sharing and request methods, and the per-agency namespace (``agencies/{agency}/...``) with its
payloads."""

from __future__ import annotations

import enum
from typing import Annotated, Final

import msgspec

from groundstation.contract._base import PREFIX, Id, Lat, Lon
from groundstation.contract.enums import IncidentStatus

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
