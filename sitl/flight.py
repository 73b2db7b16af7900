"""What the vehicle flies in each PX4 mode: takeoff, hold/reposition, orbit, RTL, land, offboard
and the mission, each turned into a setpoint for the physics, in simulated seconds.

Altitude frames: global (AMSL), relative to home, and terrain, which is treated as relative to home
because the simulated terrain is flat at the home altitude.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import common as mav

from sitl.follow import FollowTarget, velocity_command
from sitl.mission import MissionItem
from sitl.params import Params
from sitl.physics import (
    GRAVITY_M_S2,
    Limits,
    Setpoint,
    max_speed_from_distance,
    tilt_acc_m_s2,
    wrap_pi,
)
from sitl.state import FlightMode, LandedState, VehicleState

NAV_WAYPOINT = 16
NAV_LOITER_UNLIM = 17
NAV_LOITER_TURNS = 18
NAV_LOITER_TIME = 19
NAV_RETURN_TO_LAUNCH = 20
NAV_LAND = 21
NAV_TAKEOFF = 22
DO_JUMP = 177
DO_CHANGE_SPEED = 178
DO_SET_ROI_LOCATION = 195
DO_SET_ROI_NONE = 197
NAV_COMMANDS = {
    NAV_WAYPOINT,
    NAV_LOITER_UNLIM,
    NAV_LOITER_TURNS,
    NAV_LOITER_TIME,
    NAV_RETURN_TO_LAUNCH,
    NAV_LAND,
    NAV_TAKEOFF,
}
RELATIVE_FRAMES = {3, 6, 10, 11}  # GLOBAL_RELATIVE_ALT(_INT), GLOBAL_TERRAIN_ALT(_INT)
ORBIT_ACCEPT_M = 2.0  # FlightTaskOrbit::_horizontal_acceptance_radius
# PX4 SIH flies a little slower than its trajectory speed (measured with MAVSDK: 4.6 m/s for 5,
# 9.5 for 10 and 12): the airframe lags the trajectory and PX4 stretches the trajectory's time by
# the lag (PositionSmoothing). The fastest a position move flies depends on the tilt limit
# (MPC_TILTMAX_AIR, as the sideways thrust it allows: physics.tilt_acc_m_s2), measured on PX4
# SIH with a 1.5 km goto at MPC_XY_CRUISE = MPC_XY_VEL_MAX = 20 (2026-11-29): 9.6-10 m/s at the
# default 45 deg, 12.0 m/s at 60 deg (its trajectory waits for the drone, so it does not reach
# the 17 m/s its thrust could hold against the drag); in between and beyond, linear in the
# sideways thrust.
TRACKING_LOSS_M_S = 0.4
SIH_TOP_SPEED_M_S = 9.6  # at 45 deg
SIH_TOP_SPEED_60_M_S = 12.0  # at 60 deg
_TILT_ACC_45 = tilt_acc_m_s2(45.0, 1.0, 0.5)
_TILT_ACC_60 = tilt_acc_m_s2(60.0, 1.0, 0.5)
# Follow Target has no trajectory smoothing: its setpoints go straight to PX4's PI velocity loop
# (MPC_XY_VEL_P_ACC, MPC_XY_VEL_I_ACC), whose thrust is limited by the tilt (MPC_TILTMAX_AIR)
# and pushes against the airframe's drag (physics.DRAG_1_S), not by a position move's MPC_ACC_HOR.
FOLLOW_JERK_M_S3 = 20.0


class MissionState:
    """MISSION_CURRENT.mission_state values."""

    NO_MISSION = 1
    NOT_STARTED = 2
    ACTIVE = 3
    PAUSED = 4
    COMPLETE = 5


@dataclass(slots=True)
class Target:
    """A position in the local frame (metres) to fly to."""

    north_m: float
    east_m: float
    down_m: float


@dataclass(slots=True)
class Orbit:
    center: Target
    radius_m: float
    speed_m_s: float
    clockwise: bool
    yaw_behaviour: int
    initial_yaw_rad: float
    joined: bool = False  # False while approaching the circle
    speed_now_m_s: float = 0.0  # the tangential speed, slewed up at MPC_ACC_HOR once joined


@dataclass(slots=True)
class TakeoffRamp:
    """PX4's TakeoffHandling (mc_pos_control/Takeoff): after arming the motors spool up for
    COM_SPOOLUP_TIME; a takeoff then ramps the upward speed limit from -g / MPC_Z_VEL_P_ACC (no
    lift) to the wanted climb rate over MPC_TKO_RAMP_T, so the vehicle leaves the ground part-way
    through the ramp. Back on the ground, the next takeoff ramps again."""

    armed_for_s: float = 0.0
    stage: str = "spoolup"  # spoolup | ready | rampup | flight
    progress: float = 0.0

    def up_limit(
        self, armed: bool, on_ground: bool, wants_up: bool, want_up_m_s: float, p: Params,
        dt_s: float,
    ) -> float | None:
        """The upward speed limit (m/s, <= 0 keeps it on the ground), None when not limited."""
        if not armed:
            self.armed_for_s, self.stage = 0.0, "spoolup"
            return None
        self.armed_for_s += dt_s
        if self.stage == "flight":
            if not on_ground:
                return None
            self.stage = "ready"
        if self.stage == "spoolup":
            if self.armed_for_s < p.get("COM_SPOOLUP_TIME"):
                return 0.0
            self.stage = "ready"
        if self.stage == "ready":
            if not wants_up:
                return 0.0
            self.stage, self.progress = "rampup", 0.0
        ramp_s = p.get("MPC_TKO_RAMP_T")
        self.progress += dt_s / ramp_s if ramp_s > dt_s else 1.0
        if self.progress >= 1.0:
            self.stage = "flight"
            return None
        v0 = -GRAVITY_M_S2 / max(p.get("MPC_Z_VEL_P_ACC"), 0.01)
        return v0 + self.progress * (want_up_m_s - v0)


@dataclass(slots=True)
class MissionRun:
    """Progress through the uploaded mission."""

    items: list[MissionItem] = field(default_factory=list)
    current: int = 0
    state: int = MissionState.NO_MISSION
    phase: str = "goto"  # goto | hold | unlim | land | climb
    climb_check: bool = False  # at (re)start: climb first if below the first waypoint
    climb_from_ground: bool = False
    hold_until_s: float = 0.0
    jumps_done: dict[int, int] = field(default_factory=dict)
    target: Target | None = None


class Navigator:
    """Turns the current mode into a setpoint each physics step."""

    def __init__(self, state: VehicleState) -> None:
        self.s = state
        self.hold_target: Target | None = None
        self.cruise_speed_m_s: float | None = None  # DO_CHANGE_SPEED / reposition override
        self.orbit: Orbit | None = None
        self.rtl_phase = "climb"
        self.rtl_target: Target | None = None
        self.rtl_delay_until_s = 0.0
        self.rally: list[Target] = []
        self.roi: Target | None = None
        self.offboard_sp: Setpoint | None = None
        self.mission = MissionRun()
        self.events: list[Any] = []  # messages to send (MISSION_ITEM_REACHED, MISSION_CURRENT)
        self.takeoff_target: Target | None = None
        self.follow: FollowTarget | None = None  # while in Follow Target
        self._reposition_yaw: float | None = None
        self._rtl_return_down = 0.0
        self.ramp = TakeoffRamp()
        self._limits_cache: dict[tuple[float | None, float | None, bool, bool, int], Limits] = {}
        self._tilt_acc: tuple[int, float] = (-1, 0.0)  # (params.version, tilt_acc_m_s2)
        self.home_yaw_rad = 0.0  # the heading at arming (PX4's home yaw)
        self._rtl_yaw: float | None = None
        self.touched_down = False  # on the ground after a flight, armed (the land detector's)
        self.land_detected = False
        self._dt_s = 0.02
        # PX4's user intention to return to after a disarm (UserModeIntention): the last mode
        # asked for (or reached by takeoff / mission end) that does not prevent arming.
        self.mode_after_disarm = FlightMode.HOLD

    # ---- helpers -----------------------------------------------------------------------

    def here(self) -> Target:
        b = self.s.body
        return Target(b.north_m, b.east_m, b.down_m)

    def limits(
        self, speed_m_s: float | None = None, auto: bool = True, cruise: bool = False
    ) -> Limits:
        """PX4's limits: auto modes climb and descend at MPC_Z_V_AUTO_UP/DN, offboard at
        MPC_Z_VEL_MAX_UP/DN; ``cruise``: the horizontal speed a position move really flies
        (cruise_m_s). A fresh copy (callers adjust it), cached per parameter version."""
        key = (speed_m_s, self.cruise_speed_m_s, auto, cruise, self.s.params.version)
        cached = self._limits_cache.get(key)
        if cached is None:
            if len(self._limits_cache) > 16:
                self._limits_cache.clear()
            cached = self._make_limits(speed_m_s, auto)
            if cruise:
                cached.xy_speed_m_s = self.cruise_m_s(cached.xy_speed_m_s)
            self._limits_cache[key] = cached
        return cached.copy()

    def _make_limits(self, speed_m_s: float | None, auto: bool) -> Limits:
        p = self.s.params
        xy = speed_m_s or self.cruise_speed_m_s or p.get("MPC_XY_CRUISE")
        return Limits(
            xy_speed_m_s=min(xy, p.get("MPC_XY_VEL_MAX")),
            up_speed_m_s=p.get("MPC_Z_V_AUTO_UP" if auto else "MPC_Z_VEL_MAX_UP"),
            down_speed_m_s=p.get("MPC_Z_V_AUTO_DN" if auto else "MPC_Z_VEL_MAX_DN"),
            acc_xy_m_s2=p.get("MPC_ACC_HOR"),
            acc_up_m_s2=p.get("MPC_ACC_UP_MAX"),
            acc_down_m_s2=p.get("MPC_ACC_DOWN_MAX"),
            jerk_m_s3=p.get("MPC_JERK_AUTO"),
            yaw_rate_deg_s=p.get("MPC_YAWRAUTO_MAX"),
            yaw_acc_deg_s2=p.get("MPC_YAWRAUTO_ACC"),
        )

    def cruise_m_s(self, speed_m_s: float) -> float:
        """The speed PX4 SIH really flies a position move at, for a trajectory speed: at most
        its top speed at the tilt limit."""
        gain = (SIH_TOP_SPEED_60_M_S - SIH_TOP_SPEED_M_S) / (_TILT_ACC_60 - _TILT_ACC_45)
        top = max(SIH_TOP_SPEED_M_S + gain * (self.tilt_acc_m_s2() - _TILT_ACC_45), 1.0)
        return min(speed_m_s - min(TRACKING_LOSS_M_S, 0.08 * speed_m_s), top)

    def tilt_acc_m_s2(self) -> float:
        """The horizontal thrust's acceleration at the tilt and thrust limits (cached per
        parameter version)."""
        p = self.s.params
        if self._tilt_acc[0] != p.version:
            self._tilt_acc = (p.version, tilt_acc_m_s2(
                p.get("MPC_TILTMAX_AIR"), p.get("MPC_THR_MAX"), p.get("MPC_THR_HOVER")))
        return self._tilt_acc[1]

    def ground_down_m(self) -> float:
        return 0.0

    def home_down_rel(self, rel_alt_m: float) -> float:
        """Local down coordinate of an altitude above home."""
        return self.s.frame.alt0_m - (self.s.home.alt_amsl_m + rel_alt_m)

    def target_of(self, lat_deg: float, lon_deg: float, alt_m: float, relative: bool) -> Target:
        here = self.here()
        if math.isfinite(lat_deg) and math.isfinite(lon_deg) and (lat_deg or lon_deg):
            n, e, _ = self.s.frame.to_ned(lat_deg, lon_deg, 0.0)
        else:
            n, e = here.north_m, here.east_m
        if not math.isfinite(alt_m):
            d = here.down_m
        elif relative:
            d = self.home_down_rel(alt_m)
        else:
            d = self.s.frame.alt0_m - alt_m
        return Target(n, e, min(d, -0.0))

    def _sp(self, t: Target, yaw: float | None, speed: float | None = None) -> Setpoint:
        lim = self.limits(speed, cruise=True)
        return Setpoint(t.north_m, t.east_m, t.down_m, yaw_rad=yaw, limits=lim)

    def _face(self, t: Target) -> float | None:
        b = self.s.body
        if self.roi is not None:
            dn, de = self.roi.north_m - b.north_m, self.roi.east_m - b.east_m
            return math.atan2(de, dn) if math.hypot(dn, de) > 1.0 else None
        dn, de = t.north_m - b.north_m, t.east_m - b.east_m
        return math.atan2(de, dn) if math.hypot(dn, de) > 3.0 else None

    # ---- mode entry ----------------------------------------------------------------------

    def enter(self, mode: FlightMode) -> None:
        """Called on every mode change (the mode is already set)."""
        here = self.here()
        if mode in (
            FlightMode.HOLD,
            FlightMode.POSCTL,
            FlightMode.ALTCTL,
            FlightMode.MANUAL,
            FlightMode.STABILIZED,
            FlightMode.ACRO,
            FlightMode.READY,
        ):
            self.hold_target = self._stopping_point() if self.s.in_air else here
            self.cruise_speed_m_s = None
        elif mode is FlightMode.RTL:
            self.rtl_phase = "climb"
            self.rtl_target = None
        elif mode is FlightMode.LAND:
            self.hold_target = self._stopping_point() if self.s.in_air else here
        elif mode is FlightMode.TAKEOFF and self.takeoff_target is None:
            # Takeoff by mode switch (DO_SET_MODE 4/2): climb to MIS_TAKEOFF_ALT above home.
            down = self.home_down_rel(self.s.params.get("MIS_TAKEOFF_ALT"))
            self.takeoff_target = Target(here.north_m, here.east_m, min(down, here.down_m))
        elif mode is FlightMode.MISSION:
            m = self.mission
            if m.state == MissionState.COMPLETE:
                m.current = 0
                m.jumps_done.clear()
            m.state = MissionState.ACTIVE if m.items else MissionState.NO_MISSION
            m.phase = "goto"
            m.target = None
            m.climb_check = True
            self.events.append(self.mission_current())
        if mode is FlightMode.FOLLOW_TARGET:
            self.follow = FollowTarget(self.home_down_rel(0.0), self.s.body.yaw_rad)
            self.s.body.vi_n_m_s2 = self.s.body.vi_e_m_s2 = 0.0
        else:
            self.follow = None
        if mode is not FlightMode.MISSION and self.mission.state == MissionState.ACTIVE:
            self.mission.state = MissionState.PAUSED
        if mode is not FlightMode.MISSION:
            self.roi = None

    def _stopping_point(self) -> Target:
        b = self.s.body
        v = b.ground_speed_m_s
        a = max(self.s.params.get("MPC_ACC_HOR"), 0.5)
        k = v / (2 * a)
        return Target(b.north_m + b.vn_m_s * k, b.east_m + b.ve_m_s * k, b.down_m)

    def reposition(self, t: Target, speed_m_s: float | None, yaw_rad: float | None) -> None:
        self.hold_target = t
        if speed_m_s is not None:  # PX4 keeps the current cruise speed when none is given
            self.cruise_speed_m_s = speed_m_s
        self._reposition_yaw = yaw_rad

    # ---- per step ------------------------------------------------------------------------

    def step(self, dt_s: float) -> None:
        s = self.s
        self._dt_s = dt_s
        mode = s.mode
        if mode is FlightMode.TAKEOFF:
            sp = self._takeoff_sp()
        elif mode is FlightMode.LAND:
            sp = self._land_sp(self.hold_target or self.here())
        elif mode is FlightMode.RTL:
            sp = self._rtl_sp()
        elif mode is FlightMode.ORBIT and self.orbit is not None:
            sp = self._orbit_sp()
        elif mode is FlightMode.OFFBOARD and self.offboard_sp is not None:
            sp = self.offboard_sp
            sp.limits = self.limits(s.params.get("MPC_XY_VEL_MAX"), auto=False)
        elif mode is FlightMode.MISSION:
            sp = self._mission_sp()
        elif mode is FlightMode.FOLLOW_TARGET and self.follow is not None:
            sp = self._follow_sp()
        else:
            t = self.hold_target or self.here()
            yaw = self._reposition_yaw
            if yaw is None or not math.isfinite(yaw):
                yaw = self._face(t)
            sp = self._sp(t, yaw)
        if not s.armed:
            sp = self._sp(self.here(), None)
            sp.down_m = 0.0
        b = s.body
        wants_up = (sp.velocity[2] < -0.3) if sp.velocity is not None else (
            sp.down_m < b.down_m - 0.3)
        up = self.ramp.up_limit(s.armed, b.on_ground, wants_up, sp.limits.up_speed_m_s, s.params,
                                dt_s)
        if up is not None:
            sp.limits.up_speed_m_s = max(0.0, min(up, sp.limits.up_speed_m_s))
        s.setpoint = sp

    def landed_state(self) -> LandedState:
        """As PX4's land detector reports it: on the ground only once landing is detected."""
        s = self.s
        if not s.in_air:
            if s.armed and s.setpoint.down_m < -0.1:
                return LandedState.TAKEOFF
            if self.touched_down and not self.land_detected:
                return LandedState.LANDING
            return LandedState.ON_GROUND
        if s.mode is FlightMode.LAND or (s.mode is FlightMode.RTL and self.rtl_phase == "land"):
            return LandedState.LANDING
        if s.mode is FlightMode.MISSION and self.mission.phase == "land":
            return LandedState.LANDING
        if s.mode is FlightMode.TAKEOFF:
            return LandedState.TAKEOFF
        return LandedState.IN_AIR

    # ---- takeoff / land ------------------------------------------------------------------

    def _takeoff_limits(self, sp: Setpoint) -> Setpoint:
        """PX4 (FlightTaskAuto) climbs a takeoff at MPC_TKO_SPEED, accelerating at most
        MPC_TKO_SPEED / MPC_TKO_RAMP_T, until MPC_LAND_ALT1 above the ground."""
        p = self.s.params
        if self.s.rel_alt_m < p.get("MPC_LAND_ALT1"):
            tko = p.get("MPC_TKO_SPEED")
            sp.limits.up_speed_m_s = min(sp.limits.up_speed_m_s, tko)
            sp.limits.acc_up_m_s2 = min(sp.limits.acc_up_m_s2, tko / max(p.get("MPC_TKO_RAMP_T"),
                                                                         0.1))
        return sp

    def _takeoff_sp(self) -> Setpoint:
        t = self.takeoff_target or self.here()
        sp = self._takeoff_limits(self._sp(t, None))
        if self.s.in_air and self.s.body.down_m < t.down_m + self.s.params.get("NAV_MC_ALT_RAD"):
            # PX4 switches to Hold once within NAV_MC_ALT_RAD of the takeoff altitude.
            self.auto_switch(FlightMode.HOLD)
            self.hold_target = t
            self.takeoff_target = None
            self._reposition_yaw = None
        return sp

    def auto_switch(self, mode: FlightMode) -> None:
        """A switch PX4's commander makes by itself (takeoff done, mission finished): it is
        also the mode the vehicle returns to after a disarm."""
        self.s.mode = mode
        self.mode_after_disarm = mode

    def land_speed_m_s(self) -> float:
        """PX4's landing descent: MPC_Z_VEL_MAX_DN above MPC_LAND_ALT1, MPC_LAND_SPEED below
        MPC_LAND_ALT2, interpolated between."""
        p = self.s.params
        h = self.s.rel_alt_m
        fast, slow = p.get("MPC_Z_VEL_MAX_DN"), p.get("MPC_LAND_SPEED")
        alt2 = p.get("MPC_LAND_ALT2")
        alt1 = max(p.get("MPC_LAND_ALT1"), alt2)
        if h >= alt1:
            return fast
        if h <= alt2 or alt1 <= alt2:
            return slow
        return slow + (fast - slow) * (h - alt2) / (alt1 - alt2)

    def _land_sp(self, over: Target) -> Setpoint:
        sp = self._sp(Target(over.north_m, over.east_m, 50.0), None)
        sp.limits.down_speed_m_s = self.land_speed_m_s()
        return sp

    # ---- RTL -----------------------------------------------------------------------------

    def _rtl_destination(self) -> Target:
        hn, he, hd = self.s.home_ned()
        best = Target(hn, he, hd)
        b = self.s.body
        dist = math.hypot(hn - b.north_m, he - b.east_m)
        for r in self.rally:
            d = math.hypot(r.north_m - b.north_m, r.east_m - b.east_m)
            if d < dist:
                best, dist = r, d
        return best

    def _rtl_return_alt_m(self, dest: Target) -> float:
        """PX4's return altitude above home (rtl.cpp): with RTL_CONE_ANG > 0 the cone lets a
        vehicle near the destination return lower; never below the current altitude."""
        p, b = self.s.params, self.s.body
        here = self.s.rel_alt_m
        dest_alt = self.home_down_rel(0.0) - dest.down_m  # destination above home
        max_ret = dest_alt + p.get("RTL_RETURN_ALT")
        cone = p.get("RTL_CONE_ANG")
        if cone <= 0:
            return max(here, max_ret)
        dist = math.hypot(dest.north_m - b.north_m, dest.east_m - b.east_m)
        acc_rad = p.get("NAV_ACC_RAD")
        if dist <= acc_rad:
            ret = dest_alt + 2.0 * dist
        else:
            ret = max_ret
            if dist <= p.get("RTL_MIN_DIST"):
                half = math.radians(min(max(cone, 1.0), 89.0))
                ret = min(dest_alt + dist / math.tan(half), ret)
            ret = max(ret, dest_alt + 2.0 * acc_rad)
        return here if ret < here else min(ret, max_ret)

    def _rtl_sp(self) -> Setpoint:
        """PX4's RTL (rtl_direct.cpp): climb to the return altitude, fly to the destination, then
        for a multicopter with RTL_LAND_DELAY 0 land at once; otherwise descend to
        RTL_DESCEND_ALT, wait RTL_LAND_DELAY (< 0: for ever) and land."""
        p, b = self.s.params, self.s.body
        alt_rad = p.get("NAV_MC_ALT_RAD")
        if self.rtl_target is None:
            dest = self.rtl_target = self._rtl_destination()
            self._rtl_return_down = self.home_down_rel(self._rtl_return_alt_m(dest))
            # Close to it, PX4 turns to the home heading before landing (and waits for it).
            close = math.hypot(dest.north_m - b.north_m, dest.east_m - b.east_m) < p.get(
                "RTL_MIN_DIST")
            self._rtl_yaw = self.home_yaw_rad if close else None
            if not self.s.in_air:
                self.rtl_phase = "idle"  # PX4 does not start an RTL on the ground
            elif b.down_m > self._rtl_return_down + alt_rad:
                self.rtl_phase = "climb"
            else:
                self.rtl_phase = "return"
        dest = self.rtl_target
        if self.rtl_phase == "climb":
            t = Target(b.north_m, b.east_m, self._rtl_return_down)
            if b.down_m < t.down_m + alt_rad:
                self.rtl_phase = "return"
            return self._sp(t, None)
        if self.rtl_phase == "return":
            t = Target(dest.north_m, dest.east_m, self._rtl_return_down)
            yaw = self._rtl_yaw
            yaw_ok = yaw is None or abs(wrap_pi(yaw - b.yaw_rad)) < math.radians(
                p.get("MIS_YAW_ERR"))
            if (math.hypot(t.north_m - b.north_m, t.east_m - b.east_m) < p.get("NAV_ACC_RAD")
                    and abs(b.down_m - t.down_m) < alt_rad and yaw_ok):
                self.rtl_phase = "descend" if p.get("RTL_LAND_DELAY") != 0 else "land"
            return self._sp(t, yaw if yaw is not None else self._face(t))
        if self.rtl_phase == "descend":
            loiter_down = max(self._rtl_return_down,
                              dest.down_m - p.get("RTL_DESCEND_ALT"))
            t = Target(dest.north_m, dest.east_m, loiter_down)
            if abs(b.down_m - loiter_down) < alt_rad:
                self.rtl_phase = "delay"
                self.rtl_delay_until_s = self.s.sim_time_s + max(0.0, p.get("RTL_LAND_DELAY"))
            return self._sp(t, None)
        if self.rtl_phase == "delay":
            t = Target(dest.north_m, dest.east_m, b.down_m)
            if p.get("RTL_LAND_DELAY") >= 0 and self.s.sim_time_s >= self.rtl_delay_until_s:
                self.rtl_phase = "land"
            return self._sp(t, None)
        if self.rtl_phase == "idle":
            return self._sp(self.here(), None)
        return self._land_sp(dest)

    # ---- follow target -------------------------------------------------------------------

    def _follow_sp(self) -> Setpoint:
        """PX4's Follow Target (sitl/follow.py) through its position controller."""
        assert self.follow is not None
        b, p = self.s.body, self.s.params
        here = (b.north_m, b.east_m, b.down_m)
        fsp = self.follow.step(self._dt_s, self.s.sim_time_s, here, p)
        lim = self.limits(p.get("MPC_XY_VEL_MAX"), auto=False)
        lim.acc_xy_m_s2, lim.jerk_m_s3 = self.tilt_acc_m_s2(), FOLLOW_JERK_M_S3
        return Setpoint(yaw_rad=fsp.yaw_rad, velocity=velocity_command(fsp, here, p), limits=lim,
                        xy_vel_gain_1_s=p.get("MPC_XY_VEL_P_ACC"),
                        xy_vel_i_gain_1_s2=p.get("MPC_XY_VEL_I_ACC"))

    # ---- orbit ---------------------------------------------------------------------------

    def _orbit_sp(self) -> Setpoint:
        """PX4's FlightTaskOrbit: approach the closest point of the circle perpendicularly (a
        smoothed position move at MPC_XY_CRUISE, facing the centre); once within 2 m of the
        circle and NAV_MC_ALT_RAD of its altitude, circle, the speed slewing up at MPC_ACC_HOR."""
        o = self.orbit
        assert o is not None
        b, p = self.s.body, self.s.params
        dn, de = b.north_m - o.center.north_m, b.east_m - o.center.east_m
        dist = math.hypot(dn, de)
        if dist < 1e-3:  # on the centre: leave along the heading
            dn, de, dist = math.cos(b.yaw_rad) * 1e-3, math.sin(b.yaw_rad) * 1e-3, 1e-3
        un, ue = dn / dist, de / dist  # outward unit vector
        if not o.joined:
            if abs(dist - o.radius_m) < ORBIT_ACCEPT_M and abs(
                    b.down_m - o.center.down_m) < p.get("NAV_MC_ALT_RAD"):
                o.joined, o.speed_now_m_s = True, 0.0
            else:
                t = Target(o.center.north_m + un * o.radius_m, o.center.east_m + ue * o.radius_m,
                           o.center.down_m)
                return self._sp(t, math.atan2(-ue, -un), p.get("MPC_XY_CRUISE"))
        sign = 1.0 if o.clockwise else -1.0
        tn, te = -ue * sign, un * sign  # tangent (clockwise = increasing bearing)
        dt_s = self._dt_s
        o.speed_now_m_s = min(o.speed_m_s, o.speed_now_m_s + p.get("MPC_ACC_HOR") * dt_s)
        radial_v = o.radius_m - dist
        vn = tn * o.speed_now_m_s + un * radial_v
        ve = te * o.speed_now_m_s + ue * radial_v
        dd = o.center.down_m - b.down_m
        vd = max(-p.get("MPC_Z_V_AUTO_UP"), min(p.get("MPC_Z_V_AUTO_DN"), 1.0 * dd))
        yb = o.yaw_behaviour
        yaw: float | None
        if yb == 0:
            yaw = math.atan2(-ue, -un)
        elif yb == 1:
            yaw = o.initial_yaw_rad
        elif yb == 3:
            yaw = math.atan2(te, tn)
        else:
            yaw = None
        return Setpoint(
            yaw_rad=yaw,
            velocity=(vn, ve, vd),
            limits=self.limits(p.get("MPC_XY_VEL_MAX")),
        )

    def start_orbit(
        self, center: Target, radius_m: float, speed_m_s: float, yaw_behaviour: int
    ) -> None:
        p = self.s.params
        r = max(1.0, min(abs(radius_m), p.get("MC_ORBIT_RAD_MAX")))
        v = abs(speed_m_s) if math.isfinite(speed_m_s) and speed_m_s != 0 else 1.0
        v = min(v, math.sqrt(p.get("MPC_ACC_HOR") * r), p.get("MPC_XY_VEL_MAX"))
        cw = (radius_m >= 0) == (not math.isfinite(speed_m_s) or speed_m_s >= 0)
        self.orbit = Orbit(center, r, v, cw, yaw_behaviour, self.s.body.yaw_rad)

    # ---- mission -------------------------------------------------------------------------

    def set_mission(self, items: Sequence[MissionItem]) -> None:
        m = self.mission
        m.items = list(items)
        m.current = 0
        m.jumps_done.clear()
        m.phase = "goto"
        m.target = None
        m.state = MissionState.NOT_STARTED if items else MissionState.NO_MISSION
        if self.s.mode is FlightMode.MISSION and items:
            m.state = MissionState.ACTIVE

    def set_current(self, seq: int) -> bool:
        m = self.mission
        if not 0 <= seq < len(m.items):
            return False
        m.current, m.phase, m.target = seq, "goto", None
        if m.state == MissionState.COMPLETE:
            m.state = MissionState.NOT_STARTED
        self.events.append(self.mission_current())
        return True

    def mission_current(self) -> Any:
        m = self.mission
        seq = min(m.current, max(0, len(m.items) - 1))
        mission_mode = 1 if self.s.mode is FlightMode.MISSION else 2
        return mav.MAVLink_mission_current_message(seq, len(m.items), m.state, mission_mode)

    def _advance(self, reached: bool = True) -> None:
        m = self.mission
        if reached:
            self.events.append(mav.MAVLink_mission_item_reached_message(m.current))
        m.current += 1
        last = m.target
        m.phase, m.target = "goto", None
        self._process_do_items()
        if m.current >= len(m.items):
            m.current = len(m.items)
            m.state = MissionState.COMPLETE
            # PX4 loiters at the last waypoint once the mission is complete: "Mission finished,
            # loitering", and its commander switches to Hold (a mission ending landed stays).
            self.hold_target = last if last is not None and self.s.in_air else self.here()
            m.target = self.hold_target
            if self.s.in_air and self.s.mode is FlightMode.MISSION:
                self.auto_switch(FlightMode.HOLD)
        self.events.append(self.mission_current())

    def _process_do_items(self) -> None:
        """Run DO_* items at the cursor until the next NAV item (or the end)."""
        m = self.mission
        guard = 0
        while m.current < len(m.items) and guard < 10_000:
            guard += 1
            it = m.items[m.current]
            if it.command in NAV_COMMANDS:
                return
            if it.command == DO_JUMP:
                target, repeat = round(it.param1), round(it.param2)
                done = m.jumps_done.get(it.seq, 0)
                if 0 <= target < len(m.items) and (repeat < 0 or done < repeat):
                    m.jumps_done[it.seq] = done + 1
                    m.current = target
                    continue
            elif it.command == DO_CHANGE_SPEED:
                if it.param2 > 0:
                    self.cruise_speed_m_s = it.param2
                elif it.param2 == -2:
                    self.cruise_speed_m_s = None
            elif it.command == DO_SET_ROI_LOCATION:
                self.roi = self.target_of(it.lat_deg, it.lon_deg, it.z, it.frame in RELATIVE_FRAMES)
            elif it.command == DO_SET_ROI_NONE:
                self.roi = None
            m.current += 1

    def _mission_sp(self) -> Setpoint:
        m, s, b = self.mission, self.s, self.s.body
        if m.state != MissionState.ACTIVE:
            t = m.target or self.hold_target or self.here()
            return self._sp(t, None)
        if m.target is None:
            self._process_do_items()
            if m.current >= len(m.items):
                m.state = MissionState.COMPLETE
                self.events.append(self.mission_current())
                self.hold_target = self.here()
                return self._sp(self.hold_target, None)
        it = m.items[m.current]
        if m.target is None:
            rel = it.frame in RELATIVE_FRAMES
            if it.command == NAV_RETURN_TO_LAUNCH:
                # PX4 ends the mission ("Mission finished") and its commander switches to RTL.
                self.events.append(mav.MAVLink_mission_item_reached_message(m.current))
                m.current, m.state, m.target = len(m.items), MissionState.COMPLETE, None
                self.events.append(self.mission_current())
                self.mode_after_disarm = FlightMode.HOLD
                s.mode = FlightMode.RTL
                self.enter(FlightMode.RTL)
                return self._rtl_sp()
            if it.command == NAV_TAKEOFF:
                here = self.here()
                t = self.target_of(math.nan, math.nan, it.z, rel)
                m.target = Target(here.north_m, here.east_m, min(t.down_m, here.down_m))
            else:
                m.target = self.target_of(it.lat_deg, it.lon_deg, it.z, rel)
                alt_rad = s.params.get("NAV_MC_ALT_RAD")
                if m.climb_check and m.target.down_m < b.down_m - alt_rad:
                    # PX4 climbs (or takes off) over its position to the first waypoint's
                    # altitude before flying to it: "Climb to N meters above home".
                    m.phase, m.climb_from_ground = "climb", not s.in_air
            m.climb_check = False
        t = m.target
        if m.phase == "climb":
            up = Target(b.north_m, b.east_m, t.down_m)
            if s.in_air and b.down_m < up.down_m + s.params.get("NAV_MC_ALT_RAD"):
                m.phase = "goto"
            sp = self._sp(up, None)
            return self._takeoff_limits(sp) if m.climb_from_ground else sp
        if m.phase == "land":
            sp = self._land_sp(t)
            if not s.in_air and s.flew_since_arming:
                self._advance()
            return sp
        if m.phase == "hold":
            if it.command != NAV_LOITER_UNLIM and s.sim_time_s >= m.hold_until_s:
                self._advance()
            return self._sp(t, self._yaw_for(it, t))
        # goto
        hdist = math.hypot(t.north_m - b.north_m, t.east_m - b.east_m)
        vdist = abs(t.down_m - b.down_m)
        acc = (
            it.param2
            if it.command == NAV_WAYPOINT and it.param2 > 0
            else s.params.get("NAV_ACC_RAD")
        )
        if it.command == NAV_TAKEOFF:
            reached = vdist < s.params.get("NAV_MC_ALT_RAD")
        elif it.command in (NAV_LOITER_TIME, NAV_LOITER_UNLIM, NAV_LAND):
            reached = hdist < 1.0 and vdist < s.params.get("NAV_MC_ALT_RAD")
        else:
            reached = hdist < acc and vdist < s.params.get("NAV_MC_ALT_RAD")
        if reached:
            if it.command == NAV_LAND:
                m.phase = "land"
            elif it.command == NAV_LOITER_UNLIM:
                m.phase = "hold"
                self.events.append(mav.MAVLink_mission_item_reached_message(m.current))
            elif it.command in (NAV_WAYPOINT, NAV_LOITER_TIME) and it.param1 > 0:
                m.phase = "hold"
                m.hold_until_s = s.sim_time_s + it.param1
            else:
                self._advance()
        if it.command == NAV_TAKEOFF:
            return self._takeoff_limits(self._sp(t, None))
        sp = self._sp(t, self._yaw_for(it, t))
        if it.command == NAV_WAYPOINT and it.param1 <= 0 and m.phase == "goto":
            sp.xy_final_speed_m_s = self._corner_speed(t, acc)
        return sp

    def _next_position(self) -> Target | None:
        """The position of the next NAV item after the current one (None: stop there)."""
        m = self.mission
        for it in m.items[m.current + 1:]:
            if it.command in (NAV_WAYPOINT, NAV_LOITER_TIME, NAV_LOITER_UNLIM, NAV_LAND):
                return self.target_of(it.lat_deg, it.lon_deg, it.z, it.frame in RELATIVE_FRAMES)
            if it.command in NAV_COMMANDS or it.command == DO_JUMP:
                return None
        return None

    def _corner_speed(self, t: Target, acc_rad_m: float) -> float:
        """PX4's speed through a waypoint (TrajectoryConstraints.hpp): the speed on a circle
        tangent to both legs within the acceptance radius at MPC_XY_TRAJ_P x MPC_ACC_HOR, and
        no more than can still be braked to a stop on the next leg."""
        nxt = self._next_position()
        b, p = self.s.body, self.s.params
        if nxt is None:
            return 0.0
        in_n, in_e = t.north_m - b.north_m, t.east_m - b.east_m
        out_n, out_e = t.north_m - nxt.north_m, t.east_m - nxt.east_m
        leg = math.hypot(out_n, out_e)
        d_in = math.hypot(in_n, in_e)
        if leg < acc_rad_m or d_in < 1e-3:
            return 0.0
        cos_a = (in_n * out_n + in_e * out_e) / (d_in * leg)
        alpha = min(math.acos(max(-1.0, min(1.0, cos_a))), math.pi - 1e-6)
        acc = p.get("MPC_XY_TRAJ_P") * p.get("MPC_ACC_HOR")
        turn = math.sqrt(acc * acc_rad_m * math.tan(alpha / 2.0))
        stop = max_speed_from_distance(p.get("MPC_JERK_AUTO"), p.get("MPC_ACC_HOR"), leg, 0.0)
        return min(turn, stop, self.limits().xy_speed_m_s)

    def _yaw_for(self, it: MissionItem, t: Target) -> float | None:
        if it.command == NAV_WAYPOINT and math.isfinite(it.param4):
            return wrap_pi(math.radians(it.param4))
        return self._face(t)
