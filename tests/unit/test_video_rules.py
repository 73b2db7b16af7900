"""The rules of live video (groundstation.core.camera_rules), each alone: no sockets, no clock."""

from __future__ import annotations

import math

import pytest

from groundstation import contract as c
from groundstation.core import camera_rules as r
from groundstation.core.vehicle import CameraInfo, GimbalAttitude, StreamInfo
from missions.geo import offset
from missions.sites import DockVideo, SiteSetError, parse_sites

pytestmark = pytest.mark.unit

SIMCAM = CameraInfo(
    component_id=100,
    vendor="DFR",
    model="SimCam 1",
    width_px=1280,
    height_px=720,
    hfov_deg=80.0,
    streams=(StreamInfo(1, "5601", 1280, 720, 25.0, 2500, 80.0, running=True),),
)
DOCK_STREAM = DockVideo(rtp_port=5602, width_px=640, height_px=480, fps=30.0, hfov_deg=90.0)


# --- which stream ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "port"),
    [
        ("5601", 5601),
        (" 5600 ", 5600),
        ("udp://0.0.0.0:5603", 5603),
        ("rtp://127.0.0.1:5604/", 5604),
        ("rtsp://10.0.0.1:8554/live", None),
        ("", None),
        ("70000", None),
        ("0", None),
        ("five", None),
    ],
)
def test_rtp_port_reads_the_uri_as_qgroundcontrol_does(uri: str, port: int | None) -> None:
    assert r.rtp_port(uri) == port


def test_the_cameras_own_stream_wins_over_the_docks() -> None:
    stream, reason = r.choose_stream(SIMCAM, DOCK_STREAM)
    assert stream is not None and reason == ""
    assert stream.rtp_port == 5601
    assert (stream.width_px, stream.height_px, stream.fps, stream.hfov_deg) == (
        1280,
        720,
        25.0,
        80.0,
    )
    assert stream.camera == "DFR SimCam 1" and stream.from_camera


def test_a_drone_without_camera_uses_its_docks_stream_and_takes_no_stills() -> None:
    stream, _ = r.choose_stream(None, DOCK_STREAM)
    assert stream is not None
    assert stream.rtp_port == 5602 and stream.camera == r.CONFIGURED
    assert not stream.from_camera
    assert stream.source == "rtp://0.0.0.0:5602"


def test_a_camera_with_only_rtsp_falls_back_to_the_configured_stream() -> None:
    rtsp = CameraInfo(100, "Acme", "Cam", streams=(StreamInfo(1, "rtsp://x:8554/live"),))
    stream, _ = r.choose_stream(rtsp, DOCK_STREAM)
    assert stream is not None and stream.rtp_port == 5602 and stream.camera == "Acme Cam"
    none, reason = r.choose_stream(rtsp, None)
    assert none is None
    assert "no RTP/UDP stream" in reason and "rtsp://x:8554/live" in reason


def test_no_camera_and_nothing_configured_says_so() -> None:
    stream, reason = r.choose_stream(None, None)
    assert stream is None
    assert "no camera" in reason and "configured" in reason


def test_the_relay_takes_a_stream_from_launch_until_the_recording_is_closed() -> None:
    s = _stream()
    assert r.watch_port(s, busy=False, recording=False) is None  # at rest in the dock
    assert r.watch_port(s, busy=True, recording=False) == 5601
    assert r.watch_port(s, busy=False, recording=True) == 5601  # down, recording not closed
    assert r.watch_port(None, busy=True, recording=True) is None


# --- the descriptor -------------------------------------------------------------------------


def _stream() -> r.Stream:
    stream, _ = r.choose_stream(SIMCAM, None)
    assert stream is not None
    return stream


def test_descriptor_state_follows_camera_and_relay() -> None:
    s = _stream()
    live = r.RelayStatus(c.VideoState.LIVE, "", 1280, 720, 24.8)
    lost = r.RelayStatus(c.VideoState.LOST, "no packets for 10 s")
    reconnecting = r.RelayStatus(c.VideoState.RECONNECTING, "no packets since 12:00:01")

    def state(
        stream: r.Stream | None,
        relay: r.RelayStatus | None,
        *,
        airborne: bool = True,
        running: bool = True,
    ) -> tuple[c.VideoState, str]:
        return r.video_state(stream, "why not", relay, airborne=airborne, relay_running=running)

    assert state(None, live) == (c.VideoState.NO_CAMERA, "why not")
    assert state(s, live) == (c.VideoState.LIVE, "")
    assert state(s, live, airborne=False)[0] == c.VideoState.LIVE
    assert state(s, lost) == (c.VideoState.LOST, "no packets for 10 s")
    assert state(s, reconnecting)[0] == c.VideoState.RECONNECTING
    # Docked: nothing streams, and that is no fault.
    assert state(s, lost, airborne=False)[0] == c.VideoState.IDLE
    assert state(s, None)[0] == c.VideoState.IDLE
    assert "relay" in state(s, live, running=False)[1]


def test_descriptor_carries_the_measured_stream_and_rounded_gimbal() -> None:
    s = _stream()
    relay = r.RelayStatus(c.VideoState.LIVE, "", 1280, 720, 24.83)
    d = r.descriptor(
        "uav-1",
        5,
        s,
        c.VideoState.LIVE,
        "",
        url="http://h:8080/video/uav-1.ts",
        recording=True,
        relay=relay,
        gimbal=GimbalAttitude(-44.6, 3.2, 0.0),
    )
    assert d.url == "http://h:8080/video/uav-1.ts" and d.source == "rtp://0.0.0.0:5601"
    assert (d.width_px, d.height_px, d.fps, d.hfov_deg) == (1280, 720, 24.8, 80.0)
    assert d.live and d.recording and d.camera == "DFR SimCam 1"
    assert (d.gimbal_pitch_deg, d.gimbal_yaw_deg) == (-45.0, 3.0)
    # A small gimbal jitter does not change what is published.
    d2 = r.descriptor(
        "uav-1",
        6,
        s,
        c.VideoState.LIVE,
        "",
        url=d.url,
        recording=True,
        relay=relay,
        gimbal=GimbalAttitude(-44.7, 3.4, 1.0),
    )
    assert (d2.gimbal_pitch_deg, d2.gimbal_yaw_deg) == (d.gimbal_pitch_deg, d.gimbal_yaw_deg)
    none = r.descriptor(
        "uav-1",
        5,
        None,
        c.VideoState.NO_CAMERA,
        "no camera",
        url="http://x",
        recording=False,
        relay=None,
        gimbal=None,
    )
    assert none.url is None and none.source is None and not none.live
    c.decode(c.encode(d), c.VideoDescriptor)  # valid by the contract


# --- the gimbal during a sortie ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (c.Phase.DOCKED, None),
        (c.Phase.PREFLIGHT, None),
        (c.Phase.LAUNCHING, r.LookAt(51.5, -0.1, 30.0)),
        (c.Phase.TRANSIT, r.LookAt(51.5, -0.1, 30.0)),
        (c.Phase.ON_SCENE, r.LookAt(51.5, -0.1, 30.0)),
        (c.Phase.RETURNING, r.Point(r.RETURN_PITCH_DEG, 0.0)),
        (c.Phase.LANDING, r.Point(r.RETURN_PITCH_DEG, 0.0)),
        (c.Phase.CHARGING, None),
    ],
)
def test_the_gimbal_looks_at_the_incident_until_the_drone_leaves_it(
    phase: c.Phase, expected: r.GimbalCommand | None
) -> None:
    assert r.sortie_look(phase, (51.5, -0.1), 30.0) == expected


def test_no_target_no_roi() -> None:
    assert r.sortie_look(c.Phase.TRANSIT, None, 30.0) is None


# --- evidence -------------------------------------------------------------------------------


def test_recording_runs_from_launch_until_the_drone_is_down() -> None:
    assert r.recording_changes(None, c.Phase.DOCKED, None) == []
    assert r.recording_changes(None, c.Phase.PREFLIGHT, "inc-1") == [r.StartRecording("inc-1")]
    assert r.recording_changes("inc-1", c.Phase.TRANSIT, "inc-1") == []
    assert r.recording_changes("inc-1", c.Phase.RETURNING, "inc-1") == []
    # Down: the sortie lets go of its incident (or faults) and the recording stops.
    assert r.recording_changes("inc-1", c.Phase.CHARGING, None) == [r.StopRecording()]
    assert r.recording_changes("inc-1", c.Phase.FAULT, "inc-1") == [r.StopRecording()]
    # Redirected to another incident in the air: a new recording for it.
    assert r.recording_changes("inc-1", c.Phase.TRANSIT, "inc-2") == [
        r.StopRecording(),
        r.StartRecording("inc-2"),
    ]


def test_one_still_on_arrival() -> None:
    assert r.arrival_snapshot(c.Phase.TRANSIT, c.Phase.ON_SCENE, "inc-1")
    assert not r.arrival_snapshot(c.Phase.ON_SCENE, c.Phase.ON_SCENE, "inc-1")
    assert not r.arrival_snapshot(c.Phase.TRANSIT, c.Phase.RETURNING, "inc-1")
    assert not r.arrival_snapshot(c.Phase.TRANSIT, c.Phase.ON_SCENE, None)


# --- look_at_image ----------------------------------------------------------------------------


def test_the_centre_of_the_picture_keeps_the_gimbal_where_it_is() -> None:
    p = r.image_to_gimbal(0.5, 0.5, hfov_deg=80.0, aspect=16 / 9, pitch_deg=-40.0, yaw_deg=10.0)
    assert p.pitch_deg == pytest.approx(-40.0) and p.yaw_deg == pytest.approx(10.0)


def test_the_edges_of_a_level_camera_are_half_the_field_of_view_away() -> None:
    right = r.image_to_gimbal(1.0, 0.5, hfov_deg=80.0, aspect=16 / 9, pitch_deg=0, yaw_deg=0)
    assert right.yaw_deg == pytest.approx(40.0) and right.pitch_deg == pytest.approx(0.0)
    left = r.image_to_gimbal(0.0, 0.5, hfov_deg=80.0, aspect=16 / 9, pitch_deg=0, yaw_deg=0)
    assert left.yaw_deg == pytest.approx(-40.0)
    vfov = math.degrees(2 * math.atan(math.tan(math.radians(40.0)) * 9 / 16))
    bottom = r.image_to_gimbal(0.5, 1.0, hfov_deg=80.0, aspect=16 / 9, pitch_deg=0, yaw_deg=0)
    assert bottom.pitch_deg == pytest.approx(-vfov / 2) and bottom.yaw_deg == pytest.approx(0.0)
    top = r.image_to_gimbal(0.5, 0.0, hfov_deg=80.0, aspect=16 / 9, pitch_deg=-30, yaw_deg=0)
    assert top.pitch_deg == pytest.approx(-30 + vfov / 2)


def test_a_click_to_the_right_of_a_downward_camera_yaws_it_right() -> None:
    p = r.image_to_gimbal(0.75, 0.5, hfov_deg=80.0, aspect=16 / 9, pitch_deg=-60.0, yaw_deg=0.0)
    assert p.yaw_deg > 20.0  # nearer the nadir, a sideways offset is a larger yaw
    assert -60.0 < p.pitch_deg < -40.0


def test_gimbal_angles_stay_within_the_gimbals_limits() -> None:
    p = r.image_to_gimbal(0.5, 1.0, hfov_deg=80.0, aspect=16 / 9, pitch_deg=-89.0, yaw_deg=0.0)
    assert p.pitch_deg >= r.PITCH_MIN_DEG
    up = r.image_to_gimbal(0.5, 0.0, hfov_deg=80.0, aspect=16 / 9, pitch_deg=25.0, yaw_deg=0.0)
    assert up.pitch_deg <= r.PITCH_MAX_DEG


# --- drone_camera requests --------------------------------------------------------------------

DRONE_AT = (51.5150, -0.1300)


def view(**kw: object) -> r.CameraView:
    base: dict[str, object] = {
        "drone_id": "uav-1",
        "pilot": None,
        "connected": True,
        "stream": _stream(),
        "no_stream_reason": "",
        "position": DRONE_AT,
        "ground_amsl_m": 30.0,
        "gimbal": GimbalAttitude(-45.0, 0.0, 0.0),
    }
    base.update(kw)
    return r.CameraView(**base)  # type: ignore[arg-type]


def req(action: str, **kw: object) -> c.DroneCamera:
    return c.decode_data({"drone_id": "uav-1", "action": action, **kw}, c.DroneCamera)


def refused(decision: object) -> tuple[c.Result, str]:
    assert isinstance(decision, r.Refusal), decision
    return decision.result, decision.reason


def test_point_and_its_missing_pitch() -> None:
    assert r.camera_request("pilot", req("point", pitch_deg=-30.0, yaw_deg=15.0), view()) == (
        r.Point(-30.0, 15.0)
    )
    assert r.camera_request("pilot", req("point", pitch_deg=-30.0), view()) == r.Point(-30.0, 0.0)
    result, reason = refused(r.camera_request("pilot", req("point"), view()))
    assert result == c.Result.MALFORMED and "pitch_deg" in reason


def test_another_pilots_drone_is_refused_with_the_holder() -> None:
    result, reason = refused(
        r.camera_request("pilot2", req("point", pitch_deg=-10.0), view(pilot="pilot"))
    )
    assert result == c.Result.NOT_AUTHORITY and "pilot" in reason
    # The holder may; with nobody holding it, any operator may.
    assert isinstance(
        r.camera_request("pilot", req("point", pitch_deg=-10.0), view(pilot="pilot")), r.Point
    )


def test_look_at_a_point_near_the_drone() -> None:
    near = offset(*DRONE_AT, 300.0, 200.0)
    d = r.camera_request(
        "pilot", req("look_at", lat_deg=near.lat_deg, lon_deg=near.lon_deg), view()
    )
    assert d == r.LookAt(near.lat_deg, near.lon_deg, 30.0)


def test_look_at_too_far_or_without_coordinates_is_refused() -> None:
    far = offset(*DRONE_AT, 2500.0, 0.0)
    result, reason = refused(
        r.camera_request("pilot", req("look_at", lat_deg=far.lat_deg, lon_deg=far.lon_deg), view())
    )
    assert result == c.Result.OUT_OF_RANGE and "2.5 km" in reason
    result, reason = refused(r.camera_request("pilot", req("look_at", lat_deg=51.5), view()))
    assert result == c.Result.MALFORMED and "lon_deg" in reason
    result, _ = refused(
        r.camera_request("pilot", req("look_at", lat_deg=51.5, lon_deg=-0.1), view(position=None))
    )
    assert result == c.Result.INVALID_STATE


def test_out_of_range_coordinates_never_reach_the_rules() -> None:
    with pytest.raises(c.ContractError, match="lat_deg"):
        req("look_at", lat_deg=91.0, lon_deg=0.0)


def test_look_at_image_turns_a_click_into_angles() -> None:
    d = r.camera_request(
        "pilot", req("look_at_image", x=1.0, y=0.5), view(gimbal=GimbalAttitude(0.0, 0.0, 0.0))
    )
    assert isinstance(d, r.Point) and d.yaw_deg == pytest.approx(40.0)
    result, _ = refused(
        r.camera_request("pilot", req("look_at_image", x=0.2, y=0.3), view(gimbal=None))
    )
    assert result == c.Result.INVALID_STATE
    no_fov = r.Stream(rtp_port=5600, camera=r.CONFIGURED, from_camera=False)
    result, reason = refused(
        r.camera_request("pilot", req("look_at_image", x=0.2, y=0.3), view(stream=no_fov))
    )
    assert result == c.Result.INVALID_STATE and "field of view" in reason
    result, _ = refused(r.camera_request("pilot", req("look_at_image", x=0.2), view()))
    assert result == c.Result.MALFORMED


def test_snapshot_needs_a_camera_component() -> None:
    assert r.camera_request("pilot", req("snapshot"), view()) == r.Snapshot()
    configured, _ = r.choose_stream(None, DOCK_STREAM)
    result, reason = refused(r.camera_request("pilot", req("snapshot"), view(stream=configured)))
    assert result == c.Result.INVALID_STATE and "configured stream" in reason
    result, reason = refused(
        r.camera_request("pilot", req("snapshot"), view(stream=None, no_stream_reason="nope"))
    )
    assert result == c.Result.INVALID_STATE and "nope" in reason


def test_a_drone_not_connected_is_refused_and_reset_is_always_allowed() -> None:
    result, _ = refused(r.camera_request("pilot", req("reset"), view(connected=False)))
    assert result == c.Result.VEHICLE_FAILED
    assert r.camera_request("pilot", req("reset"), view()) == r.Reset()


# --- the site set's per-dock stream ---------------------------------------------------------


def _sites(video: object) -> dict[str, object]:
    return {
        "sites": [
            {
                "site_id": "s",
                "lat_deg": 51.5,
                "lon_deg": -0.1,
                "roof_alt_amsl_m": 30.0,
                "dock_list": [{"video": video}, {}],
            }
        ]
    }


def test_a_dock_may_name_its_drones_stream() -> None:
    sites = parse_sites(
        _sites({"rtp_port": 5601, "width_px": 1920, "height_px": 1080, "hfov_deg": 70})
    )
    first, second = sites.docks
    assert first.video == DockVideo(5601, 1920, 1080, 25.0, 0, 70.0)
    assert second.video is None


@pytest.mark.parametrize(
    ("video", "message"),
    [
        ({"width_px": 1280}, "rtp_port"),
        ({"rtp_port": 70000}, "UDP port"),
        ({"rtp_port": 5601.5}, "UDP port"),
        ({"rtp_port": 5601, "fps": -1}, "fps"),
        ({"rtp_port": 5601, "codec": "h265"}, "unknown fields"),
        ("5601", "object"),
    ],
)
def test_a_bad_dock_stream_is_refused_with_its_reason(video: object, message: str) -> None:
    with pytest.raises(SiteSetError, match=message):
        parse_sites(_sites(video))
