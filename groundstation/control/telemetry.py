"""Telemetry fan-out: vehicle samples to ``drones/{id}/telemetry``, as fresh and as cheap as can be.

MAVSDK calls back on its own thread when a position arrives. The callback only marks the drone
dirty and, if no wake-up is pending already, schedules one on the event loop; after each round
the publisher rests 5 ms. A burst of samples from many drones costs one loop wake-up (at most
200 a second). Each drone is published at its rate (10 Hz in the air, 1 Hz on the ground), paced
on its samples' arrival times, with its latest sample. A round's messages are queued on the bus
without waiting for each write (``Bus.publish_nowait``) and leave in one pass when the socket is
writable. One task publishes everything in turn, so there is no task per message and no queue to
grow: a sample that arrives before the previous one was sent simply replaces it. The 10 Hz tick
of the controller covers a drone whose samples stop (its telemetry goes on, with ``link_ok``
false).

Each message carries ``ts_ms`` (wall clock at publication) and ``age_ms`` (how old the vehicle's
sample was then), so a subscriber can measure the whole path from vehicle to screen.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Protocol

from groundstation import contract as c
from groundstation.core.config import ControllerConfig
from groundstation.core.ports import StreamPublisher
from groundstation.core.state import DroneRuntime
from groundstation.core.vehicle import VehicleLink, VehicleSample

STALE_REPEAT_S = 1.0
COALESCE_S = 0.005


class TelemetryHost(Protocol):
    """What the fan-out needs of the controller: its drones, their samples, the bus, and the
    partners' share of each message."""

    @property
    def config(self) -> ControllerConfig: ...
    @property
    def bus(self) -> StreamPublisher: ...

    @property
    def active(self) -> bool: ...
    def runtime(self, drone_id: str) -> DroneRuntime | None: ...
    def sample(self, drone_id: str) -> VehicleSample: ...
    def share_telemetry(self, drone_id: str, body: bytes) -> None: ...


# --- the rules ------------------------------------------------------------------------------------


def flags(smp: VehicleSample) -> tuple[bool, bool, str]:
    """What a pilot must see at once when it changes: armed, in the air, flight mode."""
    return smp.armed, smp.in_air, str(smp.flight_mode)


def next_due_s(smp: VehicleSample, cfg: ControllerConfig) -> float:
    """When the drone's next message is due, paced on its samples' arrival times (10 Hz in the
    air, 1 Hz on the ground by default), not on when the publisher runs: the vehicle sends on its
    own clock with jitter (PX4 and the simulator: 80-120 ms apart at 10 Hz), so every sample of a
    stream at the target rate goes out, and a faster stream is thinned to it."""
    hz = cfg.telemetry_hz_air if smp.in_air else cfg.telemetry_hz_ground
    return smp.updated_s + max(0.5 / hz, 1.0 / hz - 0.05)


def message(
    drone_id: str, seq: int, smp: VehicleSample, *, link_ok: bool, phase: c.Phase, now: float,
    ts_ms: int,
) -> c.Telemetry:
    """One telemetry message from a sample (non-finite values as 0, the battery in 0-100 %)."""
    age_ms = int((now - smp.updated_s) * 1000) if smp.updated_s > 0 else None
    return c.Telemetry(
        drone_id=drone_id,
        ts_ms=ts_ms,
        seq=seq,
        lat_deg=smp.lat_deg,
        lon_deg=smp.lon_deg,
        alt_rel_m=round(_finite(smp.alt_rel_m), 2),
        alt_amsl_m=round(_finite(smp.alt_amsl_m), 2),
        heading_deg=round(smp.heading_deg, 1),
        ground_speed_m_s=round(smp.ground_speed_m_s, 2),
        climb_m_s=round(smp.climb_m_s, 2),
        battery_pct=round(min(100.0, max(0.0, _finite(smp.battery_pct))), 1),
        battery_v=round(_finite(smp.battery_v), 2),
        flight_mode=str(smp.flight_mode),
        armed=smp.armed,
        in_air=smp.in_air,
        gps_fix=smp.gps_fix,
        satellites=smp.satellites,
        link_ok=link_ok,
        roll_deg=round(_finite(smp.roll_deg), 1),
        pitch_deg=round(_finite(smp.pitch_deg), 1),
        phase=phase,
        age_ms=age_ms,
    )


# --- publishing -----------------------------------------------------------------------------------


class TelemetryFanout:
    def __init__(self, host: TelemetryHost) -> None:
        self.ctl = host
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._pending = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._attached: set[str] = set()
        self._flags: dict[str, tuple[bool, bool, str]] = {}
        self.published = 0

    def attach(self, drone_id: str, vehicle: VehicleLink) -> None:
        """Listen to a vehicle's position updates."""
        if drone_id in self._attached:
            return
        self._attached.add(drone_id)
        vehicle.set_listener(lambda: self._updated(drone_id))

    def _updated(self, drone_id: str) -> None:
        """On MAVSDK's thread: mark dirty, wake the loop once per burst."""
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            self._dirty.add(drone_id)
            if self._pending:
                return
            self._pending = True
        loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                dirty, self._dirty = self._dirty, set()
                self._pending = False
            now = time.monotonic()
            for drone_id in dirty:
                rt = self.ctl.runtime(drone_id)
                if rt is None or not self.ctl.active:  # a standby controller publishes nothing
                    continue
                smp = self.ctl.sample(drone_id)
                # A change a pilot must see (armed, in the air, flight mode) goes out at once,
                # not at the next 1 Hz slot of a drone on the ground.
                if smp.updated_s >= rt.next_tel_s or self._flags.get(drone_id) != flags(smp):
                    self.publish(drone_id, rt, smp, now)
            # Samples arriving in the next few milliseconds are published together: at most
            # 1 / COALESCE_S wake-ups a second however many drones there are.
            await asyncio.sleep(COALESCE_S)

    def tick(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample, now: float) -> None:
        """From the controller's tick, before it acts on the sample: a change of armed, in the
        air or flight mode goes out first (a console never sees a drone "charging" while its
        last telemetry says armed), and a drone whose samples stopped still gets a message a
        second (its last position, ``link_ok`` false), so a console sees the loss."""
        if not smp.has_position:
            return
        if self._flags.get(drone_id) != flags(smp) or now >= rt.last_tel_s + STALE_REPEAT_S:
            self.publish(drone_id, rt, smp, now)

    def publish(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample, now: float) -> None:
        """Queue one message (QoS 0, written with the rest of the round in one pass)."""
        if not smp.has_position:
            return
        rt.next_tel_s = next_due_s(smp, self.ctl.config)
        rt.last_tel_s = now
        rt.seq += 1
        self._flags[drone_id] = flags(smp)
        tel = message(drone_id, rt.seq, smp, link_ok=rt.link_ok, phase=rt.sortie.phase, now=now,
                      ts_ms=c.now_ms())
        body = c.encode(tel)
        if self.ctl.bus.publish_nowait(c.drone_telemetry(drone_id), body):
            self.published += 1
        self.ctl.share_telemetry(drone_id, body)  # partners that see this drone (sharing)


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
