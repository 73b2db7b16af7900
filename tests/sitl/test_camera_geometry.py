"""The camera's pure parts: lens projection, gimbal pointing, the rendered picture, the frame
clock code and the actors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sitl import Home, SimVehicle
from sitl.camera import clockcode
from sitl.camera.actors import ActorKind, Crowd
from sitl.camera.gimbal import Gimbal, euler_to_quaternion, quaternion_to_euler
from sitl.camera.lens import CameraPose, Lens, ground_point, look_angles, project
from sitl.camera.protocol import CameraConfig, CameraPayload
from sitl.camera.render import Renderer, View
from sitl.camera.scene import TileCache
from sitl.physics import LocalFrame

pytestmark = pytest.mark.unit

HOME = Home(51.5072, -0.1276, 30.0)
LENS = Lens()


@pytest.fixture(scope="module")
def tiles() -> TileCache:
    return TileCache(size=4)


def test_lens_focal_length_gives_the_field_of_view() -> None:
    lens = Lens(1280, 720, 80.0)
    assert 2 * math.degrees(math.atan(640 / lens.focal_px)) == pytest.approx(80.0)
    assert 2 * math.degrees(math.atan(lens.sensor_width_mm / 2 / lens.focal_length_mm)) == (
        pytest.approx(80.0)
    )
    assert lens.vfov_deg == pytest.approx(2 * math.degrees(math.atan(360 / lens.focal_px)))
    with pytest.raises(ValueError, match="FOV"):
        Lens(hfov_deg=0.0)
    with pytest.raises(ValueError, match="even"):
        Lens(1279, 720)


def test_nadir_camera_sees_north_up_east_right() -> None:
    f = LENS.focal_px
    pose = CameraPose(0.0, 0.0, -100.0, heading_deg=0.0, pitch_deg=-90.0)
    uv, front = project(LENS, pose, np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]]))
    assert front.all()
    assert uv[0] == pytest.approx([640.0, 360.0 - f * 10 / 100])  # north: up in the picture
    assert uv[1] == pytest.approx([640.0 + f * 10 / 100, 360.0])  # east: right


def test_oblique_projection_matches_pinhole_geometry() -> None:
    # Looking east, 30 deg down from 50 m: the centre ray meets the ground 50/tan(30) m east.
    pose = CameraPose(0.0, 0.0, -50.0, heading_deg=90.0, pitch_deg=-30.0)
    d = 50.0 / math.tan(math.radians(30.0))
    uv, front = project(LENS, pose, np.array([[0.0, d, 0.0]]))
    assert front.all()
    assert uv[0] == pytest.approx([640.0, 360.0], abs=1e-6)
    # A point 10 m north of it: left of centre (camera looks east, north is to its left).
    uv2, _ = project(LENS, pose, np.array([[10.0, d, 0.0]]))
    slant = math.hypot(d, 50.0)
    assert uv2[0][0] == pytest.approx(640.0 - LENS.focal_px * 10.0 / slant, abs=1e-6)
    # A point behind the camera is flagged.
    _, behind = project(LENS, pose, np.array([[0.0, -200.0, 0.0]]))
    assert not behind.any()


@pytest.mark.parametrize(
    ("heading", "pitch", "u", "v"),
    [(0.0, -90.0, 100.0, 650.0), (37.0, -20.0, 900.0, 500.0), (250.0, -60.0, 20.0, 20.0)],
)
def test_ground_point_inverts_project(heading: float, pitch: float, u: float, v: float) -> None:
    pose = CameraPose(12.0, -7.0, -80.0, heading, pitch)
    g = ground_point(LENS, pose, u, v)
    assert g is not None
    uv, front = project(LENS, pose, np.array([[g[0], g[1], 0.0]]))
    assert front.all()
    assert uv[0] == pytest.approx([u, v], abs=1e-6)


def test_above_the_horizon_is_no_ground() -> None:
    pose = CameraPose(0.0, 0.0, -50.0, heading_deg=0.0, pitch_deg=0.0)
    assert ground_point(LENS, pose, 640.0, 100.0) is None  # above the horizon
    assert ground_point(LENS, pose, 640.0, 700.0) is not None


def test_quaternion_round_trip() -> None:
    for pitch, yaw in ((-90.0, 0.0), (-45.0, 20.0), (10.0, -170.0)):
        _, p, y = quaternion_to_euler(euler_to_quaternion(0.0, pitch, yaw))
        assert p == pytest.approx(pitch, abs=1e-6)
        if abs(pitch) < 89.9:
            assert y == pytest.approx(yaw, abs=1e-6)


def test_gimbal_slews_at_a_limited_rate_and_clamps_pitch() -> None:
    g = Gimbal()
    g.point(-120.0, 90.0)
    assert g.target_pitch_deg == -90.0  # clamped to the gimbal's range
    g.step(0.5, (0.0, 0.0, -50.0), 0.0)
    assert g.pitch_deg == pytest.approx(-45.0)  # 90 deg/s
    assert g.yaw_deg == pytest.approx(45.0)
    g.step(1.0, (0.0, 0.0, -50.0), 0.0)
    assert (g.pitch_deg, g.yaw_deg) == pytest.approx((-90.0, 90.0))
    with pytest.raises(ValueError, match="finite"):
        g.point(math.nan, 0.0)


def _flying(north: float, east: float, up: float, yaw_deg: float) -> SimVehicle:
    v = SimVehicle(HOME, system_id=1)
    b = v.state.body
    b.north_m, b.east_m, b.down_m = north, east, -up
    b.yaw_rad = math.radians(yaw_deg)
    b.on_ground = False
    return v


def test_roi_puts_the_point_at_the_image_centre_as_the_vehicle_moves(tiles: TileCache) -> None:
    v = _flying(0.0, 0.0, 60.0, yaw_deg=200.0)
    cam = CameraPayload(v, CameraConfig(), 5600)
    v.payloads.append(cam)
    frame = LocalFrame(HOME.lat_deg, HOME.lon_deg, HOME.alt_amsl_m)
    roi = frame.to_global(150.0, -80.0, 0.0)
    cam.gimbal.look_at(frame.to_ned(roi[0], roi[1], HOME.alt_amsl_m))
    cam.incident = roi[:2]
    renderer = Renderer(LENS, tiles, Crowd(people=0, cars=0))
    b = v.state.body
    for _ in range(150):  # 3 s: the gimbal slews (90 deg/s) onto the point
        cam.step(0.02)
    for k in range(200):  # fly east and turn while the gimbal tracks
        b.east_m += 0.2
        b.yaw_rad += 0.005
        cam.step(0.02)
        if k % 50 == 49:
            view = cam.view()
            pose = CameraPose(b.north_m, b.east_m, b.down_m, view.heading_deg, view.pitch_deg)
            uv, front = project(LENS, pose, np.array([[150.0, -80.0, 0.0]]))
            assert front.all()
            assert uv[0] == pytest.approx([640.0, 360.0], abs=3.0)
    # And in the rendered picture: the marker is in the middle.
    centroid = _red_centroid(renderer.render(cam.view()))
    assert centroid == pytest.approx((640.0, 360.0), abs=4.0)


def _red_centroid(img: np.ndarray) -> tuple[float, float] | None:
    b, g, r = (img[..., k].astype(int) for k in range(3))
    mask = (r > 180) & (g < 70) & (b < 70)
    if mask.sum() < 20:
        return None
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def test_rendered_marker_appears_where_geometry_says(tiles: TileCache) -> None:
    frame = LocalFrame(HOME.lat_deg, HOME.lon_deg, HOME.alt_amsl_m)
    incident = frame.to_global(40.0, 25.0, 0.0)[:2]
    renderer = Renderer(LENS, tiles, Crowd(people=0, cars=0))
    for heading, pitch in ((0.0, -90.0), (30.0, -50.0), (80.0, -35.0)):
        view = View(HOME.lat_deg, HOME.lon_deg, HOME.alt_amsl_m + 70.0, HOME.alt_amsl_m,
                    heading, pitch, 0.0, (incident,))
        img = renderer.render(view)
        assert img.shape == (720, 1280, 3)
        pose = CameraPose(0.0, 0.0, -70.0, heading, pitch)
        uv, front = project(LENS, pose, np.array([[40.0, 25.0, 0.0]]))
        centroid = _red_centroid(img)
        if not (front.all() and 30 < uv[0][0] < 1250 and 30 < uv[0][1] < 690):
            assert centroid is None
            continue
        assert centroid is not None, f"no marker at heading {heading}, pitch {pitch}"
        # The ring with its cross is symmetric: its centroid is the point (perspective moves
        # it a little at oblique angles).
        assert centroid == pytest.approx(tuple(uv[0]), abs=4.0)


def test_sky_above_the_horizon_and_ground_below(tiles: TileCache) -> None:
    renderer = Renderer(LENS, tiles)
    img = renderer.render(View(HOME.lat_deg, HOME.lon_deg, 80.0, 30.0, 0.0, 0.0, 0.0))
    top, bottom = img[5, 640].tolist(), img[715, 640].tolist()
    assert top == [235, 206, 170]  # sky
    assert bottom != top


def test_scene_is_geo_consistent_across_tiles(tiles: TileCache) -> None:
    # The same place drawn from two different tiles has the same colour.
    a = tiles.tile(tiles.key_for(HOME.lat_deg, HOME.lon_deg))
    b = tiles.tile(tiles.key_for(HOME.lat_deg + 0.005, HOME.lon_deg + 0.005))
    assert a.key != b.key
    lat, lon = HOME.lat_deg + 0.0031, HOME.lon_deg + 0.0027
    pa = a.px_of(np.array([lat]), np.array([lon]))[0]
    pb = b.px_of(np.array([lat]), np.array([lon]))[0]
    same = 0
    rng = np.random.default_rng(1)
    for dx, dy in rng.uniform(-300, 300, size=(40, 2)):
        ca = a.image[round(pa[1] + dy), round(pa[0] + dx)]
        cb = b.image[round(pb[1] + dy), round(pb[0] + dx)]
        same += int(np.abs(ca.astype(int) - cb.astype(int)).max() <= 10)
    assert same >= 36  # only pixels on an edge may differ by the sub-pixel offset


def test_clock_code_round_trip() -> None:
    img = np.full((720, 1280, 3), 128, np.uint8)
    t = 1_795_000_000.123
    clockcode.draw(img, t)
    assert clockcode.read(img) == clockcode.stamp_ms(t) == int(t * 1000) % 2**48
    assert img[720 - 40 : 720 - 8, 8 : 16 + 48 * 16 + 8].max() in (0, 255)
    with pytest.raises(ValueError, match="too small"):
        clockcode.draw(np.zeros((32, 64), np.uint8), t)


def test_actors_are_seeded_repeatable_and_move() -> None:
    a, b, c = Crowd(seed=5), Crowd(seed=5), Crowd(seed=6)
    assert a.at(12.5) == b.at(12.5)
    assert a.at(12.5) != c.at(12.5)
    kinds = {x.kind for x in a.at(0.0)}
    assert kinds == {ActorKind.PERSON, ActorKind.CAR}
    for before, after in zip(a.at(10.0), a.at(10.1), strict=True):
        moved = math.hypot(after.north_m - before.north_m, after.east_m - before.east_m)
        assert 0.0 < moved <= before.speed_m_s * 0.1 + 1e-9
    with pytest.raises(ValueError, match="non-negative"):
        Crowd(people=-1)


def test_look_angles() -> None:
    assert look_angles((0.0, 0.0, -100.0), (100.0, 0.0, 0.0)) == pytest.approx((0.0, -45.0))
    assert look_angles((0.0, 0.0, -100.0), (0.0, -100.0, 0.0)) == pytest.approx((-90.0, -45.0))


def test_every_camera_sees_every_incident() -> None:
    a = CameraPayload(_flying(0.0, 0.0, 50.0, 0.0), CameraConfig(incident=(51.51, -0.13)), 5600)
    b = CameraPayload(_flying(0.0, 0.0, 50.0, 0.0), CameraConfig(), 5601)
    assert a.view().incidents == ((51.51, -0.13),)
    assert b.view().incidents == ()
    b.other_incidents = ((51.51, -0.13), (51.52, -0.12))  # what the fleet's I/O shares
    assert b.view().incidents == ((51.51, -0.13), (51.52, -0.12))
    with pytest.raises(ValueError, match="not a position"):
        CameraConfig(incident=(91.0, 0.0))


def test_the_car_clicked_in_the_picture_is_locked_and_its_geo_status_is_where_it_is(
    tiles: TileCache,
) -> None:
    """The whole chain a pilot relies on, from a drone that flies and turns: the car drawn at a
    pixel is the car the tracker locks when that pixel is clicked, the gimbal keeps it in the
    central third, and CAMERA_TRACKING_GEO_STATUS puts it where it truly is (ground altitude
    AMSL, not the drone's; north/east not swapped; the longitude scaled at London's
    latitude)."""
    from pymavlink.dialects.v20 import common as mav

    from sitl.camera.actors import GETAWAY_CAR_COLOUR, GETAWAY_DEPART_S
    from sitl.physics import EARTH_RADIUS_M

    v = _flying(120.0, 40.0, 45.0, yaw_deg=250.0)
    cam = CameraPayload(v, CameraConfig(), 5600)
    v.payloads.append(cam)
    frame = LocalFrame(HOME.lat_deg, HOME.lon_deg, HOME.alt_amsl_m)
    scene = frame.to_global(300.0, -150.0, 0.0)[:2]
    cam.incident = scene
    v.state.sim_time_s = GETAWAY_DEPART_S + 6.0  # the car is driving away
    car = cam.crowd.getaways(*scene, v.state.sim_time_s)[0]
    truth = car.lat_lon_at(v.state.sim_time_s)
    assert truth is not None
    cam.gimbal.look_at(frame.to_ned(*truth, HOME.alt_amsl_m))
    for _ in range(150):
        cam.step(0.02)
    seen = next(s for s in cam.seen() if s.actor.ident == car.ident)
    renderer = Renderer(LENS, tiles, Crowd(cam.crowd.seed))
    img = renderer.render(cam.view())
    u, w = seen.centre
    assert img[round(w), round(u)].tolist() == list(GETAWAY_CAR_COLOUR), "not the car's pixel"
    link = mav.MAVLink(None, srcSystem=255, srcComponent=190)
    click = mav.MAVLink_command_long_message(
        1, 100, mav.MAV_CMD_CAMERA_TRACK_POINT, 0, u / LENS.width_px, w / LENS.height_px,
        0.05, 0, 0, 0, 0)
    replies = cam.handle(mav.MAVLink(None).decode(bytearray(click.pack(link))), 0.0) or []
    assert [r.result for r in replies if r.get_type() == "COMMAND_ACK"] == [0]
    assert cam.tracker.key == seen.key
    b = v.state.body
    worst_m = 0.0
    for k in range(500):  # 10 s: the drone flies north-west and turns; the car drives on
        v.state.sim_time_s += 0.02
        b.north_m += 0.16
        b.east_m -= 0.1
        b.yaw_rad += 0.004
        cam.step(0.02)
        if k % 25 != 24:
            continue
        geo = mav.MAVLink(None).decode(bytearray(cam.tracking_geo_status().pack(link)))
        now_truth = car.lat_lon_at(v.state.sim_time_s)
        assert now_truth is not None
        dn = math.radians(geo.lat * 1e-7 - now_truth[0]) * EARTH_RADIUS_M
        de = (math.radians(geo.lon * 1e-7 - now_truth[1]) * EARTH_RADIUS_M
              * math.cos(math.radians(now_truth[0])))
        worst_m = max(worst_m, math.hypot(dn, de))
        assert geo.alt == pytest.approx(HOME.alt_amsl_m, abs=0.5)  # the ground, AMSL
        box = cam.tracking_image_status()
        assert 1 / 3 <= box.point_x <= 2 / 3 and 1 / 3 <= box.point_y <= 2 / 3
    assert worst_m < 1.0, f"geo status {worst_m:.1f} m off the car"
