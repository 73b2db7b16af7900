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

from sitl.mission import MissionItem
from sitl.physics import Limits, Setpoint, wrap_pi
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


@dataclass(slots=True)
class MissionRun:
    """Progress through the uploaded mission."""

    items: list[MissionItem] = field(default_factory=list)
    current: int = 0
    state: int = MissionState.NO_MISSION
    phase: str = "goto"  # goto | hold | unlim | land | rtl | climb
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
        self._reposition_yaw: float | None = None
        self._rtl_return_down = 0.0

    # ---- helpers -----------------------------------------------------------------------

    def here(self) -> Target:
        b = self.s.body
        return Target(b.north_m, b.east_m, b.down_m)

    def limits(self, speed_m_s: float | None = None) -> Limits:
        p = self.s.params
        xy = speed_m_s or self.cruise_speed_m_s or p.get("MPC_XY_CRUISE")
        return Limits(
            xy_speed_m_s=min(xy, p.get("MPC_XY_VEL_MAX")),
            up_speed_m_s=p.get("MPC_Z_VEL_MAX_UP"),
            down_speed_m_s=p.get("MPC_Z_VEL_MAX_DN"),
            acc_xy_m_s2=p.get("MPC_ACC_HOR"),
            acc_up_m_s2=p.get("MPC_ACC_UP_MAX"),
            acc_down_m_s2=p.get("MPC_ACC_DOWN_MAX"),
            yaw_rate_deg_s=p.get("MPC_YAWRAUTO_MAX"),
        )

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
        return Setpoint(t.north_m, t.east_m, t.down_m, yaw_rad=yaw, limits=self.limits(speed))

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
            self.events.append(self.mission_current())
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
            sp.limits = self.limits(s.params.get("MPC_XY_VEL_MAX"))
        elif mode is FlightMode.MISSION:
            sp = self._mission_sp()
        else:
            t = self.hold_target or self.here()
            yaw = self._reposition_yaw
            if yaw is None or not math.isfinite(yaw):
                yaw = self._face(t)
            sp = self._sp(t, yaw)
        if not s.armed:
            sp = self._sp(self.here(), None)
            sp.down_m = 0.0
        s.setpoint = sp

    def landed_state(self) -> LandedState:
        s = self.s
        if not s.in_air:
            if s.armed and s.setpoint.down_m < -0.1:
                return LandedState.TAKEOFF
            return LandedState.ON_GROUND
        if s.mode is FlightMode.LAND or (s.mode is FlightMode.RTL and self.rtl_phase == "land"):
            return LandedState.LANDING
        if s.mode is FlightMode.MISSION and self.mission.phase == "land":
            return LandedState.LANDING
        if s.mode is FlightMode.TAKEOFF:
            return LandedState.TAKEOFF
        return LandedState.IN_AIR

    # ---- takeoff / land ------------------------------------------------------------------

    def _takeoff_sp(self) -> Setpoint:
        t = self.takeoff_target or self.here()
        sp = self._sp(t, None)
        sp.limits.up_speed_m_s = min(sp.limits.up_speed_m_s, self.s.params.get("MPC_TKO_SPEED"))
        if abs(self.s.body.down_m - t.down_m) < 0.3:
            # PX4 switches to Hold once the takeoff altitude is reached.
            self.s.mode = FlightMode.HOLD
            self.hold_target = t
            self.takeoff_target = None
            self._reposition_yaw = None
        return sp

    def _land_sp(self, over: Target) -> Setpoint:
        p = self.s.params
        h = self.s.rel_alt_m
        fast, slow = p.get("MPC_Z_VEL_MAX_DN"), p.get("MPC_LAND_SPEED")
        down = fast if h > 10.0 else slow if h < 5.0 else slow + (fast - slow) * (h - 5.0) / 5.0
        sp = self._sp(Target(over.north_m, over.east_m, 50.0), None)
        sp.limits.down_speed_m_s = down
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

    def _rtl_sp(self) -> Setpoint:
        p, b = self.s.params, self.s.body
        if self.rtl_target is None:
            self.rtl_target = self._rtl_destination()
            return_alt = max(self.s.rel_alt_m, p.get("RTL_RETURN_ALT"))
            self._rtl_return_down = self.home_down_rel(return_alt)
            if (
                math.hypot(self.rtl_target.north_m - b.north_m, self.rtl_target.east_m - b.east_m)
                < 5.0
            ):
                self.rtl_phase = "descend"
            self.rtl_phase = "land" if not self.s.in_air else self.rtl_phase
        dest = self.rtl_target
        if self.rtl_phase == "climb":
            t = Target(b.north_m, b.east_m, self._rtl_return_down)
            if abs(b.down_m - t.down_m) < 1.0:
                self.rtl_phase = "return"
            return self._sp(t, None)
        if self.rtl_phase == "return":
            t = Target(dest.north_m, dest.east_m, self._rtl_return_down)
            if math.hypot(t.north_m - b.north_m, t.east_m - b.east_m) < 1.5:
                self.rtl_phase = "descend"
            return self._sp(t, self._face(t))
        if self.rtl_phase == "descend":
            descend_down = max(self._rtl_return_down, self.home_down_rel(p.get("RTL_DESCEND_ALT")))
            t = Target(dest.north_m, dest.east_m, descend_down)
            if b.down_m >= descend_down - 1.0:
                self.rtl_phase = "delay"
                self.rtl_delay_until_s = self.s.sim_time_s + max(0.0, p.get("RTL_LAND_DELAY"))
            return self._sp(t, None)
        if self.rtl_phase == "delay":
            t = Target(dest.north_m, dest.east_m, b.down_m)
            if p.get("RTL_LAND_DELAY") >= 0 and self.s.sim_time_s >= self.rtl_delay_until_s:
                self.rtl_phase = "land"
            return self._sp(t, None)
        return self._land_sp(dest)

    # ---- orbit ---------------------------------------------------------------------------

    def _orbit_sp(self) -> Setpoint:
        o = self.orbit
        assert o is not None
        b = self.s.body
        dn, de = b.north_m - o.center.north_m, b.east_m - o.center.east_m
        dist = math.hypot(dn, de) or 1e-6
        un, ue = dn / dist, de / dist  # outward unit vector
        sign = 1.0 if o.clockwise else -1.0
        tn, te = -ue * sign, un * sign  # tangent (clockwise = increasing bearing)
        radial_err = o.radius_m - dist
        radial_v = max(
            -self.limits().xy_speed_m_s, min(self.limits().xy_speed_m_s, 1.0 * radial_err)
        )
        blend = max(0.0, 1.0 - abs(radial_err) / 10.0)
        vn = tn * o.speed_m_s * blend + un * radial_v
        ve = te * o.speed_m_s * blend + ue * radial_v
        dd = o.center.down_m - b.down_m
        vd = max(-3.0, min(1.5, 1.0 * dd))
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
        sp = Setpoint(
            yaw_rad=yaw,
            velocity=(vn, ve, vd),
            limits=self.limits(self.s.params.get("MPC_XY_VEL_MAX")),
        )
        sp.limits.yaw_rate_deg_s = max(sp.limits.yaw_rate_deg_s, 60.0)
        return sp

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
            # PX4 loiters at the last waypoint once the mission is complete.
            self.hold_target = last if last is not None and self.s.in_air else self.here()
            m.target = self.hold_target
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
                m.phase = "rtl"
                self.rtl_phase, self.rtl_target = "climb", None
                m.target = self.here()
            elif it.command == NAV_TAKEOFF:
                here = self.here()
                t = self.target_of(math.nan, math.nan, it.z, rel)
                m.target = Target(here.north_m, here.east_m, min(t.down_m, here.down_m))
            else:
                m.target = self.target_of(it.lat_deg, it.lon_deg, it.z, rel)
                if not s.in_air:
                    m.phase = "climb"  # PX4 takes off vertically before the first waypoint
        t = m.target
        if m.phase == "rtl":
            sp = self._rtl_sp()
            if not s.armed or (not s.in_air and self.rtl_phase == "land"):
                self._advance()
            return sp
        if m.phase == "climb":
            up = Target(
                b.north_m,
                b.east_m,
                min(t.down_m, self.home_down_rel(s.params.get("MIS_TAKEOFF_ALT"))),
            )
            if abs(b.down_m - up.down_m) < 0.5:
                m.phase = "goto"
            return self._sp(up, None)
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
            sp = self._sp(t, None)
            sp.limits.up_speed_m_s = min(sp.limits.up_speed_m_s, s.params.get("MPC_TKO_SPEED"))
            return sp
        return self._sp(t, self._yaw_for(it, t))

    def _yaw_for(self, it: MissionItem, t: Target) -> float | None:
        if it.command == NAV_WAYPOINT and math.isfinite(it.param4):
            return wrap_pi(math.radians(it.param4))
        return self._face(t)
