"""A stabilised two-axis gimbal (pitch, yaw) as PX4's gimbal manager drives it: angles, rates or
a region of interest, slew-rate limited, in simulated seconds. Pure.

Pitch is earth-frame (0 horizon, -90 straight down, limits -90..+30); yaw is relative to the
vehicle's heading ("follow") unless locked to an earth-frame heading. A ROI recomputes both
angles every step from where the vehicle is, so the camera stays on the point as the vehicle
moves and turns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from sitl.camera.lens import look_angles

PITCH_MIN_DEG = -90.0
PITCH_MAX_DEG = 30.0
SLEW_DEG_S = 90.0
RATE_MAX_DEG_S = 90.0


class GimbalMode(Enum):
    NEUTRAL = "neutral"  # pitch 0, yaw 0 (PX4's neutral)
    ANGLES = "angles"
    RATES = "rates"
    ROI = "roi"


def wrap180(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def clamp_pitch(deg: float) -> float:
    return max(PITCH_MIN_DEG, min(PITCH_MAX_DEG, deg))


@dataclass(slots=True)
class Gimbal:
    """Current and commanded angles. ``roi_ned`` is a point in the vehicle's local NED frame."""

    pitch_deg: float = 0.0
    yaw_deg: float = 0.0  # relative to the vehicle's heading
    mode: GimbalMode = GimbalMode.NEUTRAL
    target_pitch_deg: float = 0.0
    target_yaw_deg: float = 0.0
    yaw_lock: bool = False  # target_yaw_deg is earth-frame (heading) when locked
    pitch_rate_deg_s: float = 0.0
    yaw_rate_deg_s: float = 0.0
    roi_ned: tuple[float, float, float] | None = None
    pitch_rate_now_deg_s: float = 0.0
    yaw_rate_now_deg_s: float = 0.0

    def point(self, pitch_deg: float, yaw_deg: float, yaw_lock: bool = False) -> None:
        """Go to angles (pitch earth-frame; yaw relative, or earth-frame with yaw_lock)."""
        if not (math.isfinite(pitch_deg) and math.isfinite(yaw_deg)):
            raise ValueError("gimbal angles must be finite")
        self.mode = GimbalMode.ANGLES
        self.target_pitch_deg = clamp_pitch(pitch_deg)
        self.target_yaw_deg = wrap180(yaw_deg)
        self.yaw_lock = yaw_lock
        self.roi_ned = None

    def rates(self, pitch_rate_deg_s: float, yaw_rate_deg_s: float) -> None:
        if not (math.isfinite(pitch_rate_deg_s) and math.isfinite(yaw_rate_deg_s)):
            raise ValueError("gimbal rates must be finite")
        self.mode = GimbalMode.RATES
        lim = RATE_MAX_DEG_S
        self.pitch_rate_deg_s = max(-lim, min(lim, pitch_rate_deg_s))
        self.yaw_rate_deg_s = max(-lim, min(lim, yaw_rate_deg_s))
        self.roi_ned = None

    def look_at(self, roi_ned: tuple[float, float, float]) -> None:
        self.mode = GimbalMode.ROI
        self.roi_ned = roi_ned

    def neutral(self) -> None:
        self.mode = GimbalMode.NEUTRAL
        self.roi_ned = None

    def targets(self, vehicle_ned: tuple[float, float, float], heading_deg: float) -> tuple[
        float, float
    ]:
        """(pitch, relative yaw) the gimbal is heading for now."""
        if self.mode is GimbalMode.ROI and self.roi_ned is not None:
            hdg, pitch = look_angles(vehicle_ned, self.roi_ned)
            return clamp_pitch(pitch), wrap180(hdg - heading_deg)
        if self.mode is GimbalMode.ANGLES:
            yaw = self.target_yaw_deg - heading_deg if self.yaw_lock else self.target_yaw_deg
            return self.target_pitch_deg, wrap180(yaw)
        if self.mode is GimbalMode.RATES:
            return self.pitch_deg, self.yaw_deg
        return 0.0, 0.0

    def step(
        self, dt_s: float, vehicle_ned: tuple[float, float, float], heading_deg: float
    ) -> None:
        """Slew toward the targets by at most SLEW_DEG_S * dt_s per axis."""
        if dt_s <= 0:
            return
        p0, y0 = self.pitch_deg, self.yaw_deg
        if self.mode is GimbalMode.RATES:
            self.pitch_deg = clamp_pitch(self.pitch_deg + self.pitch_rate_deg_s * dt_s)
            self.yaw_deg = wrap180(self.yaw_deg + self.yaw_rate_deg_s * dt_s)
        else:
            tp, ty = self.targets(vehicle_ned, heading_deg)
            step = SLEW_DEG_S * dt_s
            self.pitch_deg += max(-step, min(step, tp - self.pitch_deg))
            self.yaw_deg = wrap180(self.yaw_deg + max(-step, min(step, wrap180(ty - self.yaw_deg))))
        self.pitch_rate_now_deg_s = (self.pitch_deg - p0) / dt_s
        self.yaw_rate_now_deg_s = wrap180(self.yaw_deg - y0) / dt_s


def euler_to_quaternion(
    roll_deg: float, pitch_deg: float, yaw_deg: float
) -> tuple[float, float, float, float]:
    """(w, x, y, z) of a ZYX (yaw, pitch, roll) rotation, as mavlink_euler_to_quaternion."""
    r, p, y = (math.radians(a) / 2 for a in (roll_deg, pitch_deg, yaw_deg))
    cr, sr, cp, sp = math.cos(r), math.sin(r), math.cos(p), math.sin(p)
    cy, sy = math.cos(y), math.sin(y)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


def quaternion_to_euler(q: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(roll, pitch, yaw) in degrees of a (w, x, y, z) quaternion."""
    w, x, y, z = q
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    sinp = max(-1.0, min(1.0, 2 * (w * y - z * x)))
    pitch = math.asin(sinp)
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return math.degrees(roll), math.degrees(pitch), math.degrees(yaw)
