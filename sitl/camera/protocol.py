"""The vehicle's camera (component 100), gimbal device (154) and the autopilot's gimbal manager
(component 1, gimbal protocol v2) over MAVLink: sans-IO, like the vehicle model.

    payload = CameraPayload(vehicle, config)
    replies = payload.handle(msg, now_s)   # None: not for the camera/gimbal, the autopilot's
    payload.step(dt_s)                     # gimbal slew, simulated seconds
    out = payload.due_messages(now_s)      # heartbeats, gimbal status streams, captures done

Every message it emits carries ``src_component`` (the endpoint packs it with that component id).
What MAVSDK 4.x's camera and gimbal plugins and QGroundControl's camera manager ask is answered as
a real MAVLink camera and PX4's gimbal manager answer it; anything malformed gets a COMMAND_ACK
with DENIED or UNSUPPORTED, never an exception.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import common as mav

from sitl.camera.actors import Crowd
from sitl.camera.gimbal import (
    PITCH_MAX_DEG,
    PITCH_MIN_DEG,
    Gimbal,
    GimbalMode,
    euler_to_quaternion,
    quaternion_to_euler,
    wrap180,
)
from sitl.camera.lens import CameraPose, Lens
from sitl.camera.render import View
from sitl.camera.tracker import Selection, Tracker, TrackingMode, TrackingStatus, visible
from sitl.state import LandedState

if TYPE_CHECKING:
    from sitl.model import SimVehicle

AUTOPILOT = 1
CAMERA = mav.MAV_COMP_ID_CAMERA  # 100
GIMBAL = mav.MAV_COMP_ID_GIMBAL  # 154
ACCEPTED: int = mav.MAV_RESULT_ACCEPTED
DENIED: int = mav.MAV_RESULT_DENIED
UNSUPPORTED: int = mav.MAV_RESULT_UNSUPPORTED
VENDOR = "DFR"
MODEL = "SimCam 1"
GIMBAL_MODEL = "SimGimbal 1"
IMAGES_KEPT = 1000  # CAMERA_IMAGE_CAPTURED kept for re-requests

CAMERA_FLAGS = (
    mav.CAMERA_CAP_FLAGS_CAPTURE_IMAGE
    | mav.CAMERA_CAP_FLAGS_HAS_VIDEO_STREAM
    | mav.CAMERA_CAP_FLAGS_CAN_CAPTURE_IMAGE_IN_VIDEO_MODE
    | mav.CAMERA_CAP_FLAGS_HAS_TRACKING_POINT
    | mav.CAMERA_CAP_FLAGS_HAS_TRACKING_RECTANGLE
    | mav.CAMERA_CAP_FLAGS_HAS_TRACKING_GEO_STATUS
)
TRACKING_MESSAGES = (mav.MAVLINK_MSG_ID_CAMERA_TRACKING_IMAGE_STATUS,
                     mav.MAVLINK_MSG_ID_CAMERA_TRACKING_GEO_STATUS)
TRACKING_HZ = 5.0  # both tracking statuses while tracking, unless SET_MESSAGE_INTERVAL says else
TRACKER_PERIOD_S = 0.1  # the tracker looks at the picture this often (simulated seconds)
MANAGER_CAPS = (
    mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_NEUTRAL
    | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_PITCH_AXIS
    | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_PITCH_LOCK
    | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_AXIS
    | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_FOLLOW
    | mav.GIMBAL_MANAGER_CAP_FLAGS_HAS_YAW_LOCK
    | mav.GIMBAL_MANAGER_CAP_FLAGS_CAN_POINT_LOCATION_GLOBAL
)
DEVICE_FLAGS = mav.GIMBAL_DEVICE_FLAGS_ROLL_LOCK | mav.GIMBAL_DEVICE_FLAGS_PITCH_LOCK
# PX4's default stream rates (mavlink_main.cpp, every mode that streams them): the gimbal
# device's attitude 1 Hz and the manager's status 0.5 Hz.
RATES_HZ = {"heartbeat": 1.0, "attitude": 1.0, "manager": 0.5}

GIMBAL_MANAGER_COMMANDS = {
    mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
    mav.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE,
}
MANAGER_MESSAGES = {
    mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_INFORMATION,
    mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_STATUS,
}
# Deprecated request commands QGroundControl still sends, and the message each stands for.
LEGACY_REQUESTS = {
    mav.MAV_CMD_REQUEST_CAMERA_INFORMATION: mav.MAVLINK_MSG_ID_CAMERA_INFORMATION,
    mav.MAV_CMD_REQUEST_CAMERA_SETTINGS: mav.MAVLINK_MSG_ID_CAMERA_SETTINGS,
    mav.MAV_CMD_REQUEST_STORAGE_INFORMATION: mav.MAVLINK_MSG_ID_STORAGE_INFORMATION,
    mav.MAV_CMD_REQUEST_CAMERA_CAPTURE_STATUS: mav.MAVLINK_MSG_ID_CAMERA_CAPTURE_STATUS,
    mav.MAV_CMD_REQUEST_VIDEO_STREAM_INFORMATION: mav.MAVLINK_MSG_ID_VIDEO_STREAM_INFORMATION,
    mav.MAV_CMD_REQUEST_VIDEO_STREAM_STATUS: mav.MAVLINK_MSG_ID_VIDEO_STREAM_STATUS,
}


class StreamPolicy(Enum):
    """When the vehicle streams video."""

    AIRBORNE = "airborne"  # in the air (or asked with VIDEO_START_STREAMING)
    ALWAYS = "always"
    OFF = "off"  # never, even if asked (the camera still answers and takes photos)


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """The camera of every vehicle in a fleet (built once at the edge, e.g. from the CLI)."""

    lens: Lens = field(default_factory=Lens)
    fps: int = 25
    bitrate_bps: int = 2_500_000
    video_host: str | None = None  # None: the fleet's host (where the ground station is)
    video_base_port: int = 5600
    policy: StreamPolicy = StreamPolicy.AIRBORNE
    image_dir: str | None = None  # None: a temporary directory per fleet
    incident: tuple[float, float] | None = None  # lat, lon of the marker before any ROI
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.fps <= 60:
            raise ValueError(f"fps {self.fps} out of range 1..60")
        if not 100_000 <= self.bitrate_bps <= 50_000_000:
            raise ValueError(f"bitrate {self.bitrate_bps} out of range")
        if not 1 <= self.video_base_port <= 65535 - 250:
            raise ValueError(f"video base port {self.video_base_port} out of range")
        if self.incident is not None and not _valid_latlon(*self.incident):
            raise ValueError(f"incident {self.incident} is not a position")


@dataclass(frozen=True, slots=True)
class CaptureJob:
    """A photo to render and write: the I/O side calls CameraPayload.capture_done when done."""

    index: int
    time_utc_us: int
    view: View
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    rel_alt_m: float
    q: tuple[float, float, float, float]


def _tag(msg: Any, comp: int) -> Any:
    msg.src_component = comp
    return msg


def _text(s: str, size: int) -> bytes:
    return s.encode()[:size]


def _valid_latlon(lat: float, lon: float) -> bool:
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


class CameraPayload:
    """Camera + gimbal of one SimVehicle, sans-IO."""

    def __init__(
        self,
        vehicle: SimVehicle,
        config: CameraConfig,
        video_port: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.vehicle = vehicle
        self.config = config
        self.video_port = video_port
        self.gimbal = Gimbal()
        self.incident: tuple[float, float] | None = config.incident
        self.other_incidents: tuple[tuple[float, float], ...] = ()  # set by the fleet's I/O
        self.stream_request: bool | None = None  # VIDEO_START/STOP_STREAMING; None = policy
        self.stream_running = False  # set by the I/O side when frames go out
        self.camera_mode = mav.CAMERA_MODE_VIDEO
        self.primary_control: tuple[int, int] = (0, 0)
        self.secondary_control: tuple[int, int] = (0, 0)
        self.pending_captures: list[CaptureJob] = []  # drained by the I/O side
        self.io_attached = False  # without I/O, captures complete at once with no file
        self.images: OrderedDict[int, Any] = OrderedDict()
        self.image_count = 0
        self._interval_s = 0.0
        self._interval_left = 0  # photos left in an interval capture, -1 = until stopped
        self._next_photo_s: float | None = None
        self._outbox: list[Any] = []
        self._next_due: dict[str, float] = {}
        self._was_running = False
        self._wall = wall_clock
        self.errors: list[str] = []  # why commands were refused (tests read it)
        self.crowd = Crowd(config.seed)  # the renderer's (same seed): what the tracker sees
        self.tracker = Tracker(config.lens)
        self._tracker_due_s = 0.0
        self._tracking_interval_s: dict[int, float] = dict.fromkeys(
            TRACKING_MESSAGES, 1.0 / TRACKING_HZ)
        self._tracking_next: dict[int, float] = {}

    # ---- what the vehicle looks at ----------------------------------------------------------

    @property
    def system_id(self) -> int:
        return self.vehicle.state.system_id

    def heading_deg(self) -> float:
        return math.degrees(self.vehicle.state.body.yaw_rad)

    def vehicle_ned(self) -> tuple[float, float, float]:
        b = self.vehicle.state.body
        return b.north_m, b.east_m, b.down_m

    def view(self) -> View:
        """The camera's view now (true position: the picture is the truth, GPS is noisy)."""
        s = self.vehicle.state
        lat, lon, alt = s.position()
        return View(
            lat,
            lon,
            alt,
            s.home.alt_amsl_m,
            (self.heading_deg() + self.gimbal.yaw_deg) % 360.0,
            self.gimbal.pitch_deg,
            s.sim_time_s,
            self.scenes(),
        )

    def scenes(self) -> tuple[tuple[float, float], ...]:
        """The incidents this camera can see: its own and the fleet's (one world for all)."""
        own = () if self.incident is None else (self.incident,)
        return tuple(dict.fromkeys((*own, *self.other_incidents)))

    def wants_stream(self) -> bool:
        """Whether video should be going out now."""
        policy = self.config.policy
        if policy is StreamPolicy.OFF or self.stream_request is False:
            return False
        if policy is StreamPolicy.ALWAYS or self.stream_request:
            return True
        # Airborne as the autopilot reports it: from the take-off (the motors spool up for
        # seconds before lift-off while MAVLink already says TAKEOFF, i.e. in the air).
        return self.vehicle.state.in_air or self.vehicle.nav.landed_state() is LandedState.TAKEOFF

    def wants_renderer(self) -> bool:
        """Whether the I/O side should keep a renderer warm (armed: about to take off)."""
        return self.wants_stream() or (
            self.config.policy is not StreamPolicy.OFF
            and self.stream_request is not False
            and self.vehicle.state.armed
        )

    # ---- sans-IO interface --------------------------------------------------------------------

    def handle(self, msg: Any, now_s: float) -> list[Any] | None:
        """Replies to a message for the camera, the gimbal device or the gimbal manager; None
        when the message is the autopilot's business (the vehicle model handles it)."""
        comp = getattr(msg, "target_component", None)
        mid = msg.id
        is_cmd = mid in (mav.MAVLINK_MSG_ID_COMMAND_LONG, mav.MAVLINK_MSG_ID_COMMAND_INT)
        if comp == CAMERA:
            return self._camera_command(msg, now_s) if is_cmd else []
        if comp == GIMBAL:
            return self._device_command(msg) if is_cmd else []
        if comp not in (None, 0, AUTOPILOT):
            return None
        if is_cmd:
            return self._manager_command(msg)
        if mid == mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_SET_PITCHYAW:
            self._set_pitchyaw_message(msg)
            return []
        if mid == mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_SET_ATTITUDE:
            self._set_attitude_message(msg)
            return []
        return None

    def step(self, dt_s: float) -> None:
        now = self.vehicle.state.sim_time_s
        if self.tracker.key is not None and now >= self._tracker_due_s:
            self._tracker_due_s = now + TRACKER_PERIOD_S
            if self.tracker.update(self.seen(), now):
                self._outbox.extend(self._tracking_statuses())
                self._outbox.append(_camera_text(self.tracker.why_idle))
            target = self.tracker.predicted_ned(now)
            if target is not None:
                self.gimbal.look_at(target)  # the tracking gimbal keeps it in the middle
        self.gimbal.step(dt_s, self.vehicle_ned(), self.heading_deg())

    def due_messages(self, now_s: float) -> list[Any]:
        out = self._outbox
        self._outbox = []
        if self._due("heartbeat", now_s):
            out.append(_tag(mav.MAVLink_heartbeat_message(
                mav.MAV_TYPE_CAMERA, mav.MAV_AUTOPILOT_INVALID, 0, 0, mav.MAV_STATE_ACTIVE, 3
            ), CAMERA))
            out.append(_tag(mav.MAVLink_heartbeat_message(
                mav.MAV_TYPE_GIMBAL, mav.MAV_AUTOPILOT_INVALID, 0, 0, mav.MAV_STATE_ACTIVE, 3
            ), GIMBAL))
        if self._due("attitude", now_s):
            out.append(self.device_attitude_status())
        if self._due("manager", now_s):
            out.append(self.manager_status())
        if self.tracker.key is not None:
            # On the simulated clock, as PX4 SITL streams with a speed factor: at 10x a
            # wall-clock 5 Hz is a status every 2 s of target motion (24 m of a 12 m/s car), and
            # the ground station, which knows only when a status arrived, sees it that stale.
            sim_s = self.vehicle.state.sim_time_s
            for mid, interval in self._tracking_interval_s.items():
                t = self._tracking_next.get(mid)
                if interval > 0 and (t is None or sim_s >= t - 1e-6):
                    base = t if t is not None and sim_s - t <= interval else sim_s
                    self._tracking_next[mid] = base + interval
                    out.append(self._tracking_status(mid))
        if self.stream_running != self._was_running:
            self._was_running = self.stream_running
            out.extend([self.video_stream_information(), self.video_stream_status()])
        self._interval_photos(now_s, out)
        return out

    def capture_done(self, job: CaptureJob, file_url: str | None) -> None:
        """The I/O side wrote (or failed to write) a photo: announce it."""
        msg = _tag(mav.MAVLink_camera_image_captured_message(
            self.vehicle.time_boot_ms(),
            job.time_utc_us,
            0,
            round(job.lat_deg * 1e7),
            round(job.lon_deg * 1e7),
            round(job.alt_amsl_m * 1000),
            round(job.rel_alt_m * 1000),
            list(job.q),
            job.index,
            1 if file_url else 0,
            _text(file_url or "", 205),
        ), CAMERA)
        self.images[job.index] = msg
        while len(self.images) > IMAGES_KEPT:
            self.images.popitem(last=False)
        self._outbox.extend([msg, self.capture_status()])

    # ---- the camera (component 100) -------------------------------------------------------

    def _camera_command(self, msg: Any, now_s: float) -> list[Any]:
        cmd = msg.command
        p = _params(msg)
        out: list[Any] = []
        if cmd == mav.MAV_CMD_REQUEST_MESSAGE:
            result = self._camera_message(_int(p[0], -1), p[1], out)
        elif cmd in LEGACY_REQUESTS:
            result = self._camera_message(LEGACY_REQUESTS[cmd], 0.0, out)
        elif cmd == mav.MAV_CMD_IMAGE_START_CAPTURE:
            result = self._start_capture(p[1], p[2], now_s)
        elif cmd == mav.MAV_CMD_IMAGE_STOP_CAPTURE:
            self._interval_left = 0
            self._next_photo_s = None
            result = ACCEPTED
            out.append(self.capture_status())
        elif cmd in (mav.MAV_CMD_VIDEO_START_STREAMING, mav.MAV_CMD_VIDEO_STOP_STREAMING):
            sid = _int(p[0], -1)
            if sid not in (0, 1):
                result = self._refuse(DENIED, f"no video stream {p[0]}")
            elif self.config.policy is StreamPolicy.OFF:
                result = self._refuse(DENIED, "video streaming is off on this vehicle")
            else:
                self.stream_request = cmd == mav.MAV_CMD_VIDEO_START_STREAMING
                result = ACCEPTED
        elif cmd == mav.MAV_CMD_SET_CAMERA_MODE:
            mode = _int(p[1], -1)
            if mode not in (mav.CAMERA_MODE_IMAGE, mav.CAMERA_MODE_VIDEO):
                result = self._refuse(DENIED, f"camera mode {p[1]} not supported")
            else:
                self.camera_mode = mode
                result = ACCEPTED
                out.append(self.camera_settings())
        elif cmd == mav.MAV_CMD_RESET_CAMERA_SETTINGS:
            self.camera_mode = mav.CAMERA_MODE_VIDEO
            result = ACCEPTED
        elif cmd in (mav.MAV_CMD_CAMERA_TRACK_POINT, mav.MAV_CMD_CAMERA_TRACK_RECTANGLE):
            result = self._track(cmd, p, out)
        elif cmd == mav.MAV_CMD_CAMERA_STOP_TRACKING:
            self.tracker.stop("stopped by command")
            result = ACCEPTED
            out.extend(self._tracking_statuses())
        elif cmd == mav.MAV_CMD_SET_MESSAGE_INTERVAL and _int(p[0], -1) in TRACKING_MESSAGES:
            mid, us = _int(p[0], -1), p[1]
            self._tracking_interval_s[mid] = (1.0 / TRACKING_HZ if us == 0 or not math.isfinite(us)
                                              else -1.0 if us < 0 else max(us * 1e-6, 0.02))
            self._tracking_next.pop(mid, None)
            result = ACCEPTED
        else:
            result = self._refuse(UNSUPPORTED, f"camera command {cmd} not supported")
        return [_ack(msg, result, CAMERA), *out]

    def _camera_message(self, msg_id: int, param2: float, out: list[Any]) -> int:
        if msg_id == mav.MAVLINK_MSG_ID_CAMERA_INFORMATION:
            # The stream's information goes with it, unprompted: MAVSDK asks for it only every
            # 20 s, and a client that knows the camera wants the stream next.
            out.extend([self.camera_information(), self.video_stream_information()])
        elif msg_id == mav.MAVLINK_MSG_ID_VIDEO_STREAM_INFORMATION:
            if _int(param2, 0) not in (0, 1):
                return self._refuse(DENIED, f"no video stream {param2}")
            out.append(self.video_stream_information())
        elif msg_id == mav.MAVLINK_MSG_ID_VIDEO_STREAM_STATUS:
            if _int(param2, 0) not in (0, 1):
                return self._refuse(DENIED, f"no video stream {param2}")
            out.append(self.video_stream_status())
        elif msg_id == mav.MAVLINK_MSG_ID_CAMERA_CAPTURE_STATUS:
            out.append(self.capture_status())
        elif msg_id == mav.MAVLINK_MSG_ID_CAMERA_SETTINGS:
            out.append(self.camera_settings())
        elif msg_id == mav.MAVLINK_MSG_ID_STORAGE_INFORMATION:
            out.append(self.storage_information())
        elif msg_id == mav.MAVLINK_MSG_ID_CAMERA_IMAGE_CAPTURED:
            index = _int(param2, -1)
            if index not in self.images:
                return self._refuse(DENIED, f"no image {param2}")
            out.append(self.images[index])
        elif msg_id in TRACKING_MESSAGES:
            out.append(self._tracking_status(msg_id))
        elif msg_id == mav.MAVLINK_MSG_ID_HEARTBEAT:
            out.append(_tag(mav.MAVLink_heartbeat_message(
                mav.MAV_TYPE_CAMERA, mav.MAV_AUTOPILOT_INVALID, 0, 0, mav.MAV_STATE_ACTIVE, 3
            ), CAMERA))
        else:
            return self._refuse(DENIED, f"camera has no message {msg_id}")
        return ACCEPTED

    def _start_capture(self, interval_s: float, count: float, now_s: float) -> int:
        n = _int(count, -2)
        if n < 0 or (n != 1 and not (math.isfinite(interval_s) and interval_s > 0)):
            why = f"bad capture request: interval {interval_s}, count {count}"
            return self._refuse(DENIED, why)
        if n == 1:
            self._capture()
            return ACCEPTED
        self._interval_s = max(interval_s, 0.2)
        self._interval_left = n if n > 0 else -1
        self._next_photo_s = now_s
        return ACCEPTED

    def _interval_photos(self, now_s: float, out: list[Any]) -> None:
        if self._next_photo_s is None or now_s < self._next_photo_s:
            return
        self._capture()
        if self._interval_left > 0:
            self._interval_left -= 1
        if self._interval_left == 0:
            self._next_photo_s = None
            out.append(self.capture_status())
        else:
            self._next_photo_s += self._interval_s

    def _capture(self) -> None:
        s = self.vehicle.state
        lat, lon, alt = self.vehicle.reported_position()
        view = self.view()
        job = CaptureJob(
            index=self.image_count,
            time_utc_us=round(self._wall() * 1e6),
            view=view,
            lat_deg=lat,
            lon_deg=lon,
            alt_amsl_m=alt,
            rel_alt_m=alt - s.home.alt_amsl_m,
            q=euler_to_quaternion(0.0, view.pitch_deg, wrap180(view.heading_deg)),
        )
        self.image_count += 1
        if self.io_attached:
            self.pending_captures.append(job)
        else:
            self.capture_done(job, None)

    def camera_information(self) -> Any:
        lens = self.config.lens
        return _tag(mav.MAVLink_camera_information_message(
            self.vehicle.time_boot_ms(),
            list(_text(VENDOR, 32).ljust(32, b"\0")),
            list(_text(MODEL, 32).ljust(32, b"\0")),
            1,
            lens.focal_length_mm,
            lens.sensor_width_mm,
            lens.sensor_height_mm,
            lens.width_px,
            lens.height_px,
            0,
            CAMERA_FLAGS,
            0,
            b"",
            GIMBAL,
            0,
        ), CAMERA)

    def _stream_flags(self) -> int:
        return mav.VIDEO_STREAM_STATUS_FLAGS_RUNNING if self.stream_running else 0

    def video_stream_information(self) -> Any:
        lens, c = self.config.lens, self.config
        return _tag(mav.MAVLink_video_stream_information_message(
            1,
            1,
            mav.VIDEO_STREAM_TYPE_RTPUDP,
            self._stream_flags(),
            float(c.fps),
            lens.width_px,
            lens.height_px,
            c.bitrate_bps,
            0,
            round(lens.hfov_deg),
            _text(MODEL, 32),
            _text(str(self.video_port), 160),
            mav.VIDEO_STREAM_ENCODING_H264,
            0,
        ), CAMERA)

    def video_stream_status(self) -> Any:
        lens, c = self.config.lens, self.config
        return _tag(mav.MAVLink_video_stream_status_message(
            1, self._stream_flags(), float(c.fps), lens.width_px, lens.height_px, c.bitrate_bps,
            0, round(lens.hfov_deg), 0,
        ), CAMERA)

    def capture_status(self) -> Any:
        image_status = 0
        if self._next_photo_s is not None:
            image_status = 3 if self._interval_left != 0 else 0
        return _tag(mav.MAVLink_camera_capture_status_message(
            self.vehicle.time_boot_ms(), image_status, 0, self._interval_s, 0, 10_000.0,
            self.image_count, 0,
        ), CAMERA)

    def camera_settings(self) -> Any:
        return _tag(mav.MAVLink_camera_settings_message(
            self.vehicle.time_boot_ms(), self.camera_mode, math.nan, math.nan, 0
        ), CAMERA)

    def storage_information(self) -> Any:
        return _tag(mav.MAVLink_storage_information_message(
            self.vehicle.time_boot_ms(), 1, 1, mav.STORAGE_STATUS_READY, 16_384.0,
            float(self.image_count), 16_384.0 - self.image_count, 90.0, 40.0,
            mav.STORAGE_TYPE_MICROSD, b"sim", 0,
        ), CAMERA)

    # ---- the tracker (camera tracking protocol) ---------------------------------------------

    def camera_pose(self) -> CameraPose:
        """The camera's pose in the vehicle's local frame (the true one, as the picture)."""
        n, e, d = self.vehicle_ned()
        return CameraPose(n, e, d, (self.heading_deg() + self.gimbal.yaw_deg) % 360.0,
                          self.gimbal.pitch_deg)

    def seen(self) -> list[Any]:
        """The actors in the picture now (sitl.camera.tracker.Seen)."""
        s = self.vehicle.state
        ground_d = s.frame.alt0_m - s.home.alt_amsl_m
        scenes = []
        for k, (lat, lon) in enumerate(self.scenes()):
            n0, e0, _ = s.frame.to_ned(lat, lon, s.home.alt_amsl_m)
            scenes.append(((n0, e0, ground_d), self.crowd.at_scene(s.sim_time_s, k, lat, lon)))
        return visible(self.config.lens, self.camera_pose(), scenes)

    def _track(self, cmd: int, p: list[float], out: list[Any]) -> int:
        if cmd == mav.MAV_CMD_CAMERA_TRACK_POINT:
            sel = Selection(TrackingMode.POINT, p[0], p[1], p[2] if math.isfinite(p[2]) else 0.0)
        else:
            sel = Selection(TrackingMode.RECTANGLE, p[0], p[1], 0.0, p[2], p[3])
        now = self.vehicle.state.sim_time_s
        why = self.tracker.start(sel, self.seen(), now)
        out.extend(self._tracking_statuses())
        if why is not None:
            out.append(_camera_text(why))
            return self._refuse(DENIED, why)
        self._tracker_due_s = now + TRACKER_PERIOD_S
        self._tracking_next.clear()
        target = self.tracker.predicted_ned(now)
        if target is not None:
            self.gimbal.look_at(target)
        return ACCEPTED

    def _tracking_statuses(self) -> list[Any]:
        return [self._tracking_status(mid) for mid in TRACKING_MESSAGES]

    def _tracking_status(self, mid: int) -> Any:
        if mid == mav.MAVLINK_MSG_ID_CAMERA_TRACKING_IMAGE_STATUS:
            return self.tracking_image_status()
        return self.tracking_geo_status()

    def tracking_image_status(self) -> Any:
        """CAMERA_TRACKING_IMAGE_STATUS: where the target is in the picture (0..1), NaN when
        not tracking or not in sight."""
        tr, nan = self.tracker, math.nan
        lens = self.config.lens
        box = (nan, nan, nan, nan)
        if tr.key is not None and tr.in_sight and tr.last is not None:
            left, top, right, bottom = tr.last.box
            w, h = lens.width_px, lens.height_px
            box = (max(left, 0.0) / w, max(top, 0.0) / h, min(right, w) / w, min(bottom, h) / h)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        radius = (box[2] - box[0]) / 2 if tr.mode is TrackingMode.POINT else nan
        data = mav.CAMERA_TRACKING_TARGET_DATA_IN_STATUS if tr.key is not None else 0
        return _tag(mav.MAVLink_camera_tracking_image_status_message(
            int(tr.status), int(tr.mode), data, cx, cy, radius, *box, 0), CAMERA)

    def tracking_geo_status(self) -> Any:
        """CAMERA_TRACKING_GEO_STATUS: the target's position (its last sighting, predicted to
        now), velocity, distance from the camera and heading."""
        tr, nan = self.tracker, math.nan
        s = self.vehicle.state
        target = tr.predicted_ned(s.sim_time_s)
        if target is None:
            return _tag(mav.MAVLink_camera_tracking_geo_status_message(
                int(TrackingStatus.IDLE), 0, 0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan,
                0), CAMERA)
        lat, lon, alt = s.frame.to_global(*target)
        vn, ve, vd = tr.velocity_ned
        n, e, d = self.vehicle_ned()
        dist = math.dist((n, e, d), target)
        hdg = math.atan2(ve, vn) if math.hypot(vn, ve) > 0.5 else nan
        return _tag(mav.MAVLink_camera_tracking_geo_status_message(
            int(tr.status), round(lat * 1e7), round(lon * 1e7), alt, 1.0, nan, vn, ve, vd, 0.5,
            dist, hdg, nan, 0), CAMERA)

    # ---- the gimbal device (component 154) ---------------------------------------------------

    def _device_command(self, msg: Any) -> list[Any]:
        p = _params(msg)
        out: list[Any] = []
        if msg.command == mav.MAV_CMD_REQUEST_MESSAGE:
            what = _int(p[0], -1)
            if what == mav.MAVLINK_MSG_ID_GIMBAL_DEVICE_INFORMATION:
                out.append(self.device_information())
                result = ACCEPTED
            elif what == mav.MAVLINK_MSG_ID_GIMBAL_DEVICE_ATTITUDE_STATUS:
                out.append(self.device_attitude_status())
                result = ACCEPTED
            else:
                result = self._refuse(DENIED, f"gimbal device has no message {p[0]}")
        else:
            result = self._refuse(UNSUPPORTED, f"gimbal device command {msg.command}")
        return [_ack(msg, result, GIMBAL), *out]

    def device_information(self) -> Any:
        r = math.radians
        return _tag(mav.MAVLink_gimbal_device_information_message(
            self.vehicle.time_boot_ms(), _text(VENDOR, 32), _text(GIMBAL_MODEL, 32), b"",
            1, 1, 0,
            mav.GIMBAL_DEVICE_CAP_FLAGS_HAS_NEUTRAL | mav.GIMBAL_DEVICE_CAP_FLAGS_HAS_PITCH_AXIS
            | mav.GIMBAL_DEVICE_CAP_FLAGS_HAS_PITCH_LOCK | mav.GIMBAL_DEVICE_CAP_FLAGS_HAS_YAW_AXIS
            | mav.GIMBAL_DEVICE_CAP_FLAGS_HAS_YAW_FOLLOW | mav.GIMBAL_DEVICE_CAP_FLAGS_HAS_YAW_LOCK,
            0, 0.0, 0.0, r(PITCH_MIN_DEG), r(PITCH_MAX_DEG), -math.pi, math.pi, 0, 0,
        ), GIMBAL)

    def device_attitude_status(self) -> Any:
        g = self.gimbal
        flags = DEVICE_FLAGS | mav.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
        if g.mode is GimbalMode.NEUTRAL:
            flags |= mav.GIMBAL_DEVICE_FLAGS_NEUTRAL
        return _tag(mav.MAVLink_gimbal_device_attitude_status_message(
            0, 0, self.vehicle.time_boot_ms(), flags,
            list(euler_to_quaternion(0.0, g.pitch_deg, g.yaw_deg)),
            0.0, math.radians(g.pitch_rate_now_deg_s), math.radians(g.yaw_rate_now_deg_s),
            0, math.radians(wrap180(self.heading_deg())), math.nan, 0,  # delta_yaw: heading
        ), GIMBAL)

    # ---- the gimbal manager (the autopilot, component 1) ---------------------------------------

    def manager_information(self) -> Any:
        r = math.radians
        return _tag(mav.MAVLink_gimbal_manager_information_message(
            self.vehicle.time_boot_ms(), MANAGER_CAPS, GIMBAL, 0.0, 0.0, r(PITCH_MIN_DEG),
            r(PITCH_MAX_DEG), -math.pi, math.pi,
        ), AUTOPILOT)

    def manager_status(self) -> Any:
        g = self.gimbal
        flags = DEVICE_FLAGS | (mav.GIMBAL_MANAGER_FLAGS_YAW_LOCK if g.yaw_lock else 0)
        return _tag(mav.MAVLink_gimbal_manager_status_message(
            self.vehicle.time_boot_ms(), flags, GIMBAL, *self.primary_control,
            *self.secondary_control,
        ), AUTOPILOT)

    def _manager_command(self, msg: Any) -> list[Any] | None:
        cmd = msg.command
        p = _params(msg)
        if cmd == mav.MAV_CMD_REQUEST_MESSAGE and _int(p[0], -1) in MANAGER_MESSAGES:
            what = _int(p[0], -1)
            reply = (self.manager_information()
                     if what == mav.MAVLINK_MSG_ID_GIMBAL_MANAGER_INFORMATION
                     else self.manager_status())
            return [_ack(msg, ACCEPTED, AUTOPILOT), reply]
        if cmd == mav.MAV_CMD_DO_SET_ROI_LOCATION:
            return self._roi(msg, p)
        if cmd == mav.MAV_CMD_DO_SET_ROI_NONE:
            if not self._device_ok(p[0]):
                return [_ack(msg, self._refuse(DENIED, f"no gimbal {p[0]}"), AUTOPILOT)]
            self.gimbal.neutral()
            return None  # the autopilot acknowledges and stops yawing to the ROI
        if cmd == mav.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW:
            return [_ack(msg, self._pitchyaw(msg, p), AUTOPILOT)]
        if cmd == mav.MAV_CMD_DO_GIMBAL_MANAGER_CONFIGURE:
            return [_ack(msg, self._configure(msg, p), AUTOPILOT)]
        return None

    def _device_ok(self, device_id: float) -> bool:
        """Gimbal device ids a command may name: 0 (all), 1 (the first), ours."""
        return not math.isfinite(device_id) or _int(device_id, 0) in (0, 1, GIMBAL)

    def _roi(self, msg: Any, p: list[float]) -> list[Any] | None:
        # z is AMSL whatever the frame: PX4 copies COMMAND_INT z to param7 and its gimbal reads
        # it as AMSL, and MAVSDK's set_roi_location sends an AMSL altitude in frame 3.
        if msg.id == mav.MAVLINK_MSG_ID_COMMAND_INT:
            lat, lon, alt = msg.x * 1e-7, msg.y * 1e-7, msg.z
        else:
            lat, lon, alt = p[4], p[5], p[6]
        if not self._device_ok(p[0]):
            return [_ack(msg, self._refuse(DENIED, f"no gimbal {p[0]}"), AUTOPILOT)]
        if not _valid_latlon(lat, lon) or (lat == 0 and lon == 0):
            return [_ack(msg, self._refuse(DENIED, f"ROI {lat}, {lon} is not a position"),
                         AUTOPILOT)]
        s = self.vehicle.state
        alt_amsl = alt if math.isfinite(alt) else s.home.alt_amsl_m  # NaN: on the ground
        self.gimbal.look_at(s.frame.to_ned(lat, lon, alt_amsl))
        if self.tracker.key is None:
            # The scene (its marker, crowd and getaways) is anchored on the ROI. Not while the
            # tracker holds a lock: re-anchoring would move the locked actor with the scene (a
            # ROI one street away put the geo status a block off the car).
            self.incident = (lat, lon)
        return None  # the autopilot acknowledges (and yaws to it, as PX4 does in missions)

    def _pitchyaw(self, msg: Any, p: list[float]) -> int:
        pitch, yaw, pitch_rate, yaw_rate, flags, device = p[0], p[1], p[2], p[3], p[4], p[6]
        if msg.id == mav.MAVLINK_MSG_ID_COMMAND_INT:
            flags, device = float(msg.x), msg.z
        if not self._device_ok(device):
            return self._refuse(DENIED, f"no gimbal {device}")
        lock = bool(_int(flags, 0) & mav.GIMBAL_MANAGER_FLAGS_YAW_LOCK)
        return self._apply(pitch, yaw, pitch_rate, yaw_rate, lock)

    def _apply(
        self, pitch: float, yaw: float, pitch_rate: float, yaw_rate: float, lock: bool
    ) -> int:
        g = self.gimbal
        try:
            if math.isfinite(pitch) or math.isfinite(yaw):
                lo, hi = PITCH_MIN_DEG - 1e-3, PITCH_MAX_DEG + 1e-3
                if math.isfinite(pitch) and not lo <= pitch <= hi:
                    return self._refuse(DENIED, f"pitch {pitch} outside -90..30 deg")
                if math.isfinite(yaw) and not -360.0 <= yaw <= 360.0:
                    return self._refuse(DENIED, f"yaw {yaw} outside -360..360 deg")
                p = pitch if math.isfinite(pitch) else g.pitch_deg
                here = g.yaw_deg + (self.heading_deg() if lock else 0.0)
                y = yaw if math.isfinite(yaw) else here
                g.point(p, y, lock)
            elif math.isfinite(pitch_rate) or math.isfinite(yaw_rate):
                g.rates(pitch_rate if math.isfinite(pitch_rate) else 0.0,
                        yaw_rate if math.isfinite(yaw_rate) else 0.0)
            else:
                return self._refuse(DENIED, "pitch/yaw command without angles or rates")
        except ValueError as exc:
            return self._refuse(DENIED, str(exc))
        return ACCEPTED

    def _set_pitchyaw_message(self, msg: Any) -> None:
        if not self._device_ok(msg.gimbal_device_id):
            return
        lock = bool(msg.flags & mav.GIMBAL_MANAGER_FLAGS_YAW_LOCK)
        d = math.degrees
        self._apply(d(msg.pitch), d(msg.yaw), d(msg.pitch_rate), d(msg.yaw_rate), lock)

    def _set_attitude_message(self, msg: Any) -> None:
        if not self._device_ok(msg.gimbal_device_id):
            return
        q = tuple(float(x) for x in msg.q)
        lock = bool(msg.flags & mav.GIMBAL_MANAGER_FLAGS_YAW_LOCK)
        unit = len(q) == 4 and all(math.isfinite(x) for x in q)
        if unit and abs(sum(x * x for x in q) - 1) < 0.1:
            _, pitch, yaw = quaternion_to_euler((q[0], q[1], q[2], q[3]))
            self._apply(pitch, yaw, math.nan, math.nan, lock)
        else:
            d = math.degrees
            self._apply(math.nan, math.nan, d(msg.angular_velocity_y), d(msg.angular_velocity_z),
                        lock)

    def _configure(self, msg: Any, p: list[float]) -> int:
        if not self._device_ok(p[6]):
            return self._refuse(DENIED, f"no gimbal {p[6]}")
        sender = (msg.get_srcSystem(), msg.get_srcComponent())
        new = []
        for cur, sys_p, comp_p in ((self.primary_control, p[0], p[1]),
                                   (self.secondary_control, p[2], p[3])):
            s, c = _int(sys_p, -1), _int(comp_p, -1)
            if s == -1 and c == -1:
                new.append(cur)  # leave unchanged
            elif s == -2 or c == -2:
                new.append(sender)  # set itself in control
            elif s == -3 or c == -3:
                new.append((0, 0) if cur == sender else cur)  # release if in control
            elif 0 <= s <= 255 and 0 <= c <= 255:
                new.append((s, c))
            else:
                return self._refuse(DENIED, f"bad control ids {sys_p}/{comp_p}")
        self.primary_control, self.secondary_control = new[0], new[1]
        self._outbox.append(self.manager_status())
        return ACCEPTED

    # ---- helpers ---------------------------------------------------------------------------

    def _refuse(self, result: int, why: str) -> int:
        self.errors.append(why)
        del self.errors[:-20]
        return result

    def _due(self, name: str, now_s: float) -> bool:
        t = self._next_due.get(name)
        if t is not None and now_s < t:
            return False
        period = 1.0 / RATES_HZ[name]
        self._next_due[name] = now_s + period if t is None or now_s - t > period else t + period
        return True


def _camera_text(text: str) -> Any:
    return _tag(mav.MAVLink_statustext_message(mav.MAV_SEVERITY_WARNING, _text(text, 50), 0, 0),
                CAMERA)


def _params(msg: Any) -> list[float]:
    """param1..7 of a COMMAND_LONG; for a COMMAND_INT, x/y as degrees and z as param 5..7."""
    if msg.id == mav.MAVLINK_MSG_ID_COMMAND_INT:
        return [msg.param1, msg.param2, msg.param3, msg.param4, msg.x * 1e-7, msg.y * 1e-7,
                msg.z]
    return [msg.param1, msg.param2, msg.param3, msg.param4, msg.param5, msg.param6, msg.param7]


def _int(x: float, default: int) -> int:
    return round(x) if math.isfinite(x) and abs(x) < 2**31 else default


def _ack(msg: Any, result: int, comp: int) -> Any:
    return _tag(mav.MAVLink_command_ack_message(
        msg.command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
    ), comp)
