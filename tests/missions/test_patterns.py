"""Pattern generators: valid PX4 items, and clear refusals of bad inputs."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from missions.geo import LatLon, distance_m
from missions.patterns import (
    PatternError,
    expanding_square,
    orbit,
    parallel_track,
    perimeter,
    route,
    sortie,
)
from missions.plan import MavCmd, MavFrame, MissionItem, dumps_plan, make_plan, parse_plan

pytestmark = pytest.mark.unit

CENTRE = LatLon(51.5339, -0.1087)
FIELD = [
    LatLon(51.5300, -0.1100),
    LatLon(51.5300, -0.1000),
    LatLon(51.5350, -0.1000),
    LatLon(51.5350, -0.1100),
]
KNOWN = {int(c) for c in MavCmd}


def _valid(items: list[MissionItem], max_alt: float = 120.0) -> None:
    assert items
    for it in items:
        assert it.command in KNOWN
        assert it.frame in (MavFrame.GLOBAL_RELATIVE_ALT, MavFrame.MISSION)
        assert len(it.params) == 7
        if it.command == MavCmd.NAV_WAYPOINT:
            lat, lon, alt = it.params[4], it.params[5], it.params[6]
            assert lat is not None
            assert lon is not None
            assert alt is not None
            assert math.isfinite(lat)
            assert math.isfinite(lon)
            assert 0 < alt <= max_alt
            assert it.altitude == alt


def _waypoints(items: list[MissionItem]) -> list[LatLon]:
    return [
        LatLon(float(i.params[4] or 0), float(i.params[5] or 0))
        for i in items
        if i.command == MavCmd.NAV_WAYPOINT
    ]


def test_orbit() -> None:
    items = orbit(*CENTRE, 80.0, 60.0, speed_m_s=5.0, clockwise=False, laps=2)
    _valid(items)
    assert items[0].command == MavCmd.DO_CHANGE_SPEED
    assert items[1].command == MavCmd.DO_SET_ROI_LOCATION
    assert (items[1].params[4], items[1].params[5]) == CENTRE
    assert items[-1].command == MavCmd.DO_SET_ROI_NONE
    wps = _waypoints(items)
    for p in wps:
        assert distance_m(*p, *CENTRE) == pytest.approx(80.0, abs=0.5)
    assert wps[0] == pytest.approx(wps[-1])


def test_orbit_direction() -> None:
    cw = _waypoints(orbit(*CENTRE, 100.0, 50.0, clockwise=True))
    ccw = _waypoints(orbit(*CENTRE, 100.0, 50.0, clockwise=False))
    # The first step from north goes east when clockwise, west otherwise.
    assert cw[1].lon_deg > CENTRE.lon_deg
    assert ccw[1].lon_deg < CENTRE.lon_deg


def test_expanding_square() -> None:
    items = expanding_square(*CENTRE, 50.0, 40.0, legs=8)
    _valid(items)
    wps = _waypoints(items)
    assert len(wps) == 9
    assert wps[0] == CENTRE
    legs = [distance_m(*a, *b) for a, b in itertools.pairwise(wps)]
    assert legs == pytest.approx([50, 50, 100, 100, 150, 150, 200, 200], rel=1e-3)


def test_parallel_track_covers_the_field() -> None:
    items = parallel_track(FIELD, 40.0, 50.0)
    _valid(items)
    wps = _waypoints(items)
    # ~700 m wide field at 40 m spacing: 17 or 18 tracks, two points each.
    assert 30 <= len(wps) <= 40
    for p in wps:
        assert 51.5299 <= p.lat_deg <= 51.5351
        assert -0.1101 <= p.lon_deg <= -0.0999


def test_parallel_track_angle() -> None:
    items = parallel_track(FIELD, 50.0, 50.0, angle_deg=90.0)
    wps = _waypoints(items)
    # Tracks run east-west: each pair shares a latitude.
    assert wps[0].lat_deg == pytest.approx(wps[1].lat_deg, abs=1e-6)


def test_perimeter_closes() -> None:
    items = perimeter(FIELD, 30.0, inset_m=20.0)
    _valid(items)
    wps = _waypoints(items)
    assert wps[0] == pytest.approx(wps[-1])
    assert len(wps) == 5


def test_route_and_sortie_make_a_plan() -> None:
    body = route([CENTRE, LatLon(51.54, -0.11)], 60.0, speed_m_s=12.0)
    mission = sortie(body, *CENTRE, 30.0)
    _valid(mission)
    assert mission[0].command == MavCmd.NAV_TAKEOFF
    assert mission[-1].command == MavCmd.NAV_RETURN_TO_LAUNCH
    plan = make_plan(mission)
    import json

    assert parse_plan(json.loads(dumps_plan(plan))) == plan


@pytest.mark.parametrize(
    "call",
    [
        lambda: orbit(*CENTRE, 0.0, 50.0),
        lambda: orbit(*CENTRE, -5.0, 50.0),
        lambda: orbit(*CENTRE, 80.0, 150.0),
        lambda: orbit(*CENTRE, 80.0, 0.0),
        lambda: orbit(*CENTRE, 80.0, 50.0, speed_m_s=50.0),
        lambda: orbit(*CENTRE, 80.0, 50.0, speed_m_s=0.0),
        lambda: orbit(*CENTRE, 80.0, 50.0, laps=0),
        lambda: expanding_square(*CENTRE, 0.0, 50.0),
        lambda: expanding_square(*CENTRE, 1000.0, 50.0, legs=20),
        lambda: parallel_track(FIELD, 0.0, 50.0),
        lambda: parallel_track(FIELD, -10.0, 50.0),
        lambda: parallel_track(FIELD[:2], 10.0, 50.0),
        lambda: parallel_track(FIELD, 0.5, 50.0),  # too many tracks
        lambda: parallel_track([FIELD[0], FIELD[2], FIELD[1], FIELD[3]], 20.0, 50.0),  # bow tie
        lambda: perimeter(FIELD, 50.0, inset_m=1000.0),
        lambda: route([], 50.0),
        lambda: route([CENTRE], 121.0),
    ],
)
def test_bad_inputs_refused(call: object) -> None:
    with pytest.raises(PatternError) as info:
        call()  # type: ignore[operator]
    assert info.value.reason


bad_float = st.sampled_from([math.nan, math.inf, -math.inf, 91.0, -200.0])
any_float = st.floats(allow_nan=True, allow_infinity=True)


@given(lat=any_float, lon=any_float)
def test_orbit_centre_must_be_a_position(lat: float, lon: float) -> None:
    ok = math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180
    if ok and abs(lat) < 85:
        assert orbit(lat, lon, 50.0, 50.0)
    elif not ok:
        with pytest.raises(PatternError):
            orbit(lat, lon, 50.0, 50.0)


@given(bad=bad_float, which=st.integers(0, 1))
def test_route_refuses_non_positions(bad: float, which: int) -> None:
    point = [51.5, -0.1]
    point[which] = bad
    if which == 0 or abs(bad) > 180 or not math.isfinite(bad):
        with pytest.raises(PatternError):
            route([CENTRE, (point[0], point[1])], 50.0)


@given(alt=any_float)
def test_altitude_limits(alt: float) -> None:
    if math.isfinite(alt) and 10.0 <= alt <= 120.0:
        _valid(route([CENTRE], alt))
    else:
        with pytest.raises(PatternError):
            route([CENTRE], alt)


@given(spacing=any_float)
def test_spacing_must_be_positive(spacing: float) -> None:
    if not (math.isfinite(spacing) and spacing > 0):
        with pytest.raises(PatternError):
            expanding_square(*CENTRE, spacing, 50.0)
        with pytest.raises(PatternError):
            parallel_track(FIELD, spacing, 50.0)
