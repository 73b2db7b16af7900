"""COMMAND_LONG / COMMAND_INT, parameter and offboard handling for SimVehicle.

Every command gets one COMMAND_ACK, with the result PX4 would give: ACCEPTED, DENIED (refused in
this state), TEMPORARILY_REJECTED or UNSUPPORTED (a command PX4 does not implement here).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import common as mav

from sitl import telemetry
from sitl.flight import RELATIVE_FRAMES, Target
from sitl.physics import Home, Setpoint
from sitl.state import CommandFault, Fault, FlightMode

if TYPE_CHECKING:
    from sitl.model import SimVehicle

ACCEPTED: int = mav.MAV_RESULT_ACCEPTED
DENIED: int = mav.MAV_RESULT_DENIED
UNSUPPORTED: int = mav.MAV_RESULT_UNSUPPORTED
FORCE_MAGIC = 21196


@dataclass(slots=True)
class Cmd:
    """A command, whichever message carried it. lat/lon in degrees (NaN when not given)."""

    command: int
    p1: float
    p2: float
    p3: float
    p4: float
    lat: float
    lon: float
    alt: float
    frame: int  # MAV_FRAME of a COMMAND_INT; 0 (global AMSL) for COMMAND_LONG

    @property
    def relative(self) -> bool:
        return self.frame in RELATIVE_FRAMES


def _int(x: float, default: int = 0) -> int:
    """round() that maps NaN/inf (\"not given\" in MAVLink params) to a default."""
    return round(x) if math.isfinite(x) else default


def _cmd(msg: Any) -> Cmd:
    if msg.id == mav.MAVLINK_MSG_ID_COMMAND_INT:
        lat = msg.x * 1e-7 if msg.x not in (0, 0x7FFFFFFF) else math.nan
        lon = msg.y * 1e-7 if msg.y not in (0, 0x7FFFFFFF) else math.nan
        return Cmd(
            msg.command, msg.param1, msg.param2, msg.param3, msg.param4, lat, lon, msg.z, msg.frame
        )
    return Cmd(
        msg.command,
        msg.param1,
        msg.param2,
        msg.param3,
        msg.param4,
        msg.param5,
        msg.param6,
        msg.param7,
        0,
    )


def handle_command(v: SimVehicle, msg: Any, now_s: float) -> list[Any]:
    c = _cmd(msg)
    v.command_counts[c.command] += 1
    fault = v.command_faults.get(c.command)
    if fault is CommandFault.NO_ACK:
        return []
    if fault is CommandFault.DROP_FIRST:
        del v.command_faults[c.command]
        return []
    if fault is CommandFault.FAILED:
        return [mav.MAVLink_command_ack_message(
            c.command, mav.MAV_RESULT_FAILED, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
        )]
    out: list[Any] = []
    result = _dispatch(v, c, now_s, out)
    ack = mav.MAVLink_command_ack_message(
        c.command, result, 0, 0, msg.get_srcSystem(), msg.get_srcComponent()
    )
    return [ack, *out]


def _dispatch(v: SimVehicle, c: Cmd, now_s: float, out: list[Any]) -> int:
    s = v.state
    cmd = c.command
    if cmd == mav.MAV_CMD_COMPONENT_ARM_DISARM:
        return _arm_disarm(v, c, now_s, out)
    if cmd == mav.MAV_CMD_NAV_TAKEOFF:
        if not v.gps_ok:
            return DENIED
        if not s.armed:  # PX4 accepts it and shows Takeoff; nothing flies until armed
            v.set_mode(FlightMode.TAKEOFF)
            return ACCEPTED
        alt = c.alt if math.isfinite(c.alt) else s.home.alt_amsl_m + s.params.get("MIS_TAKEOFF_ALT")
        here = v.nav.here()
        t = v.nav.target_of(math.nan, math.nan, alt, relative=False)
        v.nav.takeoff_target = Target(here.north_m, here.east_m, min(t.down_m, here.down_m))
        v.set_mode(FlightMode.TAKEOFF)
        v.takeoff_started()
        return ACCEPTED
    if cmd == mav.MAV_CMD_NAV_LAND:
        v.set_mode(FlightMode.LAND)
        v.nav.hold_target = v.nav.here()
        return ACCEPTED
    if cmd == mav.MAV_CMD_NAV_RETURN_TO_LAUNCH:
        return ACCEPTED if v.set_mode(FlightMode.RTL) else DENIED
    if cmd == mav.MAV_CMD_DO_REPOSITION:
        return _reposition(v, c, out)
    if cmd == mav.MAV_CMD_DO_ORBIT:
        if not (s.armed and s.in_air) or not v.gps_ok:
            return DENIED
        here = v.nav.here()
        # PX4 copies COMMAND_INT z into param7 and its orbit reads it as AMSL whatever the
        # frame (MAVSDK 4.1 sends frame 3 with an AMSL altitude), so the frame is ignored here.
        center = v.nav.target_of(c.lat, c.lon, c.alt, relative=False)
        if not math.isfinite(c.alt):
            center.down_m = here.down_m
        yaw_b = _int(c.p3)
        v.nav.start_orbit(center, c.p1 if math.isfinite(c.p1) else 10.0, c.p2, yaw_b)
        v.set_mode(FlightMode.ORBIT)
        return ACCEPTED
    if cmd == mav.MAV_CMD_DO_SET_MODE:
        if not _int(c.p1) & mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return UNSUPPORTED
        mode = FlightMode.from_main_sub(_int(c.p2), _int(c.p3))
        if mode is None:
            return UNSUPPORTED
        return ACCEPTED if v.set_mode(mode) else DENIED
    if cmd == mav.MAV_CMD_DO_CHANGE_SPEED:
        if c.p2 > 0:
            v.nav.cruise_speed_m_s = min(c.p2, s.params.get("MPC_XY_VEL_MAX"))
        elif c.p2 == -2:
            v.nav.cruise_speed_m_s = None
        return ACCEPTED
    if cmd == mav.MAV_CMD_DO_SET_HOME:
        if c.p1 >= 1:
            lat, lon, alt = s.position()
        elif math.isfinite(c.lat) and math.isfinite(c.lon):
            lat, lon = c.lat, c.lon
            alt = c.alt if math.isfinite(c.alt) else s.home.alt_amsl_m
        else:
            return DENIED
        s.home = Home(lat, lon, alt)
        out.append(telemetry.home_position(v))
        return ACCEPTED
    if cmd == mav.MAV_CMD_DO_SET_MISSION_CURRENT:
        ok = v.nav.set_current(_int(c.p1))
        return ACCEPTED if ok else DENIED
    if cmd == mav.MAV_CMD_SET_MESSAGE_INTERVAL:
        return _set_interval(v, _int(c.p1), c.p2)
    if cmd == mav.MAV_CMD_REQUEST_MESSAGE:
        return _request_message(v, _int(c.p1), out)
    if cmd == mav.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES:
        out.append(telemetry.autopilot_version(v))
        return ACCEPTED
    if cmd == mav.MAV_CMD_INJECT_FAILURE:
        return _inject_failure(v, c)
    if cmd in (mav.MAV_CMD_DO_SET_ROI_LOCATION,):
        v.nav.roi = v.nav.target_of(c.lat, c.lon, c.alt, c.relative)
        return ACCEPTED
    if cmd == mav.MAV_CMD_DO_SET_ROI_NONE:
        v.nav.roi = None
        return ACCEPTED
    if cmd == mav.MAV_CMD_DO_FLIGHTTERMINATION:
        if c.p1 >= 0.5:
            s.faults.add(Fault.MOTOR)
            v.disarm("Flight termination")
        return ACCEPTED
    return UNSUPPORTED


def _arm_disarm(v: SimVehicle, c: Cmd, now_s: float, out: list[Any]) -> int:
    s = v.state
    force = _int(c.p2) == FORCE_MAGIC
    if c.p1 >= 0.5:
        if s.armed:
            return ACCEPTED
        why = None if force else v.prearm_failure()
        if why is not None:
            out.append(
                mav.MAVLink_statustext_message(mav.MAV_SEVERITY_CRITICAL, why.encode(), 0, 0)
            )
            return DENIED
        v.arm(now_s)
        return ACCEPTED
    if s.in_air and not force:
        return DENIED
    if s.armed:
        v.disarm()
    return ACCEPTED


def _reposition(v: SimVehicle, c: Cmd, out: list[Any]) -> int:
    s = v.state
    if not (s.armed and s.in_air) or not v.gps_ok:
        return DENIED
    t = v.nav.target_of(c.lat, c.lon, c.alt, c.relative)
    if v.fence and s.params.get("GF_ACTION") != 0 and not v.fence.allows(t.north_m, t.east_m):
        # PX4's navigator acknowledges it, refuses to go, and says why.
        text = b"Reposition is outside geofence"
        out.append(mav.MAVLink_statustext_message(mav.MAV_SEVERITY_CRITICAL, text, 0, 0))
        return ACCEPTED
    speed = c.p1 if math.isfinite(c.p1) and c.p1 > 0 else None
    if speed is not None:
        speed = min(speed, s.params.get("MPC_XY_VEL_MAX"))
    yaw = math.radians(c.p4) if math.isfinite(c.p4) else None
    if s.mode is not FlightMode.HOLD:
        v.set_mode(FlightMode.HOLD)
    v.nav.reposition(t, speed, yaw)
    return ACCEPTED


def _set_interval(v: SimVehicle, msg_id: int, interval_us: float) -> int:
    if msg_id in telemetry.PX4_STREAMS_NOT_SENT:
        return ACCEPTED if interval_us <= 0 else DENIED
    if msg_id not in telemetry.BUILDERS or msg_id == mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION:
        return DENIED
    if interval_us == 0:
        hz = telemetry.DEFAULT_RATES_HZ.get(msg_id, 0.0)
        v._intervals_s[msg_id] = 1.0 / hz if hz else 0.0
    elif interval_us < 0:
        v._intervals_s[msg_id] = 0.0
    else:
        v._intervals_s[msg_id] = max(interval_us * 1e-6, 0.001)
    v._next_due.pop(msg_id, None)
    return ACCEPTED


def _request_message(v: SimVehicle, msg_id: int, out: list[Any]) -> int:
    builder = telemetry.BUILDERS.get(msg_id)
    if builder is None:
        return DENIED
    out.append(builder(v))
    return ACCEPTED


FAILURE_UNITS = {4: Fault.GPS, 100: Fault.BATTERY, 101: Fault.MOTOR, 105: Fault.MAVLINK_SIGNAL}


def _inject_failure(v: SimVehicle, c: Cmd) -> int:
    if v.state.params.get_int("SYS_FAILURE_EN") != 1:
        return DENIED
    fault = FAILURE_UNITS.get(_int(c.p1))
    ftype = _int(c.p2)
    if fault is None or ftype not in (0, 1):  # FAILURE_TYPE_OK / FAILURE_TYPE_OFF only
        return UNSUPPORTED
    v.inject(fault, on=ftype == 1)
    return ACCEPTED


# ---- parameters -----------------------------------------------------------------------------


def _param_value(v: SimVehicle, name: str) -> Any:
    p = v.state.params
    return mav.MAVLink_param_value_message(
        name.encode(), p.wire_value(name), int(p.type_of(name)), len(p), p.index_of(name)
    )


def _param_name(raw: Any) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "replace")
    return str(raw).rstrip("\x00")


def handle_param(v: SimVehicle, msg: Any) -> list[Any]:
    p = v.state.params
    mid = msg.id
    if mid == mav.MAVLINK_MSG_ID_PARAM_REQUEST_LIST:
        return [_param_value(v, p.name_at(i) or "") for i in range(len(p))]
    if mid == mav.MAVLINK_MSG_ID_PARAM_REQUEST_READ:
        name = p.name_at(msg.param_index) if msg.param_index >= 0 else _param_name(msg.param_id)
        if name is None or name not in p:
            return []  # PX4 stays silent about unknown parameters
        return [_param_value(v, name)]
    name = _param_name(msg.param_id)
    if name not in p:
        return []
    with contextlib.suppress(ValueError):  # a non-finite value is ignored, as PX4 does
        p.set_from_wire(name, msg.param_value, msg.param_type)
    return [_param_value(v, name)]


# ---- offboard -------------------------------------------------------------------------------

IGNORE_POS = 0b111
IGNORE_VEL = 0b111000
IGNORE_YAW = 0b10000000000
IGNORE_YAW_RATE = 0b100000000000
BODY_FRAMES = {8, 12}  # MAV_FRAME_BODY_NED, MAV_FRAME_BODY_FRD: velocity along the heading


def _yaw_rate(msg: Any) -> float | None:
    if msg.type_mask & IGNORE_YAW_RATE or not math.isfinite(msg.yaw_rate):
        return None
    return float(msg.yaw_rate)


def offboard_local(v: SimVehicle, msg: Any, now_s: float) -> None:
    mask = msg.type_mask
    yaw = None if mask & IGNORE_YAW or not math.isfinite(msg.yaw) else msg.yaw
    if not mask & IGNORE_POS:
        sp = Setpoint(msg.x, msg.y, min(msg.z, 0.0), yaw_rad=yaw)
    elif not mask & IGNORE_VEL:
        vn, ve = msg.vx, msg.vy
        if msg.coordinate_frame in BODY_FRAMES:
            c, s = math.cos(v.state.body.yaw_rad), math.sin(v.state.body.yaw_rad)
            vn, ve = c * msg.vx - s * msg.vy, s * msg.vx + c * msg.vy
        sp = Setpoint(yaw_rad=yaw, velocity=(vn, ve, msg.vz))
    else:
        return
    if yaw is None:
        sp.yaw_rate_rad_s = _yaw_rate(msg)
    v.nav.offboard_sp = sp
    v.offboard_seen(now_s)


def offboard_global(v: SimVehicle, msg: Any, now_s: float) -> None:
    mask = msg.type_mask
    yaw = None if mask & IGNORE_YAW or not math.isfinite(msg.yaw) else msg.yaw
    if not mask & IGNORE_POS:
        t = v.nav.target_of(
            msg.lat_int * 1e-7, msg.lon_int * 1e-7, msg.alt, msg.coordinate_frame in RELATIVE_FRAMES
        )
        sp = Setpoint(t.north_m, t.east_m, t.down_m, yaw_rad=yaw)
    elif not mask & IGNORE_VEL:
        sp = Setpoint(yaw_rad=yaw, velocity=(msg.vx, msg.vy, msg.vz))
    else:
        return
    v.nav.offboard_sp = sp
    v.offboard_seen(now_s)
