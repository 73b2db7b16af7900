"""Tracking a moving target (``groundstation.core.tracking_rules``,
``groundstation.control.trackctl``): the methods' data, the positions of units and targets, and a
drone's tracking status."""

from __future__ import annotations

import enum
from typing import Annotated

import msgspec

from groundstation.contract._base import Id, Lat, Lon, UnitInterval


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
