"""Docks (DJI Cloud API names): telemetry, state, assignment, presence, job events, the
service and event envelopes, and ``dock_register`` (``groundstation.control.registration``)."""

from __future__ import annotations

import enum
from typing import Annotated, Literal

import msgspec

from groundstation.contract._base import Id, Lat, Lon, Percent, Tid
from groundstation.contract.enums import DockMethod, JobStatus


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


class DockRegister(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Add a dock to the running controller (``groundstation.control.registration``): sent by the
    dock itself (its login is its ``dock_id``) or by an operator. The controller checks it, connects
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
