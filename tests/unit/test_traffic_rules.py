"""The pure traffic rules: the controller's picture and predictions, the simulator's PX4 check."""

from __future__ import annotations

import math

import pytest

from groundstation.core import traffic_rules as tr
from groundstation.core.dispatch import Candidate, FlightModel, choose
from missions.geo import offset
from sitl import traffic as px4

pytestmark = pytest.mark.unit

DOCK = (51.5313, -0.1037)
SCENE = offset(*DOCK, 0.0, 2000.0)  # 2 km east
MODEL = FlightModel()
CFG = tr.TrafficConfig()


def heli(north_m: float, east_m: float, heading_deg: float, *, alt_amsl_m: float = 110.0,
         speed_m_s: float = 40.0, seen_s: float = 0.0, icao: str = "43c6f1") -> tr.Aircraft:
    lat, lon = offset(*DOCK, north_m, east_m)
    return tr.Aircraft(icao, "HLE01", lat, lon, alt_amsl_m, heading_deg, speed_m_s, 0.0,
                       seen_s, "feed-1", 7)


def candidate() -> Candidate:
    return Candidate("uav-1", "dock-1", *DOCK, *DOCK, battery_pct=100.0, connected=True,
                     gps_ok=True, satellites=12, armable=True, dock_reason=None)


def check(picture: tr.Picture, now_s: float = 0.0) -> tr.RouteCheck:
    return tr.RouteCheck(picture, now_s, tr.LaunchModel(
        MODEL.dock_open_s, MODEL.arm_takeoff_s, MODEL.safe_alt_rel_m / MODEL.climb_rate_m_s,
        MODEL.cruise_speed_m_s, MODEL.cruise_alt_rel_m, MODEL.on_scene_s), CFG)


def test_merge_keeps_the_newest_report_per_icao_and_expiry_forgets_the_silent() -> None:
    old, new = heli(0, 0, 90, seen_s=1.0), heli(100, 0, 90, seen_s=2.0)
    other = heli(0, 0, 90, seen_s=0.5, icao="400001")
    pic = tr.merge({}, [new, old, other])
    assert pic["43c6f1"] is new and set(pic) == {"43c6f1", "400001"}
    assert set(tr.expire(pic, now_s=21.0, stale_s=20.0)) == {"43c6f1"}


def test_a_helicopter_crossing_the_route_holds_the_launch_with_the_reason() -> None:
    # 3 km north of the route's midpoint, flying south at 40 m/s: over the route in 75 s,
    # while the drone (launched now) is on its way.
    crossing = heli(3000.0, 1000.0, 180.0)
    decision = choose(*SCENE, 1, [candidate()], MODEL, check({"43c6f1": crossing}))
    assert decision.choice is None
    reason = decision.refusals["uav-1"]
    assert "crewed aircraft HLE01 (43c6f1)" in reason and "from the route in" in reason


def test_clear_when_it_flies_away_is_high_above_or_is_past() -> None:
    away = heli(3000.0, 1000.0, 0.0)  # heading north, away
    high = heli(3000.0, 1000.0, 180.0, alt_amsl_m=25.0 + 60.0 + 400.0)
    passed = heli(-3000.0, 1000.0, 180.0)  # already south of the route, going on south
    for a in (away, high, passed):
        decision = choose(*SCENE, 1, [candidate()], MODEL, check({a.icao: a}))
        assert decision.choice is not None, a
    # a report older than stale_s is forgotten, not dead-reckoned for ever
    crossing = heli(3000.0, 1000.0, 180.0)
    assert check({"x": crossing}, now_s=10.0).check_route(*DOCK, *SCENE) is not None
    assert check({"x": crossing}, now_s=CFG.stale_s + 1.0).check_route(*DOCK, *SCENE) is None


def test_a_flying_drone_is_warned_of_an_aircraft_coming_at_it() -> None:
    route = tr.airborne_route(*DOCK, 85.0, heading_deg=90.0, ground_speed_m_s=15.0,
                              horizon_s=CFG.alert_lookahead_s)
    head_on = heli(0.0, 2000.0, 270.0)  # 2 km east, coming west at 40 m/s: 36 s apart
    c = tr.route_conflict(route, {"a": head_on}, 0.0, CFG.alert_lookahead_s, CFG)
    assert c is not None and c.in_s < 40.0 and c.hor_m < CFG.hor_sep_m
    behind = heli(0.0, -2000.0, 270.0)  # 2 km west, going west
    assert tr.route_conflict(route, {"b": behind}, 0.0, CFG.alert_lookahead_s, CFG) is None


def test_vehicle_params_only_when_configured() -> None:
    assert tr.TrafficConfig().vehicle_params() == {}
    assert tr.TrafficConfig(avoid_action=tr.AvoidAction.RETURN).vehicle_params() == {
        "NAV_TRAFF_AVOID": 2, "NAV_TRAFF_A_HOR": 500.0, "NAV_TRAFF_A_VER": 500.0,
        "NAV_TRAFF_COLL_T": 60}
    with pytest.raises(ValueError, match="24 bits"):
        tr.icao_hex(1 << 24)
    assert tr.icao_hex(0x43C6F1) == "43c6f1"


# --- the simulator's copy of PX4's check (sitl/traffic.py) -------------------------------------


def report(north_m: float, heading_deg: float, *, above_m: float = 40.0, speed_m_s: float = 40.0,
           flags: int = 31) -> px4.TransponderReport:
    lat, lon = offset(*DOCK, north_m, 0.0)
    return px4.TransponderReport.from_adsb(
        0x43C6F1, round(lat * 1e7), round(lon * 1e7), round((60.0 + above_m) * 1000),
        round(heading_deg * 100), round(speed_m_s * 100), 0, "HLE01", flags, 7)


OWN = px4.Ownship(*DOCK, 60.0, 0.0, -3.0, 0.0)  # flying west at 3 m/s


def decide(check: px4.AdsbConflict, r: px4.TransponderReport, now_s: float = 0.0,
           action: px4.TrafficAction = px4.TrafficAction.RETURN) -> px4.TrafficDecision:
    return check.report(OWN, r, now_s, action, 500.0, 500.0, 60.0)


def test_px4_check_triggers_inside_the_collision_time_only() -> None:
    # 2600 m at 40 + 3 m/s is 60.5 s: no conflict; 2500 m is 58 s: conflict (as PX4 did at
    # 2560 m with the drone at 1.7 m/s in bench/traffic_parity.py).
    assert not decide(px4.AdsbConflict(), report(2600.0, 180.0)).conflict
    d = decide(px4.AdsbConflict(), report(2500.0, 180.0))
    assert d.conflict and d.action is px4.TrafficAction.RETURN
    assert d.text is not None and d.text.endswith("Heading 180, returning home")


def test_px4_check_needs_every_validity_flag_and_the_vertical_separation() -> None:
    assert decide(px4.AdsbConflict(), report(1000.0, 180.0, flags=1 | 2 | 4)).text is None
    assert not decide(px4.AdsbConflict(), report(1000.0, 180.0, above_m=600.0)).conflict


def test_px4_check_off_track_aircraft_is_no_conflict() -> None:
    # 1 km north, flying east: the line along its heading passes 1 km from the drone.
    assert not decide(px4.AdsbConflict(), report(1000.0, 90.0)).conflict
    # the line is an axis: flying away on it still counts (PX4: cross-track only, no "behind")
    assert decide(px4.AdsbConflict(), report(1000.0, 0.0)).conflict


def test_px4_conflict_buffer_acts_once_reminds_after_60_s_and_resolves() -> None:
    check = px4.AdsbConflict()
    first = decide(check, report(1500.0, 180.0), now_s=0.0)
    again = decide(check, report(1400.0, 180.0), now_s=10.0)
    assert first.text is not None and again.text is None  # no second action within 60 s
    remind = decide(check, report(1000.0, 180.0), now_s=61.0)
    assert remind.text is not None
    resolved = decide(check, report(1000.0, 180.0, above_m=900.0), now_s=62.0)
    assert resolved.text == f"Traffic Conflict Resolved {0x43C6F1}!"


def test_px4_mode_0_is_silent_and_the_event_ids_are_px4s() -> None:
    d = decide(px4.AdsbConflict(), report(1500.0, 180.0), action=px4.TrafficAction.DISABLED)
    assert d.conflict and d.text is None
    # measured on PX4 SIH (tests/sitl/data/px4_traffic.json)
    assert px4.event_id("navigator_traffic_rtl") == 27441269
    assert px4.event_id("navigator_traffic_resolved") == 21567501
    assert px4.event_id("navigator_traffic_land") == 23921860
    args = px4.event_arguments(0x43C6F1, 3, 180)
    assert list(args[:10]) == [241, 198, 67, 0, 3, 0, 0, 0, 180, 0] and len(args) == 40


def test_scripted_crossing_is_seeded_and_passes_over_the_point() -> None:
    a = px4.ScriptedAircraft.crossing(*DOCK, 60.0, seed=3, distance_m=2000.0, speed_m_s=40.0)
    assert a == px4.ScriptedAircraft.crossing(*DOCK, 60.0, seed=3, distance_m=2000.0,
                                              speed_m_s=40.0)
    here = a.position(50.0)
    assert here is not None
    assert math.dist((here[0] * 111_000, here[1] * 69_000),
                     (DOCK[0] * 111_000, DOCK[1] * 69_000)) < 5.0
    assert a.position(-1.0) is None
