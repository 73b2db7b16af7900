"""The dispatcher: which drone reaches an incident first, and why the others cannot go.

Pure functions over plain data. For each candidate the pre-flight gates are checked in the order a
pilot would (link, GPS, health, battery for the round trip with wind, dock ready, airspace), each
refusal carrying its reason; among those that pass, the least time to scene wins::

    eta = dock open time + arm and take-off + climb to safe height
          + distance / (transit speed - headwind)

where the transit speed is the cruise speed asked of the vehicle, or its top speed when that is
less (PX4's quadrotor tops out at 9.6-10 m/s at its default 45 degree tilt, whatever
MPC_XY_CRUISE says: docs/performance.md, "Time to scene").

A drone already out on a lower-priority sortie may be redirected to a priority-1 incident; its ETA
is from where it is now.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from missions.geo import distance_m

if TYPE_CHECKING:
    from missions.airspace import Refusal


class AirspaceCheck(Protocol):
    """What the dispatcher needs from ``missions.airspace.Airspace``."""

    def check_point(
        self, lat_deg: float, lon_deg: float, alt_rel_m: float | None = None
    ) -> Refusal | None: ...

    def check_route(
        self, a_lat: float, a_lon: float, b_lat: float, b_lon: float
    ) -> Refusal | None: ...


PX4_QUAD_TOP_SPEED_M_S = 9.6
"""PX4 SIH's quadrotor (and the simulator, held to it) flat out at PX4's default 45 degree tilt
limit, asked for 20 m/s: 9.6-10 m/s measured (sitl/README.md, Physics)."""


@dataclass(frozen=True, slots=True)
class FlightModel:
    """The numbers the dispatcher plans with. Defaults fit a ~25-minute DFR quadcopter."""

    cruise_speed_m_s: float = 15.0
    climb_rate_m_s: float = 3.0
    descent_rate_m_s: float = 1.5
    safe_alt_rel_m: float = 20.0
    cruise_alt_rel_m: float = 60.0
    dock_open_s: float = 12.0
    arm_takeoff_s: float = 10.0
    """Arm to leaving the ground and the slow start of the climb: PX4 takes 16.1 s (median) from
    the take-off command to 15 m, 11 s more than the climb at 3 m/s; the simulator's launching
    phase to safe height took 15.7 s at speedup 1 (was 4 s here: ETAs 6 s short)."""
    top_speed_m_s: float = math.inf
    """The fastest the vehicle flies level whatever it is asked (PX4 SIH and the simulator:
    9.6 m/s at PX4's default MPC_TILTMAX_AIR 45 degrees); the transit uses the lesser of this
    and the cruise speed."""
    drain_pct_per_s: float = 100.0 / (25 * 60)
    reserve_pct: float = 20.0
    on_scene_s: float = 120.0
    max_wind_m_s: float = 12.0
    max_rainfall: int = 1
    max_range_m: float = 8_000.0
    min_satellites: int = 6


@dataclass(frozen=True, slots=True)
class Candidate:
    """One drone as the dispatcher sees it."""

    drone_id: str
    dock_id: str
    lat_deg: float  # where it is now (its dock when docked)
    lon_deg: float
    dock_lat_deg: float
    dock_lon_deg: float
    battery_pct: float
    connected: bool
    gps_ok: bool
    satellites: int
    armable: bool
    dock_reason: str | None  # None when the dock can launch
    wind_m_s: float = 0.0
    busy: bool = False
    airborne: bool = False
    sortie_priority: int | None = None
    pilot: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    drone_id: str
    eta_s: float
    redirect: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    choice: Choice | None
    refusals: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """Why nobody could go, commonest reason first, each with its detail (for the incident
        record: an operator reads "2 dock: rainfall 3 over limit 1", not just "2 dock")."""
        if not self.refusals:
            return "no drones"
        counts: dict[str, int] = {}
        for reason in self.refusals.values():
            counts[reason] = counts.get(reason, 0) + 1
        return "; ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def transit_speed_m_s(model: FlightModel) -> float:
    """The speed the vehicle holds in transit: its cruise speed, or its top speed if less."""
    return min(model.cruise_speed_m_s, model.top_speed_m_s)


def battery_needed_pct(dist_m: float, model: FlightModel, wind_m_s: float) -> float:
    """Battery for out, on scene, back and down, plus the reserve."""
    ground = max(1.0, transit_speed_m_s(model) - wind_m_s)
    climb = model.cruise_alt_rel_m / model.climb_rate_m_s
    descend = model.cruise_alt_rel_m / model.descent_rate_m_s
    flight_s = 2 * dist_m / ground + model.on_scene_s + climb + descend + model.arm_takeoff_s
    return flight_s * model.drain_pct_per_s + model.reserve_pct


def eta_s(dist_m: float, model: FlightModel, wind_m_s: float, *, airborne: bool = False) -> float:
    ground = max(1.0, transit_speed_m_s(model) - wind_m_s)
    if airborne:
        return dist_m / ground
    climb = model.safe_alt_rel_m / model.climb_rate_m_s
    return model.dock_open_s + model.arm_takeoff_s + climb + dist_m / ground


def gate(
    c: Candidate,
    lat_deg: float,
    lon_deg: float,
    priority: int,
    model: FlightModel,
    airspace: AirspaceCheck | None,
) -> tuple[float | None, str | None]:
    """(eta, None) when the candidate may go, else (None, reason)."""
    if c.pilot is not None:
        return None, f"pilot: {c.pilot} holds authority"
    if c.busy:
        redirectable = (
            priority == 1 and c.airborne and c.sortie_priority is not None and c.sortie_priority > 1
        )
        if not redirectable:
            return None, "busy: on a sortie"
        dist = distance_m(c.lat_deg, c.lon_deg, lat_deg, lon_deg)
        home = distance_m(lat_deg, lon_deg, c.dock_lat_deg, c.dock_lon_deg)
        need = battery_needed_pct((dist + home) / 2, model, c.wind_m_s)
        if not c.connected:
            return None, "link: lost"
        if c.battery_pct < need:
            return None, f"battery: {c.battery_pct:.0f}% < {need:.0f}% for redirect"
        return eta_s(dist, model, c.wind_m_s, airborne=True), None
    if not c.connected:
        return None, "link: not connected"
    if not c.gps_ok or c.satellites < model.min_satellites:
        return None, f"gps: no fix ({c.satellites} satellites)"
    if not c.armable:
        return None, "health: vehicle not armable"
    dist = distance_m(c.dock_lat_deg, c.dock_lon_deg, lat_deg, lon_deg)
    if dist > model.max_range_m:
        return None, f"range: {dist / 1000:.1f} km > {model.max_range_m / 1000:.1f} km"
    if c.dock_reason is not None:
        return None, f"dock: {c.dock_reason}"
    if c.wind_m_s > model.max_wind_m_s:
        return None, f"weather: wind {c.wind_m_s:.0f} m/s > {model.max_wind_m_s:.0f} m/s"
    if not math.isfinite(c.battery_pct):
        return None, "battery: unknown"
    need = battery_needed_pct(dist, model, c.wind_m_s)
    if c.battery_pct < need:
        return None, f"battery: {c.battery_pct:.0f}% < {need:.0f}% needed"
    if airspace is not None:
        refusal = airspace.check_route(c.dock_lat_deg, c.dock_lon_deg, lat_deg, lon_deg)
        if refusal is not None:
            return None, f"airspace: {refusal.reason}"
    return eta_s(dist, model, c.wind_m_s), None


def choose(
    lat_deg: float,
    lon_deg: float,
    priority: int,
    candidates: Iterable[Candidate],
    model: FlightModel,
    airspace: AirspaceCheck | None = None,
) -> Decision:
    """The candidate with the least ETA that passes every gate, and the others' reasons."""
    best: Choice | None = None
    refusals: dict[str, str] = {}
    for c in candidates:
        eta, reason = gate(c, lat_deg, lon_deg, priority, model, airspace)
        if eta is None:
            refusals[c.drone_id] = reason or "refused"
            continue
        if best is None or eta < best.eta_s:
            best = Choice(c.drone_id, eta, redirect=c.busy)
    return Decision(best, refusals)


def nearest_first(
    lat_deg: float, lon_deg: float, candidates: Sequence[Candidate], limit: int
) -> list[Candidate]:
    """The ``limit`` candidates nearest the incident (to bound airspace checks on big fleets)."""
    return sorted(candidates, key=lambda c: distance_m(c.lat_deg, c.lon_deg, lat_deg, lon_deg))[
        :limit
    ]
