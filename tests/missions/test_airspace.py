"""The operating area, the London FRZs, route checks and detours."""

from __future__ import annotations

import itertools
import json
import math
from importlib import resources

import numpy as np
import pytest

from missions.airspace import Airspace, Refusal, RefusalCode, Zone
from missions.geo import LatLon, destination, distance_m
from missions.plan import MavCmd

pytestmark = pytest.mark.unit

WEST_END = LatLon(51.5095, -0.1252)
HEATHROW_ARP = LatLon(51.4775, -0.461389)
LONDON_CITY_ARP = LatLon(51.505278, 0.055278)


def _samples(route: list[LatLon], step_m: float = 20.0) -> list[LatLon]:
    out: list[LatLon] = []
    for a, b in itertools.pairwise(route):
        n = max(2, math.ceil(distance_m(*a, *b) / step_m))
        out.extend(
            LatLon(a.lat_deg + (b.lat_deg - a.lat_deg) * t, a.lon_deg + (b.lon_deg - a.lon_deg) * t)
            for t in np.linspace(0.0, 1.0, n)
        )
    return out


def test_default_has_the_four_frzs(airspace: Airspace) -> None:
    names = {z.name for z in airspace.zones}
    assert names == {"Heathrow FRZ", "London City FRZ", "Northolt FRZ", "Biggin Hill FRZ"}


def test_nofly_file_states_its_numbers() -> None:
    raw = json.loads(
        (resources.files("missions") / "data" / "nofly-london.geojson").read_text("utf-8")
    )
    for feat in raw["features"]:
        props = feat["properties"]
        assert props["source"]
        assert props["runways"]
        assert props["radius_nm"] == (2.5 if props["icao"] == "EGLL" else 2.0)


def test_point_clear_in_the_west_end(airspace: Airspace) -> None:
    assert airspace.check_point(*WEST_END) is None
    assert airspace.check_point(*WEST_END, alt_rel_m=60.0) is None


def test_point_inside_london_city_is_refused(airspace: Airspace) -> None:
    refusal = airspace.check_point(51.5040, 0.0500)
    assert isinstance(refusal, Refusal)
    assert refusal.code == RefusalCode.NOFLY
    assert refusal.code.value == "nofly"  # the wire value
    assert "London City" in refusal.reason


def test_runway_protection_zone_is_refused(airspace: Airspace) -> None:
    # 4 km east of Heathrow's 27R threshold on the extended centreline: outside the circle.
    p = destination(51.4776, -0.4332, 89.7, 4000.0)
    assert distance_m(*p, *HEATHROW_ARP) > 2.5 * 1852
    refusal = airspace.check_point(*p)
    assert refusal is not None
    assert refusal.reason == "inside Heathrow FRZ"


def test_point_outside_london(airspace: Airspace) -> None:
    refusal = airspace.check_point(51.75, -0.34)  # St Albans
    assert refusal is not None
    assert refusal.code == RefusalCode.OUTSIDE_AREA


@pytest.mark.parametrize(
    ("lat", "lon"), [(math.nan, 0.0), (51.5, math.inf), (91.0, 0.0), (51.5, -181.0)]
)
def test_invalid_points(airspace: Airspace, lat: float, lon: float) -> None:
    refusal = airspace.check_point(lat, lon)
    assert refusal is not None
    assert refusal.code == RefusalCode.INVALID


def test_altitude_limit(airspace: Airspace) -> None:
    refusal = airspace.check_point(*WEST_END, alt_rel_m=150.0)
    assert refusal is not None
    assert refusal.code == RefusalCode.ALTITUDE


def test_route_across_london_city_is_refused(airspace: Airspace) -> None:
    refusal = airspace.check_route(51.5050, 0.0000, 51.5000, 0.1100)
    assert refusal is not None
    assert refusal.code == RefusalCode.NOFLY
    assert "London City" in refusal.reason


def test_route_leaving_london_is_refused(airspace: Airspace) -> None:
    # Enfield to Epping Forest's edge and back in: the straight line leaves the area.
    refusal = airspace.check_route(51.6500, -0.0800, 51.6600, 0.2000)
    assert refusal is not None
    assert refusal.code in (RefusalCode.OUTSIDE_AREA, RefusalCode.NOFLY)


@pytest.mark.parametrize("bearing", [0.0, 30.0, 60.0, 90.0, 120.0, 150.0])
def test_west_end_to_heathrow_perimeter(airspace: Airspace, bearing: float) -> None:
    """Refused, or a route none of whose points is in a zone."""
    target = destination(*HEATHROW_ARP, bearing, 2.5 * 1852 + 300.0)
    for _ in range(20):  # walk outwards until the target itself is allowed
        if airspace.check_point(*target) is None:
            break
        target = destination(*HEATHROW_ARP, bearing, distance_m(*HEATHROW_ARP, *target) + 250.0)
    route = airspace.plan_route(*WEST_END, *target)
    if isinstance(route, Refusal):
        assert route.reason
        return
    assert route[0] == WEST_END
    assert route[-1] == target
    for p in _samples(route):
        refusal = airspace.check_point(*p)
        assert refusal is None or refusal.code != RefusalCode.NOFLY, (p, refusal)


def test_detour_around_london_city(airspace: Airspace) -> None:
    a, b = LatLon(51.5200, 0.0000), LatLon(51.4900, 0.1200)
    assert airspace.check_route(*a, *b) is not None
    route = airspace.plan_route(*a, *b)
    assert not isinstance(route, Refusal)
    assert len(route) > 2
    for p in _samples(route):
        assert airspace.check_point(*p) is None, p
    for u, v in itertools.pairwise(route):
        assert airspace.check_route(*u, *v) is None
    assert airspace.route_length_m(route) > distance_m(*a, *b)


def test_straight_route_when_clear(airspace: Airspace) -> None:
    route = airspace.plan_route(*WEST_END, 51.5339, -0.1087)
    assert route == [WEST_END, LatLon(51.5339, -0.1087)]


def test_route_into_a_zone_is_refused(airspace: Airspace) -> None:
    route = airspace.plan_route(*WEST_END, *LONDON_CITY_ARP)
    assert isinstance(route, Refusal)
    assert route.code == RefusalCode.NOFLY


def test_user_zones() -> None:
    base = Airspace.load_default()
    hyde_park = Zone.circle("Hyde Park event", 51.5073, -0.1657, 400.0, ceiling_m=100.0)
    box = Zone.polygon("Box", [(51.52, -0.14), (51.52, -0.13), (51.53, -0.13), (51.53, -0.14)])
    air = base.with_zones([hyde_park, box])
    assert air.check_point(51.5073, -0.1657) == Refusal(RefusalCode.NOFLY, "inside Hyde Park event")
    assert air.check_point(51.5073, -0.1657, alt_rel_m=110.0) is None  # above its ceiling
    assert air.check_point(51.525, -0.135) is not None
    assert base.check_point(51.525, -0.135) is None
    route = air.plan_route(51.5073, -0.1900, 51.5073, -0.1400)
    assert not isinstance(route, Refusal)
    assert len(route) > 2


def test_user_zone_floor_and_ceiling() -> None:
    zone = Zone.circle("High", 51.50, -0.10, 300.0, floor_m=50.0, ceiling_m=80.0)
    assert zone.spans(60.0)
    assert not zone.spans(30.0)
    assert zone.spans(None)


def test_geofence_items(airspace: Airspace) -> None:
    items = airspace.geofence_items()
    inclusion = [i for i in items if i.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION]
    exclusion = [i for i in items if i.command == MavCmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION]
    assert 3 <= len(inclusion) <= 40
    assert all(i.params[0] == len(inclusion) for i in inclusion)
    assert len(exclusion) >= 4 * 3
    fence = airspace.geofence()
    for poly in fence.polygons[1:]:
        assert len(poly.vertices) <= 40


def test_geofence_circle_about_a_site(airspace: Airspace) -> None:
    fence = airspace.geofence(LatLon(51.5339, -0.1087), 5000.0)
    assert len(fence.circles) == 1
    assert fence.circles[0].inclusion
    assert not fence.polygons  # no FRZ within 5 km of Islington
    fence = airspace.geofence(LatLon(51.5460, 0.0250), 5000.0)  # Forest Gate
    assert [p.inclusion for p in fence.polygons] == [False]


def test_exclusion_polygons_contain_the_zones(airspace: Airspace) -> None:
    from shapely.geometry import Polygon

    fence = airspace.geofence()
    for zone, poly in zip(airspace.zones, fence.polygons[1:], strict=True):
        shape = Polygon([(v.lon_deg, v.lat_deg) for v in poly.vertices])
        assert shape.contains(zone.outline)
