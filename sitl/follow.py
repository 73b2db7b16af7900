"""PX4's Follow Target flight mode (AUTO / FOLLOW_TARGET), as PX4 main a70a5583 flies it.

Pure and in simulated seconds. Three pieces, each PX4's own:

- :class:`TargetEstimator` (follow_target_estimator/TargetEstimator.cpp): an alpha-beta-gamma
  filter of the target's position, velocity and acceleration in the vehicle's local frame, gains
  from FLW_TGT_RS (clamped to 0.1..1); a FOLLOW_TARGET position is fused at most every 0.5 s (and
  only when it changed, or after 1 s), its velocity at most every 0.1 s and only when all three
  components are finite (NaN = unknown); after 3 s without a message the velocity and acceleration
  are zeroed, so the estimate stays at the last known point.
- :class:`SecondOrderFilter` (lib/mathlib SecondOrderReferenceModel, bilinear): the flight task
  smooths the estimate with natural frequency 1 rad/s and damping 0.7071.
- :class:`FollowTarget` (FlightTaskAutoFollowTarget.cpp): the drone's place is on a circle of
  FLW_TGT_DST around the smoothed target at the orbit angle = target course + FLW_TGT_FA, the
  angle moved by a jerk-limited trajectory (jerk 4 / distance, acceleration 2 / distance, rate
  FLW_TGT_MAX_VEL / distance); height FLW_TGT_HT above home (FLW_TGT_ALT_M 0 and 1, the terrain
  being flat at home) or above the target (2). While more than 3 m from that height the drone only
  climbs or descends; then it tracks the place with the target's velocity as feed-forward, facing
  the target. The course only changes while the target moves at >= 1 m/s.

PX4's position controller (MPC_XY_P 0.95, MPC_Z_P 1, speed limited to MPC_XY_VEL_MAX and
MPC_Z_VEL_MAX_UP/DN) turns that into the velocity the physics flies: :func:`velocity_command`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitl.params import Params
from sitl.physics import _jerk_limited, max_speed_from_distance, wrap_pi

STALE_S = 3.0  # GPS_MESSAGE_STALE_TIMEOUT_MS
POS_FUSION_MIN_S = 0.5  # MINIMUM_TIME_BETWEEN_POS_FUSIONS_MS
VEL_FUSION_MIN_S = 0.1  # MINIMUM_TIME_BETWEEN_VEL_FUSIONS_MS
ACC_SATURATION_M_S2 = 20.0
ALT_ACCEPTANCE_M = 3.0  # ALT_ACCEPTANCE_THRESHOLD: climb first, then move sideways
YAW_MIN_DISTANCE_M = 1.0
FILTER_NATURAL_FREQ = 1.0
FILTER_DAMPING = 0.7071
COURSE_DEADZONE_M_S = 1.0
ORBIT_MAX_JERK = 4.0
ORBIT_MAX_ACC = 2.0
XY_P = 0.95  # MPC_XY_P
Z_P = 1.0  # MPC_Z_P

Vec3 = tuple[float, float, float]


def _finite(v: Vec3) -> bool:
    return all(math.isfinite(x) for x in v)


def _add(a: Vec3, b: Vec3, k: float = 1.0) -> Vec3:
    return (a[0] + k * b[0], a[1] + k * b[1], a[2] + k * b[2])


@dataclass(frozen=True, slots=True)
class TargetFix:
    """One FOLLOW_TARGET message as PX4 reads it: local position (NED, m) and velocity (NaN =
    unknown), stamped with the vehicle's time of arrival."""

    t_s: float
    pos: Vec3
    vel: Vec3


class TargetEstimator:
    """PX4's follow-target estimator (alpha-beta-gamma), in the vehicle's local frame."""

    def __init__(self) -> None:
        self.pos: Vec3 = (math.nan,) * 3
        self.vel: Vec3 = (math.nan,) * 3
        self.acc: Vec3 = (math.nan,) * 3
        self.last_msg_s: float | None = None
        self._last_pos_fusion_s = -math.inf  # never
        self._last_vel_fusion_s = -math.inf
        self._pos_old: Vec3 = (math.nan,) * 3
        self._vel_old: Vec3 = (math.nan,) * 3

    @property
    def valid(self) -> bool:
        return _finite(self.pos) and _finite(self.vel) and _finite(self.acc)

    def stale(self, now_s: float) -> bool:
        return self.last_msg_s is None or now_s - self.last_msg_s >= STALE_S

    @staticmethod
    def gains(responsiveness: float) -> tuple[float, float, float, float, float]:
        """(G_p, H_p, K_p, G_v, H_v) from FLW_TGT_RS."""
        r = min(max(responsiveness, 0.1), 1.0)
        bp = r ** (1.0 / 3.0)
        bv = 0.9 * bp
        return (1.0 - bp**3, 1.5 * (1.0 - bp) ** 2 * (1.0 + bp), 0.5 * (1.0 - bp) ** 3,
                1.0 - bv * bv, (1.0 - bv) ** 2)

    def step(self, dt_s: float, now_s: float, fix: TargetFix | None, responsiveness: float) -> None:
        """One estimator cycle: predict dt_s, fuse ``fix`` when one arrived, zero the motion
        when stale."""
        if self.valid:
            self.pos = _add(_add(self.pos, self.vel, dt_s), self.acc, 0.5 * dt_s * dt_s)
            self.vel = _add(self.vel, self.acc, dt_s)
        if fix is not None and (self.last_msg_s is None or fix.t_s > self.last_msg_s) and (
                fix.t_s > self._last_pos_fusion_s):
            self._fuse(fix, now_s, responsiveness)
        if self.stale(now_s) and self.valid:
            self.vel = self.acc = (0.0, 0.0, 0.0)

    def _can_fuse(self, new: Vec3, old: Vec3, last_s: float, min_s: float, now_s: float) -> bool:
        changed = not _finite(old) or math.dist(new, old) > 2.0 * 1.19e-7
        return _finite(new) and now_s - last_s > min_s and (changed or now_s - last_s > 2 * min_s)

    def _fuse(self, fix: TargetFix, now_s: float, responsiveness: float) -> None:
        gp, hp, kp, gv, hv = self.gains(responsiveness)
        if self.last_msg_s is None:
            self.pos = fix.pos
            self.vel = fix.vel if _finite(fix.vel) else (0.0, 0.0, 0.0)
            self.acc = (0.0, 0.0, 0.0)
            self._pos_old, self._vel_old = fix.pos, fix.vel
        self.last_msg_s = fix.t_s
        if self._can_fuse(fix.pos, self._pos_old, self._last_pos_fusion_s, POS_FUSION_MIN_S,
                          now_s):
            dt = min(max(fix.t_s - self._last_pos_fusion_s, 1e-3), 20.0)
            self._last_pos_fusion_s = fix.t_s
            inn = _add(fix.pos, self.pos, -1.0)
            self.pos = _add(self.pos, inn, gp)
            self.vel = _add(self.vel, inn, hp / dt)
            self.acc = _add(self.acc, inn, 2.0 * kp / (dt * dt))
            self._pos_old = fix.pos
        if self._can_fuse(fix.vel, self._vel_old, self._last_vel_fusion_s, VEL_FUSION_MIN_S,
                          now_s):
            dt = min(max(fix.t_s - self._last_vel_fusion_s, 1e-3), 20.0)
            self._last_vel_fusion_s = fix.t_s
            inn = _add(fix.vel, self.vel, -1.0)
            self.vel = _add(self.vel, inn, gv)
            self.acc = _add(self.acc, inn, hv / dt)
            self._vel_old = fix.vel
        a = math.sqrt(sum(x * x for x in self.acc))
        if a > ACC_SATURATION_M_S2:
            self.acc = _add((0.0, 0.0, 0.0), self.acc, ACC_SATURATION_M_S2 / a)


class SecondOrderFilter:
    """PX4's SecondOrderReferenceModel (bilinear discretisation) on a 3-vector."""

    def __init__(self, natural_freq: float = FILTER_NATURAL_FREQ,
                 damping: float = FILTER_DAMPING) -> None:
        self.kx = natural_freq * natural_freq
        self.kv = 2.0 * damping * natural_freq
        z2 = damping * damping
        cutoff = natural_freq * math.sqrt(1.0 - 2.0 * z2 + math.sqrt(4.0 * z2 * z2 - 4.0 * z2
                                                                      + 2.0))
        self.max_dt_s = 2.0 * math.pi / (cutoff * 4.0)
        self.state: Vec3 = (math.nan,) * 3
        self.rate: Vec3 = (math.nan,) * 3
        self._last_state: Vec3 = self.state
        self._last_rate: Vec3 = self.rate

    def reset(self, state: Vec3, rate: Vec3) -> None:
        self.state, self.rate = state, rate
        self._last_state, self._last_rate = state, rate

    def update(self, dt_s: float, state: Vec3, rate: Vec3) -> None:
        if dt_s > self.max_dt_s or dt_s < 0:
            self.reset(state, rate)
            return
        kx, kv, t = self.kx, self.kv, dt_s
        inv = 1.0 / (0.25 * kx * t * t + 0.5 * kv * t + 1.0)
        a00 = (-0.25 * kx * t * t + 0.5 * kv * t + 1.0) * inv
        a01 = t * inv
        a10 = -kx * t * inv
        a11 = (-0.25 * kx * t * t - 0.5 * kv * t + 1.0) * inv
        b00, b01 = 0.5 * kx * t * t * inv, 0.5 * kv * t * t * inv
        b10, b11 = kx * t * inv, kv * t * inv
        xs, vs, ls, lr = self.state, self.rate, self._last_state, self._last_rate
        self.state = tuple(a00 * xs[i] + a01 * vs[i] + b00 * ls[i] + b01 * lr[i]
                           for i in range(3))  # type: ignore[assignment]
        self.rate = tuple(a10 * xs[i] + a11 * vs[i] + b10 * ls[i] + b11 * lr[i]
                          for i in range(3))  # type: ignore[assignment]
        self._last_state, self._last_rate = state, rate


@dataclass(slots=True)
class FollowSetpoint:
    """What the flight task asks of the position controller: a position (NaN = none) with a
    velocity feed-forward, and a heading (None = keep)."""

    pos: Vec3
    vel_ff: Vec3
    yaw_rad: float | None


class FollowTarget:
    """PX4's FlightTaskAutoFollowTarget and its estimator, for one activation of the mode."""

    def __init__(self, home_down_m: float, yaw_rad: float) -> None:
        self.estimator = TargetEstimator()
        self.filter = SecondOrderFilter()
        self.home_down_m = home_down_m
        self.yaw_rad = yaw_rad
        self.course_rad = 0.0
        self.orbit_rad = 0.0  # PX4 starts the orbit angle at 0 (north of the target)
        self.orbit_rate = 0.0
        self.orbit_acc = 0.0
        self.vel_ff: Vec3 = (0.0, 0.0, 0.0)
        self._fix: TargetFix | None = None
        self.desired: Vec3 | None = None  # the drone's place (for tests and telemetry)

    def on_target(self, fix: TargetFix) -> None:
        """A FOLLOW_TARGET arrived (fused at the next step, as PX4's estimator does)."""
        self._fix = fix

    def step(self, dt_s: float, now_s: float, here: Vec3, p: Params) -> FollowSetpoint:
        est = self.estimator
        est.step(dt_s, now_s, self._fix, p.get("FLW_TGT_RS"))
        self._fix = None
        if not est.valid:  # no target yet: stay where it is
            self.desired = None
            return FollowSetpoint((math.nan, math.nan, math.nan), (0.0, 0.0, 0.0), None)
        f = self.filter
        if not (_finite(f.state) and _finite(f.rate)):
            f.reset(est.pos, est.vel)
        else:
            f.update(dt_s, est.pos, est.vel)
        tpos, tvel = f.state, f.rate
        dist = max(p.get("FLW_TGT_DST"), 1e-3)
        if math.hypot(tvel[0], tvel[1]) >= COURSE_DEADZONE_M_S and math.hypot(
                est.vel[0], est.vel[1]) >= COURSE_DEADZONE_M_S:
            self.course_rad = math.atan2(tvel[1], tvel[0])
        self._orbit_step(dt_s, dist, p)
        th = self.orbit_rad
        height = p.get("FLW_TGT_HT")
        down = tpos[2] - height if p.get_int("FLW_TGT_ALT_M") == 2 else self.home_down_m - height
        desired = (tpos[0] + dist * math.cos(th), tpos[1] + dist * math.sin(th), down)
        self.desired = desired
        tangential = (-math.sin(th) * self.orbit_rate * dist, math.cos(th) * self.orbit_rate * dist)
        if abs(desired[2] - here[2]) < ALT_ACCEPTANCE_M:
            sp = FollowSetpoint(desired, (tangential[0] + tvel[0], tangential[1] + tvel[1], 0.0),
                                None)
            self.vel_ff = sp.vel_ff
        else:  # climb (or descend) to the follow height first, holding horizontally
            sp = FollowSetpoint((here[0], here[1], desired[2]), (0.0, 0.0, 0.0), None)
        dn, de = tpos[0] - here[0], tpos[1] - here[1]
        if math.hypot(dn, de) > YAW_MIN_DISTANCE_M:
            self.yaw_rad = math.atan2(de, dn)
        sp.yaw_rad = self.yaw_rad
        return sp

    def _orbit_step(self, dt_s: float, dist: float, p: Params) -> None:
        """The orbit angle's jerk-limited trajectory towards course + FLW_TGT_FA."""
        follow_angle = wrap_pi(math.radians(p.get("FLW_TGT_FA")))
        goal = self.orbit_rad + wrap_pi(self.course_rad + follow_angle - self.orbit_rad)
        remaining = goal - self.orbit_rad
        jerk, acc = ORBIT_MAX_JERK / dist, ORBIT_MAX_ACC / dist
        max_rate = p.get("FLW_TGT_MAX_VEL") / dist
        want = min(max_speed_from_distance(jerk, acc, abs(remaining), 0.0), max_rate)
        want = math.copysign(want, remaining) if abs(remaining) > 1e-6 else 0.0
        self.orbit_rate, self.orbit_acc = _jerk_limited(
            self.orbit_rate, self.orbit_acc, want, acc, jerk, dt_s)
        self.orbit_rad += self.orbit_rate * dt_s


def velocity_command(sp: FollowSetpoint, here: Vec3, p: Params) -> Vec3:
    """PX4's position controller: the velocity (NED, m/s) for a position and feed-forward,
    horizontal speed limited to MPC_XY_VEL_MAX with the feed-forward first, vertical to
    MPC_Z_VEL_MAX_UP / MPC_Z_VEL_MAX_DN."""
    if _finite(sp.pos):
        pn, pe = XY_P * (sp.pos[0] - here[0]), XY_P * (sp.pos[1] - here[1])
        vd = Z_P * (sp.pos[2] - here[2])
    else:
        pn = pe = vd = 0.0
    fn, fe = sp.vel_ff[0], sp.vel_ff[1]
    lim = p.get("MPC_XY_VEL_MAX")
    ff = math.hypot(fn, fe)
    if ff >= lim:
        fn, fe, pn, pe = fn * lim / ff, fe * lim / ff, 0.0, 0.0
    else:
        # ControlMath::constrainXY: keep the feed-forward, shorten the correction to fit
        vn, ve = fn + pn, fe + pe
        if math.hypot(vn, ve) > lim:
            k = _fit(fn, fe, pn, pe, lim)
            pn, pe = pn * k, pe * k
    vd = max(-p.get("MPC_Z_VEL_MAX_UP"), min(p.get("MPC_Z_VEL_MAX_DN"), vd))
    return (fn + pn, fe + pe, vd)


def _fit(fn: float, fe: float, pn: float, pe: float, lim: float) -> float:
    """The largest k in [0, 1] with |f + k p| <= lim (|f| < lim)."""
    a = pn * pn + pe * pe
    b = 2.0 * (fn * pn + fe * pe)
    c = fn * fn + fe * fe - lim * lim
    if a < 1e-12:
        return 0.0
    return max(0.0, min(1.0, (-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)))
