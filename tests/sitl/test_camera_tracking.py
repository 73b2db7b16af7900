"""The simulated camera's tracking protocol (MAV_CMD_CAMERA_TRACK_POINT / _RECTANGLE /
STOP_TRACKING, CAMERA_TRACKING_IMAGE_STATUS / _GEO_STATUS) and the scenario's getaways: sans-IO
through a real MAVLink codec, and once through MAVSDK 4.1 unchanged (camera plugin to command,
mavlink_direct to read the statuses)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from mavsdk.asyncio.plugins.camera import CameraAsync
from mavsdk.asyncio.plugins.mavlink_direct import MavlinkDirectAsync
from pymavlink.dialects.v20 import common as mav

from sitl import SimFleet, SimVehicle
from sitl.camera import CameraConfig, CameraPayload, StreamPolicy
from sitl.camera.actors import GETAWAY_DEPART_S, ActorKind, Crowd
from sitl.camera.tracker import Seen
from tests.sitl.conftest import HOME, connect, dist_m, free_udp_ports, offset, wait_until

GCS = mav.MAVLink(None, srcSystem=255, srcComponent=190)
CAM = 100
IMAGE, GEO = (mav.MAVLINK_MSG_ID_CAMERA_TRACKING_IMAGE_STATUS,
              mav.MAVLINK_MSG_ID_CAMERA_TRACKING_GEO_STATUS)
SCENE = offset(HOME, 30.0, 0.0)


def wire(msg: Any) -> Any:
    return mav.MAVLink(None).decode(bytearray(msg.pack(GCS)))


def cmd(command: int, *params: float) -> Any:
    p = [*params, *([0.0] * (7 - len(params)))]
    return wire(mav.MAVLink_command_long_message(1, CAM, command, 0, *p))


def hovering(alt_m: float = 40.0, t_s: float = 10.0,
             look_north_east_m: tuple[float, float] | None = None,
             ) -> tuple[SimVehicle, CameraPayload]:
    """A vehicle hovering alt_m over home at simulated time t_s, its camera on the scene (ROI:
    the incident), then turned to look at a point (metres from the scene) if given."""
    v = SimVehicle(HOME, system_id=1)
    cam = CameraPayload(v, CameraConfig(), 5600)
    v.payloads.append(cam)
    b = v.state.body
    b.down_m, b.on_ground = -alt_m, False
    v.state.sim_time_s = t_s
    roi = mav.MAVLink_command_long_message(1, 1, mav.MAV_CMD_DO_SET_ROI_LOCATION, 0, 0, 0, 0, 0,
                                           *SCENE, HOME.alt_amsl_m)
    v.handle(wire(roi), 0.0)
    if look_north_east_m is not None:
        n0, e0, _ = v.state.frame.to_ned(*cam.scenes()[0], HOME.alt_amsl_m)
        cam.gimbal.look_at((n0 + look_north_east_m[0], e0 + look_north_east_m[1], 0.0))
    for _ in range(150):  # the gimbal slews onto the scene
        cam.step(0.02)
    return v, cam


def advance(v: SimVehicle, cam: CameraPayload, seconds: float) -> list[Any]:
    """Hover on for `seconds` of simulated time; the camera's messages meanwhile."""
    out = []
    for i in range(round(seconds / 0.02)):
        v.state.sim_time_s += 0.02
        cam.step(0.02)
        if i % 5 == 0:
            out.extend(cam.due_messages(v.state.sim_time_s))
    return out


def the(cam: CameraPayload, kind: ActorKind, getaway: bool = True) -> Seen:
    crowd = cam.crowd
    ident = crowd.getaways(*SCENE, cam.vehicle.state.sim_time_s)[
        0 if kind is ActorKind.CAR else 1].ident
    hits: list[Seen] = [s for s in cam.seen() if s.actor.ident == ident] if getaway else []
    assert hits, f"the getaway {kind.value} is not in the picture"
    return hits[0]


def track_point(cam: CameraPayload, s: Seen) -> list[Any]:
    u, v = s.centre
    lens = cam.config.lens
    return cam.handle(cmd(mav.MAV_CMD_CAMERA_TRACK_POINT, u / lens.width_px, v / lens.height_px,
                          0.0), 0.0) or []


def of(msgs: list[Any], name: str) -> list[Any]:
    return [m for m in msgs if m.get_type() == name]


@pytest.mark.unit
def test_capabilities_announce_tracking() -> None:
    _, cam = hovering()
    info = cam.camera_information()
    for flag in (mav.CAMERA_CAP_FLAGS_HAS_TRACKING_POINT,
                 mav.CAMERA_CAP_FLAGS_HAS_TRACKING_RECTANGLE,
                 mav.CAMERA_CAP_FLAGS_HAS_TRACKING_GEO_STATUS):
        assert info.flags & flag


@pytest.mark.unit
def test_track_point_locks_the_car_and_follows_it_as_it_drives_away() -> None:
    v, cam = hovering(t_s=GETAWAY_DEPART_S - 5.0)
    car = the(cam, ActorKind.CAR)
    replies = track_point(cam, car)
    (ack,) = of(replies, "COMMAND_ACK")
    assert ack.result == mav.MAV_RESULT_ACCEPTED
    (img,) = of(replies, "CAMERA_TRACKING_IMAGE_STATUS")
    assert (img.tracking_status, img.tracking_mode) == (1, 1)  # ACTIVE, POINT
    out = advance(v, cam, 25.0)  # the car leaves at GETAWAY_DEPART_S and drives 20 s
    images = of(out, "CAMERA_TRACKING_IMAGE_STATUS")
    geos = of(out, "CAMERA_TRACKING_GEO_STATUS")
    assert 95 <= len(images) <= 150  # 5 Hz for 25 s
    assert all(m.tracking_status == 1 for m in images + geos)
    last = geos[-1]
    t = v.state.sim_time_s
    truth = cam.crowd.getaways(*SCENE, t)[0].lat_lon_at(t)
    assert truth is not None
    assert dist_m(HOME.lat_deg, HOME.lon_deg, *truth) > 150.0  # it did get away
    err = dist_m(last.lat * 1e-7, last.lon * 1e-7, *truth)
    assert err < 3.0, f"geo status {err:.1f} m off the car"
    assert math.hypot(last.vel_n, last.vel_e) == pytest.approx(
        cam.crowd.getaways(*SCENE, t)[0].speed_m_s, abs=1.5)
    # the gimbal keeps it in the middle of the picture
    assert abs(images[-1].point_x - 0.5) < 0.1 and abs(images[-1].point_y - 0.5) < 0.1


@pytest.mark.unit
def test_nothing_under_the_point_is_refused_with_the_reason() -> None:
    _, cam = hovering()
    replies = cam.handle(cmd(mav.MAV_CMD_CAMERA_TRACK_POINT, 0.02, 0.02, 0.0), 0.0) or []
    (ack,) = of(replies, "COMMAND_ACK")
    assert ack.result == mav.MAV_RESULT_DENIED
    (text,) = of(replies, "STATUSTEXT")
    assert "nothing to track" in text.text
    (img,) = of(replies, "CAMERA_TRACKING_IMAGE_STATUS")
    assert img.tracking_status == 0
    bad = cam.handle(cmd(mav.MAV_CMD_CAMERA_TRACK_POINT, 1.5, 0.5, 0.0), 0.0) or []
    assert of(bad, "COMMAND_ACK")[0].result == mav.MAV_RESULT_DENIED
    assert "outside the picture" in cam.errors[-1]


@pytest.mark.unit
def test_rectangle_request_message_interval_and_stop() -> None:
    v, cam = hovering(t_s=GETAWAY_DEPART_S - 5.0)
    car = the(cam, ActorKind.CAR)
    w, h = cam.config.lens.width_px, cam.config.lens.height_px
    left, top, right, bottom = car.box
    replies = cam.handle(cmd(mav.MAV_CMD_CAMERA_TRACK_RECTANGLE, (left - 4) / w, (top - 4) / h,
                             (right + 4) / w, (bottom + 4) / h), 0.0) or []
    assert of(replies, "COMMAND_ACK")[0].result == mav.MAV_RESULT_ACCEPTED
    assert cam.tracker.key == car.key
    img = of(cam.handle(cmd(mav.MAV_CMD_REQUEST_MESSAGE, IMAGE), 0.0) or [],
             "CAMERA_TRACKING_IMAGE_STATUS")[0]
    assert img.tracking_mode == 2 and img.rec_top_x < img.point_x < img.rec_bottom_x
    ok = cam.handle(cmd(mav.MAV_CMD_SET_MESSAGE_INTERVAL, GEO, 1e6), 0.0) or []
    assert of(ok, "COMMAND_ACK")[0].result == mav.MAV_RESULT_ACCEPTED
    cam.handle(cmd(mav.MAV_CMD_SET_MESSAGE_INTERVAL, IMAGE, -1), 0.0)
    out = advance(v, cam, 10.0)
    assert not of(out, "CAMERA_TRACKING_IMAGE_STATUS")  # switched off
    assert 9 <= len(of(out, "CAMERA_TRACKING_GEO_STATUS")) <= 12  # 1 Hz
    stop = cam.handle(cmd(mav.MAV_CMD_CAMERA_STOP_TRACKING), 0.0) or []
    assert of(stop, "COMMAND_ACK")[0].result == mav.MAV_RESULT_ACCEPTED
    assert of(stop, "CAMERA_TRACKING_IMAGE_STATUS")[0].tracking_status == 0
    assert not of(advance(v, cam, 2.0), "CAMERA_TRACKING_GEO_STATUS")


@pytest.mark.unit
def test_a_runner_too_far_to_see_is_lost() -> None:
    # Hovering over home, the runner (0.6 m) gets too small to see about 150 m away.
    start = Crowd(0).getaways(*SCENE, 0.0)[1].route[0]
    v, cam = hovering(t_s=GETAWAY_DEPART_S + 10.0, look_north_east_m=start)
    runner = the(cam, ActorKind.PERSON)
    assert of(track_point(cam, runner), "COMMAND_ACK")[0].result == mav.MAV_RESULT_ACCEPTED
    out = advance(v, cam, 90.0)
    images = of(out, "CAMERA_TRACKING_IMAGE_STATUS")
    assert images[-1].tracking_status == 0
    assert any("target lost" in m.text for m in of(out, "STATUSTEXT"))
    assert cam.tracker.why_idle.startswith("target lost")


@pytest.mark.unit
def test_getaways_are_seeded_repeatable_and_on_the_streets() -> None:
    a = Crowd(3).getaways(*SCENE, 100.0)
    b = Crowd(3).getaways(*SCENE, 100.0)
    assert a == b
    car, runner = a
    assert car.kind is ActorKind.CAR and 10.0 <= car.speed_m_s <= 15.0
    assert runner.kind is ActorKind.PERSON and 3.0 <= runner.speed_m_s <= 5.0
    for g in a:
        for (n0, e0), (n1, e1) in zip(g.route, g.route[1:], strict=False):
            assert min(abs(n1 - n0), abs(e1 - e0)) < 1e-6  # along a street: N-S or E-W
    assert Crowd(4).getaways(*SCENE, 100.0) != a
    # the same in every camera: keyed by the street block, not the camera's scene list
    nearby = offset(HOME, 31.0, 1.0)
    assert Crowd(3).getaways(*nearby, 100.0)[0].speed_m_s == car.speed_m_s
    t = car.depart_s + 30.0
    pos = car.lat_lon_at(t)
    assert pos is not None
    assert dist_m(*SCENE, *pos) > 0.7 * 30.0 * car.speed_m_s / 1.5


@pytest.mark.integration
@pytest.mark.simonly
async def test_mavsdk_tracks_a_point_and_reads_the_statuses() -> None:
    # MAVSDK 4.1: CameraAsync.track_point sends the command; the statuses are read with the
    # mavlink_direct plugin (the camera plugin has no subscription for them).
    port = free_udp_ports(1)
    cfg = CameraConfig(video_base_port=free_udp_ports(1), policy=StreamPolicy.OFF)
    async with (
        SimFleet([HOME], base_port=port, speedup=1.0, camera=cfg) as fleet,
        connect(f"udpin://0.0.0.0:{port}", HOME, fleet, 0) as drone,
    ):
        v = fleet.vehicles[0]
        cam_model = fleet.cameras[0]
        b = v.state.body
        b.down_m, b.on_ground = -40.0, False
        fleet.sim_time_s = v.state.sim_time_s = GETAWAY_DEPART_S - 10.0
        roi = mav.MAVLink_command_long_message(1, 1, mav.MAV_CMD_DO_SET_ROI_LOCATION, 0, 0, 0,
                                               0, 0, *SCENE, HOME.alt_amsl_m)
        v.handle(wire(roi), 0.0)
        await asyncio.sleep(2.0)  # the gimbal slews
        camera, direct = CameraAsync(drone.system), MavlinkDirectAsync(drone.system)
        try:
            images = direct.subscribe_message("CAMERA_TRACKING_IMAGE_STATUS")
            geos = direct.subscribe_message("CAMERA_TRACKING_GEO_STATUS")
            # (a subscription starts at its first anext: start both before the command)
            first_image = asyncio.create_task(anext(images), name="track-test-image")
            first_geo = asyncio.create_task(anext(geos), name="track-test-geo")
            await asyncio.sleep(0.2)
            car = the(cam_model, ActorKind.CAR)
            u, vv = car.centre
            await camera.track_point(CAM, u / 1280, vv / 720, 0.0)
            image = json.loads((await asyncio.wait_for(first_image, 5.0)).fields_json)
            geo = json.loads((await asyncio.wait_for(first_geo, 5.0)).fields_json)
            assert image["tracking_status"] == 1 and image["tracking_mode"] == 1
            assert 0.0 < image["point_x"] < 1.0 and 0.0 < image["point_y"] < 1.0
            truth = cam_model.crowd.getaways(*SCENE, v.state.sim_time_s)[0].lat_lon_at(
                v.state.sim_time_s)
            assert truth is not None
            assert dist_m(geo["lat"] * 1e-7, geo["lon"] * 1e-7, *truth) < 3.0

            async def locked() -> bool:
                return cam_model.tracker.key == car.key

            await wait_until(locked, 1.0, "the tracker locked on the car")
            await camera.track_stop(CAM)
            assert cam_model.tracker.key is None
        finally:
            camera.destroy()
            direct.destroy()


@pytest.mark.unit
def test_statuses_on_the_simulated_clock_and_the_scene_kept_while_locked() -> None:
    # At a 10x speed-up the link's wall clock runs ten times slower than the car: the statuses
    # still come 5 times per simulated second (a wall-clock 5 Hz left the last one 2 s of
    # driving, 20-30 m, behind the car). A ROI one street away while the car is locked does
    # not move the scene, and with it the car, under the tracker.
    v, cam = hovering(t_s=GETAWAY_DEPART_S + 2.0)
    car = the(cam, ActorKind.CAR)
    assert of(track_point(cam, car), "COMMAND_ACK")[0].result == mav.MAV_RESULT_ACCEPTED
    elsewhere = offset(HOME, 30.0, 90.0)  # the scene is 30 m north of home
    roi = mav.MAVLink_command_long_message(1, 1, mav.MAV_CMD_DO_SET_ROI_LOCATION, 0, 0, 0, 0, 0,
                                           *elsewhere, HOME.alt_amsl_m)
    v.handle(wire(roi), 0.0)
    wall, geos = 0.0, []
    for i in range(500):  # 10 s of simulated time, 1 s of wall clock
        v.state.sim_time_s += 0.02
        wall += 0.002
        cam.step(0.02)
        if i % 5 == 0:
            geos += of(cam.due_messages(wall), "CAMERA_TRACKING_GEO_STATUS")
    assert 45 <= len(geos) <= 55
    assert dist_m(*cam.scenes()[0], *SCENE) < 1.0
    t = v.state.sim_time_s
    truth = cam.crowd.getaways(*SCENE, t)[0].lat_lon_at(t)
    assert truth is not None
    assert dist_m(geos[-1].lat * 1e-7, geos[-1].lon * 1e-7, *truth) < 3.0
