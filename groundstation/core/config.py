"""The controller's configuration: frozen, built once at the edge (CLI, tests) and passed down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from groundstation import contract as c
from groundstation.control.sharing import SharingConfig
from groundstation.control.videoctl import VideoConfig
from groundstation.core.dispatch import FlightModel
from groundstation.core.tracking_rules import TrackConfig
from groundstation.core.traffic_rules import TrafficConfig
from groundstation.users import DEMO_USERS
from missions.sites import SiteSet

DEFAULT_ROLES: Mapping[str, c.Role] = DEMO_USERS
"""Roles without a users file (``controller --users``): the built-in demo users."""


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Everything the controller is told at start. Built once at the edge (CLI, tests)."""

    site_set: SiteSet
    controller_id: str = "ctl-1"
    model: FlightModel = field(default_factory=FlightModel)
    speedup: float = 1.0
    telemetry_hz_air: float = 10.0
    telemetry_hz_ground: float = 1.0
    tick_hz: float = 10.0
    orbit_radius_m: float = 40.0
    orbit_speed_m_s: float = 5.0
    battery_low_pct: float = 30.0
    battery_critical_pct: float = 15.0
    link_timeout_s: float = 3.0
    dock_timeout_s: float = 60.0
    charged_pct: float = 60.0
    auto_close_incidents: bool = True
    incident_retention_s: float = 600.0
    """A closed or rejected incident's retained record is cleared this long after it closed
    (``groundstation.control.retention``); its history stays in the journal."""
    roles: Mapping[str, c.Role] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    video: VideoConfig = field(default_factory=VideoConfig)
    sharing: SharingConfig = field(default_factory=SharingConfig)
    """Partner services: policy, request rate (groundstation.control.sharing, docs/partners.md)."""
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    tracking: TrackConfig = field(default_factory=TrackConfig)
    failsafe_params: Mapping[str, float | int] = field(
        # PX4's data-link-loss action is off by default (NAV_DLL_ACT 0): a drone leaving its
        # dock must have its own plan. Link loss -> Return; geofence breach -> Return. Battery
        # failsafes stay the controller's (low -> return, critical -> land); a drone whose
        # controller is gone returns on the link-loss action long before its battery is low.
        default_factory=lambda: {
            "NAV_DLL_ACT": 2,
            "COM_DL_LOSS_T": 10,
            "GF_ACTION": 3,
        }
    )

