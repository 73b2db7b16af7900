"""The dispatcher: least time to scene among drones that pass every gate, with reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from groundstation.core.dispatch import Candidate, FlightModel, battery_needed_pct, choose
from missions.airspace import Airspace
from missions.geo import offset

pytestmark = pytest.mark.unit

MODEL = FlightModel()
SCENE = (51.515, -0.12)


def cand(drone_id: str, north_m: float, **kw: object) -> Candidate:
    p = offset(SCENE[0], SCENE[1], north_m, 0.0)
    base = Candidate(
        drone_id=drone_id,
        dock_id=f"k-{drone_id}",
        lat_deg=p.lat_deg,
        lon_deg=p.lon_deg,
        dock_lat_deg=p.lat_deg,
        dock_lon_deg=p.lon_deg,
        battery_pct=95.0,
        connected=True,
        gps_ok=True,
        satellites=12,
        armable=True,
        dock_reason=None,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_the_nearest_ready_drone_goes() -> None:
    d = choose(*SCENE, 2, [cand("far", 3000), cand("near", 800), cand("mid", 1500)], MODEL)
    assert d.choice is not None and d.choice.drone_id == "near"
    # ETA: dock open + takeoff + climb to the safe height + 800 m at cruise speed.
    expected = (
        MODEL.dock_open_s
        + MODEL.arm_takeoff_s
        + MODEL.safe_alt_rel_m / MODEL.climb_rate_m_s
        + 800 / 15
    )
    assert d.choice.eta_s == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"connected": False}, "link"),
        ({"gps_ok": False}, "gps"),
        ({"satellites": 3}, "gps"),
        ({"armable": False}, "health"),
        ({"battery_pct": 25.0}, "battery"),
        ({"dock_reason": "offline"}, "dock"),
        ({"wind_m_s": 14.0}, "weather"),
        ({"busy": True}, "busy"),
        ({"pilot": "alice"}, "pilot"),
    ],
)
def test_each_gate_refuses_with_its_reason(change: dict[str, object], reason: str) -> None:
    d = choose(*SCENE, 2, [cand("a", 500, **change), cand("b", 2000)], MODEL)
    assert d.choice is not None and d.choice.drone_id == "b"
    assert d.refusals["a"].startswith(reason)


def test_nobody_can_go_gives_a_summary() -> None:
    d = choose(
        *SCENE, 2, [cand("a", 500, connected=False), cand("b", 900, battery_pct=10.0)], MODEL
    )
    assert d.choice is None
    assert "link" in d.summary() and "battery" in d.summary()


def test_battery_need_grows_with_distance_and_wind() -> None:
    assert battery_needed_pct(3000, MODEL, 0) > battery_needed_pct(1000, MODEL, 0)
    assert battery_needed_pct(3000, MODEL, 8) > battery_needed_pct(3000, MODEL, 0)
    assert battery_needed_pct(0, MODEL, 0) > MODEL.reserve_pct


def test_priority_one_may_redirect_a_drone_on_a_lower_priority_sortie() -> None:
    busy = cand("out", 300, busy=True, airborne=True, sortie_priority=3)
    docked = cand("docked", 2500)
    assert choose(*SCENE, 2, [busy, docked], MODEL).choice.drone_id == "docked"  # type: ignore[union-attr]
    d = choose(*SCENE, 1, [busy, docked], MODEL)
    assert d.choice is not None and d.choice.drone_id == "out" and d.choice.redirect


def test_a_route_through_restricted_airspace_is_refused() -> None:
    airspace = Airspace.load_default()
    # A dock just outside London City airport's zone, an incident on its far side.
    west = Candidate(
        drone_id="w",
        dock_id="k",
        lat_deg=51.5033,
        lon_deg=0.0100,
        dock_lat_deg=51.5033,
        dock_lon_deg=0.0100,
        battery_pct=95.0,
        connected=True,
        gps_ok=True,
        satellites=12,
        armable=True,
        dock_reason=None,
    )
    d = choose(51.5033, 0.0950, 2, [west], MODEL, airspace)
    assert d.choice is None
    assert d.refusals["w"].startswith("airspace")


def test_the_transit_is_flown_at_the_vehicles_top_speed_when_the_cruise_is_faster() -> None:
    # PX4's quadrotor asked for 20 m/s flies 9.6: an ETA at 20 m/s was half the flight.
    fast = replace(MODEL, cruise_speed_m_s=20.0)
    capped = replace(fast, top_speed_m_s=9.6)
    at_20 = choose(*SCENE, 2, [cand("a", 1000)], fast).choice
    at_top = choose(*SCENE, 2, [cand("a", 1000)], capped).choice
    assert at_20 is not None and at_top is not None
    assert at_top.eta_s - at_20.eta_s == pytest.approx(1000 / 9.6 - 1000 / 20, abs=0.5)
    assert battery_needed_pct(1000, capped, 0.0) > battery_needed_pct(1000, fast, 0.0)
