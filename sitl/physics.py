"""Point-mass multicopter physics in a local north-east-down frame, in simulated seconds.

The vehicle follows a setpoint the way PX4's trajectory generator and position controller do
(src/lib/motion_planning, FlightTaskAuto): the speed allowed at a distance from the target is PX4's
``computeMaxSpeedFromDistance`` (a jerk-limited brake to the speed wanted at the target), capped by
the cruise speed; the velocity follows it with the acceleration limited to MPC_ACC_HOR (horizontal)
or MPC_ACC_UP_MAX / MPC_ACC_DOWN_MAX and its rate of change to MPC_JERK_AUTO, so speed ramps up and
down smoothly as PX4's does. The yaw slews at MPC_YAWRAUTO_MAX. Wind is an Ornstein-Uhlenbeck gust
process around a seeded mean; it nudges the vehicle off its track a little, tilts it and costs
battery. The terrain is flat at the home altitude: ``down_m`` >= 0 is the ground.

Pure and deterministic: all randomness comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

GRAVITY_M_S2 = 9.81
# PX4 SIH's airframe: linear drag SIH_KDV 1 N/(m/s) on SIH_MASS 1 kg. At PX4's default 45 deg of
# tilt (thrust g tan 45 = 9.81 m/s^2 sideways) it tops out at 9.8 m/s, as measured (9.7-9.9).
DRAG_1_S = 1.0
EARTH_RADIUS_M = 6_371_008.8
ATTITUDE_TAU_S = 1.0 / 6.5  # MC_ROLL_P, MC_PITCH_P: the tilt follows its setpoint this late


def tilt_acc_m_s2(tilt_max_deg: float, thr_max: float, thr_hover: float) -> float:
    """The horizontal acceleration PX4's position controller may ask for: its tilt limit
    (ControlMath::limitTilt, MPC_TILTMAX_AIR) with the vertical holding g, and what the thrust
    (MPC_THR_MAX, hovering at MPC_THR_HOVER) has left after the vertical (PositionControl
    prioritises the vertical)."""
    tilt = math.radians(min(max(tilt_max_deg, 0.0), 89.0))
    ratio = thr_max / max(thr_hover, 1e-3)
    headroom = math.sqrt(ratio * ratio - 1.0) if ratio > 1.0 else 0.0
    return GRAVITY_M_S2 * min(math.tan(tilt), headroom)


@dataclass(frozen=True, slots=True)
class Home:
    """A vehicle's home (where it powers up): WGS84 degrees and metres above mean sea level."""

    lat_deg: float
    lon_deg: float
    alt_amsl_m: float


@dataclass(slots=True)
class LocalFrame:
    """Flat-earth conversion around an origin (PX4's EKF origin, which is the power-up home)."""

    lat0_deg: float
    lon0_deg: float
    alt0_m: float
    _m_per_deg_lat: float = 0.0
    _m_per_deg_lon: float = 0.0

    def __post_init__(self) -> None:
        self._m_per_deg_lat = math.radians(1.0) * EARTH_RADIUS_M
        self._m_per_deg_lon = self._m_per_deg_lat * math.cos(math.radians(self.lat0_deg))

    def to_ned(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float
    ) -> tuple[float, float, float]:
        return (
            (lat_deg - self.lat0_deg) * self._m_per_deg_lat,
            (lon_deg - self.lon0_deg) * self._m_per_deg_lon,
            self.alt0_m - alt_amsl_m,
        )

    def to_global(self, north_m: float, east_m: float, down_m: float) -> tuple[float, float, float]:
        return (
            self.lat0_deg + north_m / self._m_per_deg_lat,
            self.lon0_deg + east_m / self._m_per_deg_lon,
            self.alt0_m - down_m,
        )


@dataclass(slots=True)
class Limits:
    """Speed, acceleration, jerk and yaw-rate limits (PX4 MPC_* parameters)."""

    xy_speed_m_s: float = 5.0
    up_speed_m_s: float = 3.0
    down_speed_m_s: float = 1.5
    acc_xy_m_s2: float = 3.0
    acc_up_m_s2: float = 4.0
    acc_down_m_s2: float = 3.0
    jerk_m_s3: float = 4.0
    yaw_rate_deg_s: float = 60.0
    yaw_acc_deg_s2: float = 20.0

    def copy(self) -> Limits:
        """A fresh copy (``copy.copy`` of a slots dataclass was 9 % of a 100x soak's CPU)."""
        return Limits(self.xy_speed_m_s, self.up_speed_m_s, self.down_speed_m_s,
                      self.acc_xy_m_s2, self.acc_up_m_s2, self.acc_down_m_s2, self.jerk_m_s3,
                      self.yaw_rate_deg_s, self.yaw_acc_deg_s2)


@dataclass(slots=True)
class Setpoint:
    """What the controller tracks: a position, or a velocity when ``velocity`` is set."""

    north_m: float = 0.0
    east_m: float = 0.0
    down_m: float = 0.0
    yaw_rad: float | None = None  # None: keep heading (or turn at yaw_rate_rad_s)
    yaw_rate_rad_s: float | None = None
    velocity: tuple[float, float, float] | None = None
    limits: Limits = field(default_factory=Limits)
    xy_final_speed_m_s: float = 0.0  # speed allowed at the target (a mission corner), else stop
    # A velocity setpoint tracked by PX4's PI velocity loop (MPC_XY_VEL_P_ACC 1/s,
    # MPC_XY_VEL_I_ACC 1/s^2) instead of the trajectory's jerk-limited profile (Follow Target
    # has no trajectory); the thrust's horizontal acceleration is then limits.acc_xy_m_s2.
    xy_vel_gain_1_s: float | None = None
    xy_vel_i_gain_1_s2: float = 0.4


@dataclass(slots=True)
class Wind:
    """Seeded mean wind plus gusts (Ornstein-Uhlenbeck, time constant ``tau_s``)."""

    mean_north_m_s: float
    mean_east_m_s: float
    gust_sigma_m_s: float = 1.0
    tau_s: float = 4.0
    gust_north_m_s: float = 0.0
    gust_east_m_s: float = 0.0

    @classmethod
    def seeded(cls, rng: random.Random) -> Wind:
        speed = rng.uniform(1.0, 5.0)
        direction = rng.uniform(0.0, 2 * math.pi)
        return cls(speed * math.cos(direction), speed * math.sin(direction))

    def step(self, dt_s: float, rng: random.Random) -> None:
        a = math.exp(-dt_s / self.tau_s)
        s = self.gust_sigma_m_s * math.sqrt(1.0 - a * a)
        self.gust_north_m_s = a * self.gust_north_m_s + s * rng.gauss(0.0, 1.0)
        self.gust_east_m_s = a * self.gust_east_m_s + s * rng.gauss(0.0, 1.0)

    @property
    def north_m_s(self) -> float:
        return self.mean_north_m_s + self.gust_north_m_s

    @property
    def east_m_s(self) -> float:
        return self.mean_east_m_s + self.gust_east_m_s


def _approach(current: float, target: float, max_delta: float) -> float:
    if target > current + max_delta:
        return current + max_delta
    if target < current - max_delta:
        return current - max_delta
    return target


def max_speed_from_distance(
    jerk_m_s3: float, acc_m_s2: float, distance_m: float, final_speed_m_s: float
) -> float:
    """PX4's computeMaxSpeedFromDistance (TrajMath.hpp): the highest speed from which a
    jerk-limited brake at ``acc_m_s2`` still ends at ``final_speed_m_s`` after ``distance_m``."""
    b = 4.0 * acc_m_s2 * acc_m_s2 / max(jerk_m_s3, 1e-3)
    c = -2.0 * acc_m_s2 * max(distance_m, 0.0) - final_speed_m_s * final_speed_m_s
    return max(0.5 * (-b + math.sqrt(b * b - 4.0 * c)), final_speed_m_s)


def _jerk_limited(
    v: float, a: float, want: float, acc_max: float, jerk: float, dt_s: float
) -> tuple[float, float]:
    """One step of a velocity following ``want`` with |acceleration| <= acc_max and
    |d acceleration / dt| <= jerk; the acceleration aimed at falls as sqrt(2 jerk error), so that
    it reaches zero as the velocity arrives (no overshoot). Returns (velocity, acceleration)."""
    err = want - v
    target = math.copysign(min(acc_max, math.sqrt(2.0 * jerk * abs(err))), err)
    step = jerk * dt_s
    a = target if abs(target - a) <= step else a + math.copysign(step, target - a)
    dv = a * dt_s
    if (err > 0 and dv >= err) or (err < 0 and dv <= err) or err == 0.0:
        return want, target if abs(target) < abs(a) else a
    return v + dv, a


def wrap_pi(angle_rad: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (angle_rad + math.pi) % (2 * math.pi) - math.pi


@dataclass(slots=True)
class Body:
    """The vehicle's kinematic state in the local frame."""

    north_m: float = 0.0
    east_m: float = 0.0
    down_m: float = 0.0
    vn_m_s: float = 0.0
    ve_m_s: float = 0.0
    vd_m_s: float = 0.0
    yaw_rad: float = 0.0
    yaw_rate_rad_s: float = 0.0
    roll_rad: float = 0.0
    pitch_rad: float = 0.0
    on_ground: bool = True
    an_m_s2: float = 0.0  # acceleration (jerk-limited, like PX4's trajectory)
    ae_m_s2: float = 0.0
    ad_m_s2: float = 0.0
    vi_n_m_s2: float = 0.0  # the velocity loop's integrator (only in _track_xy_p)
    vi_e_m_s2: float = 0.0
    th_n_m_s2: float = 0.0  # the thrust's horizontal acceleration (only in _track_xy_p)
    th_e_m_s2: float = 0.0

    @property
    def ground_speed_m_s(self) -> float:
        return math.hypot(self.vn_m_s, self.ve_m_s)

    def step_free_fall(self, dt_s: float) -> None:
        """Motors off: fall (with drag) until the ground stops it."""
        self.vd_m_s = min(self.vd_m_s + GRAVITY_M_S2 * dt_s, 20.0)
        self.vn_m_s *= 0.98
        self.ve_m_s *= 0.98
        self._integrate(dt_s)

    def step(self, sp: Setpoint, wind: Wind, dt_s: float) -> None:
        """Track the setpoint for dt_s simulated seconds."""
        lim = sp.limits
        if sp.velocity is not None:
            want_n, want_e, want_d = sp.velocity
            h = math.hypot(want_n, want_e)
            if h > lim.xy_speed_m_s > 0:
                want_n, want_e = want_n * lim.xy_speed_m_s / h, want_e * lim.xy_speed_m_s / h
        else:
            dn, de = sp.north_m - self.north_m, sp.east_m - self.east_m
            dist = math.hypot(dn, de)
            if dist > 1e-3:
                final = min(sp.xy_final_speed_m_s, lim.xy_speed_m_s)
                speed = min(
                    lim.xy_speed_m_s,
                    max_speed_from_distance(lim.jerk_m_s3, lim.acc_xy_m_s2, dist, final),
                    # PX4's position loop (MPC_XY_P 0.95) settles the last few decimetres
                    0.95 * dist + final,
                )
                want_n, want_e = dn / dist * speed, de / dist * speed
            else:
                want_n = want_e = 0.0
            dd = sp.down_m - self.down_m
            if dd < 0:  # climbing
                up = max_speed_from_distance(lim.jerk_m_s3, lim.acc_up_m_s2, -dd, 0.0)
                want_d = -min(lim.up_speed_m_s, up, 1.5 * -dd)
            else:
                down = max_speed_from_distance(lim.jerk_m_s3, lim.acc_down_m_s2, dd, 0.0)
                want_d = min(lim.down_speed_m_s, down, 1.5 * dd)
        want_d = max(-lim.up_speed_m_s, min(lim.down_speed_m_s, want_d))
        vn0, ve0 = self.vn_m_s, self.ve_m_s
        if sp.xy_vel_gain_1_s is not None:
            self._track_xy_p(want_n, want_e, sp.xy_vel_gain_1_s, sp.xy_vel_i_gain_1_s2,
                             lim.acc_xy_m_s2, dt_s)
        else:
            self._track_xy(want_n, want_e, lim.acc_xy_m_s2, lim.jerk_m_s3, dt_s)
        an, ae = (self.vn_m_s - vn0) / dt_s, (self.ve_m_s - ve0) / dt_s
        acc_d = lim.acc_up_m_s2 if want_d < 0 or self.vd_m_s < 0 else lim.acc_down_m_s2
        self.vd_m_s, self.ad_m_s2 = _jerk_limited(
            self.vd_m_s, self.ad_m_s2, want_d, acc_d, lim.jerk_m_s3, dt_s
        )
        # Gusts push the airframe until the position loop catches up: a small track error.
        drift_n, drift_e = 0.15 * wind.gust_north_m_s, 0.15 * wind.gust_east_m_s
        if self.on_ground:
            drift_n = drift_e = 0.0
        self.north_m += drift_n * dt_s
        self.east_m += drift_e * dt_s
        self._integrate(dt_s)
        self._attitude(sp, wind, an, ae, dt_s)

    def _track_xy(
        self, want_n: float, want_e: float, acc_max: float, jerk: float, dt_s: float
    ) -> None:
        """The horizontal velocity follows (want_n, want_e), jerk- and acceleration-limited, as
        one vector (so the track stays straight)."""
        en, ee = want_n - self.vn_m_s, want_e - self.ve_m_s
        err = math.hypot(en, ee)
        mag = min(acc_max, math.sqrt(2.0 * jerk * err))
        tn, te = (en / err * mag, ee / err * mag) if err > 1e-9 else (0.0, 0.0)
        dan, dae = tn - self.an_m_s2, te - self.ae_m_s2
        step, d = jerk * dt_s, math.hypot(dan, dae)
        if d > step:
            dan, dae = dan * step / d, dae * step / d
        an, ae = self.an_m_s2 + dan, self.ae_m_s2 + dae
        dvn, dve = an * dt_s, ae * dt_s
        if err <= 1e-9 or dvn * en + dve * ee >= err * err:  # would overshoot: arrive
            self.vn_m_s, self.ve_m_s = want_n, want_e
            self.an_m_s2, self.ae_m_s2 = tn, te
        else:
            self.vn_m_s += dvn
            self.ve_m_s += dve
            self.an_m_s2, self.ae_m_s2 = an, ae

    def _track_xy_p(
        self, want_n: float, want_e: float, gain_1_s: float, i_gain_1_s2: float,
        acc_max: float, dt_s: float,
    ) -> None:
        """The horizontal velocity follows (want_n, want_e) through PX4's PI velocity loop
        (MPC_XY_VEL_P_ACC = gain, MPC_XY_VEL_I_ACC = i_gain) against the airframe's linear drag,
        the thrust's acceleration at most acc_max (the tilt limit)."""
        en, ee = want_n - self.vn_m_s, want_e - self.ve_m_s
        self.vi_n_m_s2 += i_gain_1_s2 * en * dt_s
        self.vi_e_m_s2 += i_gain_1_s2 * ee * dt_s
        tn, te = gain_1_s * en + self.vi_n_m_s2, gain_1_s * ee + self.vi_e_m_s2
        t = math.hypot(tn, te)
        if t > acc_max:
            tn, te = tn * acc_max / t, te * acc_max / t
            # anti-windup: the integrator does not grow while the thrust is saturated
            self.vi_n_m_s2 -= i_gain_1_s2 * en * dt_s
            self.vi_e_m_s2 -= i_gain_1_s2 * ee * dt_s
        # The thrust tilts through the attitude loop (MC_ROLL_P / MC_PITCH_P 6.5 1/s): a lag.
        k = min(1.0, dt_s / ATTITUDE_TAU_S)
        self.th_n_m_s2 += k * (tn - self.th_n_m_s2)
        self.th_e_m_s2 += k * (te - self.th_e_m_s2)
        an = self.th_n_m_s2 - DRAG_1_S * self.vn_m_s
        ae = self.th_e_m_s2 - DRAG_1_S * self.ve_m_s
        self.vn_m_s += an * dt_s
        self.ve_m_s += ae * dt_s
        self.an_m_s2, self.ae_m_s2 = an, ae

    def _integrate(self, dt_s: float) -> None:
        self.north_m += self.vn_m_s * dt_s
        self.east_m += self.ve_m_s * dt_s
        self.down_m += self.vd_m_s * dt_s
        if self.down_m >= 0.0:
            self.down_m = 0.0
            self.vd_m_s = min(self.vd_m_s, 0.0)
            self.ad_m_s2 = min(self.ad_m_s2, 0.0)
            self.vn_m_s = self.ve_m_s = 0.0
            self.an_m_s2 = self.ae_m_s2 = 0.0
            self.vi_n_m_s2 = self.vi_e_m_s2 = 0.0
            self.th_n_m_s2 = self.th_e_m_s2 = 0.0
            self.on_ground = True
        elif self.down_m < -0.05:
            self.on_ground = False

    def _attitude(self, sp: Setpoint, wind: Wind, an: float, ae: float, dt_s: float) -> None:
        if sp.yaw_rad is not None:
            # PX4's heading smoothing: rate up to MPC_YAWRAUTO_MAX, accelerating at
            # MPC_YAWRAUTO_ACC, braking so as to stop on the heading.
            max_rate = math.radians(sp.limits.yaw_rate_deg_s)
            acc = math.radians(sp.limits.yaw_acc_deg_s2)
            err = wrap_pi(sp.yaw_rad - self.yaw_rad)
            want = math.copysign(min(max_rate, math.sqrt(2.0 * acc * abs(err))), err)
            rate = _approach(self.yaw_rate_rad_s, want, acc * dt_s)
            step = rate * dt_s
            if abs(step) >= abs(err) and step * err >= 0:
                step, rate = err, 0.0
            self.yaw_rate_rad_s = rate
            self.yaw_rad = wrap_pi(self.yaw_rad + step)
        elif sp.yaw_rate_rad_s is not None:
            max_rate = math.radians(sp.limits.yaw_rate_deg_s)
            self.yaw_rate_rad_s = max(-max_rate, min(max_rate, sp.yaw_rate_rad_s))
            self.yaw_rad = wrap_pi(self.yaw_rad + self.yaw_rate_rad_s * dt_s)
        else:
            self.yaw_rate_rad_s = 0.0
        if self.on_ground:
            self.roll_rad = self.pitch_rad = 0.0
            return
        # Tilt = commanded acceleration plus drag of the relative wind, in the body frame.
        rel_n, rel_e = wind.north_m_s - self.vn_m_s, wind.east_m_s - self.ve_m_s
        fn, fe = an - 0.12 * rel_n, ae - 0.12 * rel_e
        c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
        fwd, right = c * fn + s * fe, -s * fn + c * fe
        self.pitch_rad = -math.atan2(fwd, GRAVITY_M_S2)
        self.roll_rad = math.atan2(right, GRAVITY_M_S2)


@dataclass(slots=True)
class Battery:
    """A LiPo pack drained by the current the flight phase and the wind demand."""

    capacity_mah: float = 5000.0
    cells: int = 4
    remaining: float = 1.0  # 0..1
    consumed_mah: float = 0.0
    current_a: float = 0.0
    fault_empty: bool = False

    def step(self, armed: bool, body: Body, wind: Wind, dt_s: float) -> None:
        if not armed:
            self.current_a = 0.0
        elif body.on_ground:
            self.current_a = 1.5
        else:
            # Hover ~12 A (25 min on 5 Ah), translational lift helps a little at cruise,
            # speed through the air and climbing cost more.
            air_n, air_e = body.vn_m_s - wind.north_m_s, body.ve_m_s - wind.east_m_s
            airspeed = math.hypot(air_n, air_e)
            lift_gain = 1.0 - 0.08 * min(airspeed, 6.0) / 6.0
            self.current_a = 12.0 * lift_gain + 0.035 * airspeed**2 + 1.8 * max(0.0, -body.vd_m_s)
        used = self.current_a * dt_s / 3.6  # mAh
        self.consumed_mah += used
        self.remaining = max(0.0, self.remaining - used / self.capacity_mah)

    @property
    def shown_remaining(self) -> float:
        return 0.03 if self.fault_empty else self.remaining

    @property
    def voltage_v(self) -> float:
        cell = 3.5 + 0.7 * self.shown_remaining - 0.004 * self.current_a
        return cell * self.cells

    @property
    def time_remaining_s(self) -> float:
        amps = max(self.current_a, 12.0)
        return self.shown_remaining * self.capacity_mah * 3.6 / amps
