"""SimFleet: N simulated PX4 vehicles on loopback UDP, one physics loop for all of them.

    async with SimFleet([Home(51.5, -0.12, 30.0)], base_port=14540, speedup=5.0) as fleet:
        ...  # MAVSDK connects with udpin://0.0.0.0:14540; fleet.vehicles[0] is the model

Vehicle i has system id i+1 and sends to host:base_port+i, exactly like PX4 SITL instance i.
With ``mirror_base_port=Q`` it also sends to host:Q+i (a standby ground station) and accepts
commands from both, like PX4 with two MAVLink instances.
Simulated time runs ``speedup`` times faster than the wall clock; the link (stream rates,
heartbeats, link-loss timers) stays on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from sitl.endpoint import VehicleEndpoint
from sitl.model import SimVehicle
from sitl.physics import Home

if TYPE_CHECKING:
    from sitl.camera import CameraConfig, CameraPayload
    from sitl.camera.stream import CameraIO

PHYSICS_DT_S = 0.02  # 50 Hz in simulated time
TICK_HZ = 50.0  # wall-clock ticks: physics catch-up and telemetry
LARGE_FLEET = 30
LARGE_FLEET_TICK_HZ = 20.0
"""Ticks of a fleet of more than LARGE_FLEET vehicles: each tick asks every vehicle for its due
messages and sends them in one datagram, so fewer ticks batch more messages per datagram
(a 144-vehicle fleet at 50 Hz spent a fifth of the simulator's time in sendto and due_messages);
20 Hz still times a 10 Hz position stream to within 50 ms."""
MAX_CATCH_UP_S = 1.0  # simulated seconds dropped rather than run late


class SimFleet:
    """An async context manager running the vehicles and their UDP endpoints."""

    def __init__(
        self,
        homes: Sequence[Home],
        base_port: int = 14540,
        speedup: float = 1.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        params: Mapping[str, float] | None = None,
        mirror_base_port: int | None = None,
        camera: CameraConfig | None = None,
        max_catch_up_s: float = MAX_CATCH_UP_S,
        first_system_id: int = 1,
        tick_hz: float | None = None,
    ) -> None:
        if not homes:
            raise ValueError("a fleet needs at least one home")
        if len(homes) > 250 or not 1 <= first_system_id <= 251 - len(homes):
            raise ValueError("MAVLink system ids allow at most 250 vehicles (ids 1..250)")
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.homes = tuple(homes)
        self.tick_hz = tick_hz or (TICK_HZ if len(homes) <= LARGE_FLEET else LARGE_FLEET_TICK_HZ)
        self.base_port = base_port
        self.speedup = speedup
        self.seed = seed
        self.host = host
        self.mirror_base_port = mirror_base_port
        # Wall seconds of a late tick that are caught up (more is dropped: simulated time then
        # runs slower than speedup x wall, which keeps it in step with a starved client).
        self.max_catch_up_s = max_catch_up_s
        self.vehicles: list[SimVehicle] = [
            SimVehicle(h, system_id=first_system_id + i, seed=seed, params=dict(params or {}))
            for i, h in enumerate(self.homes)
        ]
        for v in self.vehicles:  # streams due before the next tick go with this one's
            v.stream_slack_s = 0.999 / self.tick_hz
        self.endpoints: list[VehicleEndpoint] = []
        # Vehicle i's camera streams to video_host:video_base_port+i (sitl.camera).
        self.camera = camera
        self.cameras: list[CameraPayload] = []
        self.camera_io: CameraIO | None = None
        if camera is not None:
            from sitl.camera import CameraPayload

            for i, v in enumerate(self.vehicles):
                payload = CameraPayload(v, camera, camera.video_base_port + i)
                v.payloads.append(payload)
                self.cameras.append(payload)
        self.sim_time_s = 0.0
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None

    @property
    def ports(self) -> list[int]:
        """The ports the ground station listens on, one per vehicle."""
        return [self.base_port + i for i in range(len(self.vehicles))]

    async def __aenter__(self) -> SimFleet:
        loop = asyncio.get_running_loop()
        try:
            for i, v in enumerate(self.vehicles):
                mirror = (
                    None
                    if self.mirror_base_port is None
                    else (self.host, self.mirror_base_port + i)
                )
                ep = VehicleEndpoint(v, (self.host, self.base_port + i), loop.time, mirror)
                ep.open(self.host, loop)
                self.endpoints.append(ep)
            if self.camera is not None:
                from sitl.camera.stream import CameraIO

                self.camera_io = CameraIO(self.cameras, self.camera, self.host, loop)
            tg = await self._stack.enter_async_context(asyncio.TaskGroup())
            self._task = tg.create_task(self._run(), name="sitl-fleet-tick")
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:
            await self._stack.aclose()
        finally:
            for ep in self.endpoints:
                ep.close()
            self.endpoints.clear()
            self._task = None
            if self.camera_io is not None:
                io, self.camera_io = self.camera_io, None
                await asyncio.to_thread(io.close)  # joins the encoder threads

    def restart_streams(self) -> None:
        """Send every stream of every vehicle at the next tick (for a client that just started)."""
        for v in self.vehicles:
            v.restart_streams()

    def step(self, sim_s: float) -> None:
        """Advance every vehicle by sim_s simulated seconds in fixed physics steps; a resting
        vehicle (disarmed on the ground) in one step, which is exact for it: a docked fleet of
        144 at speedup 10 otherwise spent most of the simulator's core on 72,000 steps a second
        of vehicles that do not move."""
        steps = max(0, round(sim_s / PHYSICS_DT_S))
        if steps == 0:
            return
        moving = [v for v in self.vehicles if not v.resting]
        for v in self.vehicles:
            if v.resting:
                v.step(steps * PHYSICS_DT_S)
        for _ in range(steps):
            for v in moving:
                v.step(PHYSICS_DT_S)
        self.sim_time_s += steps * PHYSICS_DT_S

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.tick_hz
        last = loop.time()
        next_tick = last
        debt = 0.0
        while True:
            now = loop.time()
            debt = min(debt + (now - last) * self.speedup,
                       self.max_catch_up_s * max(1.0, self.speedup))
            last = now
            n = int(debt / PHYSICS_DT_S)
            if n:
                self.step(n * PHYSICS_DT_S)
                debt -= n * PHYSICS_DT_S
            # Streams are timed on the tick's scheduled time, not on when the loop woke: with
            # the wake-up's jitter a stream due near a tick's edge went out one tick early or
            # late by turns (50 and 150 ms apart at 20 Hz), which PX4 never does.
            scheduled = min(next_tick, now)
            for ep in self.endpoints:
                ep.tick(scheduled)
            if self.camera_io is not None:
                self.camera_io.tick()
            next_tick += period
            delay = next_tick - loop.time()
            if delay < -period:  # fell behind: do not try to catch up on ticks
                next_tick = loop.time()
                delay = 0.0
            await asyncio.sleep(delay)


def cpu_seconds() -> float:
    """Process CPU time (for the benchmark)."""
    return time.process_time()
