"""The built-in london site set: a site in every borough, each in its borough, none in a zone."""

from __future__ import annotations

import pytest
from shapely.geometry import Point

from missions.airspace import Airspace, boroughs
from missions.geo import offset
from missions.sites import builtin_names, load_sites

pytestmark = pytest.mark.unit


def test_london_is_builtin() -> None:
    assert {"london", "met-trial"} <= set(builtin_names())


def test_one_site_per_borough() -> None:
    sites = load_sites("london")
    assert sorted(s.borough for s in sites.sites) == sorted(boroughs())
    assert len(sites.sites) == 33
    assert sites.description


def test_sites_inside_their_borough_and_clear(airspace: Airspace) -> None:
    outlines = boroughs()
    for site in load_sites("london").sites:
        assert outlines[site.borough].contains(Point(site.lon_deg, site.lat_deg)), site.site_id
        assert airspace.check_point(site.lat_deg, site.lon_deg) is None, site.site_id
        for dock in site.docks:
            assert airspace.check_point(dock.lat_deg, dock.lon_deg) is None
        for north, east in ((250, 0), (-250, 0), (0, 250), (0, -250)):
            assert airspace.check_point(*offset(site.lat_deg, site.lon_deg, north, east)) is None


def test_met_trial_sites_clear(airspace: Airspace) -> None:
    for dock in load_sites("met-trial").docks:
        assert airspace.check_point(dock.lat_deg, dock.lon_deg) is None
