"""A sans-IO simulated PX4 multicopter: MAVLink in, MAVLink out, physics in simulated seconds.

    replies = vehicle.handle(msg, now_s)   # a message from the ground station (wall-clock now)
    vehicle.step(dt_s)                     # advance physics by dt_s simulated seconds
    out = vehicle.due_messages(now_s)      # telemetry due at wall-clock now

Stream rates, the heartbeat and the link-loss timers run on the wall clock passed in (MAVSDK's
timeouts are wall clock); physics, mission timing and the battery run on simulated time, which the
runner may advance faster than real time.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any, Protocol

from pymavlink.dialects.v20 import common as mav

from sitl import commands, telemetry
from sitl.flight import Navigator, Target
from sitl.follow import TargetFix
from sitl.geofence import Geofence
from sitl.mission import MissionStore, MissionType
from sitl.params import Params
from sitl.physics import Battery, Home, LocalFrame, Wind
from sitl.state import CommandFault, Fault, FlightMode, VehicleState
from sitl.traffic import Ownship, TrafficOnboard, TransponderReport, report_of_adsb

GCS_MESSAGE_IDS = {mav.MAVLINK_MSG_ID_HEARTBEAT}
MISSION_IDS = {
    mav.MAVLINK_MSG_ID_MISSION_COUNT,
    mav.MAVLINK_MSG_ID_MISSION_ITEM_INT,
    mav.MAVLINK_MSG_ID_MISSION_ITEM,
    mav.MAVLINK_MSG_ID_MISSION_REQUEST_LIST,
    mav.MAVLINK_MSG_ID_MISSION_REQUEST_INT,
    mav.MAVLINK_MSG_ID_MISSION_REQUEST,
    mav.MAVLINK_MSG_ID_MISSION_CLEAR_ALL,
    mav.MAVLINK_MSG_ID_MISSION_ACK,
}
PREFLIGHT_DISARM_S = "COM_DISARM_PRFLT"
# Modes PX4 does not return to after a disarm (mode_requirements.cpp: mode_req_prevent_arming).
PREVENTS_ARMING = frozenset({FlightMode.RTL, FlightMode.LAND, FlightMode.ORBIT,
                             FlightMode.FOLLOW_TARGET, FlightMode.PRECLAND})
# After touch down PX4's land detector waits for the thrust to wind down before its
# LNDMC_TRIG_TIME hysteresis starts: touch down to "Landing detected" took 6-9 s on PX4 SIH
# (measured with bench/parity.py).
THRUST_WINDDOWN_S = 5.5
MIN_SPACING = 0.7
"""Two messages of a stream are never closer than this fraction of its interval, as with PX4
(80-120 ms apart at 10 Hz). The streams go out on the fleet's ticks (20 Hz for a large fleet):
a 10 Hz position due just at a tick went out late on one tick and on time on the next, 50 ms
apart, and the controller, which paces each drone on its samples, skipped the second (one drone
in 250 came out at 9.0 msg/s in the bench). A message that would come too soon after the last
waits a tick; the stream keeps its rate."""
# NAV_TRAFF_AVOID 2/3: the command PX4's navigator sends (RTL, NAV_LAND). For 4 it sends
# LOITER_UNLIM, which PX4 (a70a5583) does not act on: measured, it kept flying a goto in Hold
# and a mission in Mission (bench/traffic_parity.py).
TRAFFIC_MODES = {2: FlightMode.RTL, 3: FlightMode.LAND}
TRAFFIC_TEXTS = {FlightMode.RTL: "Returning to launch\t",
                 FlightMode.LAND: "Landing at current position\t"}


class Payload(Protocol):
    """Another component on the vehicle's link (e.g. sitl.camera's camera and gimbal)."""

    def handle(self, msg: Any, now_s: float) -> list[Any] | None:
        """Replies, or None when the message is the autopilot's to handle."""

    def step(self, dt_s: float) -> None: ...

    def due_messages(self, now_s: float) -> list[Any]: ...


class SimVehicle:
    """One simulated PX4 quadrotor."""

    def __init__(
        self,
        home: Home,
        system_id: int = 1,
        seed: int = 0,
        params: dict[str, float] | None = None,
    ) -> None:
        rng = random.Random(seed * 7919 + system_id)
        self.state = VehicleState(
            system_id=system_id,
            frame=LocalFrame(home.lat_deg, home.lon_deg, home.alt_amsl_m),
            home=home,
            params=Params({"MAV_SYS_ID": system_id, **(params or {})}),
            rng=rng,
        )
        s = self.state
        s.wind = Wind.seeded(rng)
        s.battery = Battery(
            capacity_mah=s.params.get("BAT1_CAPACITY"), cells=s.params.get_int("BAT1_N_CELLS")
        )
        self.nav = Navigator(s)
        self.nav.enter(s.mode)
        self.missions = MissionStore()
        self.fence = Geofence()
        self.command_counts: Counter[int] = Counter()  # like MockLink: commands received by id
        self.message_counts: Counter[str] = Counter()  # messages received by type
        self.command_faults: dict[int, CommandFault] = {}  # scripted misbehaviour per command
        self.failsafe_active = False
        self._intervals_s = {k: 1.0 / hz for k, hz in telemetry.DEFAULT_RATES_HZ.items()}
        self._next_due: dict[int, float] = {}
        self._last_sent: dict[int, float] = {}
        # Where in each stream period this vehicle sends: PX4 instances start independently, so
        # a fleet's streams are spread over the period, not all sent on the same tick (a fleet
        # in step overflowed MAVSDK's callback queues once a second: docs/performance.md).
        self._stream_phase = (system_id * 0.6180339887) % 1.0
        self.stream_slack_s = 0.0
        """When a stream is due, the streams due within this much later go in the same datagram
        (the fleet sets one tick: the vehicle sends on fewer ticks, each send a system call)."""
        self._outbox: list[Any] = []
        self._gcs_last_heartbeat_s: float | None = None
        self.link_lost = False
        self._armed_at_s: float | None = None  # wall clock, for COM_DISARM_PRFLT
        self._landed_for_s = 0.0
        self._offboard_last_s: float | None = None
        self._gps_noise = [0.0, 0.0]
        self._battery_warned = 0
        self._fence_breached = False
        self._now_s = 0.0  # last wall-clock time seen
        self.payloads: list[Payload] = []  # camera, gimbal: attached by the fleet
        self.traffic = TrafficOnboard()  # crewed aircraft: PX4's traffic avoidance

    # ---- sans-IO interface -----------------------------------------------------------------

    def handle(self, msg: Any, now_s: float) -> list[Any]:
        """Handle one message from the ground station; returns the immediate replies."""
        self._now_s = now_s
        if Fault.MAVLINK_SIGNAL in self.state.faults:
            return []
        target = getattr(msg, "target_system", 0)
        if target not in (0, self.state.system_id):
            return []
        mid = msg.id
        self.message_counts[msg.get_type()] += 1
        for payload in self.payloads:
            routed = payload.handle(msg, now_s)
            if routed is not None:
                return routed
        if mid == mav.MAVLINK_MSG_ID_HEARTBEAT:
            if msg.type == mav.MAV_TYPE_GCS:
                self._gcs_last_heartbeat_s = now_s
                if self.link_lost:
                    self.link_lost = False
                    return [_text(mav.MAV_SEVERITY_INFO, "Data link regained")]
            return []
        if mid in (mav.MAVLINK_MSG_ID_COMMAND_LONG, mav.MAVLINK_MSG_ID_COMMAND_INT):
            return commands.handle_command(self, msg, now_s)
        if mid in MISSION_IDS:
            replies = self.missions.handle(msg, now_s)
            self._apply_mission_changes()
            return replies
        if mid == mav.MAVLINK_MSG_ID_MISSION_SET_CURRENT:
            self.nav.set_current(msg.seq)
            return self._drain_events()
        if mid in (
            mav.MAVLINK_MSG_ID_PARAM_REQUEST_READ,
            mav.MAVLINK_MSG_ID_PARAM_REQUEST_LIST,
            mav.MAVLINK_MSG_ID_PARAM_SET,
        ):
            return commands.handle_param(self, msg)
        if mid == mav.MAVLINK_MSG_ID_SET_POSITION_TARGET_LOCAL_NED:
            commands.offboard_local(self, msg, now_s)
            return []
        if mid == mav.MAVLINK_MSG_ID_SET_POSITION_TARGET_GLOBAL_INT:
            commands.offboard_global(self, msg, now_s)
            return []
        if mid == mav.MAVLINK_MSG_ID_FOLLOW_TARGET:
            self._follow_target(msg)
            return []
        if mid == mav.MAVLINK_MSG_ID_ADSB_VEHICLE:
            return self._traffic_report(report_of_adsb(msg))
        if mid == mav.MAVLINK_MSG_ID_PING and msg.target_system == 0:
            return [mav.MAVLink_ping_message(
                msg.time_usec, msg.seq, msg.get_srcSystem(), msg.get_srcComponent()
            )]
        if mid == mav.MAVLINK_MSG_ID_TIMESYNC and msg.tc1 == 0:
            return [mav.MAVLink_timesync_message(round(now_s * 1e9), msg.ts1)]
        return []

    @property
    def resting(self) -> bool:
        """Disarmed on the ground, not crashed: one step of any length is as good as many short
        ones (nothing moves; wind gusts and GPS noise are exact Ornstein-Uhlenbeck steps; no
        current drawn), so a fleet steps a resting vehicle once per tick (sitl.fleet)."""
        s = self.state
        return not s.armed and s.body.on_ground and not s.crashed

    def step(self, dt_s: float) -> None:
        """Advance the simulation by dt_s simulated seconds."""
        s = self.state
        s.sim_time_s += dt_s
        s.wind.step(dt_s, s.rng)
        self._gps_step(dt_s)
        if self.resting:
            # Disarmed on the ground (a docked fleet, mostly): nothing moves, nothing to fly.
            s.battery.step(False, s.body, s.wind, dt_s)
            self._land_detector(dt_s)
            self._outbox.extend(self._drain_events())
            return
        self.nav.step(dt_s)
        if s.crashed or (Fault.MOTOR in s.faults and s.armed and s.in_air):
            s.body.step_free_fall(dt_s)
            if not s.in_air and s.armed:
                s.crashed = True
                self.disarm("Crash detected: disarmed")
        else:
            s.body.step(s.setpoint, s.wind, dt_s)
        s.battery.step(s.armed, s.body, s.wind, dt_s)
        if s.in_air:
            s.flew_since_arming = s.flew_since_arming or s.armed
        self._land_detector(dt_s)
        self._gps_failsafe()
        self._battery_failsafe()
        self._fence_check()
        for adsb, report in self.traffic.receiver_reports(s.sim_time_s):
            self._outbox.append(adsb)
            self._outbox.extend(self._traffic_report(report))
        self._outbox.extend(self._drain_events())
        for payload in self.payloads:
            payload.step(dt_s)

    def due_messages(self, now_s: float) -> list[Any]:
        """Messages due at wall-clock now_s: streams, one-shot replies and failsafe notices."""
        self._now_s = now_s
        self._wall_timers(now_s)
        out = self._outbox
        self._outbox = []
        out.extend(self.missions.poll(now_s))
        if Fault.MAVLINK_SIGNAL in self.state.faults:
            return []
        due = self._next_due
        limit = now_s + self.stream_slack_s
        ready: list[tuple[int, float, float | None]] = []
        any_due = False
        last = self._last_sent
        for mid, interval in self._intervals_s.items():
            if interval <= 0:
                continue
            t = due.get(mid)
            if t is not None and (
                t > limit or now_s - last.get(mid, -math.inf) < MIN_SPACING * interval
            ):
                continue
            ready.append((mid, interval, t))
            any_due = any_due or t is None or t <= now_s
        if not any_due:
            ready = []
        for mid, interval, t in ready:
            out.append(telemetry.BUILDERS[mid](self))
            last[mid] = now_s
            if t is None:  # the first at once (discovery), then at this vehicle's phase
                due[mid] = now_s + interval * (1.0 + self._stream_phase)
            elif now_s - t > interval:
                due[mid] = now_s + interval
            else:  # on time, or up to the slack early: the schedule itself does not move
                due[mid] = t + interval
        for payload in self.payloads:
            out.extend(payload.due_messages(now_s))
        return out

    def restart_streams(self) -> None:
        """Make every stream due now (test hook: a client that just started listening gets the
        full state without waiting a stream period)."""
        self._next_due.clear()

    # ---- simulator-only hooks (tests) ------------------------------------------------------

    def inject(self, fault: Fault, on: bool = True) -> None:
        """Switch a fault on or off directly (no SYS_FAILURE_EN needed)."""
        if on:
            self.state.faults.add(fault)
        else:
            self.state.faults.discard(fault)
        self.state.battery.fault_empty = Fault.BATTERY in self.state.faults

    def set_battery(self, remaining: float) -> None:
        self.state.battery.remaining = max(0.0, min(1.0, remaining))

    def carry_to(self, lat_deg: float, lon_deg: float) -> None:
        """A recovery crew carries the (disarmed) vehicle and puts it down at (lat, lon), on
        the ground at its home's height (e.g. back on its dock)."""
        st = self.state
        if st.armed:
            raise ValueError("only a disarmed vehicle can be carried")
        b = st.body
        b.north_m, b.east_m, b.down_m = st.frame.to_ned(lat_deg, lon_deg, st.home.alt_amsl_m)
        b.vn_m_s = b.ve_m_s = b.vd_m_s = 0.0
        b.on_ground = True

    @property
    def gcs_last_heartbeat_s(self) -> float | None:
        """Wall-clock time of the last ground-station HEARTBEAT, None before the first."""
        return self._gcs_last_heartbeat_s

    # ---- used by commands / telemetry -------------------------------------------------------

    def time_boot_ms(self) -> int:
        return round(self.state.sim_time_s * 1000) & 0xFFFFFFFF

    @property
    def gps_ok(self) -> bool:
        return Fault.GPS not in self.state.faults

    def reported_position(self) -> tuple[float, float, float]:
        lat, lon, alt = self.state.position()
        n, e = self._gps_noise
        f = self.state.frame
        return lat + n / f._m_per_deg_lat, lon + e / f._m_per_deg_lon, alt

    def battery_level(self) -> int:
        """0 ok, 1 low, 2 critical, 3 emergency (PX4 battery warning levels)."""
        r = self.state.battery.shown_remaining
        p = self.state.params
        if r <= p.get("BAT_EMERGEN_THR"):
            return 3
        if r <= p.get("BAT_CRIT_THR"):
            return 2
        if r <= p.get("BAT_LOW_THR"):
            return 1
        return 0

    def prearm_failure(self) -> str | None:
        """Why PX4 would refuse to arm now, or None."""
        s = self.state
        if not self.gps_ok:
            return "Preflight Fail: GPS fix too low"
        if self.battery_level() >= 1:
            return "Preflight Fail: low battery"
        if Fault.MOTOR in s.faults or s.crashed:
            return "Preflight Fail: motor failure"
        if s.mode is FlightMode.FOLLOW_TARGET:  # a mode that prevents arming (PX4 SIH's words)
            return "Arming denied: Resolve system health failures first"
        # PX4 (main 2025-08) arms outside an uploaded inclusion fence: no fence check here.
        return None

    def set_mode(self, mode: FlightMode, intended: bool = True) -> bool:
        """Switch mode as PX4 would; False when the switch is refused. ``intended``: the
        user asked for it (a failsafe does not change the mode PX4 returns to after a disarm)."""
        s = self.state
        if mode is FlightMode.MISSION and not self.nav.mission.items:
            return False
        if mode is FlightMode.OFFBOARD:
            last = self._offboard_last_s
            if last is None or self._now_s - last > s.params.get("COM_OF_LOSS_T"):
                return False
        if (
            mode
            in (
                FlightMode.HOLD,
                FlightMode.RTL,
                FlightMode.MISSION,
                FlightMode.TAKEOFF,
                FlightMode.ORBIT,
                FlightMode.POSCTL,
                FlightMode.LAND,
                FlightMode.FOLLOW_TARGET,
            )
            and not self.gps_ok
        ):
            return False
        if intended and mode not in PREVENTS_ARMING:
            self.nav.mode_after_disarm = mode
        if mode is not s.mode or mode is FlightMode.MISSION:
            s.mode = mode
            self.nav.enter(mode)
            if mode is not FlightMode.TAKEOFF and s.armed and not s.in_air:
                self._armed_at_s = self._armed_at_s or self._now_s
        self.failsafe_active = False
        return True

    def arm(self, now_s: float) -> None:
        s = self.state
        s.armed = True
        s.flew_since_arming = False
        s.crashed = False
        lat, lon, alt = s.position()
        s.home = Home(lat, lon, alt)
        self.nav.home_yaw_rad = s.body.yaw_rad
        self._armed_at_s = now_s
        self._landed_for_s = 0.0
        if s.mode in (FlightMode.LAND, FlightMode.RTL, FlightMode.TAKEOFF):
            s.mode = FlightMode.HOLD
            self.nav.enter(s.mode)

    def disarm(self, reason: str | None = None) -> None:
        s = self.state
        s.armed = False
        self._armed_at_s = None
        self.nav.land_detected = False
        if reason:
            self._outbox.append(_text(mav.MAV_SEVERITY_INFO, reason))
        after = self.nav.mode_after_disarm
        if s.mode is not after:  # PX4 goes back to the mode the user last chose
            s.mode = after
            self.nav.enter(after)

    def takeoff_started(self) -> None:
        self._armed_at_s = None

    def offboard_seen(self, now_s: float) -> None:
        self._offboard_last_s = now_s

    def failsafe(self, action: FlightMode | None, why: str) -> None:
        """Apply a failsafe: switch mode (None = warn only) and tell the ground station."""
        self._outbox.append(_text(mav.MAV_SEVERITY_CRITICAL, why))
        if action is None:
            return
        self.set_mode(action, intended=False)
        self.failsafe_active = True

    def queue(self, msgs: list[Any]) -> None:
        self._outbox.extend(msgs)

    # ---- internals ---------------------------------------------------------------------------

    def _follow_target(self, msg: Any) -> None:
        """FOLLOW_TARGET: PX4 reads lat, lon, alt and vel only, stamped on arrival; only the
        Follow Target mode's estimator listens."""
        follow = self.nav.follow
        if follow is None:
            return
        s = self.state
        n, e, d = s.frame.to_ned(msg.lat * 1e-7, msg.lon * 1e-7, msg.alt)
        vel = (float(msg.vel[0]), float(msg.vel[1]), float(msg.vel[2]))
        follow.on_target(TargetFix(s.sim_time_s, (n, e, d), vel))

    def _drain_events(self) -> list[Any]:
        ev = self.nav.events
        self.nav.events = []
        return ev

    def _apply_mission_changes(self) -> None:
        for mtype in self.missions.changed:
            items = self.missions.items(mtype)
            if mtype is MissionType.MISSION:
                self.nav.set_mission(items)
            elif mtype is MissionType.FENCE:
                self.fence = Geofence.from_items(items, self.state.frame)
                self._fence_breached = False
            else:
                self.nav.rally = [
                    self.nav.target_of(it.lat_deg, it.lon_deg, it.z, it.frame in (3, 6, 10, 11))
                    for it in items
                ]
        self.missions.changed.clear()

    def _gps_step(self, dt_s: float) -> None:
        a = math.exp(-dt_s / 20.0)
        s = 0.4 * math.sqrt(1 - a * a)
        g = self._gps_noise
        rng = self.state.rng
        g[0] = a * g[0] + s * rng.gauss(0.0, 1.0)
        g[1] = a * g[1] + s * rng.gauss(0.0, 1.0)

    def _land_detector(self, dt_s: float) -> None:
        """PX4's land detector: touched down and not asked to climb for the thrust wind-down
        plus LNDMC_TRIG_TIME -> "Landing detected"; disarmed COM_DISARM_LAND later."""
        s, nav = self.state, self.nav
        if not s.armed or s.in_air or not s.flew_since_arming:
            self._landed_for_s = 0.0
            nav.touched_down = False
            return
        if s.setpoint.down_m < -0.5 and s.mode not in (FlightMode.LAND, FlightMode.RTL):
            self._landed_for_s = 0.0
            return
        nav.touched_down = True
        self._landed_for_s += dt_s
        detect = THRUST_WINDDOWN_S + s.params.get("LNDMC_TRIG_TIME")
        if not nav.land_detected:
            if self._landed_for_s < detect:
                return
            nav.land_detected = True
            self._outbox.append(_text(mav.MAV_SEVERITY_INFO, "Landing detected"))
        delay = s.params.get("COM_DISARM_LAND")
        if delay > 0 and self._landed_for_s >= detect + delay:
            self.disarm("Disarmed by landing")

    def _wall_timers(self, now_s: float) -> None:
        s, p = self.state, self.state.params
        # Preflight auto-disarm: armed but never took off (wall clock, like a user's patience).
        if (
            s.armed
            and self._armed_at_s is not None
            and not s.flew_since_arming
            and not s.in_air
            and s.setpoint.down_m > -0.1
            and p.get(PREFLIGHT_DISARM_S) > 0
            and now_s - self._armed_at_s > p.get(PREFLIGHT_DISARM_S)
        ):
            self.disarm("Disarmed: no takeoff")
        # Data-link loss.
        # (An injected MAVLINK_SIGNAL fault drops incoming messages, so heartbeats stop too.)
        last = self._gcs_last_heartbeat_s
        if last is not None and not self.link_lost and now_s - last > p.get("COM_DL_LOSS_T"):
            self.link_lost = True
            act = p.get_int("NAV_DLL_ACT")
            if s.armed and s.in_air and act:
                mode = {1: FlightMode.HOLD, 2: FlightMode.RTL, 3: FlightMode.LAND}.get(act)
                if act in (5, 6):
                    s.faults.add(Fault.MOTOR)  # terminate / disarm: motors off
                self.failsafe(mode, "Failsafe activated: no connection to ground station")
            else:
                self._outbox.append(_text(mav.MAV_SEVERITY_WARNING, "Data link lost"))
        # Offboard loss.
        last_sp = self._offboard_last_s
        if (
            s.mode is FlightMode.OFFBOARD
            and last_sp is not None
            and now_s - last_sp > p.get("COM_OF_LOSS_T")
        ):
            self.failsafe(FlightMode.HOLD, "Failsafe activated: offboard signal lost")

    def _gps_failsafe(self) -> None:
        """No global position in the air: PX4 falls back to a (blind) landing."""
        s = self.state
        if self.gps_ok or not (s.armed and s.in_air) or s.mode is FlightMode.LAND:
            return
        if s.mode in (FlightMode.OFFBOARD, FlightMode.ALTCTL, FlightMode.STABILIZED,
                      FlightMode.MANUAL, FlightMode.ACRO):
            return
        s.mode = FlightMode.LAND
        self.nav.enter(FlightMode.LAND)
        self.failsafe(None, "Failsafe activated: no global position, landing")
        self.failsafe_active = True

    def _battery_failsafe(self) -> None:
        level = self.battery_level()
        if level <= self._battery_warned:
            return
        self._battery_warned = level
        s = self.state
        act = s.params.get_int("COM_LOW_BAT_ACT")
        names = {1: "low", 2: "critical", 3: "emergency"}
        mode: FlightMode | None = None
        if s.armed and s.in_air:
            if level >= 2 and act == 2:
                mode = FlightMode.LAND
            elif level == 2 and act in (1, 3):
                mode = FlightMode.RTL
            elif level == 3 and act == 3:
                mode = FlightMode.LAND
        self.failsafe(mode, f"Battery {names[level]} level")

    def _fence_allows(self) -> bool:
        b, p = self.state.body, self.state.params
        hn, he, _ = self.state.home_ned()
        max_h, max_v = p.get("GF_MAX_HOR_DIST"), p.get("GF_MAX_VER_DIST")
        if max_h > 0 and math.hypot(b.north_m - hn, b.east_m - he) > max_h:
            return False
        if max_v > 0 and self.state.rel_alt_m > max_v:
            return False
        return self.fence.allows(b.north_m, b.east_m)

    def _fence_check(self) -> None:
        s = self.state
        if not (s.armed and s.in_air) or (
            not self.fence
            and s.params.get("GF_MAX_HOR_DIST") <= 0
            and s.params.get("GF_MAX_VER_DIST") <= 0
        ):
            return
        ok = self._fence_allows()
        if ok or self._fence_breached:
            self._fence_breached = not ok and self._fence_breached
            return
        self._fence_breached = True
        act = s.params.get_int("GF_ACTION")
        if act == 4:
            s.faults.add(Fault.MOTOR)
        mode = {2: FlightMode.HOLD, 3: FlightMode.RTL, 5: FlightMode.LAND}.get(act)
        if act == 0:
            return
        if mode is FlightMode.HOLD:
            # PX4 holds at the breach point.
            self.state.mode = FlightMode.HOLD
            self.nav.enter(FlightMode.HOLD)
            self.nav.hold_target = self.nav.here()
            self.failsafe(None, "Geofence breached: holding")
            self.failsafe_active = True
            return
        self.failsafe(mode, "Geofence breached")

    def _traffic_report(self, report: TransponderReport) -> list[Any]:
        """PX4's Navigator::check_traffic on one report; the action as commander takes it."""
        s, b = self.state, self.state.body
        own = Ownship(*s.position(), b.vn_m_s, b.ve_m_s, b.vd_m_s)
        decision = self.traffic.decide(own, report, s.sim_time_s, s.params)
        event = self.traffic.event(decision, report, self.time_boot_ms())
        out = [] if event is None else [event]
        mode = TRAFFIC_MODES.get(decision.action)
        if mode is not None and decision.conflict and s.armed and s.in_air:
            # As commander takes the command: a notice, then the mode.
            if mode in TRAFFIC_TEXTS:
                out.append(_text(mav.MAV_SEVERITY_INFO, TRAFFIC_TEXTS[mode]))
            self.set_mode(mode)
        return out

    def hold_at(self, target: Target) -> None:
        self.nav.hold_target = target


def _text(severity: int, text: str) -> Any:
    return mav.MAVLink_statustext_message(severity, text.encode()[:50], 0, 0)
