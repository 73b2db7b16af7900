"""The rules of tracking a moving target (core.tracking_rules), each alone: no sockets,
no clock. Airspace is the real ``missions.airspace.Airspace`` over a small test area."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from shapely.geometry import box

from groundstation import contract as c
from groundstation.core import sortie as so
from groundstation.core import tracking_rules as r
from groundstation.core.dispatch import FlightModel
from groundstation.core.vehicle import FollowTarget
from missions.airspace import Airspace, Zone
from missions.geo import distance_m, offset

pytestmark = pytest.mark.unit

DOCK = (51.5100, -0.1300)
# A 4 km square around the dock as the operating area, and a 150 m zone 600 m north of it.
AREA = box(-0.16, 51.49, -0.10, 51.53)
ZONE_CENTRE = offset(DOCK[0], DOCK[1], 600.0, 0.0)
AIRSPACE = Airspace(AREA, [Zone.circle("Test zone", ZONE_CENTRE[0], ZONE_CENTRE[1], 150.0)],
                    area_name="the test area")
MODEL = FlightModel()
CFG = r.TrackConfig()


def view(**kw: object) -> r.DroneView:
    base = r.DroneView(
        drone_id="d1",
        phase=c.Phase.ON_SCENE,
        pilot=None,
        connected=True,
        lat_deg=DOCK[0],
        lon_deg=DOCK[1] + 0.002,
        battery_pct=90.0,
        dock_lat_deg=DOCK[0],
        dock_lon_deg=DOCK[1],
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def track(source: c.TrackSource = c.TrackSource.UNIT, **kw: object) -> c.DroneTrack:
    data: dict[str, object] = {"drone_id": "d1", "source": source, "reason": "pursuit, s.17 PACE"}
    if source == c.TrackSource.UNIT:
        data["unit_id"] = "car-7"
    data.update(kw)
    return c.DroneTrack(**data)  # type: ignore[arg-type]


def fix_at(north_m: float, east_m: float, t: float, vn: float | None = None,
           ve: float | None = None) -> r.Fix:
    p = offset(DOCK[0], DOCK[1], north_m, east_m)
    return r.Fix(p.lat_deg, p.lon_deg, received_s=t, vel_n_m_s=vn, vel_e_m_s=ve)


# --- refusals ---------------------------------------------------------------------------------


def test_a_good_request_passes() -> None:
    assert r.request_problem("alice", track(), view()) is None


@pytest.mark.parametrize(
    ("req", "v", "result", "words"),
    [
        (track(), view(pilot="bob"), c.Result.NOT_AUTHORITY, "held by bob"),
        (track(reason="   "), view(), c.Result.MALFORMED, "legal basis"),
        (track(unit_id=None), view(), c.Result.MALFORMED, "unit_id"),
        (track(c.TrackSource.CAD), view(), c.Result.MALFORMED, "target_id"),
        (track(c.TrackSource.VIDEO, x=0.5), view(), c.Result.MALFORMED, "x and y"),
        (track(), view(connected=False), c.Result.VEHICLE_FAILED, "not connected"),
        (track(), view(phase=c.Phase.RETURNING), c.Result.INVALID_STATE, "returning"),
        (track(), view(phase=c.Phase.DOCKED), c.Result.INVALID_STATE, "docked"),
    ],
)
def test_requests_refused_with_their_reason(
    req: c.DroneTrack, v: r.DroneView, result: c.Result, words: str
) -> None:
    refusal = r.request_problem("alice", req, v)
    assert refusal is not None
    assert refusal.result == result
    assert words in refusal.reason


def test_the_pilot_who_holds_the_drone_may_track() -> None:
    assert r.request_problem("bob", track(), view(pilot="bob")) is None


def test_a_target_never_heard_or_gone_quiet_is_unknown() -> None:
    refusal = r.target_problem(None, "unit car-7", view(), 100.0, CFG, MODEL, AIRSPACE)
    assert refusal is not None and refusal.result == c.Result.UNKNOWN_TARGET
    assert "never heard" in refusal.reason
    old = fix_at(100, 0, 50.0)
    refusal = r.target_problem(old, "unit car-7", view(), 100.0, CFG, MODEL, AIRSPACE)
    assert refusal is not None and refusal.result == c.Result.UNKNOWN_TARGET
    assert "50 s ago" in refusal.reason


def test_a_target_in_a_zone_or_outside_the_area_is_refused() -> None:
    inside = r.Fix(ZONE_CENTRE[0], ZONE_CENTRE[1], received_s=99.0)
    refusal = r.target_problem(inside, "unit car-7", view(), 100.0, CFG, MODEL, AIRSPACE)
    assert refusal is not None and refusal.result == c.Result.AIRSPACE
    assert "inside Test zone" in refusal.reason
    outside = r.Fix(51.6, -0.13, received_s=99.0)
    refusal = r.target_problem(outside, "unit car-7", view(), 100.0, CFG, MODEL, AIRSPACE)
    assert refusal is not None and refusal.result == c.Result.AIRSPACE
    assert "outside the test area" in refusal.reason


def test_a_battery_that_cannot_afford_following_and_the_way_home_is_refused() -> None:
    near = fix_at(200, 0, 99.0)
    ok = r.target_problem(near, "unit car-7", view(battery_pct=60), 100.0, CFG, MODEL, AIRSPACE)
    assert ok is None
    low = r.target_problem(near, "unit car-7", view(battery_pct=25), 100.0, CFG, MODEL, AIRSPACE)
    assert low is not None and low.result == c.Result.OUT_OF_RANGE
    assert "battery 25%" in low.reason and "fly home" in low.reason
    unknown = r.battery_problem(None, view(battery_pct=math.nan), CFG, MODEL)
    assert unknown is not None and "unknown" in unknown.reason


# --- following --------------------------------------------------------------------------------


def test_the_position_is_led_by_its_age_and_the_latency() -> None:
    f = fix_at(0, 0, 10.0, vn=12.0, ve=0.0)
    lat, lon = r.predict(f, 10.5, CFG)  # 0.5 s old, plus 0.25 s latency: 9 m ahead
    assert distance_m(f.lat_deg, f.lon_deg, lat, lon) == pytest.approx(9.0, abs=0.05)
    assert lat > f.lat_deg
    # At a 10x simulation a fix 0.5 s old is 5 s of target time old: capped at 3 s.
    fast = replace(CFG, time_scale=10.0)
    lat, lon = r.predict(f, 10.5, fast)
    assert distance_m(f.lat_deg, f.lon_deg, lat, lon) == pytest.approx(36.0, abs=0.1)


def test_a_feed_fills_every_field_with_nan_for_unknown_but_the_altitude() -> None:
    feed = r.feed(fix_at(0, 0, 10.0), 10.0, CFG, 31.0)
    assert isinstance(feed, FollowTarget)
    assert feed.alt_amsl_m == 31.0  # the ground's: PX4 does not follow a NaN altitude
    assert math.isnan(feed.vel_n_m_s) and math.isnan(feed.vel_d_m_s)
    moving = r.feed(fix_at(0, 0, 10.0, 3.0, 4.0), 10.0, CFG, 31.0)
    assert (moving.vel_n_m_s, moving.vel_e_m_s, moving.vel_d_m_s) == (3.0, 4.0, 0.0)


def test_velocity_is_estimated_from_two_fixes_when_the_avl_sends_none() -> None:
    a, b = fix_at(0, 0, 10.0), fix_at(0, 8, 11.0)
    est = r.with_velocity(b, a)
    assert est.vel_e_m_s == pytest.approx(8.0, abs=0.01)
    assert est.vel_n_m_s == pytest.approx(0.0, abs=0.01)
    assert r.with_velocity(b, None) == b


def run_at(t: float, state: c.TrackState = c.TrackState.ACQUIRING) -> r.Run:
    return r.Run(state, t)


def test_following_feeds_the_target_and_reports_it() -> None:
    run, cmds = r.step(run_at(0.0), fix_at(100, 100, 9.9, 0.0, 4.0), view(), 10.0, CFG, MODEL,
                       AIRSPACE)
    assert run.state == c.TrackState.FOLLOWING
    assert len(cmds) == 1 and isinstance(cmds[0], FollowTarget)
    assert cmds[0].vel_e_m_s == 4.0


def test_a_target_nearing_a_zone_holds_the_drone_short_of_it() -> None:
    # The target drives north towards the zone (its edge 450 m north of the dock). The drone is
    # held once the target comes within the vehicle geofence's margin of it (the zone grown by
    # the airspace margin is what the vehicle itself refuses).
    run, _ = r.step(run_at(0.0), fix_at(100, 0, 9.9, 12.0, 0.0), view(), 10.0, CFG, MODEL,
                    AIRSPACE)
    assert run.state == c.TrackState.FOLLOWING
    run, cmds = r.step(run, fix_at(250, 0, 19.9, 12.0, 0.0), view(), 20.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.HELD
    assert "Test zone" in run.detail
    orbit = next(x for x in cmds if isinstance(x, r.OrbitAt))
    assert any(isinstance(x, r.Notice) and x.code == "tracking_held" for x in cmds)
    # The orbit, its radius and the margin all stay out of the zone.
    to_centre = distance_m(orbit.lat_deg, orbit.lon_deg, ZONE_CENTRE[0], ZONE_CENTRE[1])
    assert to_centre >= 150 + CFG.orbit_radius_m + CFG.zone_margin_m - 5, to_centre
    assert to_centre <= 150 + CFG.orbit_radius_m + CFG.zone_margin_m + 120, to_centre
    assert r.near_edge((orbit.lat_deg, orbit.lon_deg), AIRSPACE, CFG.zone_margin_m) is None
    # Held: no new command while the target stays in or near the zone.
    run, cmds = r.step(run, fix_at(600, 0, 20.9, 1.0, 0.0), view(), 21.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.HELD and cmds == []
    # Away again: following once more, and said so.
    drone = view(lat_deg=orbit.lat_deg, lon_deg=orbit.lon_deg)
    run, cmds = r.step(run, fix_at(80, 60, 30.9, -3.0, 0.0), drone, 31.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.FOLLOWING
    assert any(isinstance(x, r.Notice) and x.code == "tracking_resumed" for x in cmds)
    assert isinstance(cmds[-1], FollowTarget)


def test_past_a_zone_the_drone_stays_held_while_its_line_to_the_target_grazes_the_margin(
) -> None:
    # Held south-west of the zone; the target drives out east of it. Both are clear of the zone
    # and of its margin, but the straight line between them (the line Follow Target flies)
    # passes 100 m from the zone's edge: inside the vehicle's geofence (the zone grown by the
    # airspace margin), which took a drone following that way home on the simulator.
    drone = view(**dict(zip(("lat_deg", "lon_deg"), offset(DOCK[0], DOCK[1], 350.0, -400.0),
                            strict=True)))
    run = replace(run_at(0.0, c.TrackState.HELD), hold=r.OrbitAt(drone.lat_deg, drone.lon_deg))
    run, cmds = r.step(run, fix_at(350, 400, 9.9, 0.0, 10.0), drone, 10.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.HELD and cmds == []
    assert "Test zone" in run.detail
    # Once the line clears the margin too: following again.
    run, cmds = r.step(run, fix_at(-100, 400, 19.9, 0.0, 10.0), drone, 20.0, CFG, MODEL,
                       AIRSPACE)
    assert run.state == c.TrackState.FOLLOWING


def test_a_target_leaving_the_area_holds_the_drone_inside() -> None:
    run, _ = r.step(run_at(0.0), fix_at(0, 600, 9.9), view(), 10.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.FOLLOWING
    out = r.Fix(51.51, -0.0995, received_s=19.9)
    run, cmds = r.step(run, out, view(), 20.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.HELD and "outside the test area" in run.detail
    orbit = next(x for x in cmds if isinstance(x, r.OrbitAt))
    assert AIRSPACE.check_point(orbit.lat_deg, orbit.lon_deg) is None


def test_a_quiet_target_is_lost_and_the_drone_orbits_its_last_point() -> None:
    last = fix_at(200, 0, 10.0, 4.0, 0.0)
    run, _ = r.step(run_at(0.0), last, view(), 10.1, CFG, MODEL, AIRSPACE)
    run, cmds = r.step(run, last, view(), 10.0 + CFG.lost_after_s + 0.1, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.LOST
    assert cmds[0] == r.OrbitAt(last.lat_deg, last.lon_deg)
    assert any(isinstance(x, r.Notice) and x.code == "tracking_lost" for x in cmds)
    # Still lost: nothing more; found again: following.
    _, cmds = r.step(run, last, view(), 20.0, CFG, MODEL, AIRSPACE)
    assert cmds == []
    run, cmds = r.step(run, fix_at(260, 0, 21.0, 4.0, 0.0), view(), 21.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.FOLLOWING


def test_the_camera_saying_lost_is_lost_at_once() -> None:
    f = fix_at(200, 0, 10.0)
    run, _ = r.step(run_at(0.0), f, view(), 10.1, CFG, MODEL, AIRSPACE)
    run, _ = r.step(run, f, view(), 10.2, CFG, MODEL, AIRSPACE, camera_lost=True)
    assert run.state == c.TrackState.LOST and "camera lost it" in run.detail


def test_no_first_position_at_all_ends_in_lost_over_the_drone() -> None:
    run, cmds = r.step(run_at(0.0), None, view(), 1.0, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.ACQUIRING and cmds == []
    run, cmds = r.step(run, None, view(), CFG.lost_after_s * 2 + 1, CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.LOST
    assert cmds[0] == r.OrbitAt(view().lat_deg, view().lon_deg)


def test_a_battery_down_to_the_way_home_stops_tracking_and_returns() -> None:
    far = view(lat_deg=DOCK[0] + 0.03, battery_pct=24.0)  # 3.3 km out
    run, cmds = r.step(run_at(0.0, c.TrackState.FOLLOWING), fix_at(3400, 0, 9.9), far, 10.0,
                       CFG, MODEL, AIRSPACE)
    assert run.state == c.TrackState.STOPPED
    finish = next(x for x in cmds if isinstance(x, r.Finish))
    assert finish.go_home and "battery 24%" in finish.reason


def test_the_config_keeps_px4_limits_and_the_ceiling() -> None:
    assert r.TrackConfig().problems() == []
    assert r.TrackConfig(follow_height_m=130).problems()
    assert r.TrackConfig(follow_height_m=5).problems()
    assert r.TrackConfig(max_vel_m_s=25).problems()


# --- the sortie knows it is tracking -------------------------------------------------------------


def on_scene() -> so.Sortie:
    return so.Sortie(
        drone_id="d1", dock_id="k1", dock=so.Target(*DOCK), phase=c.Phase.ON_SCENE,
        incident_id="i1", target=so.Target(DOCK[0] + 0.01, DOCK[1]), on_scene_since_s=0.0,
        on_scene_s=60.0,
    )


def test_a_tracking_sortie_issues_no_flight_command_and_its_time_does_not_run_out() -> None:
    s, actions = so.step(on_scene(), so.TrackStart(now_s=5.0))
    assert s.tracking and actions == []
    assert so.flight_command(s) == []
    s2, actions = so.step(s, so.Tick(now_s=500.0))
    assert s2.phase == c.Phase.ON_SCENE and actions == []
    _, actions = so.step(s, so.Resume())
    assert actions == []


def test_tracking_from_transit_puts_the_incident_on_scene() -> None:
    s = replace(on_scene(), phase=c.Phase.TRANSIT, on_scene_since_s=None)
    s, actions = so.step(s, so.TrackStart(now_s=5.0))
    assert s.phase == c.Phase.ON_SCENE and s.tracking
    assert so.SetIncident("i1", c.IncidentStatus.ON_SCENE) in actions


def test_stopping_orbits_where_tracking_ended_with_a_fresh_time_on_scene() -> None:
    s, _ = so.step(on_scene(), so.TrackStart(now_s=5.0))
    at = so.Target(51.52, -0.12)
    s, actions = so.step(s, so.TrackStop("stopped by alice", at, now_s=300.0))
    assert not s.tracking and s.target == at and s.on_scene_since_s == 300.0
    orbit = next(a for a in actions if isinstance(a, so.Orbit))
    assert (orbit.lat_deg, orbit.lon_deg) == (at.lat_deg, at.lon_deg)


def test_a_failsafe_ends_tracking_and_the_drone_returns() -> None:
    s, _ = so.step(on_scene(), so.TrackStart(now_s=5.0))
    s, actions = so.step(s, so.FailsafeRaised(so.Failsafe.BATTERY_LOW, "29%"))
    assert s.phase == c.Phase.RETURNING and not s.tracking
    assert any(isinstance(a, so.Goto) for a in actions)
