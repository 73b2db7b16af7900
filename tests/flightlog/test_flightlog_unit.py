"""The flight logger on its own: a synthetic sortie written with a fake clock and read back by
pymavlink as QGroundControl would replay it."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path

import pytest

from groundstation.adapters.flightlog import FlightLogger, px4_custom_mode
from groundstation.adapters.journal import Journal
from groundstation.contract import Phase
from groundstation.core.sortie import Sortie, Target
from groundstation.core.vehicle import FlightMode, VehicleSample
from missions.geo import distance_m, offset
from tests.flightlog.tlog_helpers import read_tlog

pytestmark = pytest.mark.unit

DOCK = Target(51.5120, -0.1300)
SCENE = offset(DOCK.lat_deg, DOCK.lon_deg, 0.0, 500.0)
T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z
SYSID = 42


class Clock:
    def __init__(self) -> None:
        self.mono = 100.0

    def wall(self) -> float:
        return T0 + self.mono

    def monotonic(self) -> float:
        return self.mono


def sortie(phase: Phase, incident_id: str | None = "inc-7") -> Sortie:
    return Sortie("uav-1", "dock-1", DOCK, phase=phase, incident_id=incident_id, target=None)


def sample(clock: Clock, east_m: float, *, armed: bool, mode: FlightMode) -> VehicleSample:
    p = offset(DOCK.lat_deg, DOCK.lon_deg, 0.0, east_m)
    return VehicleSample(
        lat_deg=p.lat_deg,
        lon_deg=p.lon_deg,
        alt_rel_m=40.0 if armed else 0.0,
        alt_amsl_m=70.0 if armed else 30.0,
        heading_deg=90.0,
        ground_speed_m_s=12.0 if armed else 0.0,
        battery_pct=80.0,
        battery_v=15.9,
        flight_mode=mode,
        armed=armed,
        in_air=armed,
        gps_fix=3,
        satellites=14,
        global_position_ok=True,
        connected=True,
        updated_s=clock.mono,
        state_known=True,
    )


def fly(logger: FlightLogger, clock: Clock) -> None:
    """Out 500 m east and back, ten samples a second, with the phases the controller goes
    through (a sortie opened by launch and closed by charging)."""
    plan: list[tuple[Phase, float, bool, FlightMode]] = [
        (Phase.PREFLIGHT, 0.0, False, FlightMode.HOLD)
    ]
    plan += [(Phase.TRANSIT, 25.0 * i, True, FlightMode.MISSION) for i in range(21)]
    plan += [
        (Phase.RETURNING, 500.0 - 25.0 * i, True, FlightMode.RETURN_TO_LAUNCH) for i in range(21)
    ]
    plan += [(Phase.LANDING, 0.0, False, FlightMode.LAND)] * 3
    previous = sortie(Phase.DOCKED, None)
    for phase, east, armed, mode in plan:
        current = sortie(phase)
        if current.phase != previous.phase:
            logger.phase("uav-1", previous, current)
            previous = current
        logger.sample("uav-1", current, sample(clock, east, armed=armed, mode=mode))
        clock.mono += 0.1
    logger.phase("uav-1", previous, sortie(Phase.CHARGING, None))


def new_logger(tmp_path: Path, clock: Clock, journal: Journal | None = None) -> FlightLogger:
    return FlightLogger(
        tmp_path / "flights",
        system_ids={"uav-1": SYSID},
        journal=journal,
        clock=clock.wall,
        monotonic=clock.monotonic,
    )


def test_a_sortie_log_replays_in_pymavlink(tmp_path: Path) -> None:
    clock = Clock()
    logger = new_logger(tmp_path, clock)
    fly(logger, clock)
    assert len(logger.finished) == 1
    tlog = read_tlog(logger.finished[0])
    assert not tlog.bad
    assert {
        "HEARTBEAT",
        "GLOBAL_POSITION_INT",
        "ATTITUDE",
        "VFR_HUD",
        "SYS_STATUS",
        "GPS_RAW_INT",
        "BATTERY_STATUS",
    } <= tlog.types
    assert {m.get_srcSystem() for m in tlog.messages} == {SYSID}
    assert all(m.get_msgbuf()[0] == 0xFD for m in tlog.messages)  # MAVLink 2
    stamps = [m._timestamp for m in tlog.messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert T0 + 100.0 <= stamps[0] < stamps[-1] <= T0 + 106.0
    seqs = [m.get_seq() for m in tlog.messages]
    assert all((b - a) % 256 == 1 for a, b in itertools.pairwise(seqs))
    # Out to the scene and back, as GLOBAL_POSITION_INT.
    east = [
        distance_m(DOCK.lat_deg, DOCK.lon_deg, m.lat / 1e7, m.lon / 1e7)
        for m in tlog.of("GLOBAL_POSITION_INT")
    ]
    assert max(east) == pytest.approx(500.0, abs=1.0)
    assert east[0] < 1.0 and east[-1] < 1.0
    # Heartbeats: PX4 quadrotor, disarmed, armed, then disarmed; PX4 modes by name.
    beats = tlog.of("HEARTBEAT")
    assert {(b.autopilot, b.type) for b in beats} == {(12, 2)}  # PX4, quadrotor
    armed = [bool(b.base_mode & 128) for b in beats]
    assert armed[0] is False and True in armed and armed[-1] is False
    assert armed.index(True) < len(armed) - 1 - armed[::-1].index(True)
    modes = [_mode(b) for b in beats]
    assert {"MISSION", "RTL", "LAND"} <= set(modes)
    batt = tlog.of("BATTERY_STATUS")[0]
    assert batt.voltages[0] == 15900 and batt.battery_remaining == 80


def _mode(beat: object) -> str:
    """The mode name pymavlink (and so MAVProxy, QGC's PX4 plugin) reads from a heartbeat."""
    from pymavlink import mavutil

    return str(mavutil.mode_string_v10(beat))


def test_log_name_and_journal_event(tmp_path: Path) -> None:
    clock = Clock()
    journal = Journal(tmp_path / "j.sqlite")
    logger = new_logger(tmp_path, clock, journal)
    fly(logger, clock)
    path = logger.finished[0]
    assert path.parent == tmp_path / "flights" / "inc-7"
    assert re.fullmatch(r"uav-1-\d{8}T\d{6}Z\.tlog", path.name)
    assert path.name == "uav-1-20260921T141500Z.tlog"  # T0 + 100 s, UTC
    events = [e for e in journal.events() if e[2] == "flight_log"]
    assert [(e[3], e[4]) for e in events] == [(str(path), "uav-1")]
    journal.close()


def test_a_flying_drone_without_a_log_gets_one_and_fault_ends_it(tmp_path: Path) -> None:
    """A restarted controller adopts a drone in transit: its first sample opens a log (not
    before its state is known: MAVSDK's first values are defaults). A fault closes it, and a
    drone in fault does not open another."""
    clock = Clock()
    logger = new_logger(tmp_path, clock)
    transit = sortie(Phase.TRANSIT)
    logger.sample("uav-1", transit, VehicleSample(connected=True, updated_s=clock.mono))
    assert logger.path_of("uav-1") is None
    logger.sample("uav-1", transit, sample(clock, 100.0, armed=True, mode=FlightMode.MISSION))
    assert logger.path_of("uav-1") is not None
    fault = replace(transit, phase=Phase.FAULT, incident_id=None)
    logger.phase("uav-1", transit, fault)
    clock.mono += 1.0
    logger.sample("uav-1", fault, sample(clock, 100.0, armed=False, mode=FlightMode.LAND))
    assert logger.path_of("uav-1") is None
    assert len(logger.finished) == 1


def test_nothing_new_writes_nothing(tmp_path: Path) -> None:
    """The controller ticks at 10 Hz; a sample it has already logged is not written again, and
    no more than the telemetry rate is written however often it is called."""
    clock = Clock()
    logger = new_logger(tmp_path, clock)
    transit = sortie(Phase.TRANSIT)
    smp = sample(clock, 0.0, armed=True, mode=FlightMode.MISSION)
    for _ in range(10):
        logger.sample("uav-1", transit, smp)
        clock.mono += 0.1
    for _ in range(10):
        logger.sample("uav-1", transit, replace(smp, updated_s=clock.mono))
        clock.mono += 0.01
    logger.close()
    positions = read_tlog(logger.finished[0]).of("GLOBAL_POSITION_INT")
    # The repeated sample once; then new ones at most every 80 ms (10 Hz less 20 % jitter).
    assert len(positions) == 3


def test_a_disk_error_ends_the_log_quietly(tmp_path: Path) -> None:
    clock = Clock()
    blocker = tmp_path / "flights"
    blocker.write_text("not a directory")
    journal = Journal(tmp_path / "j.sqlite")
    logger = new_logger(tmp_path, clock, journal)
    fly(logger, clock)  # raises nothing
    assert logger.finished == []
    failed = [e for e in journal.events() if e[2] == "flight_log_failed"]
    assert len(failed) == 1  # once per sortie, not once per tick
    journal.close()


def test_px4_custom_modes() -> None:
    assert px4_custom_mode(FlightMode.MISSION) == (4 << 16) | (4 << 24)
    assert px4_custom_mode(FlightMode.RETURN_TO_LAUNCH) == (4 << 16) | (5 << 24)
    assert px4_custom_mode(FlightMode.POSCTL) == 3 << 16
    assert px4_custom_mode(FlightMode.UNKNOWN) == 0


def test_a_disarm_is_written_at_once(tmp_path: Path) -> None:
    """The sample that ends a sortie (landed, disarmed) is written even inside a rate slot and
    with no new position, so every log ends disarmed."""
    clock = Clock()
    logger = new_logger(tmp_path, clock)
    landing = sortie(Phase.LANDING)
    armed = sample(clock, 0.0, armed=True, mode=FlightMode.LAND)
    logger.sample("uav-1", landing, armed)
    clock.mono += 0.01
    logger.sample("uav-1", landing, replace(armed, armed=False, in_air=False))
    logger.phase("uav-1", landing, sortie(Phase.CHARGING, None))
    beats = read_tlog(logger.finished[0]).of("HEARTBEAT")
    assert [bool(b.base_mode & 128) for b in beats] == [True, False]
