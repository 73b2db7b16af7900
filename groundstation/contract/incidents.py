"""The payload of the incident channel: the retained incident record."""

from __future__ import annotations

from typing import Annotated

import msgspec

from groundstation.contract._base import Id, Lat, Lon
from groundstation.contract.enums import IncidentStatus


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
