"""Crewed traffic near the fleet: the pure rules (``groundstation.control.trafficctl`` does
the I/O).

London's Air Ambulance lands in streets and NPAS helicopters fly low over incidents. The
controller merges what ADS-B tells it (the drones' own receivers, ADSB_VEHICLE, and ground feeds
on MQTT, e.g. a dump1090 receiver) into one traffic picture, newest report per ICAO address, and
forgets an aircraft not heard for ``stale_s``. Every aircraft is dead-reckoned in a straight
line at its reported speed, heading and climb rate.

- Launch hold: a launch is refused while a known aircraft is predicted within ``hor_sep_m``
  horizontally and ``ver_sep_m`` vertically of the drone's route within ``lookahead_s``. The
  drone's route follows the dispatcher's time-to-scene model (``dispatch.FlightModel``): on the
  dock for dock-open + take-off, climbing to the cruise height, then straight to the scene at the
  cruise speed, then over the scene. The incident stays queued with the reason; it is
  dispatched on the first dispatch round after the prediction clears.
- Airborne alert: a flying drone, dead-reckoned at its own ground speed and heading, with an
  aircraft predicted within the same separation in ``alert_lookahead_s``, raises an alert once
  (per drone and aircraft, until it clears).

Defaults: 1000 m horizontal, 300 m (about 1000 ft) vertical, 120 s look-ahead for launches, 60 s
(PX4's NAV_TRAFF_COLL_T) for airborne alerts, 20 s before an aircraft is forgotten. The vehicles'
own avoidance (PX4 NAV_TRAFF_AVOID with NAV_TRAFF_A_HOR / _A_VER / _COLL_T) is set at connection
from ``avoid_action`` and acts on its own.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from groundstation.core.dispatch import AirspaceCheck
from missions.airspace import Refusal, RefusalCode
from missions.geo import distance_m, offset

EARTH_RADIUS_M = 6_371_008.8


class AvoidAction(enum.IntEnum):
    """PX4 NAV_TRAFF_AVOID: what the vehicle itself does when traffic is predicted near."""

    DISABLED = 0
    WARN = 1
    RETURN = 2
    LAND = 3
    HOLD = 4


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    """How the controller treats crewed traffic. Built once at the edge (CLI, tests)."""

    hor_sep_m: float = 1000.0
    ver_sep_m: float = 300.0
    lookahead_s: float = 120.0
    alert_lookahead_s: float = 60.0
    stale_s: float = 20.0
    step_s: float = 1.0
    """Prediction time step."""
    ground_amsl_m: float = 25.0
    """The ground height the dispatcher's cruise height is above (London: 5-40 m AMSL)."""
    avoid_action: AvoidAction | None = None
    """NAV_TRAFF_AVOID set on every vehicle at connection (None: the vehicle's own setting)."""
    avoid_hor_m: float = 500.0
    avoid_ver_m: float = 500.0
    avoid_collision_s: int = 60

    def vehicle_params(self) -> dict[str, float | int]:
        """The NAV_TRAFF_* parameters to set at connection (empty when not configured)."""
        if self.avoid_action is None:
            return {}
        return {"NAV_TRAFF_AVOID": int(self.avoid_action), "NAV_TRAFF_A_HOR": self.avoid_hor_m,
                "NAV_TRAFF_A_VER": self.avoid_ver_m, "NAV_TRAFF_COLL_T": self.avoid_collision_s}


@dataclass(frozen=True, slots=True)
class Aircraft:
    """One crewed aircraft as last heard. ``seen_s`` is on the controller's clock."""

    icao: str  # 24-bit ICAO address, 6 lower-case hex digits
    callsign: str
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    heading_deg: float
    speed_m_s: float
    climb_m_s: float
    seen_s: float
    source: str  # a drone id (its receiver) or a feed id
    emitter_type: int = 0

    @property
    def label(self) -> str:
        return f"{self.callsign} ({self.icao})" if self.callsign else self.icao

    def at(self, dt_s: float) -> tuple[float, float, float]:
        """Dead-reckoned (lat, lon, alt AMSL) dt_s after it was heard."""
        h = math.radians(self.heading_deg)
        d = self.speed_m_s * dt_s
        lat, lon = offset(self.lat_deg, self.lon_deg, d * math.cos(h), d * math.sin(h))
        return lat, lon, self.alt_amsl_m + self.climb_m_s * dt_s


def icao_hex(address: int) -> str:
    if not 0 <= address <= 0xFFFFFF:
        raise ValueError(f"ICAO address {address}: must be 24 bits")
    return f"{address:06x}"


def valid_icao(icao: str) -> bool:
    return len(icao) == 6 and all(ch in "0123456789abcdef" for ch in icao)


Picture = Mapping[str, Aircraft]


def merge(picture: Picture, reports: Iterable[Aircraft]) -> dict[str, Aircraft]:
    """The picture with the reports merged in: the newest report per ICAO address wins."""
    out = dict(picture)
    for a in reports:
        old = out.get(a.icao)
        if old is None or a.seen_s >= old.seen_s:
            out[a.icao] = a
    return out


def expire(picture: Picture, now_s: float, stale_s: float) -> dict[str, Aircraft]:
    return {k: a for k, a in picture.items() if now_s - a.seen_s <= stale_s}


# --- prediction -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """Where a drone will be: still until ``depart_s``, then straight from start to end at
    ``speed_m_s``, then at the end; at ``alt_amsl_m`` (times from now)."""

    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    depart_s: float
    speed_m_s: float
    alt_amsl_m: float

    def at(self, t_s: float) -> tuple[float, float]:
        length = distance_m(self.start_lat, self.start_lon, self.end_lat, self.end_lon)
        flown = max(0.0, t_s - self.depart_s) * self.speed_m_s
        f = 1.0 if length < 1.0 else min(1.0, flown / length)
        return (self.start_lat + (self.end_lat - self.start_lat) * f,
                self.start_lon + (self.end_lon - self.start_lon) * f)


@dataclass(frozen=True, slots=True)
class Conflict:
    """An aircraft predicted within the separation of a drone (or its route)."""

    aircraft: Aircraft
    in_s: float
    hor_m: float
    ver_m: float

    @property
    def reason(self) -> str:
        return (f"crewed aircraft {self.aircraft.label} predicted {self.hor_m:.0f} m / "
                f"{self.ver_m:.0f} m vertically from the route in {self.in_s:.0f} s")


def route_conflict(route: Route, picture: Picture, now_s: float, horizon_s: float,
                   config: TrafficConfig) -> Conflict | None:
    """The soonest aircraft predicted within both separations of the route, if any."""
    found: list[Conflict] = []
    for a in picture.values():
        if now_s - a.seen_s > config.stale_s:
            continue
        steps = max(1, math.ceil(horizon_s / config.step_s))
        age = now_s - a.seen_s
        for i in range(steps + 1):
            t = i * config.step_s
            lat, lon = route.at(t)
            alat, alon, aalt = a.at(age + t)
            hor = distance_m(lat, lon, alat, alon)
            ver = abs(aalt - route.alt_amsl_m)
            if hor < config.hor_sep_m and ver < config.ver_sep_m:
                found.append(Conflict(a, t, hor, ver))
                break
    return min(found, key=lambda c: c.in_s) if found else None


def airborne_route(lat_deg: float, lon_deg: float, alt_amsl_m: float, heading_deg: float,
                   ground_speed_m_s: float, horizon_s: float) -> Route:
    """A flying drone dead-reckoned at its ground speed and heading."""
    d = ground_speed_m_s * horizon_s
    h = math.radians(heading_deg)
    end_lat, end_lon = offset(lat_deg, lon_deg, d * math.cos(h), d * math.sin(h))
    return Route(lat_deg, lon_deg, end_lat, end_lon, 0.0, ground_speed_m_s, alt_amsl_m)


@dataclass(frozen=True, slots=True)
class LaunchModel:
    """The dispatcher's time-to-scene numbers the launch route is built from."""

    dock_open_s: float
    arm_takeoff_s: float
    climb_s: float
    cruise_speed_m_s: float
    cruise_alt_rel_m: float
    on_scene_s: float


def launch_route(a_lat: float, a_lon: float, b_lat: float, b_lon: float, model: LaunchModel,
                 config: TrafficConfig) -> Route:
    return Route(a_lat, a_lon, b_lat, b_lon,
                 model.dock_open_s + model.arm_takeoff_s + model.climb_s,
                 model.cruise_speed_m_s, config.ground_amsl_m + model.cruise_alt_rel_m)


def launch_horizon_s(route: Route, model: LaunchModel, config: TrafficConfig) -> float:
    """Until on scene plus its time there, capped by the look-ahead."""
    length = distance_m(route.start_lat, route.start_lon, route.end_lat, route.end_lon)
    eta = route.depart_s + length / max(route.speed_m_s, 0.1)
    return min(config.lookahead_s, eta + model.on_scene_s)


class RouteCheck:
    """An ``AirspaceCheck`` for ``dispatch.choose``: the static airspace (if any), then the
    traffic picture against the launch route (a conflict as a ``RefusalCode.TRAFFIC``)."""

    def __init__(self, picture: Picture, now_s: float, model: LaunchModel,
                 config: TrafficConfig, airspace: AirspaceCheck | None = None) -> None:
        self.picture = picture
        self.now_s = now_s
        self.model = model
        self.config = config
        self.airspace = airspace

    def check_point(self, lat_deg: float, lon_deg: float,
                    alt_rel_m: float | None = None) -> Refusal | None:
        if self.airspace is None:
            return None
        return self.airspace.check_point(lat_deg, lon_deg, alt_rel_m)

    def check_route(self, a_lat: float, a_lon: float, b_lat: float,
                    b_lon: float) -> Refusal | None:
        if self.airspace is not None:
            refusal = self.airspace.check_route(a_lat, a_lon, b_lat, b_lon)
            if refusal is not None:
                return refusal
        route = launch_route(a_lat, a_lon, b_lat, b_lon, self.model, self.config)
        horizon = launch_horizon_s(route, self.model, self.config)
        conflict = route_conflict(route, self.picture, self.now_s, horizon, self.config)
        return None if conflict is None else Refusal(RefusalCode.TRAFFIC, conflict.reason)
