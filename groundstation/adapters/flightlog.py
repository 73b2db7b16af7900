"""Flight logs: one MAVLink 2 telemetry log (``.tlog``) per sortie, for pymavlink and QGC.

This is a **ground-station recording of what the controller saw**, not the autopilot's own log:
every message is synthesised from the :class:`~groundstation.core.vehicle.VehicleSample` the
controller reads on its tick (the latest sample, at up to the telemetry rate, 10 Hz in the air), so
it holds what the controller knew when it decided, no more. For the vehicle's full-rate record, pull
the PX4 ``.ulg`` from the drone.

The file is what QGroundControl writes and replays: each record is an 8-byte big-endian UNIX
timestamp in microseconds followed by one raw MAVLink 2 packet. The system id is the drone's
MAVLink system id; the component is the autopilot (1). Messages come in two tiers, as PX4 sends
them: GLOBAL_POSITION_INT, ATTITUDE and VFR_HUD with every new sample; HEARTBEAT (PX4, quadrotor,
armed bit, PX4 custom mode), SYS_STATUS, GPS_RAW_INT and BATTERY_STATUS once a second, and the
HEARTBEAT at once when the armed state or the flight mode changes.

A sortie's log runs from launch (``preflight``) until the drone is back (``charging``,
``docked``) or has faulted, at ``<logdir>/<incident_id>/<drone_id>-<UTC time>.tlog``; its path is
journaled as an event ``flight_log`` so that ``groundstation report`` lists it. Writes go through
a buffered file (8 KiB, flushed once a second): a sample is about 120 bytes and 20 us of
encoding on the event loop (1.2 KB/s, 0.02 % of the loop per flying drone at 10 Hz), and memory
is bounded by the buffer. A disk error ends that sortie's log with a
warning; it never reaches the controller.

This module and the simulator are the only importers of pymavlink.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pymavlink.dialects.v20 import common as mav

from groundstation.contract import Phase
from groundstation.core.vehicle import FlightMode, VehicleSample

if TYPE_CHECKING:
    from groundstation.adapters.journal import Journal
    from groundstation.core.sortie import Sortie

log = logging.getLogger(__name__)

__all__ = ["FLYING", "FlightLogger", "TlogEncoder", "px4_custom_mode"]

FLYING = frozenset(
    {
        Phase.PREFLIGHT,
        Phase.LAUNCHING,
        Phase.TRANSIT,
        Phase.ON_SCENE,
        Phase.RETURNING,
        Phase.LANDING,
    }
)
"""Phases with a log open: from launch until back (``charging``/``docked``) or ``fault``."""

SLOW_PERIOD_S = 1.0
FLUSH_PERIOD_S = 1.0
BUFFER_BYTES = 8192
NO_INCIDENT = "no-incident"


def _px4(main: int, sub: int = 0) -> int:
    return (main << 16) | (sub << 24)


_PX4_MODES: Mapping[FlightMode, int] = {
    FlightMode.MANUAL: _px4(1),
    FlightMode.ALTCTL: _px4(2),
    FlightMode.POSCTL: _px4(3),
    FlightMode.READY: _px4(4, 1),
    FlightMode.TAKEOFF: _px4(4, 2),
    FlightMode.HOLD: _px4(4, 3),
    FlightMode.MISSION: _px4(4, 4),
    FlightMode.RETURN_TO_LAUNCH: _px4(4, 5),
    FlightMode.LAND: _px4(4, 6),
    FlightMode.FOLLOW_ME: _px4(4, 8),
    FlightMode.ACRO: _px4(5),
    FlightMode.OFFBOARD: _px4(6),
    FlightMode.STABILIZED: _px4(7),
    FlightMode.RATTITUDE: _px4(8),
}


def px4_custom_mode(mode: FlightMode) -> int:
    """HEARTBEAT.custom_mode as PX4 sends it (main mode in byte 2, sub mode in byte 3);
    0 for an unknown mode."""
    return _PX4_MODES.get(mode, 0)


SENSORS = (
    mav.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | mav.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | mav.MAV_SYS_STATUS_SENSOR_3D_MAG
    | mav.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | mav.MAV_SYS_STATUS_SENSOR_GPS
    | mav.MAV_SYS_STATUS_SENSOR_BATTERY
)
UINT16_UNKNOWN = 0xFFFF
INT16_UNKNOWN = 0x7FFF


def _finite(x: float, default: float = 0.0) -> float:
    return x if math.isfinite(x) else default


def _clamp(x: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, round(x)))


def _e7(deg: float) -> int:
    return _clamp(_finite(deg) * 1e7, -(2**31), 2**31 - 1)


def _mm(m: float) -> int:
    return _clamp(_finite(m) * 1000.0, -(2**31), 2**31 - 1)


def _cm_s(v: float) -> int:
    return _clamp(v * 100.0, -32768, 32767)


class TlogEncoder:
    """Sans-IO: VehicleSamples in, ``.tlog`` records (timestamp + MAVLink 2 packet) out, for one
    vehicle. Keeps the packet sequence, the clock origin of ``time_boot_ms`` and what the last
    HEARTBEAT said."""

    def __init__(self, system_id: int, *, boot_us: int) -> None:
        self.mav = mav.MAVLink(None, srcSystem=system_id, srcComponent=1)
        self.boot_us = boot_us
        self.last_us = 0
        self.next_slow_us = 0
        self.flags: tuple[bool, FlightMode] | None = None
        self.messages = 0

    def encode(self, smp: VehicleSample, ts_us: int) -> bytes:
        """The records of one sample at ``ts_us`` (kept strictly increasing in the file)."""
        ts_us = max(ts_us, self.last_us + 1)
        self.last_us = ts_us
        boot_ms = ((ts_us - self.boot_us) // 1000) & 0xFFFFFFFF
        msgs: list[Any] = []
        flags = (smp.armed, smp.flight_mode)
        if ts_us >= self.next_slow_us or flags != self.flags:
            msgs.append(self._heartbeat(smp))
            self.flags = flags
        if ts_us >= self.next_slow_us:
            self.next_slow_us = ts_us + int(SLOW_PERIOD_S * 1e6)
            msgs += [self._sys_status(smp), self._gps_raw(smp, ts_us), self._battery(smp)]
        if smp.has_position:
            msgs.append(self._position(smp, boot_ms))
        yaw = math.radians(smp.heading_deg)
        yaw = math.atan2(math.sin(yaw), math.cos(yaw))
        msgs.append(
            self.mav.attitude_encode(
                boot_ms,
                math.radians(_finite(smp.roll_deg)),
                math.radians(_finite(smp.pitch_deg)),
                yaw,
                0.0,
                0.0,
                0.0,
            )
        )
        msgs.append(
            self.mav.vfr_hud_encode(
                smp.ground_speed_m_s,
                smp.ground_speed_m_s,
                round(_finite(smp.heading_deg)) % 360,
                50 if smp.in_air else 0,
                _finite(smp.alt_amsl_m),
                smp.climb_m_s,
            )
        )
        out = bytearray()
        for n, m in enumerate(msgs):
            # One microsecond apart: every record's time is distinct and increasing.
            out += (ts_us + n).to_bytes(8, "big")
            out += m.pack(self.mav)
            self.mav.seq = (self.mav.seq + 1) % 256
        self.last_us = ts_us + len(msgs) - 1
        self.messages += len(msgs)
        return bytes(out)

    def _heartbeat(self, smp: VehicleSample) -> Any:
        base = mav.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        if smp.armed:
            base |= mav.MAV_MODE_FLAG_SAFETY_ARMED
        if smp.flight_mode not in (FlightMode.UNKNOWN, FlightMode.MANUAL, FlightMode.ACRO):
            base |= mav.MAV_MODE_FLAG_STABILIZE_ENABLED
        if smp.flight_mode in (
            FlightMode.READY,
            FlightMode.TAKEOFF,
            FlightMode.HOLD,
            FlightMode.MISSION,
            FlightMode.RETURN_TO_LAUNCH,
            FlightMode.LAND,
            FlightMode.FOLLOW_ME,
            FlightMode.OFFBOARD,
        ):
            base |= mav.MAV_MODE_FLAG_GUIDED_ENABLED | mav.MAV_MODE_FLAG_AUTO_ENABLED
        status = mav.MAV_STATE_ACTIVE if smp.armed else mav.MAV_STATE_STANDBY
        return self.mav.heartbeat_encode(
            mav.MAV_TYPE_QUADROTOR,
            mav.MAV_AUTOPILOT_PX4,
            base,
            px4_custom_mode(smp.flight_mode),
            status,
        )

    def _sys_status(self, smp: VehicleSample) -> Any:
        healthy = SENSORS
        if not smp.global_position_ok:
            healthy &= ~mav.MAV_SYS_STATUS_SENSOR_GPS
        volts = smp.battery_v
        mv = _clamp(volts * 1000.0, 0, UINT16_UNKNOWN - 1) if math.isfinite(volts) else 0xFFFF
        pct = _clamp(smp.battery_pct, 0, 100) if math.isfinite(smp.battery_pct) else -1
        return self.mav.sys_status_encode(
            SENSORS, SENSORS, healthy, 0, mv, -1, pct, 0, 0, 0, 0, 0, 0
        )

    def _gps_raw(self, smp: VehicleSample, ts_us: int) -> Any:
        course = round(_finite(smp.heading_deg) % 360.0 * 100) % 36000
        return self.mav.gps_raw_int_encode(
            ts_us,
            max(0, min(8, smp.gps_fix)),
            _e7(smp.lat_deg),
            _e7(smp.lon_deg),
            _mm(smp.alt_amsl_m),
            UINT16_UNKNOWN,
            UINT16_UNKNOWN,
            _clamp(smp.ground_speed_m_s * 100.0, 0, UINT16_UNKNOWN - 1),
            course,
            max(0, min(255, smp.satellites)),
        )

    def _battery(self, smp: VehicleSample) -> Any:
        volts = smp.battery_v
        cells = [UINT16_UNKNOWN] * 10
        if math.isfinite(volts):
            cells[0] = _clamp(volts * 1000.0, 0, UINT16_UNKNOWN - 1)
        pct = _clamp(smp.battery_pct, 0, 100) if math.isfinite(smp.battery_pct) else -1
        return self.mav.battery_status_encode(
            0,
            mav.MAV_BATTERY_FUNCTION_ALL,
            mav.MAV_BATTERY_TYPE_LIPO,
            INT16_UNKNOWN,
            cells,
            -1,
            -1,
            -1,
            pct,
        )

    def _position(self, smp: VehicleSample, boot_ms: int) -> Any:
        hdg = math.radians(smp.heading_deg)
        return self.mav.global_position_int_encode(
            boot_ms,
            _e7(smp.lat_deg),
            _e7(smp.lon_deg),
            _mm(smp.alt_amsl_m),
            _mm(smp.alt_rel_m),
            _cm_s(smp.ground_speed_m_s * math.cos(hdg)),
            _cm_s(smp.ground_speed_m_s * math.sin(hdg)),
            _cm_s(-smp.climb_m_s),
            round(_finite(smp.heading_deg) % 360.0 * 100) % 36000,
        )


@dataclass(slots=True)
class _OpenLog:
    path: Path
    file: IO[bytes]
    encoder: TlogEncoder
    incident_id: str | None
    last_updated_s: float = -1.0
    next_write_s: float = 0.0
    next_flush_s: float = 0.0
    size: int = 0
    samples: int = 0


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


class FlightLogger:
    """One ``.tlog`` per sortie under ``logdir`` (see the module docstring).

    The controller calls :meth:`phase` on every phase change and :meth:`sample` on each tick of
    a busy drone; :meth:`close` at shutdown closes whatever is still open.
    """

    def __init__(
        self,
        logdir: str | Path,
        *,
        system_ids: Mapping[str, int],
        journal: Journal | None = None,
        rate_hz: float = 10.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logdir = Path(logdir)
        self.system_ids = dict(system_ids)
        self.journal = journal
        self.min_interval_s = 0.8 / rate_hz if rate_hz > 0 else 0.0
        self.clock = clock
        self.monotonic = monotonic
        self._open: dict[str, _OpenLog] = {}
        self._failed: set[str] = set()
        self.finished: list[Path] = []

    def path_of(self, drone_id: str) -> Path | None:
        """The log being written for this drone's sortie, if any."""
        log_ = self._open.get(drone_id)
        return log_.path if log_ is not None else None

    # --- controller hooks -------------------------------------------------------------------

    def phase(self, drone_id: str, before: Sortie, after: Sortie) -> None:
        """A phase change: launch opens the sortie's log, back (or fault) closes it."""
        if after.phase in FLYING and before.phase not in FLYING:
            self._close(drone_id)
            self._failed.discard(drone_id)
            self._start(drone_id, after.incident_id)
        elif after.phase not in FLYING:
            self._close(drone_id)
            self._failed.discard(drone_id)

    def sample(self, drone_id: str, sortie: Sortie, smp: VehicleSample) -> None:
        """The controller's latest sample of a drone on a sortie. A flying drone without a log
        (a restarted controller adopting it) gets one."""
        if sortie.phase not in FLYING or not smp.state_known:
            return  # until armed/in-air are heard, MAVSDK's values are defaults, not facts
        log_ = self._open.get(drone_id)
        if log_ is None:
            if drone_id in self._failed:
                return
            log_ = self._start(drone_id, sortie.incident_id)
            if log_ is None:
                return
        mono = self.monotonic()
        # An arm, a disarm or a mode change is written at once; otherwise a new sample per slot.
        if (smp.armed, smp.flight_mode) == log_.encoder.flags:
            if mono < log_.next_write_s:
                return
            if smp.updated_s > 0 and smp.updated_s == log_.last_updated_s:
                return  # nothing new since the last record
        log_.last_updated_s = smp.updated_s
        log_.next_write_s = mono + self.min_interval_s
        wall = self.clock()
        if smp.updated_s > 0:
            wall -= max(0.0, mono - smp.updated_s)  # when the vehicle's sample arrived
        data = log_.encoder.encode(smp, int(wall * 1e6))
        try:
            log_.file.write(data)
            if mono >= log_.next_flush_s:
                log_.file.flush()
                log_.next_flush_s = mono + FLUSH_PERIOD_S
        except OSError as exc:
            self._fail(drone_id, log_.path, exc)
            return
        log_.size += len(data)
        log_.samples += 1

    def close(self) -> None:
        """Close every open log (controller shutdown)."""
        for drone_id in list(self._open):
            self._close(drone_id)

    # --- files ------------------------------------------------------------------------------

    def _start(self, drone_id: str, incident_id: str | None) -> _OpenLog | None:
        wall = self.clock()
        stamp = datetime.fromtimestamp(wall, UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.logdir / _safe(incident_id or NO_INCIDENT)
        path = folder / f"{_safe(drone_id)}-{stamp}.tlog"
        n = 1
        try:
            folder.mkdir(parents=True, exist_ok=True)
            while path.exists():
                n += 1
                path = folder / f"{_safe(drone_id)}-{stamp}-{n}.tlog"
            f = path.open("wb", buffering=BUFFER_BYTES)
        except OSError as exc:
            self._fail(drone_id, path, exc)
            return None
        sysid = self.system_ids.get(drone_id, 1)
        log_ = _OpenLog(path, f, TlogEncoder(sysid, boot_us=int(wall * 1e6)), incident_id)
        log_.next_flush_s = self.monotonic() + FLUSH_PERIOD_S
        self._open[drone_id] = log_
        log.info("%s: flight log %s", drone_id, path)
        if self.journal is not None:
            self.journal.event(
                "info", "flight_log", str(path), drone_id=drone_id, incident_id=incident_id
            )
        return log_

    def _close(self, drone_id: str) -> None:
        log_ = self._open.pop(drone_id, None)
        if log_ is None:
            return
        try:
            log_.file.close()
        except OSError as exc:
            self._fail(drone_id, log_.path, exc)
            return
        self.finished.append(log_.path)
        log.info("%s: flight log closed, %d samples, %d bytes", drone_id, log_.samples, log_.size)

    def _fail(self, drone_id: str, path: Path, exc: OSError) -> None:
        log_ = self._open.pop(drone_id, None)
        if log_ is not None:
            with contextlib.suppress(OSError):
                log_.file.close()
        self._failed.add(drone_id)
        log.warning("%s: flight log %s failed: %s", drone_id, path, exc)
        if self.journal is not None:
            self.journal.event("warning", "flight_log_failed", f"{path}: {exc}", drone_id=drone_id)
