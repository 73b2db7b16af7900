"""The sans-IO vehicle model on its own: messages in, messages out, no sockets."""

from __future__ import annotations

import itertools
import json
import math
import random
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pymavlink.dialects.v20 import common as mav

from sitl import CommandFault, Fault, FlightMode, Home, SimVehicle
from sitl.flight import MissionState

pytestmark = pytest.mark.unit
HOME = Home(51.5072, -0.1276, 30.0)
DATA = Path(__file__).parent / "data"
NAN = math.nan


class Gcs:
    """A scripted ground station: encodes like MAVSDK would, advances time at speedup 1."""

    def __init__(self, vehicle: SimVehicle) -> None:
        self.v = vehicle
        self.enc = mav.MAVLink(None, srcSystem=255, srcComponent=190)
        self.dec = mav.MAVLink(None, srcSystem=255, srcComponent=190)
        self.now = 0.0
        self.received: list[Any] = []
        self.heartbeats = True
        self._next_hb = 0.0

    def send(self, msg: Any) -> list[Any]:
        decoded = self.dec.parse_buffer(msg.pack(self.enc))
        assert decoded is not None
        self.enc.seq = (self.enc.seq + 1) & 0xFF
        replies = self.v.handle(decoded[0], self.now)
        self.received.extend(replies)
        return replies

    def command(self, cmd: int, *params: float) -> int:
        p = [*params, *([NAN] * (7 - len(params)))]
        replies = self.send(mav.MAVLink_command_long_message(1, 1, cmd, 0, *p))
        acks = [r for r in replies if r.get_type() == "COMMAND_ACK"]
        assert len(acks) == 1
        assert acks[0].command == cmd
        return int(acks[0].result)

    def command_int(self, cmd: int, frame: int, params: tuple[float, float, float, float],
                    lat: float, lon: float, alt: float) -> int:
        replies = self.send(mav.MAVLink_command_int_message(
            1, 1, frame, cmd, 0, 0, *params, round(lat * 1e7), round(lon * 1e7), alt))
        return int(replies[0].result)

    def set_mode(self, main: int, sub: int = 0) -> int:
        return self.command(mav.MAV_CMD_DO_SET_MODE, 1, main, sub)

    def param_set(self, name: str, value: float, int32: bool = False) -> Any:
        wire = struct.unpack("<f", struct.pack("<i", int(value)))[0] if int32 else value
        ptype = mav.MAV_PARAM_TYPE_INT32 if int32 else mav.MAV_PARAM_TYPE_REAL32
        return self.send(mav.MAVLink_param_set_message(1, 1, name.encode(), wire, ptype))[0]

    def run(self, sim_s: float, dt: float = 0.02, until: Any = None) -> None:
        for _ in range(round(sim_s / dt)):
            self.now += dt
            if self.heartbeats and self.now >= self._next_hb:
                self._next_hb = self.now + 1.0
                self.send(mav.MAVLink_heartbeat_message(6, 8, 0, 0, 0, 3))
            self.v.step(dt)
            self.received.extend(self.v.due_messages(self.now))
            if until is not None and until():
                return

    def of_type(self, name: str) -> list[Any]:
        return [m for m in self.received if m.get_type() == name]


def local_offset(north_m: float, east_m: float) -> tuple[float, float]:
    k = math.radians(1.0) * 6_371_008.8
    k_lon = k * math.cos(math.radians(HOME.lat_deg))
    return HOME.lat_deg + north_m / k, HOME.lon_deg + east_m / k_lon


@pytest.fixture
def gcs() -> Gcs:
    return Gcs(SimVehicle(HOME, system_id=1, seed=3))


def fly(gcs: Gcs) -> None:
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_ACCEPTED
    assert gcs.command(mav.MAV_CMD_NAV_TAKEOFF) == mav.MAV_RESULT_ACCEPTED
    gcs.run(10.0)



def mode(gcs: Gcs) -> FlightMode:
    """The vehicle's mode now, read afresh after simulated time ran (mypy keeps an assert's
    narrowing across the calls that change it)."""
    return gcs.v.state.mode


def link_lost(gcs: Gcs) -> bool:
    """Whether the vehicle has lost its ground link now, read afresh (as ``mode``)."""
    return gcs.v.link_lost

def test_streams_at_px4_default_rates(gcs: Gcs) -> None:
    gcs.run(10.0)
    counts = Counter(m.get_type() for m in gcs.received)
    expected = {"ATTITUDE": 150, "GLOBAL_POSITION_INT": 50, "VFR_HUD": 40, "HEARTBEAT": 10,
                "SYS_STATUS": 10, "GPS_RAW_INT": 10, "EXTENDED_SYS_STATE": 10,
                "BATTERY_STATUS": 5, "HOME_POSITION": 5, "ALTITUDE": 10}
    for name, n in expected.items():
        assert abs(counts[name] - n) <= 1, (name, counts[name])
    hb = gcs.of_type("HEARTBEAT")[0]
    assert hb.autopilot == mav.MAV_AUTOPILOT_PX4
    assert hb.type == mav.MAV_TYPE_QUADROTOR
    assert hb.custom_mode == FlightMode.HOLD == (4 << 16) | (3 << 24)
    status = gcs.of_type("SYS_STATUS")[-1]
    assert status.onboard_control_sensors_health & mav.MAV_SYS_STATUS_SENSOR_GPS
    assert status.onboard_control_sensors_health & mav.MAV_SYS_STATUS_PREARM_CHECK


def test_a_stream_on_a_coarse_late_tick_keeps_its_rate_and_px4s_spacing() -> None:
    """A large fleet sends on 20 Hz ticks, each up to 15 ms late, with the streams due before
    the next tick in this one's datagram: a 10 Hz position still comes at 10 Hz, never two
    closer than 70 ms (PX4: 80-120 ms), whatever the vehicle's phase. (Two 50 ms apart made
    the controller, which paces on samples, skip one: a drone at 9 msg/s.)"""
    position = mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT
    rng = random.Random(1)
    for system_id in range(1, 61):  # phases spread over the whole period
        v = SimVehicle(HOME, system_id=system_id, seed=0)
        v.stream_slack_s = 0.999 / 20
        v._intervals_s[position] = 0.1
        sent: list[float] = []
        for k in range(400):
            now = 100.0 + k / 20 + rng.uniform(0.0, 0.015)
            if any(m.id == position for m in v.due_messages(now)):
                sent.append(now)
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert min(gaps) >= 0.07 - 1e-9, (system_id, min(gaps))
        assert (len(sent) - 1) / (sent[-1] - sent[0]) >= 9.9, system_id


def test_set_message_interval_and_request_message(gcs: Gcs) -> None:
    gid = mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT
    assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, gid, 50_000) == mav.MAV_RESULT_ACCEPTED
    assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, mav.MAVLINK_MSG_ID_ATTITUDE, -1) == 0
    gcs.received.clear()
    gcs.run(5.0, dt=0.01)
    counts = Counter(m.get_type() for m in gcs.received)
    assert 98 <= counts["GLOBAL_POSITION_INT"] <= 101
    assert counts["ATTITUDE"] == 0
    assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, gid, 0) == 0  # back to default
    gcs.received.clear()
    assert gcs.command(mav.MAV_CMD_REQUEST_MESSAGE, mav.MAVLINK_MSG_ID_AUTOPILOT_VERSION) == 0
    version = gcs.of_type("AUTOPILOT_VERSION")[0]
    assert version.capabilities & mav.MAV_PROTOCOL_CAPABILITY_MISSION_INT
    assert version.flight_sw_version == 0x0000_00FF  # v0.0.0 official, as the reference PX4
    assert bytes(version.flight_custom_version)[::-1].hex().startswith("a70a5583")
    assert gcs.command(mav.MAV_CMD_REQUEST_MESSAGE, 9999) == mav.MAV_RESULT_DENIED
    assert gcs.command(31337) == mav.MAV_RESULT_UNSUPPORTED
    assert gcs.v.command_counts[mav.MAV_CMD_REQUEST_MESSAGE] == 2


def test_a_px4_stream_the_simulator_does_not_send_can_be_stopped_not_started(gcs: Gcs) -> None:
    """PX4 accepts SET_MESSAGE_INTERVAL for every stream it has (a ground station stops
    HIGHRES_IMU on the API link); the simulator has no IMU stream: stopping it, or its default,
    is accepted, and a rate it could not send is denied rather than acknowledged and ignored."""
    imu = mav.MAVLINK_MSG_ID_HIGHRES_IMU
    assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, imu, -1) == mav.MAV_RESULT_ACCEPTED
    assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, imu, 0) == mav.MAV_RESULT_ACCEPTED
    assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, imu, 20_000) == mav.MAV_RESULT_DENIED
    # A message PX4 does not stream at all is still refused.
    assert gcs.command(mav.MAV_CMD_SET_MESSAGE_INTERVAL, 9999, -1) == mav.MAV_RESULT_DENIED


def test_params_px4_names_defaults_and_bytewise_ints(gcs: Gcs) -> None:
    def read(name: str) -> Any:
        return gcs.send(mav.MAVLink_param_request_read_message(1, 1, name.encode(), -1))[0]

    takeoff = read("MIS_TAKEOFF_ALT")
    assert takeoff.param_type == mav.MAV_PARAM_TYPE_REAL32
    assert takeoff.param_value == pytest.approx(2.5)
    loss = read("COM_DL_LOSS_T")
    assert loss.param_type == mav.MAV_PARAM_TYPE_INT32
    assert struct.unpack("<i", struct.pack("<f", loss.param_value))[0] == 10
    echo = gcs.param_set("GF_ACTION", 3, int32=True)
    assert struct.unpack("<i", struct.pack("<f", echo.param_value))[0] == 3
    assert gcs.v.state.params.get_int("GF_ACTION") == 3
    assert gcs.send(mav.MAVLink_param_request_read_message(1, 1, b"NO_SUCH_PARAM", -1)) == []
    everything = gcs.send(mav.MAVLink_param_request_list_message(1, 1))
    assert len(everything) == everything[0].param_count
    assert sorted(p.param_index for p in everything) == list(range(len(everything)))


def test_takeoff_to_mis_takeoff_alt_then_land_and_auto_disarm(gcs: Gcs) -> None:
    fly(gcs)
    s = gcs.v.state
    assert s.mode is FlightMode.HOLD
    assert s.rel_alt_m == pytest.approx(2.5, abs=0.3)
    assert gcs.command(mav.MAV_CMD_NAV_LAND) == 0
    gcs.run(20.0, until=lambda: not s.armed)
    assert not s.armed
    assert s.rel_alt_m == pytest.approx(0.0, abs=0.01)
    assert any("Landing detected" in str(t.text) for t in gcs.of_type("STATUSTEXT"))


def test_arm_denied_by_prearm_checks(gcs: Gcs) -> None:
    gcs.v.set_battery(0.10)  # below BAT_LOW_THR
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_DENIED
    gcs.v.set_battery(1.0)
    gcs.v.inject(Fault.GPS)
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_DENIED
    gcs.v.inject(Fault.GPS, on=False)
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == mav.MAV_RESULT_ACCEPTED
    # Disarming in the air is refused unless forced.
    assert gcs.command(mav.MAV_CMD_NAV_TAKEOFF) == 0
    gcs.run(6.0)  # PX4 spools up (1 s) and ramps its climb (3 s) before it leaves the ground
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 0) == mav.MAV_RESULT_DENIED


def test_preflight_auto_disarm_is_wall_clock(gcs: Gcs) -> None:
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == 0
    gcs.run(9.0)
    assert gcs.v.state.armed
    gcs.run(2.0)
    assert not gcs.v.state.armed  # COM_DISARM_PRFLT = 10 s


def test_hover_endurance_is_20_to_30_minutes(gcs: Gcs) -> None:
    fly(gcs)
    bat = gcs.v.state.battery
    start = bat.remaining
    gcs.run(120.0, dt=0.05)
    used_per_s = (start - bat.remaining) / 120.0
    endurance_min = 1.0 / used_per_s / 60.0
    assert 20.0 <= endurance_min <= 30.0


def test_critical_battery_triggers_return(gcs: Gcs) -> None:
    gcs.param_set("COM_LOW_BAT_ACT", 3, int32=True)  # return at critical, land at emergency
    fly(gcs)
    lat, lon = local_offset(150.0, 0.0)
    assert gcs.command_int(mav.MAV_CMD_DO_REPOSITION, 0, (-1, 1, 0, NAN), lat, lon, 50.0) == 0
    gcs.run(40.0)
    gcs.v.set_battery(0.0705)
    gcs.run(30.0, until=lambda: gcs.v.state.mode is FlightMode.RTL)
    assert gcs.v.state.mode is FlightMode.RTL
    texts = [t.text for t in gcs.of_type("STATUSTEXT")]
    assert any("critical" in str(t) for t in texts)


def test_same_seed_same_flight() -> None:
    def flight(seed: int) -> tuple[float, float, float]:
        g = Gcs(SimVehicle(HOME, system_id=1, seed=seed))
        fly(g)
        lat, lon = local_offset(80.0, 60.0)
        g.command_int(mav.MAV_CMD_DO_REPOSITION, 0, (-1, 1, 0, NAN), lat, lon, 45.0)
        g.run(25.0)
        return g.v.reported_position()

    assert flight(1) == flight(1)
    assert flight(1) != flight(2)


def test_orbit_reports_posctl_orbit_mode(gcs: Gcs) -> None:
    fly(gcs)
    lat, lon = local_offset(30.0, 0.0)
    assert gcs.command_int(mav.MAV_CMD_DO_ORBIT, 5, (-15.0, 3.0, 0, NAN), lat, lon, 40.0) == 0
    assert gcs.v.state.mode == (3 << 16) | (1 << 24)  # PX4: POSCTL main mode, ORBIT sub mode
    gcs.run(30.0)
    b = gcs.v.state.body
    assert math.hypot(b.north_m - 30.0, b.east_m) == pytest.approx(15.0, abs=1.0)
    assert gcs.v.state.rel_alt_m == pytest.approx(10.0, abs=0.5)


def test_motor_failure_in_flight_crashes(gcs: Gcs) -> None:
    gcs.param_set("SYS_FAILURE_EN", 1, int32=True)
    fly(gcs)
    assert gcs.command(mav.MAV_CMD_INJECT_FAILURE, 101, 1, 0) == 0
    gcs.run(3.0)
    assert not gcs.v.state.armed
    assert gcs.v.state.crashed


def upload(gcs: Gcs, items: list[Any], mission_type: int = 0) -> None:
    replies = gcs.send(mav.MAVLink_mission_count_message(1, 1, len(items), mission_type))
    for _ in items:
        req = replies[0]
        assert req.get_type() == "MISSION_REQUEST_INT"
        replies = gcs.send(items[req.seq])
    assert replies[0].get_type() == "MISSION_ACK"
    assert replies[0].type == mav.MAV_MISSION_ACCEPTED


def item(seq: int, cmd: int, frame: int = 3, p: tuple[float, ...] = (0, 0, 0, NAN),
         north: float = 0.0, east: float = 0.0, alt: float = 0.0, mission_type: int = 0) -> Any:
    lat, lon = local_offset(north, east) if (north or east) else (0.0, 0.0)
    return mav.MAVLink_mission_item_int_message(
        1, 1, seq, frame, cmd, 0, 1, *p, round(lat * 1e7), round(lon * 1e7), alt, mission_type)


def test_mission_protocol_round_trip_for_all_types(gcs: Gcs) -> None:
    for mtype in (0, 1, 2):
        items = [item(i, 16 if mtype == 0 else 5100, north=10.0 * i + 1, mission_type=mtype)
                 for i in range(3)]
        if mtype == 1:
            items = [item(i, 5003, p=(50, 0, 0, 0), north=1.0, mission_type=1) for i in range(3)]
        upload(gcs, items, mtype)
        count = gcs.send(mav.MAVLink_mission_request_list_message(1, 1, mtype))[0]
        assert count.count == 3
        for i in range(3):
            got = gcs.send(mav.MAVLink_mission_request_int_message(1, 1, i, mtype))[0]
            assert (got.command, got.x, got.y) == (items[i].command, items[i].x, items[i].y)
        ack = gcs.send(mav.MAVLink_mission_clear_all_message(1, 1, mtype))[0]
        assert ack.type == mav.MAV_MISSION_ACCEPTED
        assert gcs.send(mav.MAVLink_mission_request_list_message(1, 1, mtype))[0].count == 0


def test_mission_with_jump_hold_and_land(gcs: Gcs) -> None:
    items = [
        item(0, 22, alt=10.0),
        item(1, 16, p=(2.0, 1.0, 0, NAN), north=30.0, alt=10.0),  # hold 2 s, 1 m acceptance
        item(2, 16, north=30.0, east=30.0, alt=12.0),
        item(3, 177, frame=2, p=(1, 1, 0, 0)),  # DO_JUMP to 1, once
        item(4, 21, north=0.0, east=5.0, alt=0.0),
    ]
    upload(gcs, items)
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == 0
    assert gcs.set_mode(4, 4) == 0
    gcs.run(200.0, until=lambda: not gcs.v.state.armed)
    reached = [m.seq for m in gcs.of_type("MISSION_ITEM_REACHED")]
    assert reached == [0, 1, 2, 1, 2, 4]
    assert gcs.v.nav.mission.state == MissionState.COMPLETE
    assert gcs.of_type("MISSION_CURRENT")[-1].mission_state == MissionState.COMPLETE
    b = gcs.v.state.body
    assert math.hypot(b.north_m, b.east_m - 5.0) < 1.5
    assert not gcs.v.state.armed


def qgc_plan_items(name: str) -> list[Any]:
    """MISSION_ITEM_INTs of a QGC plan rebased to HOME (terrain = home altitude, flat)."""
    plan = json.loads((DATA / name).read_text(encoding="utf-8"))
    h_lat, h_lon, h_alt = plan["mission"]["plannedHomePosition"]
    out = []
    for seq, it in enumerate(plan["mission"]["items"]):
        p = [NAN if v is None else float(v) for v in it["params"]]
        frame = it["frame"]
        if it.get("AltitudeMode") == 3:  # terrain following: Altitude is above the terrain
            frame, p[6] = 10, float(it["Altitude"])
        elif frame == 0:
            p[6] += HOME.alt_amsl_m - h_alt
        lat = p[4] - h_lat + HOME.lat_deg if p[4] else 0.0
        lon = p[5] - h_lon + HOME.lon_deg if p[5] else 0.0
        out.append(mav.MAVLink_mission_item_int_message(
            1, 1, seq, frame, it["command"], 0, 1, *p[:4], round(lat * 1e7), round(lon * 1e7),
            p[6], 0))
    return out


def test_qgc_multirotor_plan_flies_all_altitude_modes(gcs: Gcs) -> None:
    items = qgc_plan_items("PX4SITL-PX4-MultiRotor.plan")
    upload(gcs, items)
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == 0
    assert gcs.set_mode(4, 4) == 0
    max_speed = 0.0
    alts: dict[int, float] = {}

    def watch() -> bool:
        nonlocal max_speed
        max_speed = max(max_speed, gcs.v.state.body.ground_speed_m_s)
        alts[gcs.v.nav.mission.current] = gcs.v.state.rel_alt_m
        return not gcs.v.state.armed

    gcs.run(3000.0, dt=0.05, until=watch)
    reached = [m.seq for m in gcs.of_type("MISSION_ITEM_REACHED")]
    assert reached == [0, 1, 3, 5, 6, 7, 8, 9, 10]  # NAV items only; DO items run in passing
    assert 9.5 < max_speed <= 10.5  # DO_CHANGE_SPEED 10 m/s
    # The altitude when each NAV item was reached: AMSL 638 m in the plan = 150 m above the
    # plan's home; terrain-relative 80 m and 40 m over flat terrain; relative 100, 70, 15 m.
    for seq, rel_alt in {3: 150.0, 5: 80.0, 6: 100.0, 7: 40.0, 8: 70.0, 9: 15.0}.items():
        assert alts[seq] == pytest.approx(rel_alt, abs=1.0), seq
    assert not gcs.v.state.armed


def test_every_mode_mavsdk_sets_is_accepted_in_flight(gcs: Gcs) -> None:
    upload(gcs, [item(0, 16, north=20.0, alt=10.0)])
    assert gcs.command(mav.MAV_CMD_COMPONENT_ARM_DISARM, 1) == 0
    assert gcs.set_mode(4, 2) == 0  # takeoff by mode switch climbs to MIS_TAKEOFF_ALT
    gcs.run(8.0)
    assert gcs.v.state.mode is FlightMode.HOLD
    assert gcs.v.state.rel_alt_m == pytest.approx(2.5, abs=0.3)
    for main, sub, mode in [(4, 3, FlightMode.HOLD), (4, 4, FlightMode.MISSION),
                            (3, 0, FlightMode.POSCTL), (2, 0, FlightMode.ALTCTL),
                            (4, 5, FlightMode.RTL), (4, 6, FlightMode.LAND)]:
        assert gcs.set_mode(main, sub) == mav.MAV_RESULT_ACCEPTED
        assert gcs.v.state.mode is mode
        gcs.run(0.5)
    assert gcs.set_mode(6, 0) == mav.MAV_RESULT_DENIED  # offboard without setpoints
    assert gcs.command(mav.MAV_CMD_DO_SET_MODE, 1, 99, 0) == mav.MAV_RESULT_UNSUPPORTED


def test_gps_loss_in_flight_lands(gcs: Gcs) -> None:
    fly(gcs)
    gcs.v.inject(Fault.GPS)
    gcs.run(1.0)
    assert gcs.v.state.mode is FlightMode.LAND
    gcs.run(20.0, until=lambda: not gcs.v.state.armed)
    assert not gcs.v.state.armed


def test_link_loss_only_acts_in_the_air(gcs: Gcs) -> None:
    gcs.param_set("NAV_DLL_ACT", 2, int32=True)
    gcs.run(2.0)
    gcs.heartbeats = False
    gcs.run(12.0)
    assert gcs.v.link_lost
    assert gcs.v.state.mode is FlightMode.HOLD  # on the ground: nothing to do
    gcs.heartbeats = True
    gcs.run(1.5)
    assert not link_lost(gcs)
    fly(gcs)
    gcs.heartbeats = False
    gcs.run(12.0)
    assert mode(gcs) is FlightMode.RTL


def test_reposition_outside_the_geofence_is_acknowledged_but_not_flown(gcs: Gcs) -> None:
    # As PX4 does ("Reposition is outside geofence"): it never flies out, so no breach.
    upload(gcs, [item(0, 5003, frame=0, p=(30.0, 0, 0, 0), north=0.1, mission_type=1)], 1)
    fly(gcs)
    lat, lon = local_offset(100.0, 0.0)
    assert gcs.command_int(mav.MAV_CMD_DO_REPOSITION, 0, (-1, 1, 0, NAN), lat, lon, 40.0) == 0
    gcs.run(30.0)
    assert gcs.v.state.mode is FlightMode.HOLD
    b = gcs.v.state.body
    assert math.hypot(b.north_m, b.east_m) < 3.0


def test_ping_and_timesync_answered(gcs: Gcs) -> None:
    pong = gcs.send(mav.MAVLink_ping_message(1234, 7, 0, 0))[0]
    assert (pong.time_usec, pong.seq, pong.target_system) == (1234, 7, 255)
    ts = gcs.send(mav.MAVLink_timesync_message(0, 42))[0]
    assert ts.ts1 == 42


def test_scripted_command_faults_like_mocklink(gcs: Gcs) -> None:
    arm = mav.MAV_CMD_COMPONENT_ARM_DISARM
    gcs.v.command_faults[arm] = CommandFault.DROP_FIRST
    assert gcs.send(mav.MAVLink_command_long_message(1, 1, arm, 0, 1, 0, 0, 0, 0, 0, 0)) == []
    assert gcs.command(arm, 1) == mav.MAV_RESULT_ACCEPTED  # the retry goes through
    gcs.v.command_faults[mav.MAV_CMD_NAV_TAKEOFF] = CommandFault.FAILED
    assert gcs.command(mav.MAV_CMD_NAV_TAKEOFF) == mav.MAV_RESULT_FAILED
    assert gcs.v.state.mode is not FlightMode.TAKEOFF
    gcs.v.command_faults[mav.MAV_CMD_NAV_LAND] = CommandFault.NO_ACK
    assert gcs.send(mav.MAVLink_command_long_message(1, 1, 21, 0, *[NAN] * 7)) == []
    assert gcs.v.command_counts[arm] == 2
    assert gcs.v.command_counts[mav.MAV_CMD_NAV_LAND] == 1


def test_offboard_body_velocity_and_yaw_rate(gcs: Gcs) -> None:
    fly(gcs)
    ignore_pos_acc_yaw = 0b111 | 0b111000000 | 0b10000000000

    def setpoint(vx: float, vy: float, yaw_rate: float) -> None:
        gcs.send(mav.MAVLink_set_position_target_local_ned_message(
            0, 1, 1, 8, ignore_pos_acc_yaw, 0, 0, 0, vx, vy, 0, 0, 0, 0, 0, yaw_rate))

    setpoint(0.0, 0.0, 0.0)
    assert gcs.set_mode(6) == 0
    gcs.v.state.body.yaw_rad = math.pi / 2  # facing east
    setpoint(2.0, 0.0, 0.0)  # 2 m/s forward in the body frame
    for _ in range(100):
        gcs.run(0.05, dt=0.05)
        setpoint(2.0, 0.0, 0.0)
    b = gcs.v.state.body
    assert b.ve_m_s == pytest.approx(2.0, abs=0.2)
    assert abs(b.vn_m_s) < 0.3
    setpoint(0.0, 0.0, math.radians(30.0))
    yaw0 = b.yaw_rad
    for _ in range(20):
        gcs.run(0.05, dt=0.05)
        setpoint(0.0, 0.0, math.radians(30.0))
    assert math.degrees(b.yaw_rad - yaw0) == pytest.approx(30.0, abs=3.0)
    assert gcs.v.state.mode is FlightMode.OFFBOARD


def test_injected_link_failure_triggers_dll_after_com_dl_loss_t(gcs: Gcs) -> None:
    gcs.param_set("SYS_FAILURE_EN", 1, int32=True)
    gcs.param_set("NAV_DLL_ACT", 3, int32=True)  # Land
    fly(gcs)
    assert gcs.command(mav.MAV_CMD_INJECT_FAILURE, 105, 1, 0) == 0  # MAVLINK_SIGNAL off
    gcs.received.clear()
    gcs.run(9.0)
    assert gcs.v.state.mode is FlightMode.HOLD  # COM_DL_LOSS_T = 10 s not yet over
    assert gcs.received == []  # the vehicle is silent too
    gcs.run(2.0)
    assert mode(gcs) is FlightMode.LAND
    gcs.v.inject(Fault.MAVLINK_SIGNAL, on=False)  # simulator hook: the link comes back
    gcs.run(1.5)
    assert not gcs.v.link_lost


def test_public_api() -> None:
    import inspect

    import sitl

    assert set(sitl.__all__) == {"CommandFault", "Fault", "FlightMode", "Home", "SimFleet",
                                 "SimVehicle"}
    params = inspect.signature(sitl.SimFleet).parameters
    assert list(params)[:5] == ["homes", "base_port", "speedup", "seed", "host"]
    assert (params["base_port"].default, params["speedup"].default, params["seed"].default,
            params["host"].default) == (14540, 1.0, 0, "127.0.0.1")
    assert sitl.Home(1.0, 2.0, 3.0) == sitl.Home(lat_deg=1.0, lon_deg=2.0, alt_amsl_m=3.0)
