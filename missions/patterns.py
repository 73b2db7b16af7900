"""Flight patterns as PX4 mission items: orbit, expanding square, parallel track, perimeter, route.

Every generator checks its inputs against ``PatternLimits`` and raises ``PatternError(reason)``;
it returns the pattern only (no takeoff, no return): wrap it with ``sortie`` for a whole mission.
Items use MAV_FRAME_GLOBAL_RELATIVE_ALT (altitude above home) with QGC's ``AltitudeMode``
RELATIVE, so ``make_plan`` turns them into a .plan file QGC opens.

The orbit is flown as waypoints on the circle (PX4 multicopters do not fly NAV_LOITER_TURNS
as a circle in missions), the camera held on the centre by DO_SET_ROI_LOCATION and released
by DO_SET_ROI_NONE at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from shapely import affinity
from shapely.geometry import LineString, Point, Polygon

from missions.geo import LatLon, offset, valid_lat_lon
from missions.plan import AltitudeMode, MavCmd, MavFrame, MissionItem
from missions.projection import LocalFrame


class PatternError(ValueError):
    """A pattern's inputs are out of range; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PatternLimits:
    max_alt_rel_m: float = 120.0  # UK open category: 120 m above the surface
    min_alt_rel_m: float = 10.0
    min_speed_m_s: float = 1.0
    max_speed_m_s: float = 20.0
    max_extent_m: float = 5000.0  # no pattern point further than this from its reference
    max_items: int = 500


DEFAULT_LIMITS = PatternLimits()


def _check_position(lat: float, lon: float, what: str) -> None:
    if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
        raise PatternError(f"{what}: position must be numbers")
    if not valid_lat_lon(lat, lon):
        raise PatternError(f"{what}: invalid position ({lat}, {lon})")


def _check_alt(alt: float, limits: PatternLimits) -> None:
    if not math.isfinite(alt) or not limits.min_alt_rel_m <= alt <= limits.max_alt_rel_m:
        raise PatternError(
            f"altitude {alt} m is outside {limits.min_alt_rel_m:.0f}-{limits.max_alt_rel_m:.0f} m "
            "above home"
        )


def _check_speed(speed: float | None, limits: PatternLimits) -> None:
    if speed is None:
        return
    if not math.isfinite(speed) or not limits.min_speed_m_s <= speed <= limits.max_speed_m_s:
        raise PatternError(
            f"speed {speed} m/s is outside {limits.min_speed_m_s}-{limits.max_speed_m_s} m/s"
        )


def _check_positive(value: float, what: str, maximum: float | None = None) -> None:
    if not math.isfinite(value) or value <= 0:
        raise PatternError(f"{what} must be a positive number, not {value}")
    if maximum is not None and value > maximum:
        raise PatternError(f"{what} {value} is over the {maximum} limit")


def waypoint(lat: float, lon: float, alt_rel_m: float, *, hold_s: float = 0.0) -> MissionItem:
    """MAV_CMD_NAV_WAYPOINT at a relative altitude (yaw left to PX4: param 4 NaN)."""
    return MissionItem(
        int(MavCmd.NAV_WAYPOINT),
        int(MavFrame.GLOBAL_RELATIVE_ALT),
        (hold_s, 0.0, 0.0, None, lat, lon, alt_rel_m),
        altitude=alt_rel_m,
        altitude_mode=AltitudeMode.RELATIVE,
    )


def change_speed(speed_m_s: float) -> MissionItem:
    """MAV_CMD_DO_CHANGE_SPEED: ground speed, throttle unchanged."""
    return MissionItem(
        int(MavCmd.DO_CHANGE_SPEED),
        int(MavFrame.MISSION),
        (1.0, speed_m_s, -1.0, 0.0, 0.0, 0.0, 0.0),
    )


def roi(lat: float, lon: float, alt_rel_m: float = 0.0) -> MissionItem:
    """MAV_CMD_DO_SET_ROI_LOCATION: point the vehicle and gimbal at a location."""
    return MissionItem(
        int(MavCmd.DO_SET_ROI_LOCATION),
        int(MavFrame.GLOBAL_RELATIVE_ALT),
        (0.0, 0.0, 0.0, 0.0, lat, lon, alt_rel_m),
        altitude=alt_rel_m,
        altitude_mode=AltitudeMode.RELATIVE,
    )


def roi_none() -> MissionItem:
    return MissionItem(int(MavCmd.DO_SET_ROI_NONE), int(MavFrame.MISSION), (0.0,) * 7)


def _finish(items: list[MissionItem], limits: PatternLimits) -> list[MissionItem]:
    if len(items) > limits.max_items:
        raise PatternError(f"{len(items)} items: over the {limits.max_items} item limit")
    return items


def orbit(
    centre_lat: float,
    centre_lon: float,
    radius_m: float,
    alt_rel_m: float,
    *,
    speed_m_s: float | None = None,
    clockwise: bool = True,
    laps: int = 1,
    points_per_lap: int | None = None,
    limits: PatternLimits = DEFAULT_LIMITS,
) -> list[MissionItem]:
    """Circle a point of interest, looking at it: ROI on the centre, waypoints on the circle.

    ``points_per_lap`` defaults to one waypoint per 30 m of circumference (8 to 36 a lap).
    """
    _check_position(centre_lat, centre_lon, "orbit centre")
    _check_positive(radius_m, "orbit radius", limits.max_extent_m)
    if radius_m < 10.0:
        raise PatternError(f"orbit radius {radius_m} m is under 10 m")
    _check_alt(alt_rel_m, limits)
    _check_speed(speed_m_s, limits)
    if not 1 <= laps <= 20:
        raise PatternError(f"laps must be 1-20, not {laps}")
    n = points_per_lap or max(8, min(36, math.ceil(2 * math.pi * radius_m / 30.0)))
    if n < 3:
        raise PatternError("an orbit needs at least 3 points a lap")
    items: list[MissionItem] = []
    if speed_m_s is not None:
        items.append(change_speed(speed_m_s))
    items.append(roi(centre_lat, centre_lon))
    sign = 1.0 if clockwise else -1.0
    for k in range(n * laps + 1):  # back to the first point to close the last lap
        bearing = math.radians(sign * 360.0 * k / n)
        p = offset(
            centre_lat, centre_lon, radius_m * math.cos(bearing), radius_m * math.sin(bearing)
        )
        items.append(waypoint(p.lat_deg, p.lon_deg, alt_rel_m))
    items.append(roi_none())
    return _finish(items, limits)


def expanding_square(
    lkp_lat: float,
    lkp_lon: float,
    track_spacing_m: float,
    alt_rel_m: float,
    *,
    legs: int = 12,
    first_bearing_deg: float = 0.0,
    speed_m_s: float | None = None,
    limits: PatternLimits = DEFAULT_LIMITS,
) -> list[MissionItem]:
    """IAMSAR expanding square from a last known position: legs of 1, 1, 2, 2, 3, 3... spacings,
    turning 90 degrees right after each."""
    _check_position(lkp_lat, lkp_lon, "last known position")
    _check_positive(track_spacing_m, "track spacing", limits.max_extent_m)
    _check_alt(alt_rel_m, limits)
    _check_speed(speed_m_s, limits)
    if not 1 <= legs <= 200:
        raise PatternError(f"legs must be 1-200, not {legs}")
    if not math.isfinite(first_bearing_deg):
        raise PatternError("first bearing must be finite")
    extent = track_spacing_m * ((legs + 1) // 2) / 2 * math.sqrt(2) + track_spacing_m
    if extent > limits.max_extent_m:
        raise PatternError(f"the square reaches {extent:.0f} m out: over {limits.max_extent_m} m")
    items: list[MissionItem] = []
    if speed_m_s is not None:
        items.append(change_speed(speed_m_s))
    items.append(waypoint(lkp_lat, lkp_lon, alt_rel_m))
    north = east = 0.0
    for leg in range(legs):
        length = track_spacing_m * (leg // 2 + 1)
        b = math.radians(first_bearing_deg + 90.0 * leg)
        north += length * math.cos(b)
        east += length * math.sin(b)
        p = offset(lkp_lat, lkp_lon, north, east)
        items.append(waypoint(p.lat_deg, p.lon_deg, alt_rel_m))
    return _finish(items, limits)


def _polygon_local(
    vertices: Sequence[LatLon] | Sequence[tuple[float, float]], limits: PatternLimits
) -> tuple[LocalFrame, Polygon]:
    if len(vertices) < 3:
        raise PatternError("a polygon needs at least 3 vertices")
    for v in vertices:
        _check_position(v[0], v[1], "polygon vertex")
    lat0 = sum(v[0] for v in vertices) / len(vertices)
    lon0 = sum(v[1] for v in vertices) / len(vertices)
    frame = LocalFrame(lat0, lon0)
    poly = Polygon([frame.to_xy(v[0], v[1]) for v in vertices])
    if not poly.is_valid or poly.area <= 0:
        raise PatternError("the polygon is not valid (self-intersecting or empty)")
    minx, miny, maxx, maxy = poly.bounds
    if max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > limits.max_extent_m:
        raise PatternError(f"the polygon spans more than {limits.max_extent_m} m")
    return frame, poly


def parallel_track(
    vertices: Sequence[LatLon] | Sequence[tuple[float, float]],
    track_spacing_m: float,
    alt_rel_m: float,
    *,
    angle_deg: float = 0.0,
    speed_m_s: float | None = None,
    limits: PatternLimits = DEFAULT_LIMITS,
) -> list[MissionItem]:
    """Lawnmower over a polygon: tracks ``track_spacing_m`` apart along ``angle_deg`` (degrees
    clockwise from north), flown alternately; tracks are clipped to the polygon."""
    frame, poly = _polygon_local(vertices, limits)
    _check_positive(track_spacing_m, "track spacing", limits.max_extent_m)
    _check_alt(alt_rel_m, limits)
    _check_speed(speed_m_s, limits)
    if not math.isfinite(angle_deg):
        raise PatternError("track angle must be finite")
    # Rotate so tracks run along y, sweep x, rotate back.
    rotated = affinity.rotate(poly, angle_deg, origin=(0, 0))
    minx, miny, maxx, maxy = rotated.bounds
    n_tracks = math.floor((maxx - minx) / track_spacing_m) + 1
    if 2 * n_tracks > limits.max_items:
        raise PatternError(f"{n_tracks} tracks: too many for {limits.max_items} items")
    items: list[MissionItem] = []
    if speed_m_s is not None:
        items.append(change_speed(speed_m_s))
    offset_x = (maxx - minx - (n_tracks - 1) * track_spacing_m) / 2
    forward = True
    for k in range(n_tracks):
        x = minx + offset_x + k * track_spacing_m
        cut = rotated.intersection(LineString([(x, miny - 1), (x, maxy + 1)]))
        if cut.is_empty:
            continue
        y0, y1 = cut.bounds[1], cut.bounds[3]
        ends = [(x, y0), (x, y1)] if forward else [(x, y1), (x, y0)]
        for ex, ey in ends:
            back = affinity.rotate(Point(ex, ey), -angle_deg, origin=(0, 0))
            p = frame.to_latlon(back.x, back.y)
            items.append(waypoint(p.lat_deg, p.lon_deg, alt_rel_m))
        forward = not forward
    if not items or all(i.command != MavCmd.NAV_WAYPOINT for i in items):
        raise PatternError("no track fits in the polygon")
    return _finish(items, limits)


def perimeter(
    vertices: Sequence[LatLon] | Sequence[tuple[float, float]],
    alt_rel_m: float,
    *,
    inset_m: float = 0.0,
    speed_m_s: float | None = None,
    limits: PatternLimits = DEFAULT_LIMITS,
) -> list[MissionItem]:
    """Fly round the polygon's edge (optionally ``inset_m`` inside it), back to the start."""
    frame, poly = _polygon_local(vertices, limits)
    _check_alt(alt_rel_m, limits)
    _check_speed(speed_m_s, limits)
    if not math.isfinite(inset_m) or inset_m < 0:
        raise PatternError(f"inset must be zero or positive, not {inset_m}")
    if inset_m > 0:
        inner = poly.buffer(-inset_m, join_style="mitre")
        if inner.is_empty or inner.geom_type != "Polygon":
            raise PatternError(f"an inset of {inset_m} m leaves no single polygon")
        poly = inner
    items: list[MissionItem] = []
    if speed_m_s is not None:
        items.append(change_speed(speed_m_s))
    for x, y in poly.exterior.coords:  # closed ring: ends where it began
        p = frame.to_latlon(x, y)
        items.append(waypoint(p.lat_deg, p.lon_deg, alt_rel_m))
    return _finish(items, limits)


def route(
    points: Sequence[LatLon] | Sequence[tuple[float, float]],
    alt_rel_m: float,
    *,
    speed_m_s: float | None = None,
    limits: PatternLimits = DEFAULT_LIMITS,
) -> list[MissionItem]:
    """Waypoints through the given points at one altitude."""
    if not points:
        raise PatternError("a route needs at least one point")
    for p in points:
        _check_position(p[0], p[1], "route point")
    _check_alt(alt_rel_m, limits)
    _check_speed(speed_m_s, limits)
    items: list[MissionItem] = []
    if speed_m_s is not None:
        items.append(change_speed(speed_m_s))
    items.extend(waypoint(p[0], p[1], alt_rel_m) for p in points)
    return _finish(items, limits)


def sortie(
    pattern: Sequence[MissionItem],
    home_lat: float,
    home_lon: float,
    takeoff_alt_rel_m: float,
    *,
    limits: PatternLimits = DEFAULT_LIMITS,
) -> list[MissionItem]:
    """A whole mission: NAV_TAKEOFF above home, the pattern, NAV_RETURN_TO_LAUNCH."""
    _check_position(home_lat, home_lon, "home")
    _check_alt(takeoff_alt_rel_m, limits)
    takeoff = MissionItem(
        int(MavCmd.NAV_TAKEOFF),
        int(MavFrame.GLOBAL_RELATIVE_ALT),
        (0.0, 0.0, 0.0, None, home_lat, home_lon, takeoff_alt_rel_m),
        altitude=takeoff_alt_rel_m,
        altitude_mode=AltitudeMode.RELATIVE,
    )
    rtl = MissionItem(int(MavCmd.NAV_RETURN_TO_LAUNCH), int(MavFrame.MISSION), (0.0,) * 7)
    return _finish([takeoff, *pattern, rtl], limits)
