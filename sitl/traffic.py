"""Crewed traffic for the simulator: ADS-B reports in, PX4's traffic avoidance, scripted aircraft.

PX4 (main a70a5583) takes ADSB_VEHICLE from a ground station or its own receiver as a
``transponder_report`` (mavlink_receiver.cpp: altitude mm -> m, heading cdeg -> rad, velocities
cm/s -> m/s; measured: a 180 deg heading comes back as 180 in its traffic event) and, when the
report's coordinates, altitude, heading and velocity are valid, runs
``Navigator::check_traffic`` on it (lib/adsb/AdsbConflict.cpp):

- conflict = the vehicle lies within NAV_TRAFF_A_HOR of the line from the aircraft along its
  (shifted) heading for its horizontal distance + 1000 m, not past that line's end, and within
  NAV_TRAFF_A_VER vertically, and the 3-D distance over the sum of both speeds ("assume always
  pointing at each other") is under NAV_TRAFF_COLL_T;
- a new conflicting ICAO address (at most 10 kept) is added and acted on at once; the same
  address again only after 60 s (a reminder); a report out of conflict removes it ("resolved");
- the action per NAV_TRAFF_AVOID: 0 none (nothing sent), 1 warn, 2 return (RTL), 3 land,
  4 hold: its event only (navigator sends LOITER_UNLIM, which PX4 did not act on: measured, it
  kept flying a goto in Hold and a mission in Mission);
- what it sends: an EVENT (navigator_traffic[_rtl|_land|_hold], arguments ICAO, separation m,
  heading deg; navigator_traffic_resolved), and commander's STATUSTEXT for RTL / land.

:class:`AdsbConflict` is that logic, pure. :class:`ScriptedAircraft` is a seeded crossing
helicopter the simulator can fly past a vehicle (what the drone's own receiver would hear).
"""

from __future__ import annotations

import enum
import math
import random
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pymavlink.dialects.v20 import common as mav

EARTH_RADIUS_M = 6_371_000.0  # PX4's CONSTANTS_RADIUS_OF_EARTH
TRAFFIC_TO_UAV_DISTANCE_EXTENSION_M = 1000.0
CONFLICT_WARNING_TIMEOUT_S = 60.0
MAX_TRAFFIC = 10  # NAVIGATOR_MAX_TRAFFIC

# ADSB_VEHICLE.flags (MAVLink ADSB_FLAGS)
FLAG_VALID_COORDS = 1
FLAG_VALID_ALTITUDE = 2
FLAG_VALID_HEADING = 4
FLAG_VALID_VELOCITY = 8
FLAG_VALID_CALLSIGN = 16
REQUIRED_FLAGS = FLAG_VALID_COORDS | FLAG_VALID_ALTITUDE | FLAG_VALID_HEADING | FLAG_VALID_VELOCITY
EMITTER_ROTOCRAFT = 7


class TrafficAction(enum.IntEnum):
    """NAV_TRAFF_AVOID."""

    DISABLED = 0
    WARN = 1
    RETURN = 2
    LAND = 3
    HOLD = 4


@dataclass(frozen=True, slots=True)
class TransponderReport:
    """PX4's transponder_report, as its MAVLink receiver fills it from ADSB_VEHICLE."""

    icao_address: int
    lat_deg: float
    lon_deg: float
    altitude_m: float
    heading_rad: float
    hor_velocity_m_s: float
    ver_velocity_m_s: float
    callsign: str
    flags: int
    emitter_type: int = 0

    @classmethod
    def from_adsb(cls, icao: int, lat_e7: int, lon_e7: int, altitude_mm: int, heading_cdeg: int,
                  hor_velocity_cm_s: int, ver_velocity_cm_s: int, callsign: str, flags: int,
                  emitter_type: int = 0) -> TransponderReport:
        return cls(icao, lat_e7 * 1e-7, lon_e7 * 1e-7, altitude_mm / 1000.0,
                   math.radians(heading_cdeg / 100.0),
                   hor_velocity_cm_s / 100.0, ver_velocity_cm_s / 100.0,
                   callsign.rstrip("\x00"), flags, emitter_type)


@dataclass(frozen=True, slots=True)
class TrafficDecision:
    """What one report made PX4 do: its notice text (None: silent) and the action."""

    text: str | None
    action: TrafficAction
    conflict: bool
    separation_m: int = 0


# ---- PX4's geo helpers (lib/geo/geo.cpp) ------------------------------------------------------


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dlat / 2) ** 2 + math.sin(dlon / 2) ** 2 * math.cos(p1) * math.cos(p2)
    return EARTH_RADIUS_M * 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a))


def _bearing_rad(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    return math.atan2(math.sin(dlon) * math.cos(p2),
                      math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dlon))


def _wrap_pi(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def waypoint_from_heading(lat: float, lon: float, bearing_rad: float,
                          dist_m: float) -> tuple[float, float]:
    """PX4's waypoint_from_heading_and_distance (great circle)."""
    b = _wrap_pi(bearing_rad)
    r = dist_m / EARTH_RADIUS_M
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(r) + math.cos(p1) * math.sin(r) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(r) * math.cos(p1),
                         math.cos(r) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(_wrap_pi(l2))


def crosstrack_m(lat: float, lon: float, start: tuple[float, float],
                 end: tuple[float, float]) -> float | None:
    """PX4's get_distance_to_line: signed cross-track distance, None when past the end."""
    dist_to_end = _distance_m(lat, lon, *end)
    if dist_to_end < 0.1:
        return None
    bearing_end = _bearing_rad(lat, lon, *end)
    bearing_track = _bearing_rad(*start, *end)
    diff = _wrap_pi(bearing_track - bearing_end)
    if diff > math.pi / 2 or diff < -math.pi / 2:
        return None
    return dist_to_end * math.sin(diff)


# ---- the conflict check -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ownship:
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    vn_m_s: float
    ve_m_s: float
    vd_m_s: float


def in_conflict(own: Ownship, tr: TransponderReport, hor_sep_m: float, ver_sep_m: float,
                collision_time_s: float) -> tuple[bool, float]:
    """PX4's detect_traffic_conflict: (conflict, cross-track distance m)."""
    d_hor = _distance_m(own.lat_deg, own.lon_deg, tr.lat_deg, tr.lon_deg)
    d_vert = abs(own.alt_amsl_m - tr.altitude_m)
    traffic_speed = math.hypot(tr.hor_velocity_m_s, tr.ver_velocity_m_s)
    uav_speed = math.sqrt(own.vn_m_s ** 2 + own.ve_m_s ** 2 + own.vd_m_s ** 2)
    relative_speed = traffic_speed + uav_speed
    end = waypoint_from_heading(tr.lat_deg, tr.lon_deg, tr.heading_rad,
                                d_hor + TRAFFIC_TO_UAV_DISTANCE_EXTENSION_M)
    xt = crosstrack_m(own.lat_deg, own.lon_deg, (tr.lat_deg, tr.lon_deg), end)
    near_track = xt is not None and abs(xt) < hor_sep_m
    near_vert = d_vert < ver_sep_m
    soon = relative_speed > 1e-6 and math.hypot(d_hor, d_vert) / relative_speed < collision_time_s
    return near_track and near_vert and soon, abs(xt or 0.0)


@dataclass
class AdsbConflict:
    """PX4's AdsbConflict conflict buffer and warnings (sans-IO; times in simulated seconds)."""

    conflicts: dict[int, float] = field(default_factory=dict)  # icao -> last warning time

    def report(self, own: Ownship, tr: TransponderReport, now_s: float, action: TrafficAction,
               hor_sep_m: float, ver_sep_m: float, collision_time_s: float) -> TrafficDecision:
        none = TrafficDecision(None, TrafficAction.DISABLED, False)
        if tr.flags & REQUIRED_FLAGS != REQUIRED_FLAGS:
            return none
        conflict, xt = in_conflict(own, tr, hor_sep_m, ver_sep_m, collision_time_s)
        known = tr.icao_address in self.conflicts
        if conflict and not known:
            if len(self.conflicts) >= MAX_TRAFFIC:
                return TrafficDecision(None, TrafficAction.DISABLED, True)
            self.conflicts[tr.icao_address] = now_s
        elif conflict and now_s > self.conflicts[tr.icao_address] + CONFLICT_WARNING_TIMEOUT_S:
            self.conflicts[tr.icao_address] = now_s
        elif not conflict and known:
            del self.conflicts[tr.icao_address]
            return TrafficDecision(f"Traffic Conflict Resolved {tr.icao_address}!",
                                   TrafficAction.DISABLED, False)
        else:
            return TrafficDecision(None, TrafficAction.DISABLED, conflict)
        return _warning(tr, int(xt), action)


def _warning(tr: TransponderReport, separation_m: int, action: TrafficAction) -> TrafficDecision:
    """PX4's send_traffic_warning: the notice per NAV_TRAFF_AVOID, and whether to act."""
    heading_deg = int(math.degrees(tr.heading_rad))
    base = (f"Traffic alert - ICAO Address {tr.icao_address}! Separation Distance "
            f"{separation_m}, Heading {heading_deg}")
    tail = {TrafficAction.RETURN: ", returning home", TrafficAction.LAND: ", landing",
            TrafficAction.HOLD: ", holding position"}
    if action is TrafficAction.DISABLED:
        return TrafficDecision(None, action, True, separation_m)
    return TrafficDecision(base + tail.get(action, ""), action, True, separation_m)


# ---- a scripted crossing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScriptedAircraft:
    """A crewed aircraft flying a straight line at constant speed and height, from a start
    point, starting at ``start_s`` simulated seconds (e.g. a helicopter crossing a drone's path)."""

    icao_address: int
    callsign: str
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    heading_deg: float
    speed_m_s: float
    start_s: float = 0.0
    duration_s: float = 300.0
    emitter_type: int = EMITTER_ROTOCRAFT

    def position(self, t_s: float) -> tuple[float, float] | None:
        """Where it is at simulated time t_s; None before it starts or after it leaves."""
        dt = t_s - self.start_s
        if dt < 0 or dt > self.duration_s:
            return None
        return waypoint_from_heading(self.lat_deg, self.lon_deg, math.radians(self.heading_deg),
                                     self.speed_m_s * dt)

    @classmethod
    def crossing(cls, lat_deg: float, lon_deg: float, alt_amsl_m: float, seed: int = 0,
                 distance_m: float = 2600.0, above_m: float = 40.0, speed_m_s: float = 40.0,
                 start_s: float = 0.0) -> ScriptedAircraft:
        """A helicopter that will pass over (lat, lon): it starts ``distance_m`` away on a
        seeded bearing, flying straight at the point, ``above_m`` over ``alt_amsl_m``."""
        rng = random.Random(seed)
        from_deg = rng.uniform(0.0, 360.0)
        lat0, lon0 = waypoint_from_heading(lat_deg, lon_deg, math.radians(from_deg), distance_m)
        icao = 0x400000 + rng.randrange(0x1000)  # the UK's ICAO block starts at 0x400000
        return cls(icao, f"HLE{rng.randrange(10, 99)}", lat0, lon0, alt_amsl_m + above_m,
                   (from_deg + 180.0) % 360.0, speed_m_s, start_s)


# ---- on board the simulated vehicle (MAVLink in and out) --------------------------------------

# PX4 events::ID(name): (1 << 24) | (32-bit FNV-1a of the name & 0xFFFFFF); measured on PX4 SIH.
EVENT_LOG_NOTICE = 0x55  # external and internal log level Notice (5), as PX4 sent them
EVENT_NAMES = {
    TrafficAction.WARN: "navigator_traffic",
    TrafficAction.RETURN: "navigator_traffic_rtl",
    TrafficAction.LAND: "navigator_traffic_land",
    TrafficAction.HOLD: "navigator_traffic_hold",
}
RESOLVED_EVENT = "navigator_traffic_resolved"
ADSB_REPORT_PERIOD_S = 0.5  # a receiver's position reports (ADS-B airborne position: 2 Hz)


MAVLINK_MSG_ID_EVENT = 410
EVENT_CRC_EXTRA = 160


class EventMessage(mav.MAVLink_message):  # type: ignore[misc]
    """MAVLink EVENT (410), which this pymavlink's common dialect lacks: PX4's events."""

    id = MAVLINK_MSG_ID_EVENT
    msgname = "EVENT"
    fieldnames: ClassVar[list[str]] = [
        "destination_component", "destination_system", "id", "event_time_boot_ms", "sequence",
        "log_levels", "arguments"]
    unpacker = struct.Struct("<IIHBBB40s")

    def __init__(self, ident: int, time_boot_ms: int, sequence: int, log_levels: int,
                 arguments: bytes) -> None:
        mav.MAVLink_message.__init__(self, MAVLINK_MSG_ID_EVENT, "EVENT")
        self._fieldnames = self.fieldnames
        self.destination_component = 0
        self.destination_system = 0
        self.event_id = ident
        self.event_time_boot_ms = time_boot_ms
        self.sequence = sequence
        self.log_levels = log_levels
        self.arguments = arguments

    def pack(self, mav_codec: Any, force_mavlink1: bool = False) -> bytes:
        body = self.unpacker.pack(self.event_id, self.event_time_boot_ms, self.sequence,
                                  self.destination_component, self.destination_system,
                                  self.log_levels, self.arguments)
        return bytes(self._pack(mav_codec, EVENT_CRC_EXTRA, body, force_mavlink1=force_mavlink1))


def event_id(name: str) -> int:
    h = 0x811C9DC5
    for c in name.encode():
        h = ((h ^ c) * 0x01000193) & 0xFFFFFFFF
    return (1 << 24) | (h & 0xFFFFFF)


def event_arguments(icao: int, separation_m: int | None = None, heading_deg: int | None = None,
                    ) -> bytes:
    """PX4's packed event arguments (little endian): uint32 icao[, int32 separation, int16
    heading], padded to MAVLink's 40 bytes."""
    raw = struct.pack("<I", icao)
    if separation_m is not None and heading_deg is not None:
        raw += struct.pack("<ih", separation_m, heading_deg)
    return raw.ljust(40, b"\x00")


def report_of_adsb(msg: Any) -> TransponderReport:
    """A pymavlink ADSB_VEHICLE as PX4's MAVLink receiver reads it."""
    callsign = msg.callsign.decode(errors="replace") if isinstance(msg.callsign, bytes) \
        else str(msg.callsign)
    return TransponderReport.from_adsb(msg.ICAO_address, msg.lat, msg.lon, msg.altitude,
                                       msg.heading, msg.hor_velocity, msg.ver_velocity, callsign,
                                       msg.flags, msg.emitter_type)


def adsb_message(ac: ScriptedAircraft, lat_deg: float, lon_deg: float) -> Any:
    """The ADSB_VEHICLE the vehicle's own receiver sends for a scripted aircraft."""
    flags = REQUIRED_FLAGS | FLAG_VALID_CALLSIGN
    return mav.MAVLink_adsb_vehicle_message(
        ac.icao_address, round(lat_deg * 1e7), round(lon_deg * 1e7), 1,
        round(ac.alt_amsl_m * 1000), round(ac.heading_deg * 100) % 36000,
        round(ac.speed_m_s * 100), 0, ac.callsign.encode()[:9], ac.emitter_type, 1, flags, 0)


@dataclass
class TrafficOnboard:
    """The vehicle's side: PX4's conflict check on every report (from the ground station or
    its own receiver), and the scripted aircraft its receiver hears."""

    check: AdsbConflict = field(default_factory=AdsbConflict)
    aircraft: list[ScriptedAircraft] = field(default_factory=list)
    event_sequence: int = 0
    warnings: list[tuple[int, TrafficAction]] = field(default_factory=list)
    """(time_boot_ms, NAV_TRAFF_AVOID) of every traffic warning sent (a test hook)."""
    _next_report_s: float = 0.0

    def decide(self, own: Ownship, tr: TransponderReport, now_s: float,
               params: Any) -> TrafficDecision:
        return self.check.report(
            own, tr, now_s, TrafficAction(int(params.get("NAV_TRAFF_AVOID"))),
            params.get("NAV_TRAFF_A_HOR"), params.get("NAV_TRAFF_A_VER"),
            params.get("NAV_TRAFF_COLL_T"))

    def event(self, d: TrafficDecision, tr: TransponderReport, time_boot_ms: int) -> Any | None:
        """The EVENT message PX4 sends for a decision (None when it sends none)."""
        if d.text is None:
            return None
        if d.conflict:
            self.warnings.append((time_boot_ms, d.action))
            ident = event_id(EVENT_NAMES[d.action])
            args = event_arguments(tr.icao_address, d.separation_m,
                                   int(math.degrees(tr.heading_rad)))
        else:
            ident, args = event_id(RESOLVED_EVENT), event_arguments(tr.icao_address)
        self.event_sequence = (self.event_sequence + 1) & 0xFFFF
        return EventMessage(ident, time_boot_ms & 0xFFFFFFFF, self.event_sequence,
                            EVENT_LOG_NOTICE, args)

    def receiver_reports(self, sim_time_s: float) -> list[tuple[Any, TransponderReport]]:
        """ADSB_VEHICLE messages due from the vehicle's receiver, with PX4's reading of them."""
        if not self.aircraft or sim_time_s < self._next_report_s:
            return []
        self._next_report_s = sim_time_s + ADSB_REPORT_PERIOD_S
        out = []
        for ac in self.aircraft:
            where = ac.position(sim_time_s)
            if where is None:
                continue
            msg = adsb_message(ac, *where)
            out.append((msg, report_of_adsb(msg)))
        return out
