"""What the controller needs from a drone, independent of MAVSDK.

:class:`VehicleLink` is the typed interface between the controller and the vehicle adapter
(``adapters.mavsdk_link``, the only module that imports mavsdk). Telemetry is read as the
latest sample (:class:`VehicleSample`), never as a queue, so a slow consumer never falls behind.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from missions.plan import MavlinkItem


class FlightMode(enum.StrEnum):
    """PX4 flight modes as MAVSDK names them."""

    UNKNOWN = "UNKNOWN"
    READY = "READY"
    TAKEOFF = "TAKEOFF"
    HOLD = "HOLD"
    MISSION = "MISSION"
    RETURN_TO_LAUNCH = "RETURN_TO_LAUNCH"
    LAND = "LAND"
    OFFBOARD = "OFFBOARD"
    FOLLOW_ME = "FOLLOW_ME"
    MANUAL = "MANUAL"
    ALTCTL = "ALTCTL"
    POSCTL = "POSCTL"
    ACRO = "ACRO"
    STABILIZED = "STABILIZED"
    RATTITUDE = "RATTITUDE"


@dataclass(frozen=True, slots=True)
class VehicleSample:
    """The latest known state of a vehicle. ``updated_s`` is the monotonic time of the newest
    position update; ``connected`` follows MAVSDK's heartbeat tracking."""

    lat_deg: float = math.nan
    lon_deg: float = math.nan
    alt_rel_m: float = math.nan
    alt_amsl_m: float = math.nan
    heading_deg: float = 0.0
    ground_speed_m_s: float = 0.0
    climb_m_s: float = 0.0
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    battery_pct: float = math.nan
    battery_v: float = math.nan
    flight_mode: FlightMode = FlightMode.UNKNOWN
    armed: bool = False
    in_air: bool = False
    gps_fix: int = 0
    satellites: int = 0
    global_position_ok: bool = False
    home_position_ok: bool = False
    armable: bool = False
    home_lat_deg: float = math.nan
    home_lon_deg: float = math.nan
    home_alt_amsl_m: float = math.nan
    connected: bool = False
    updated_s: float = 0.0
    state_known: bool = False
    """True once armed, in-air and health have been heard: until then they are defaults, not
    facts, and a controller that has just (re)started must not conclude that a flying drone
    has landed or lost its GPS."""

    @property
    def has_position(self) -> bool:
        return math.isfinite(self.lat_deg) and math.isfinite(self.lon_deg)


@dataclass(frozen=True, slots=True)
class AdsbReport:
    """One ADSB_VEHICLE a drone's own receiver sent (``TrafficReceivers``)."""

    icao_address: int
    callsign: str
    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    heading_deg: float
    speed_m_s: float
    climb_m_s: float
    emitter_type: int
    received_s: float  # monotonic


class TrafficReceivers(Protocol):
    """The drones' ADS-B receivers (``groundstation.control.trafficctl``)."""

    def adsb_reports(self, drone_id: str) -> list[AdsbReport]:
        """The reports heard since the last call (bounded; oldest dropped)."""


@dataclass(frozen=True, slots=True)
class GeofencePolygon:
    """A fence polygon for the vehicle: inclusion (stay inside) or exclusion (stay out)."""

    points: tuple[tuple[float, float], ...]  # (lat_deg, lon_deg)
    inclusion: bool


class VehicleLink(Protocol):
    """One drone as the controller sees it. Every command raises VehicleError on failure."""

    drone_id: str
    system_id: int

    def sample(self) -> VehicleSample: ...
    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """``listener`` is called (on the adapter's own thread) after every new position."""

    async def set_position_rate(self, rate_hz: float) -> None: ...
    async def arm(self) -> None: ...
    async def takeoff(self, alt_rel_m: float) -> None: ...
    async def goto(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None: ...
    async def orbit(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float, radius_m: float, speed_m_s: float
    ) -> None: ...
    async def hold(self) -> None: ...
    async def land(self) -> None: ...
    async def return_to_launch(self) -> None: ...
    async def set_speed(self, speed_m_s: float) -> None: ...
    async def set_params(self, params: Mapping[str, float | int]) -> None: ...
    async def upload_geofence(self, polygons: list[GeofencePolygon]) -> None: ...
    async def fly_mission(self, items: list[MavlinkItem]) -> None: ...


class Fleet(Protocol):
    """All the vehicles a controller drives."""

    def get(self, drone_id: str) -> VehicleLink | None: ...
    def links(self) -> list[VehicleLink]: ...


# --- camera and gimbal ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One video stream a camera advertises (VIDEO_STREAM_INFORMATION as MAVSDK reads it).
    ``uri`` is as sent: for RTP over UDP the port number as text (QGroundControl's reading)."""

    stream_id: int
    uri: str
    width_px: int = 0
    height_px: int = 0
    fps: float = 0.0
    bitrate_kbps: int = 0
    hfov_deg: float = 0.0
    running: bool = False


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A camera component found on a drone (CAMERA_INFORMATION and its streams)."""

    component_id: int
    vendor: str
    model: str
    width_px: int = 0
    height_px: int = 0
    hfov_deg: float = 0.0
    """From the focal length and sensor width (0 when the camera does not say)."""
    streams: tuple[StreamInfo, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.vendor} {self.model}".strip() or f"camera {self.component_id}"


@dataclass(frozen=True, slots=True)
class Photo:
    """The capture result of one still (CAMERA_IMAGE_CAPTURED): where and when it was taken."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    alt_rel_m: float
    taken_ms: int
    index: int
    file_url: str


@dataclass(frozen=True, slots=True)
class GimbalAttitude:
    """The gimbal as last reported: pitch (down negative) and yaw relative to the vehicle's
    heading; ``updated_s`` is the monotonic time of the report."""

    pitch_deg: float
    yaw_deg: float
    updated_s: float


class CameraLink(Protocol):
    """A drone's camera and gimbal as the controller sees them. Commands raise VehicleError
    (VehicleTimeout when nothing answered) with the vehicle's reason; nothing blocks longer than
    its timeout."""

    drone_id: str

    async def camera_info(self, timeout_s: float) -> CameraInfo | None:
        """The drone's camera and its streams, or None when no camera answered in time."""
        ...

    async def take_photo(self, timeout_s: float) -> Photo: ...
    async def gimbal_roi(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None: ...
    async def gimbal_roi_none(self) -> None: ...
    async def gimbal_pitch_yaw(self, pitch_deg: float, yaw_deg: float) -> None: ...
    def gimbal_attitude(self) -> GimbalAttitude | None: ...


class CameraFleet(Protocol):
    """The cameras of all the vehicles a controller drives."""

    def camera(self, drone_id: str) -> CameraLink | None: ...


# --- following a moving target (PX4 Follow Target; the camera's tracker) ----------------------


@dataclass(frozen=True, slots=True)
class FollowConfig:
    """PX4's Follow Target settings (FLW_TGT_HT, _DST, _FA, _RS, _MAX_VEL; the altitude mode is
    constant height above home)."""

    height_m: float
    distance_m: float
    angle_deg: float
    responsiveness: float
    max_vel_m_s: float


@dataclass(frozen=True, slots=True)
class FollowTarget:
    """One target position for Follow Target (FOLLOW_TARGET): NaN for anything unknown."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float
    vel_n_m_s: float
    vel_e_m_s: float
    vel_d_m_s: float


class FollowLink(Protocol):
    """A drone's Follow Target mode. Commands raise VehicleError with the vehicle's reason."""

    drone_id: str

    async def follow_start(self, config: FollowConfig) -> None:
        """Configure and enter the mode (it refuses target positions until it is in it)."""
        ...

    async def follow_target(self, target: FollowTarget) -> None: ...
    async def follow_stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CameraTrack:
    """What a camera's tracker reports (CAMERA_TRACKING_GEO_STATUS and _IMAGE_STATUS):
    ``active`` False once it has lost the target or stopped. The box is in 0..1 of the picture
    from the top left; positions NaN when not reported. Times are monotonic."""

    active: bool
    lat_deg: float = math.nan
    lon_deg: float = math.nan
    alt_amsl_m: float = math.nan
    vel_n_m_s: float = math.nan
    vel_e_m_s: float = math.nan
    vel_d_m_s: float = math.nan
    geo_updated_s: float = 0.0
    box: tuple[float, float, float, float] | None = None
    image_updated_s: float = 0.0


class TrackerLink(Protocol):
    """A drone camera's own tracker (MAV_CMD_CAMERA_TRACK_POINT / STOP_TRACKING)."""

    drone_id: str

    async def track_point(self, x: float, y: float, radius: float) -> None: ...
    async def track_stop(self) -> None: ...
    def track_status(self) -> CameraTrack | None: ...


class FollowFleet(Protocol):
    """Follow Target and the camera trackers of all the vehicles a controller drives."""

    def follow(self, drone_id: str) -> FollowLink | None: ...
    def tracker(self, drone_id: str) -> TrackerLink | None: ...
