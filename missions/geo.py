"""Small spherical-earth geometry: distances, bearings and offsets in WGS84 degrees.

Accurate to well under a metre over the tens of kilometres a DFR sortie spans, which is all the
dispatcher and the airspace checks need. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from typing import NamedTuple

EARTH_RADIUS_M = 6_371_008.8


class LatLon(NamedTuple):
    """A WGS84 position in degrees."""

    lat_deg: float
    lon_deg: float


def valid_lat_lon(lat_deg: float, lon_deg: float) -> bool:
    """True when both are finite and within the WGS84 ranges."""
    return (
        math.isfinite(lat_deg)
        and math.isfinite(lon_deg)
        and -90.0 <= lat_deg <= 90.0
        and -180.0 <= lon_deg <= 180.0
    )


def distance_m(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp = p2 - p1
    dl = math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    """Initial bearing from a to b, degrees clockwise from true north in [0, 360)."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dl = math.radians(b_lon - a_lon)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def offset(lat_deg: float, lon_deg: float, north_m: float, east_m: float) -> LatLon:
    """The position north_m / east_m metres away (flat-earth, fine below ~50 km)."""
    dlat = north_m / EARTH_RADIUS_M
    dlon = east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat_deg)))
    return LatLon(lat_deg + math.degrees(dlat), lon_deg + math.degrees(dlon))


def destination(lat_deg: float, lon_deg: float, bearing: float, dist_m: float) -> LatLon:
    """The position dist_m metres from (lat, lon) along the given bearing."""
    b = math.radians(bearing)
    return offset(lat_deg, lon_deg, dist_m * math.cos(b), dist_m * math.sin(b))


def to_local_m(
    origin_lat: float, origin_lon: float, lat_deg: float, lon_deg: float
) -> tuple[float, float]:
    """(north_m, east_m) of a position relative to an origin (flat-earth)."""
    north = math.radians(lat_deg - origin_lat) * EARTH_RADIUS_M
    east = math.radians(lon_deg - origin_lon) * EARTH_RADIUS_M * math.cos(math.radians(origin_lat))
    return north, east
