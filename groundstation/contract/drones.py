"""Payloads of a drone's telemetry and state channels."""

from __future__ import annotations

import msgspec

from groundstation.contract._base import Id, Lat, Lon, Percent
from groundstation.contract.enums import Phase


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
