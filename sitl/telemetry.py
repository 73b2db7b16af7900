"""Telemetry messages of one vehicle, built from its state, and PX4's default stream rates.

Rates are PX4's defaults on a ground-station link, in wall-clock Hz; SET_MESSAGE_INTERVAL changes
them per vehicle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pymavlink.dialects.v20 import common as mav

if TYPE_CHECKING:
    from sitl.model import SimVehicle

# PX4 "normal" mavlink mode rates (Hz).
DEFAULT_RATES_HZ: dict[int, float] = {
    mav.MAVLINK_MSG_ID_HEARTBEAT: 1.0,
    mav.MAVLINK_MSG_ID_SYS_STATUS: 1.0,
    mav.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: 1.0,
    mav.MAVLINK_MSG_ID_ATTITUDE: 15.0,
    mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: 5.0,
    mav.MAVLINK_MSG_ID_VFR_HUD: 4.0,
    mav.MAVLINK_MSG_ID_GPS_RAW_INT: 1.0,
    mav.MAVLINK_MSG_ID_BATTERY_STATUS: 0.5,
    mav.MAVLINK_MSG_ID_HOME_POSITION: 0.5,
    mav.MAVLINK_MSG_ID_ALTITUDE: 1.0,
    mav.MAVLINK_MSG_ID_LOCAL_POSITION_NED: 1.0,
    mav.MAVLINK_MSG_ID_MISSION_CURRENT: 1.0,
}

PX4_STREAMS_NOT_SENT: frozenset[int] = frozenset({
    mav.MAVLINK_MSG_ID_ATTITUDE_QUATERNION,
    mav.MAVLINK_MSG_ID_HIGHRES_IMU,
    mav.MAVLINK_MSG_ID_ODOMETRY,
    mav.MAVLINK_MSG_ID_ATTITUDE_TARGET,
    mav.MAVLINK_MSG_ID_POSITION_TARGET_LOCAL_NED,
    mav.MAVLINK_MSG_ID_SERVO_OUTPUT_RAW,
    mav.MAVLINK_MSG_ID_DISTANCE_SENSOR,
    mav.MAVLINK_MSG_ID_ESTIMATOR_STATUS,
    mav.MAVLINK_MSG_ID_SCALED_PRESSURE,
    mav.MAVLINK_MSG_ID_VIBRATION,
    mav.MAVLINK_MSG_ID_SYSTEM_TIME,
    mav.MAVLINK_MSG_ID_TIMESYNC,
})
"""Streams PX4's API link sends (MAVLINK_MODE_ONBOARD, measured at a70a5583) that the simulator
does not. PX4 accepts SET_MESSAGE_INTERVAL for any stream it has; the simulator accepts
stopping these, or their default rate (there is nothing to send either way), and denies a
rate it could not honour."""

SENSORS = (
    mav.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | mav.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | mav.MAV_SYS_STATUS_SENSOR_3D_MAG
    | mav.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | mav.MAV_SYS_STATUS_SENSOR_GPS
    | mav.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    | mav.MAV_SYS_STATUS_AHRS
    | mav.MAV_SYS_STATUS_LOGGING
    | mav.MAV_SYS_STATUS_SENSOR_BATTERY
    | mav.MAV_SYS_STATUS_PREARM_CHECK
)

CAPABILITIES = (
    mav.MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
    | mav.MAV_PROTOCOL_CAPABILITY_PARAM_FLOAT
    | mav.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    | mav.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
    | mav.MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE
    | mav.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
    | mav.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
    | mav.MAV_PROTOCOL_CAPABILITY_MAVLINK2
    | mav.MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
    | mav.MAV_PROTOCOL_CAPABILITY_MISSION_RALLY
)
# What the reference PX4 reports (main at a70a5583, built without git tags): v0.0.0 "official",
# and the first 8 bytes of its commit as flight_custom_version (little-endian, as PX4 copies it).
PX4_VERSION = (0 << 24) | (0 << 16) | (0 << 8) | 255
PX4_GIT_HASH = (0xA70A5583931D3294).to_bytes(8, "little")


def _cdeg(rad: float) -> int:
    return round(math.degrees(rad) % 360.0 * 100) % 36000


def heartbeat(v: SimVehicle) -> Any:
    s = v.state
    base = mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    if s.armed:
        base |= mav.MAV_MODE_FLAG_SAFETY_ARMED
    status = mav.MAV_STATE_ACTIVE if s.armed else mav.MAV_STATE_STANDBY
    if v.failsafe_active:
        status = mav.MAV_STATE_CRITICAL
    return mav.MAVLink_heartbeat_message(
        mav.MAV_TYPE_QUADROTOR, mav.MAV_AUTOPILOT_PX4, base, int(s.mode), status, 3
    )


def sys_status(v: SimVehicle) -> Any:
    s = v.state
    health = SENSORS
    if not v.gps_ok:
        health &= ~mav.MAV_SYS_STATUS_SENSOR_GPS
    if v.battery_level() >= 2:
        health &= ~mav.MAV_SYS_STATUS_SENSOR_BATTERY
    if s.crashed or 101 in s.faults:
        health &= ~mav.MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
    if v.prearm_failure() is not None:
        health &= ~mav.MAV_SYS_STATUS_PREARM_CHECK
    bat = s.battery
    return mav.MAVLink_sys_status_message(
        SENSORS,
        SENSORS,
        health,
        150,
        round(bat.voltage_v * 1000),
        round(bat.current_a * 100),
        round(bat.shown_remaining * 100),
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    )


def extended_sys_state(v: SimVehicle) -> Any:
    return mav.MAVLink_extended_sys_state_message(0, int(v.nav.landed_state()))


def attitude(v: SimVehicle) -> Any:
    b = v.state.body
    return mav.MAVLink_attitude_message(
        v.time_boot_ms(), b.roll_rad, b.pitch_rad, b.yaw_rad, 0.0, 0.0, b.yaw_rate_rad_s
    )


def global_position_int(v: SimVehicle) -> Any:
    s, b = v.state, v.state.body
    lat, lon, alt = v.reported_position()
    return mav.MAVLink_global_position_int_message(
        v.time_boot_ms(),
        round(lat * 1e7),
        round(lon * 1e7),
        round(alt * 1000),
        round((alt - s.home.alt_amsl_m) * 1000),
        round(b.vn_m_s * 100),
        round(b.ve_m_s * 100),
        round(b.vd_m_s * 100),
        _cdeg(b.yaw_rad),
    )


def local_position_ned(v: SimVehicle) -> Any:
    b = v.state.body
    return mav.MAVLink_local_position_ned_message(
        v.time_boot_ms(), b.north_m, b.east_m, b.down_m, b.vn_m_s, b.ve_m_s, b.vd_m_s
    )


def vfr_hud(v: SimVehicle) -> Any:
    s, b = v.state, v.state.body
    air = math.hypot(b.vn_m_s - s.wind.north_m_s, b.ve_m_s - s.wind.east_m_s) if s.in_air else 0.0
    throttle = 0 if not s.armed else (15 if not s.in_air else 50)
    _, _, alt = s.position()
    return mav.MAVLink_vfr_hud_message(
        air, b.ground_speed_m_s, round(math.degrees(b.yaw_rad)) % 360, throttle, alt, -b.vd_m_s
    )


def gps_raw_int(v: SimVehicle) -> Any:
    b = v.state.body
    lat, lon, alt = v.reported_position()
    if not v.gps_ok:
        return mav.MAVLink_gps_raw_int_message(
            v.time_boot_ms() * 1000, 0, 0, 0, 0, 65535, 65535, 65535, 65535, 0
        )
    cog = math.atan2(b.ve_m_s, b.vn_m_s)
    return mav.MAVLink_gps_raw_int_message(
        v.time_boot_ms() * 1000,
        3,
        round(lat * 1e7),
        round(lon * 1e7),
        round(alt * 1000),
        80,
        120,
        round(b.ground_speed_m_s * 100),
        _cdeg(cog),
        14,
        round(alt * 1000) + 47000,
        400,
        600,
        200,
        0,
        0,
    )


def battery_status(v: SimVehicle) -> Any:
    bat = v.state.battery
    cell_mv = round(bat.voltage_v / bat.cells * 1000)
    voltages = [cell_mv] * bat.cells + [65535] * (10 - bat.cells)
    return mav.MAVLink_battery_status_message(
        0,
        mav.MAV_BATTERY_FUNCTION_ALL,
        mav.MAV_BATTERY_TYPE_LIPO,
        2500,
        voltages,
        round(bat.current_a * 100),
        round(bat.consumed_mah),
        -1,
        round(bat.shown_remaining * 100),
        round(bat.time_remaining_s),
        v.battery_level() + 1,
        [0, 0, 0, 0],
        0,
        0,
    )


def home_position(v: SimVehicle) -> Any:
    h = v.state.home
    n, e, d = v.state.home_ned()
    return mav.MAVLink_home_position_message(
        round(h.lat_deg * 1e7),
        round(h.lon_deg * 1e7),
        round(h.alt_amsl_m * 1000),
        n,
        e,
        d,
        [1.0, 0.0, 0.0, 0.0],
        0.0,
        0.0,
        0.0,
        v.time_boot_ms() * 1000,
    )


def altitude(v: SimVehicle) -> Any:
    s = v.state
    _, _, alt = s.position()
    rel = s.rel_alt_m
    return mav.MAVLink_altitude_message(
        v.time_boot_ms() * 1000, alt, alt, -s.body.down_m, rel, rel, rel
    )


def mission_current(v: SimVehicle) -> Any:
    return v.nav.mission_current()


def autopilot_version(v: SimVehicle) -> Any:
    sid = v.state.system_id
    return mav.MAVLink_autopilot_version_message(
        CAPABILITIES,
        PX4_VERSION,
        PX4_VERSION,
        0,
        1,
        PX4_GIT_HASH,
        bytes(8),
        bytes(8),
        0x26AC,
        0x0010,
        0x5349_4D00 + sid,
        bytes(18),
    )


BUILDERS: dict[int, Callable[[SimVehicle], Any]] = {
    mav.MAVLINK_MSG_ID_HEARTBEAT: heartbeat,
    mav.MAVLINK_MSG_ID_SYS_STATUS: sys_status,
    mav.MAVLINK_MSG_ID_EXTENDED_SYS_STATE: extended_sys_state,
    mav.MAVLINK_MSG_ID_ATTITUDE: attitude,
    mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT: global_position_int,
    mav.MAVLINK_MSG_ID_LOCAL_POSITION_NED: local_position_ned,
    mav.MAVLINK_MSG_ID_VFR_HUD: vfr_hud,
    mav.MAVLINK_MSG_ID_GPS_RAW_INT: gps_raw_int,
    mav.MAVLINK_MSG_ID_BATTERY_STATUS: battery_status,
    mav.MAVLINK_MSG_ID_HOME_POSITION: home_position,
    mav.MAVLINK_MSG_ID_ALTITUDE: altitude,
    mav.MAVLINK_MSG_ID_MISSION_CURRENT: mission_current,
    mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION: autopilot_version,
}
