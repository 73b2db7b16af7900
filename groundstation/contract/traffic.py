"""Crewed traffic (``groundstation.core.traffic_rules``): ADS-B reports, ground feeds and the
merged picture."""

from __future__ import annotations

from typing import Annotated

import msgspec

from groundstation.contract._base import Id, Lat, Lon

Icao = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{6}$")]


class TrafficReport(msgspec.Struct, frozen=True, kw_only=True):
    """One ADS-B position of a crewed aircraft, as a receiver decodes it (dump1090's fields)."""

    icao: Icao
    """24-bit ICAO address, 6 lower-case hex digits."""
    callsign: str = ""
    lat_deg: Lat
    lon_deg: Lon
    alt_amsl_m: float
    """Geometric (GNSS) altitude when the receiver has it, else barometric."""
    heading_deg: Annotated[float, msgspec.Meta(ge=0.0, lt=360.0)]
    """Track over ground, degrees from true north."""
    speed_m_s: Annotated[float, msgspec.Meta(ge=0.0, le=400.0)]
    climb_m_s: float = 0.0
    emitter_type: Annotated[int, msgspec.Meta(ge=0, le=19)] = 0
    """ADSB_EMITTER_TYPE (7 rotorcraft, 1 light, ...)."""
    ts_ms: int
    """When the position was received (Unix ms)."""


class TrafficFeed(msgspec.Struct, frozen=True, kw_only=True):
    """``traffic/feeds/{feed_id}``: a ground receiver's reports (QoS 0, about 1 Hz)."""

    aircraft: Annotated[list[TrafficReport], msgspec.Meta(max_length=500)]


class TrafficAircraft(msgspec.Struct, frozen=True, kw_only=True):
    """One aircraft of the merged picture: the newest report and who heard it."""

    report: TrafficReport
    source: Id
    """The drone whose receiver heard it (ADSB_VEHICLE), or the feed id."""
    age_s: float
    conflict_drones: list[Id] = []
    """Drones (flying, or launches held) it is predicted near."""


class TrafficPicture(msgspec.Struct, frozen=True, kw_only=True):
    """``traffic/picture/{controller_id}``: every crewed aircraft the controller knows; 1 Hz."""

    controller_id: Id
    ts_ms: int
    aircraft: list[TrafficAircraft]
