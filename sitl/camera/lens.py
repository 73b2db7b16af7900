"""The camera's geometry: a pinhole lens on a stabilised gimbal, looking at flat ground.

Frames: the world is north-east-down (NED) in metres around a local origin; the camera frame is
OpenCV's (x right, y down in the picture, z forward along the optical axis). The gimbal is
stabilised in roll and pitch, so the camera's orientation is only
``heading = vehicle yaw + gimbal yaw`` and ``pitch`` (0 = horizon, -90 = straight down).

Everything here is pure numpy: projecting a ground point to a pixel, a pixel back to the ground,
and the homography that maps a ground texture onto the picture (for cv2.warpPerspective).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Mat = NDArray[np.float64]

SENSOR_WIDTH_MM = 6.4  # a 1/2.3" class sensor, 16:9 crop


@dataclass(frozen=True, slots=True)
class Lens:
    """A pinhole lens: resolution and horizontal field of view (square pixels, centred)."""

    width_px: int = 1280
    height_px: int = 720
    hfov_deg: float = 80.0

    def __post_init__(self) -> None:
        if not (16 <= self.width_px <= 7680 and 16 <= self.height_px <= 4320):
            raise ValueError(f"resolution {self.width_px}x{self.height_px} out of range")
        if self.width_px % 2 or self.height_px % 2:
            raise ValueError("resolution must be even (H.264 4:2:0)")
        if not 1.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"horizontal FOV {self.hfov_deg} deg out of range 1..170")

    @property
    def focal_px(self) -> float:
        return self.width_px / 2 / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.height_px / 2 / self.focal_px))

    @property
    def sensor_width_mm(self) -> float:
        return SENSOR_WIDTH_MM

    @property
    def sensor_height_mm(self) -> float:
        return SENSOR_WIDTH_MM * self.height_px / self.width_px

    @property
    def focal_length_mm(self) -> float:
        """The focal length that gives hfov_deg on the sensor (CAMERA_INFORMATION)."""
        return SENSOR_WIDTH_MM / 2 / math.tan(math.radians(self.hfov_deg) / 2)

    def k(self) -> Mat:
        f = self.focal_px
        return np.array(
            [[f, 0.0, self.width_px / 2], [0.0, f, self.height_px / 2], [0.0, 0.0, 1.0]]
        )


@dataclass(frozen=True, slots=True)
class CameraPose:
    """Where the camera is (NED metres) and where it looks (degrees, NED)."""

    north_m: float
    east_m: float
    down_m: float
    heading_deg: float  # of the optical axis, clockwise from north
    pitch_deg: float  # of the optical axis, up positive, -90 straight down

    def rotation(self) -> Mat:
        """R such that p_camera = R @ (p_ned - camera position)."""
        y, p = math.radians(self.heading_deg), math.radians(self.pitch_deg)
        cy, sy, cp, sp = math.cos(y), math.sin(y), math.cos(p), math.sin(p)
        # rows: right, down (= forward x right), forward
        return np.array([[-sy, cy, 0.0], [sp * cy, sp * sy, cp], [cp * cy, cp * sy, -sp]])

    @property
    def position(self) -> Mat:
        return np.array([self.north_m, self.east_m, self.down_m])


def project(lens: Lens, pose: CameraPose, points_ned: Mat) -> tuple[Mat, NDArray[np.bool_]]:
    """Pixels (N x 2, u right, v down) of NED points (N x 3), and which lie in front."""
    pts = np.atleast_2d(np.asarray(points_ned, dtype=np.float64))
    cam = (pts - pose.position) @ pose.rotation().T
    z = cam[:, 2]
    front = z > 1e-3
    zs = np.where(front, z, 1.0)
    f = lens.focal_px
    uv = np.stack(
        [f * cam[:, 0] / zs + lens.width_px / 2, f * cam[:, 1] / zs + lens.height_px / 2], axis=1
    )
    return uv, front


def ground_point(
    lens: Lens, pose: CameraPose, u: float, v: float, ground_down_m: float = 0.0
) -> tuple[float, float] | None:
    """Where the ray through pixel (u, v) meets the ground (north, east), None above the horizon."""
    ray = pose.rotation().T @ np.linalg.solve(lens.k(), np.array([u, v, 1.0]))
    if ray[2] <= 1e-9:
        return None
    s = (ground_down_m - pose.down_m) / ray[2]
    if s <= 0:
        return None
    return float(pose.north_m + s * ray[0]), float(pose.east_m + s * ray[1])


def horizon(lens: Lens, pose: CameraPose) -> Mat:
    """(a, b, c): a pixel (u, v) sees the ground (below the horizon) where a*u + b*v + c > 0."""
    row = (pose.rotation().T @ np.linalg.inv(lens.k()))[2]
    return np.asarray(row, dtype=np.float64)


def ground_homography(lens: Lens, pose: CameraPose, plane_to_ned: Mat) -> Mat:
    """H mapping plane coordinates [x, y, 1] to homogeneous pixels, for the ground plane given by
    plane_to_ned (3x3: columns d/dx, d/dy and the origin, all in NED metres)."""
    m = plane_to_ned.copy()
    m[:, 2] = m[:, 2] - pose.position
    return np.asarray(lens.k() @ pose.rotation() @ m, dtype=np.float64)


def look_angles(
    from_ned: tuple[float, float, float], to_ned: tuple[float, float, float]
) -> tuple[float, float]:
    """(heading_deg, pitch_deg) of the line of sight from one NED point to another."""
    dn, de, dd = (t - f for t, f in zip(to_ned, from_ned, strict=True))
    horizontal = math.hypot(dn, de)
    heading = math.degrees(math.atan2(de, dn)) if horizontal > 1e-6 else 0.0
    pitch = math.degrees(math.atan2(-dd, horizontal)) if horizontal > 1e-6 or dd else 0.0
    return heading, pitch
