"""MAVSDK 4.1's camera and gimbal plugins, unchanged, against the simulated camera (component 100)
and gimbal (device 154 behind the autopilot's gimbal manager), over UDP."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest
from mavsdk.asyncio.plugins.camera import CameraAsync
from mavsdk.asyncio.plugins.gimbal import GimbalAsync
from mavsdk.plugins.gimbal import ControlMode, GimbalMode, SendMode

from sitl import SimFleet
from sitl.camera import CameraConfig, StreamPolicy
from sitl.physics import LocalFrame
from tests.sitl.conftest import HOME, Drone, connect, free_udp_ports, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.simonly]


@dataclass
class CamDrone:
    drone: Drone
    fleet: SimFleet
    camera: CameraAsync
    gimbal: GimbalAsync


@pytest.fixture
async def cam_drone(tmp_path: Path) -> AsyncIterator[CamDrone]:
    cfg = CameraConfig(video_base_port=free_udp_ports(1), policy=StreamPolicy.AIRBORNE,
                       image_dir=str(tmp_path))
    port = free_udp_ports(1)
    async with (
        SimFleet([HOME], base_port=port, speedup=10.0, camera=cfg) as fleet,
        connect(f"udpin://0.0.0.0:{port}", HOME, fleet, 0) as drone,
    ):
        cam, gim = CameraAsync(drone.system), GimbalAsync(drone.system)
        try:
            yield CamDrone(drone, fleet, cam, gim)
        finally:
            cam.destroy()
            gim.destroy()


async def eventually(
    probe: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 10.0
) -> None:
    await wait_until(probe, timeout_s, what)


async def _camera_id(c: CamDrone) -> int:
    async def listed() -> bool:
        return bool((await c.camera.camera_list()).cameras)

    await eventually(listed, "the camera in MAVSDK's camera list")
    (info,) = (await c.camera.camera_list()).cameras
    return int(info.component_id)


async def _gimbal_id(c: CamDrone) -> int:
    async def listed() -> bool:
        return bool((await c.gimbal.gimbal_list()).gimbals)

    await eventually(listed, "the gimbal in MAVSDK's gimbal list")
    (item,) = (await c.gimbal.gimbal_list()).gimbals
    return int(item.gimbal_id)


async def _fly(c: CamDrone, up_m: float = 40.0) -> None:
    await c.drone.param.set_param_float("MIS_TAKEOFF_ALT", up_m)
    await c.drone.action.arm()
    await c.drone.action.takeoff()

    async def high() -> bool:
        return bool((await c.drone.telemetry.position()).relative_altitude_m > up_m - 1.0)

    await eventually(high, f"the climb to {up_m} m", 20.0)


async def test_camera_is_listed_with_its_stream_and_takes_a_geotagged_photo(
    cam_drone: CamDrone,
) -> None:
    c = cam_drone
    cid = await _camera_id(c)
    assert cid == 100
    (info,) = (await c.camera.camera_list()).cameras
    assert (info.vendor_name, info.model_name) == ("DFR", "SimCam 1")
    assert (info.horizontal_resolution_px, info.vertical_resolution_px) == (1280, 720)
    hfov = 2 * math.degrees(math.atan(info.horizontal_sensor_size_mm / 2 / info.focal_length_mm))
    assert hfov == pytest.approx(80.0, abs=0.1)

    async def stream_info() -> bool:  # (VIDEO_STREAM_STATUS alone fills all but the uri)
        return bool((await c.camera.get_video_stream_info(cid)).settings.uri)

    await eventually(stream_info, "VIDEO_STREAM_INFORMATION")
    vs = (await c.camera.get_video_stream_info(cid)).settings
    assert vs.uri == str(c.fleet.cameras[0].video_port)  # RTP/UDP: the port, as QGC expects
    assert (vs.horizontal_resolution_pix, vs.vertical_resolution_pix) == (1280, 720)
    assert vs.frame_rate_hz == pytest.approx(25.0)
    assert vs.horizontal_fov_deg == pytest.approx(80.0)

    await _fly(c)
    payload = c.fleet.cameras[0]
    await eventually(lambda: _is(payload.stream_running), "video once airborne")
    captures = c.camera.subscribe_capture_info()
    await c.camera.take_photo(cid)
    shot = await asyncio.wait_for(anext(captures), 10.0)
    assert shot.is_success
    assert shot.index == 0
    pos = await c.drone.telemetry.position()
    frame = LocalFrame(pos.latitude_deg, pos.longitude_deg, 0.0)
    n, e, _ = frame.to_ned(shot.position.latitude_deg, shot.position.longitude_deg, 0.0)
    assert math.hypot(n, e) < 10.0  # geotagged where the drone is
    assert shot.position.relative_altitude_m == pytest.approx(pos.relative_altitude_m, abs=2.0)
    url = urlparse(shot.file_url)
    assert url.scheme == "file"
    img = cv2.imread(url.path)
    assert img is not None, f"{shot.file_url} is not a JPEG"
    assert img.shape == (720, 1280, 3)


async def test_streaming_on_request_on_the_ground(cam_drone: CamDrone) -> None:
    c = cam_drone
    cid = await _camera_id(c)
    payload = c.fleet.cameras[0]
    await asyncio.sleep(0.5)
    assert not payload.stream_running  # on the ground: no video
    await c.camera.start_video_streaming(cid, 1)

    async def running() -> bool:
        return bool((await c.camera.get_video_stream_info(cid)).status.value == 1)  # IN_PROGRESS

    await eventually(running, "MAVSDK to report the stream in progress", 15.0)
    await c.camera.stop_video_streaming(cid, 1)
    await eventually(lambda: _is(not payload.stream_running), "the stream to stop", 10.0)


async def _is(value: bool) -> bool:
    return value


async def test_gimbal_angles_and_roi_through_mavsdk(cam_drone: CamDrone) -> None:
    c = cam_drone
    gid = await _gimbal_id(c)
    await c.gimbal.take_control(gid, ControlMode.PRIMARY)

    async def in_control() -> bool:  # GIMBAL_MANAGER_STATUS follows the ACK
        return bool((await c.gimbal.get_control_status(gid)).control_mode == ControlMode.PRIMARY)

    await eventually(in_control, "MAVSDK in primary control of the gimbal", 5.0)
    await _fly(c, 40.0)

    await c.gimbal.set_angles(gid, 0.0, -45.0, 30.0, GimbalMode.YAW_FOLLOW, SendMode.ONCE)

    async def at_angles() -> bool:
        a = (await c.gimbal.get_attitude(gid)).euler_angle_forward
        return bool(abs(a.pitch_deg + 45.0) < 0.5 and abs(a.yaw_deg - 30.0) < 0.5)

    await eventually(at_angles, "the gimbal at pitch -45, yaw 30")

    # A ROI 60 m north, 40 m east of the drone, on the ground: the gimbal looks down at it.
    pos = await c.drone.telemetry.position()
    frame = LocalFrame(pos.latitude_deg, pos.longitude_deg, pos.absolute_altitude_m)
    lat, lon, _ = frame.to_global(60.0, 40.0, 0.0)
    ground = pos.absolute_altitude_m - pos.relative_altitude_m
    await c.gimbal.set_roi_location(gid, lat, lon, ground)
    assert c.fleet.cameras[0].incident == pytest.approx((lat, lon))

    async def on_roi() -> bool:
        here = await c.drone.telemetry.position()
        f = LocalFrame(here.latitude_deg, here.longitude_deg, here.absolute_altitude_m)
        n, e, d = f.to_ned(lat, lon, ground)
        want_pitch = math.degrees(math.atan2(-d, math.hypot(n, e)))
        want_heading = math.degrees(math.atan2(e, n))
        att = await c.gimbal.get_attitude(gid)
        north = att.euler_angle_north
        return bool(abs(north.pitch_deg - want_pitch) < 1.5
                    and abs((north.yaw_deg - want_heading + 180) % 360 - 180) < 2.0)

    await eventually(on_roi, "the gimbal pointing at the ROI", 15.0)
    # And a photo shows the incident marker (drawn where the ROI is) in the middle.
    captures = c.camera.subscribe_capture_info()
    await c.camera.take_photo(100)
    shot = await asyncio.wait_for(anext(captures), 10.0)
    img = cv2.imread(urlparse(shot.file_url).path)
    assert img is not None
    b, g, r = (img[..., k].astype(int) for k in range(3))
    ys, xs = np.nonzero((r > 170) & (g < 80) & (b < 80))
    assert len(xs) > 100, "no incident marker in the photo"
    assert abs(xs.mean() - 640) < 0.1 * 1280 and abs(ys.mean() - 360) < 0.1 * 720
    # Nothing the plugins sent was refused but MAVSDK's probes: of every component for a
    # gimbal manager (GIMBAL_MANAGER_INFORMATION, 280: only the autopilot is one), and, now and
    # then, of the gimbal device for what a camera has (MAVSDK's camera plugin asks it for
    # camera information, settings, storage, capture and stream status): a gimbal device has
    # none of those, and refuses them as it should.
    camera_probes = {259, 260, 261, 262, 269, 270, 280, 521, 522, 525, 527, 2504, 2505}
    for e in c.fleet.cameras[0].errors:
        what = int(float(e.rsplit(" ", 1)[-1]))
        assert e.endswith(("no message 280", "no message 280.0")) or (
            e.startswith("gimbal device") and what in camera_probes), e
