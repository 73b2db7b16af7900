"""The camera, gimbal device and gimbal manager over MAVLink, sans-IO (messages through a real
MAVLink codec), and the components on the vehicle's UDP link. Bad input gets a COMMAND_ACK
with a proper result and never an exception."""

from __future__ import annotations

import asyncio
import math
import socket
from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mav

from sitl import SimFleet, SimVehicle
from sitl.camera import CameraConfig, CameraPayload
from sitl.camera.gimbal import GimbalMode
from tests.sitl.conftest import HOME, free_udp_ports

GCS = mav.MAVLink(None, srcSystem=255, srcComponent=190)
CAM, GIM, AP = 100, 154, 1
NAN = math.nan


def wire(msg: Any) -> Any:
    """The message as the vehicle would receive it (packed and parsed: header, types)."""
    rx = mav.MAVLink(None)
    return rx.decode(bytearray(msg.pack(GCS)))


def long(comp: int, cmd: int, *params: float) -> Any:
    p = [*params, *([0.0] * (7 - len(params)))]
    return wire(mav.MAVLink_command_long_message(1, comp, cmd, 0, *p))


def setup() -> tuple[SimVehicle, CameraPayload]:
    v = SimVehicle(HOME, system_id=1)
    cam = CameraPayload(v, CameraConfig(), 5600)
    v.payloads.append(cam)
    return v, cam



def gimbal_mode(cam: CameraPayload) -> GimbalMode:
    """The gimbal's mode now, read afresh after a command (mypy keeps an assert's narrowing
    across the calls that change it)."""
    return cam.gimbal.mode

def acks(replies: list[Any]) -> list[Any]:
    return [m for m in replies if m.get_type() == "COMMAND_ACK"]


@pytest.mark.unit
def test_components_announce_themselves() -> None:
    v, _ = setup()
    out = v.due_messages(0.0)
    beats = {(m.src_component, m.type) for m in out if m.get_type() == "HEARTBEAT"
             and hasattr(m, "src_component")}
    assert beats == {(CAM, mav.MAV_TYPE_CAMERA), (GIM, mav.MAV_TYPE_GIMBAL)}
    kinds = {(getattr(m, "src_component", 1), m.get_type()) for m in out}
    assert (GIM, "GIMBAL_DEVICE_ATTITUDE_STATUS") in kinds
    assert (AP, "GIMBAL_MANAGER_STATUS") in kinds


@pytest.mark.unit
def test_camera_information_and_stream_on_request() -> None:
    v, _ = setup()
    out = v.handle(long(CAM, mav.MAV_CMD_REQUEST_MESSAGE, 259), 0.0)
    (ack,) = acks(out)
    assert (ack.result, ack.src_component, ack.target_system) == (mav.MAV_RESULT_ACCEPTED, CAM, 255)
    info = next(m for m in out if m.get_type() == "CAMERA_INFORMATION")
    assert info.flags & mav.CAMERA_CAP_FLAGS_HAS_VIDEO_STREAM
    assert info.flags & mav.CAMERA_CAP_FLAGS_CAPTURE_IMAGE
    assert (info.resolution_h, info.resolution_v) == (1280, 720)
    vsi = next(m for m in out if m.get_type() == "VIDEO_STREAM_INFORMATION")
    assert (vsi.type, vsi.uri, vsi.encoding) == (
        mav.VIDEO_STREAM_TYPE_RTPUDP, "5600", mav.VIDEO_STREAM_ENCODING_H264)
    assert not vsi.flags & mav.VIDEO_STREAM_STATUS_FLAGS_RUNNING  # on the ground, not streaming
    assert v.command_counts == {}  # the autopilot never saw it


@pytest.mark.unit
@pytest.mark.parametrize(
    ("comp", "cmd", "params", "result"),
    [
        (CAM, mav.MAV_CMD_REQUEST_MESSAGE, (NAN,), mav.MAV_RESULT_DENIED),
        (CAM, mav.MAV_CMD_REQUEST_MESSAGE, (99_999,), mav.MAV_RESULT_DENIED),
        (CAM, mav.MAV_CMD_REQUEST_MESSAGE, (263, 42), mav.MAV_RESULT_DENIED),  # no image 42
        (CAM, mav.MAV_CMD_REQUEST_MESSAGE, (269, 7), mav.MAV_RESULT_DENIED),  # no stream 7
        (CAM, 12_345, (), mav.MAV_RESULT_UNSUPPORTED),
        (CAM, mav.MAV_CMD_IMAGE_START_CAPTURE, (0, 0, -3), mav.MAV_RESULT_DENIED),
        (CAM, mav.MAV_CMD_IMAGE_START_CAPTURE, (0, NAN, 0), mav.MAV_RESULT_DENIED),
        (CAM, mav.MAV_CMD_SET_CAMERA_MODE, (0, 7), mav.MAV_RESULT_DENIED),
        (CAM, mav.MAV_CMD_VIDEO_START_STREAMING, (9,), mav.MAV_RESULT_DENIED),
        (CAM, mav.MAV_CMD_SET_CAMERA_ZOOM, (1, 50), mav.MAV_RESULT_UNSUPPORTED),
        (GIM, mav.MAV_CMD_REQUEST_MESSAGE, (259,), mav.MAV_RESULT_DENIED),
        (GIM, mav.MAV_CMD_DO_SET_ROI_NONE, (), mav.MAV_RESULT_UNSUPPORTED),
        (AP, mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, (100, 0), mav.MAV_RESULT_DENIED),
        (AP, mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, (NAN, NAN, NAN, NAN), mav.MAV_RESULT_DENIED),
        (AP, mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, (-10, 1000), mav.MAV_RESULT_DENIED),
        (AP, mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, (-10, 0, 0, 0, 0, 0, 77),
         mav.MAV_RESULT_DENIED),  # no gimbal device 77
        (AP, mav.MAV_CMD_DO_SET_ROI_LOCATION, (0, 0, 0, 0, 95.0, 0.1, 30), mav.MAV_RESULT_DENIED),
        (AP, mav.MAV_CMD_DO_SET_ROI_LOCATION, (0, 0, 0, 0, NAN, NAN, 30), mav.MAV_RESULT_DENIED),
        (AP, mav.MAV_CMD_DO_SET_ROI_LOCATION, (0, 0, 0, 0, 0.0, 0.0, 0), mav.MAV_RESULT_DENIED),
        (AP, mav.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE, (300, 1, -1, -1, 0, 0, 0),
         mav.MAV_RESULT_DENIED),
    ],
)
def test_bad_commands_get_a_proper_result(
    comp: int, cmd: int, params: tuple[float, ...], result: int
) -> None:
    v, cam = setup()
    before = (cam.gimbal.mode, cam.gimbal.target_pitch_deg, cam.incident, cam.image_count)
    out = v.handle(long(comp, cmd, *params), 0.0)
    (ack,) = acks(out)
    assert (ack.command, ack.result) == (cmd, result)
    assert ack.src_component == comp
    assert (cam.gimbal.mode, cam.gimbal.target_pitch_deg, cam.incident, cam.image_count) == before
    if result == mav.MAV_RESULT_DENIED:
        assert cam.errors, "a refusal says why"


@pytest.mark.unit
def test_malformed_gimbal_messages_change_nothing() -> None:
    v, cam = setup()
    bad_q = mav.MAVLink_gimbal_manager_set_attitude_message(1, 1, 0, 0, [NAN] * 4, NAN, NAN, NAN)
    too_far = mav.MAVLink_gimbal_manager_set_pitchyaw_message(1, 1, 0, 0, 3.0, 0.0, NAN, NAN)
    other = mav.MAVLink_gimbal_manager_set_pitchyaw_message(1, 1, 0, 99, -0.5, 0.0, NAN, NAN)
    for m in (bad_q, too_far, other):
        assert v.handle(wire(m), 0.0) == []
    assert cam.gimbal.mode is GimbalMode.NEUTRAL
    ok = mav.MAVLink_gimbal_manager_set_pitchyaw_message(1, 1, 0, 0, -0.5, 0.2, NAN, NAN)
    v.handle(wire(ok), 0.0)
    assert cam.gimbal.target_pitch_deg == pytest.approx(math.degrees(-0.5), abs=1e-4)
    assert cam.gimbal.target_yaw_deg == pytest.approx(math.degrees(0.2), abs=1e-4)


@pytest.mark.unit
def test_roi_is_acknowledged_once_by_the_autopilot_and_aims_the_gimbal() -> None:
    v, cam = setup()
    lat, lon = HOME.lat_deg + 0.001, HOME.lon_deg
    msg = wire(mav.MAVLink_command_int_message(
        1, AP, mav.MAV_FRAME_GLOBAL_RELATIVE_ALT, mav.MAV_CMD_DO_SET_ROI_LOCATION, 0, 0,
        GIM, 0, 0, 0, round(lat * 1e7), round(lon * 1e7), HOME.alt_amsl_m))
    (ack,) = acks(v.handle(msg, 0.0))  # the model's own ACK: the endpoint sends it from 1
    assert (ack.result, getattr(ack, "src_component", AP)) == (mav.MAV_RESULT_ACCEPTED, AP)
    assert cam.gimbal.mode is GimbalMode.ROI
    assert cam.incident == pytest.approx((lat, lon))
    assert cam.gimbal.roi_ned is not None
    assert cam.gimbal.roi_ned[0] == pytest.approx(111.2, abs=0.5)  # 0.001 deg north
    assert cam.gimbal.roi_ned[2] == pytest.approx(0.0, abs=1e-6)  # on the ground (AMSL z)
    (ack,) = acks(v.handle(long(AP, mav.MAV_CMD_DO_SET_ROI_NONE), 0.0))
    assert ack.result == mav.MAV_RESULT_ACCEPTED
    assert gimbal_mode(cam) is GimbalMode.NEUTRAL


@pytest.mark.unit
def test_photos_without_io_fail_cleanly_and_intervals_count() -> None:
    v, _ = setup()
    out = v.handle(long(CAM, mav.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 0), 0.0)
    assert acks(out)[0].result == mav.MAV_RESULT_ACCEPTED
    shots = [m for m in v.due_messages(0.0) if m.get_type() == "CAMERA_IMAGE_CAPTURED"]
    (shot,) = shots
    assert (shot.image_index, shot.capture_result, shot.file_url) == (0, 0, "")
    assert shot.lat == pytest.approx(HOME.lat_deg * 1e7, abs=100)
    v.handle(long(CAM, mav.MAV_CMD_IMAGE_START_CAPTURE, 0, 1.0, 3, 0), 0.0)
    got = []
    for t in (0.0, 0.5, 1.0, 2.0, 3.0, 4.0):
        got += [m.image_index for m in v.due_messages(t) if m.get_type() == "CAMERA_IMAGE_CAPTURED"]
    assert got == [1, 2, 3]
    again = v.handle(long(CAM, mav.MAV_CMD_REQUEST_MESSAGE, 263, 2), 5.0)
    assert acks(again)[0].result == mav.MAV_RESULT_ACCEPTED
    assert [m.image_index for m in again if m.get_type() == "CAMERA_IMAGE_CAPTURED"] == [2]


@pytest.mark.integration
async def test_components_on_the_udp_link_and_garbage_ignored() -> None:
    port = free_udp_ports(1)
    cfg = CameraConfig(video_base_port=free_udp_ports(1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gcs:
        gcs.bind(("127.0.0.1", port))
        gcs.setblocking(False)
        async with SimFleet([HOME], base_port=port, camera=cfg) as fleet:
            loop = asyncio.get_running_loop()
            rx = mav.MAVLink(None)
            rx.robust_parsing = True
            seen: set[tuple[int, str]] = set()
            vehicle_addr: Any = None
            end = loop.time() + 5.0
            while loop.time() < end and not {(CAM, "CAMERA_INFORMATION"),
                                              (CAM, "HEARTBEAT")} <= seen:
                try:
                    data, vehicle_addr = await asyncio.wait_for(loop.sock_recvfrom(gcs, 65535),
                                                                0.5)
                except TimeoutError:
                    continue
                for m in rx.parse_buffer(data) or []:
                    if m.get_type() != "BAD_DATA":
                        seen.add((m.get_srcComponent(), m.get_type()))
                if vehicle_addr is not None and (CAM, "HEARTBEAT") in seen:
                    await loop.sock_sendto(gcs, b"\xfd\x09garbage" * 20, vehicle_addr)
                    req = mav.MAVLink_command_long_message(1, CAM, mav.MAV_CMD_REQUEST_MESSAGE,
                                                           0, 259, 0, 0, 0, 0, 0, 0)
                    await loop.sock_sendto(gcs, req.pack(GCS), vehicle_addr)
            assert (CAM, "HEARTBEAT") in seen
            assert (GIM, "HEARTBEAT") in seen
            assert (GIM, "GIMBAL_DEVICE_ATTITUDE_STATUS") in seen
            assert (AP, "GIMBAL_MANAGER_STATUS") in seen
            assert (CAM, "CAMERA_INFORMATION") in seen
            assert (CAM, "COMMAND_ACK") in seen
            assert fleet.endpoints[0].errors == 0
