"""Simulated docks speaking the dock protocol over MQTT (``groundstation dock-sim``).

- :class:`DockSim` is one dock, sans-IO: ``handle_service(payload, now)``, ``on_telemetry``,
  ``handle_events_reply`` and ``step(now)`` return the messages to publish. It models cover
  timing (about 12 s, divided by ``speedup``, progress events every 25 %), charging, seeded weather
  and the faults a test scripts: ``set_weather``, ``stick_cover``, ``press_emergency_stop``,
  ``go_offline``, ``drop_requests``.
- :class:`DockSimFleet` runs one :class:`DockSim` per dock of a site set, each on its own
  :class:`~groundstation.bus.Bus` (client id ``dock-{dock_id}``, Last Will ``offline``). On a plain
  TCP broker each dock connects through a small local relay, so ``go_offline`` can cut the
  connection abruptly (the broker then publishes the Last Will), as a real network outage would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import socket
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from groundstation import contract as c
from groundstation.bus import BrokerConfig, Bus, Will
from groundstation.errors import BusError, ConfigError, GroundStationError
from groundstation.tasks import cancel_until_done
from missions.geo import distance_m
from missions.sites import Dock, SiteSet, SiteSetError, load_sites

log = logging.getLogger(__name__)

COVER_S = 12.0
DRONE_POWER_S = 3.0
CHARGE_SWITCH_S = 1.0
REBOOT_S = 5.0
OSD_IDLE_S = 1.0
OSD_JOB_S = 0.5
IN_DOCK_RADIUS_M = 3.0
STUCK_AT_PERCENT = 50
_REPLY_CACHE = 256

_DURATIONS = {
    c.DockMethod.COVER_OPEN: COVER_S,
    c.DockMethod.COVER_CLOSE: COVER_S,
    c.DockMethod.CHARGE_OPEN: CHARGE_SWITCH_S,
    c.DockMethod.CHARGE_CLOSE: CHARGE_SWITCH_S,
    c.DockMethod.DRONE_OPEN: DRONE_POWER_S,
    c.DockMethod.DRONE_CLOSE: CHARGE_SWITCH_S,
    c.DockMethod.DEVICE_REBOOT: REBOOT_S,
}


@dataclass(frozen=True, slots=True)
class Out:
    """A message the dock publishes: ``leaf`` of ``docks/{dock_id}/``."""

    leaf: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(slots=True)
class Weather:
    wind_speed_m_s: float = 3.0
    rainfall: int = 0
    temperature_c: float = 12.0


@dataclass(slots=True)
class _Job:
    method: c.DockMethod
    bid: str
    started: float
    duration_s: float
    reported: int = 0  # last percent reported
    fail_at: int | None = None
    fail_reason: str = ""


@dataclass(slots=True)
class DockCounters:
    """What the dock received, for tests (QGroundControl MockLink style)."""

    services: int = 0
    dropped: int = 0
    duplicates: int = 0
    refused: int = 0
    events_sent: int = 0
    events_acked: int = 0
    methods: list[str] = field(default_factory=list)


class DockSim:
    """One simulated dock. Pure: messages in, messages out; time is passed in as ``now``."""

    def __init__(
        self,
        dock: Dock,
        *,
        speedup: float = 1.0,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = c.now_ms,
    ) -> None:
        self.dock = dock
        self.dock_id = dock.dock_id
        self.speedup = speedup
        self._clock = clock
        self._wall_ms = wall_ms
        self._rng = random.Random(seed * 1_000_003 + zlib.crc32(dock.dock_id.encode()))
        self.weather = Weather(
            wind_speed_m_s=round(self._rng.uniform(1.0, 6.0), 1),
            temperature_c=round(self._rng.uniform(6.0, 18.0), 1),
        )
        self._wind_mean = self.weather.wind_speed_m_s
        self._weather_pinned = False
        self.cover = c.CoverState.CLOSED
        self.drone_in_dock = True
        self.drone_powered = False
        self.charge_enabled = True
        self.capacity_percent = 100.0
        self.emergency_stop = False
        self.fault: str | None = None
        self.counters = DockCounters()
        self._job: _Job | None = None
        self._cover_stuck_next = False
        self._drop_next = 0
        self._lose_completion = False
        self._replies: OrderedDict[str, bytes] = OrderedDict()
        self._last_state: tuple[Any, ...] | None = None
        self._next_osd = 0.0
        self._last_step: float | None = None
        self._offline_until: float | None = None

    # --- scripting API -----------------------------------------------------------------------

    def set_weather(
        self,
        *,
        wind_speed_m_s: float | None = None,
        rainfall: int | None = None,
        temperature_c: float | None = None,
    ) -> None:
        """Pin the weather to the given values (the others keep theirs) until release_weather."""
        if wind_speed_m_s is not None:
            self.weather.wind_speed_m_s = max(0.0, wind_speed_m_s)
        if rainfall is not None:
            self.weather.rainfall = min(3, max(0, rainfall))
        if temperature_c is not None:
            self.weather.temperature_c = temperature_c
        self._weather_pinned = True
        self._next_osd = 0.0  # report the change at once

    def release_weather(self) -> None:
        """Let the seeded weather drift again from where it is."""
        self._weather_pinned = False

    def stick_cover(self, stuck: bool = True) -> None:
        """The next cover_open is accepted and then fails with ``cover stuck``."""
        self._cover_stuck_next = stuck

    def press_emergency_stop(self, pressed: bool = True) -> None:
        """The emergency stop: a running job fails, new ones are refused until released."""
        self.emergency_stop = pressed
        self._next_osd = 0.0

    def clear_fault(self) -> None:
        self.fault = None
        if self.cover == c.CoverState.FAULT:
            self.cover = c.CoverState.HALF_OPEN

    def go_offline(self, for_s: float | None = None) -> None:
        """Drop off the network abruptly (the Last Will fires); back after ``for_s`` real s."""
        self._offline_until = math.inf if for_s is None else self._clock() + for_s

    def come_online(self) -> None:
        self._offline_until = None

    @property
    def offline(self) -> bool:
        return self._offline_until is not None and self._clock() < self._offline_until

    def drop_requests(self, count: int = 1) -> None:
        """Ignore the next ``count`` service requests, as if they were lost on the way."""
        self._drop_next = count

    def lose_completion(self) -> None:
        """The next job's final ``ok`` event is lost on the way (the job itself completes)."""
        self._lose_completion = True

    @property
    def job(self) -> str | None:
        """The method of the running job, if any."""
        return None if self._job is None else self._job.method.value

    # --- inputs ------------------------------------------------------------------------------

    def handle_service(self, payload: bytes, now: float) -> list[Out]:
        """A message on ``services``: reply, and maybe start a job."""
        self.counters.services += 1
        if self._drop_next > 0:
            self._drop_next -= 1
            self.counters.dropped += 1
            return []
        try:
            envelope = c.decode(payload, c.Request)
        except c.ContractError as exc:
            tid, bid, method = _lenient_ids(payload)
            return [self._refuse(tid, bid, method, c.Result.MALFORMED, exc.reason, cache=False)]
        cached = self._replies.get(envelope.tid)
        if cached is not None:
            self.counters.duplicates += 1
            return [Out("services_reply", cached)]
        tid, bid, method = envelope.tid, envelope.bid, envelope.method
        if method not in c.DockMethod.__members__.values():
            return [self._refuse(tid, bid, method, c.Result.UNKNOWN_METHOD,
                                 f"unknown method {method!r}")]
        try:
            request = c.decode(payload, c.DockServiceRequest)
        except c.ContractError as exc:
            return [self._refuse(tid, bid, method, c.Result.MALFORMED, exc.reason, cache=False)]
        age_ms = self._wall_ms() - request.timestamp
        if age_ms > c.COMMAND_TTL_S * 1000:
            return [self._refuse(tid, bid, method, c.Result.EXPIRED,
                                 f"request is {age_ms / 1000:.0f} s old")]
        self.counters.methods.append(method)
        job = self._job
        if job is not None and bid and job.bid == bid:
            return [self._accept(request)]  # a retry of the running job: do not restart it
        if job is not None:
            return [self._refuse(tid, bid, method, c.Result.BUSY, f"busy with {job.method}")]
        if self.emergency_stop:
            return [self._refuse(tid, bid, method, c.Result.DOCK_FAULT, "emergency stop pressed")]
        if self.fault and request.method != c.DockMethod.DEVICE_REBOOT:
            return [self._refuse(tid, bid, method, c.Result.DOCK_FAULT, self.fault)]
        return [self._accept(request), *self._start(request, now)]

    def handle_events_reply(self, payload: bytes) -> None:
        try:
            c.decode(payload, c.Reply)
        except c.ContractError as exc:
            log.warning("dock %s: malformed events_reply: %s", self.dock_id, exc.reason)
            return
        self.counters.events_acked += 1

    def on_telemetry(self, payload: bytes) -> None:
        """Sense the dock's drone: in the dock when on the ground within 3 m; its battery."""
        try:
            tel = c.decode(payload, c.Telemetry)
        except c.ContractError:
            return
        near = distance_m(tel.lat_deg, tel.lon_deg, self.dock.lat_deg, self.dock.lon_deg)
        self.drone_in_dock = not tel.in_air and near <= IN_DOCK_RADIUS_M
        if self.drone_in_dock:
            self.capacity_percent = tel.battery_pct

    # --- jobs --------------------------------------------------------------------------------

    def _accept(self, request: c.DockServiceRequest) -> Out:
        reply = c.make_reply(request.tid, request.method, c.Result.OK,
                             {"status": c.JobStatus.IN_PROGRESS.value}, bid=request.bid)
        return self._remember(request.tid, c.encode(reply))

    def _refuse(
        self, tid: str, bid: str, method: str, result: c.Result, reason: str, *, cache: bool = True
    ) -> Out:
        self.counters.refused += 1
        log.warning("dock %s: refused %s (tid %r): %s %s", self.dock_id, method or "?", tid,
                    result.name, reason)
        payload = c.encode(c.refusal(tid, method, result, reason, bid=bid))
        if cache and tid:
            return self._remember(tid, payload)
        return Out("services_reply", payload)

    def _remember(self, tid: str, payload: bytes) -> Out:
        self._replies[tid] = payload
        if len(self._replies) > _REPLY_CACHE:
            self._replies.popitem(last=False)
        return Out("services_reply", payload)

    def _start(self, request: c.DockServiceRequest, now: float) -> list[Out]:
        method = request.method
        duration = _DURATIONS[method] / self.speedup
        already = (method == c.DockMethod.COVER_OPEN and self.cover == c.CoverState.OPEN) or (
            method == c.DockMethod.COVER_CLOSE and self.cover == c.CoverState.CLOSED
        )
        job = _Job(method, request.bid, now, 0.0 if already else duration)
        if method == c.DockMethod.COVER_OPEN and self._cover_stuck_next:
            self._cover_stuck_next = False
            job.fail_at, job.fail_reason = STUCK_AT_PERCENT, "cover stuck"
            job.duration_s = duration
        if method in (c.DockMethod.COVER_OPEN, c.DockMethod.COVER_CLOSE) and job.duration_s > 0:
            self.cover = c.CoverState.HALF_OPEN
        self._job = job
        self._next_osd = 0.0
        return [self._event(job, c.JobStatus.IN_PROGRESS, 0)]

    def _event(
        self, job: _Job, status: c.JobStatus, percent: int, reason: str | None = None
    ) -> Out:
        ok = status in (c.JobStatus.IN_PROGRESS, c.JobStatus.OK)
        result = 0 if ok else int(c.Result.DOCK_FAULT)
        event = c.DockEvent(
            tid=c.new_tid(),
            bid=job.bid,
            timestamp=self._wall_ms(),
            method=job.method,
            need_reply=1,
            data=c.DockJobEventData(
                result=result,
                output=c.JobEventOutput(
                    status=status,
                    progress=c.JobProgress(percent=percent, step_key=_step_key(job.method)),
                    reason=reason,
                ),
            ),
        )
        self.counters.events_sent += 1
        return Out("events", c.encode(event))

    def _advance_job(self, now: float) -> list[Out]:
        job = self._job
        if job is None:
            return []
        if self.emergency_stop:
            self._job = None
            return [self._event(job, c.JobStatus.FAILED, job.reported, "emergency stop pressed")]
        elapsed = now - job.started
        percent = 100 if job.duration_s <= 0 else min(100, int(100 * elapsed / job.duration_s))
        if job.fail_at is not None and percent >= job.fail_at:
            self._job = None
            self.fault = job.fail_reason
            self.cover = c.CoverState.FAULT
            return [self._event(job, c.JobStatus.FAILED, job.fail_at, job.fail_reason)]
        if percent >= 100:
            self._job = None
            self._finish(job.method)
            done = self._event(job, c.JobStatus.OK, 100)
            if self._lose_completion:
                self._lose_completion = False
                return []
            return [done]
        quarter = percent // 25 * 25
        if quarter > job.reported:
            job.reported = quarter
            return [self._event(job, c.JobStatus.IN_PROGRESS, quarter)]
        return []

    def _finish(self, method: c.DockMethod) -> None:
        if method == c.DockMethod.COVER_OPEN:
            self.cover = c.CoverState.OPEN
        elif method == c.DockMethod.COVER_CLOSE:
            self.cover = c.CoverState.CLOSED
        elif method == c.DockMethod.CHARGE_OPEN:
            self.charge_enabled = True
        elif method == c.DockMethod.CHARGE_CLOSE:
            self.charge_enabled = False
        elif method == c.DockMethod.DRONE_OPEN:
            self.drone_powered = True
        elif method == c.DockMethod.DRONE_CLOSE:
            self.drone_powered = False
        elif method == c.DockMethod.DEVICE_REBOOT:
            self.fault = None
            self._cover_stuck_next = False
            if self.cover in (c.CoverState.FAULT, c.CoverState.HALF_OPEN):
                self.cover = c.CoverState.CLOSED

    # --- time --------------------------------------------------------------------------------

    def step(self, now: float) -> list[Out]:
        """Advance to ``now``: job progress, weather; osd when due, state when it changed."""
        dt = 0.0 if self._last_step is None else max(0.0, now - self._last_step)
        self._last_step = now
        self._drift_weather(dt)
        out = self._advance_job(now)
        state = self.state()
        key = (state.mode_code, state.cover_state, state.drone_in_dock, state.charging,
               state.fault)
        if key != self._last_state:
            self._last_state = key
            out.append(Out("state", c.encode(state), qos=1, retain=True))
        if now >= self._next_osd:
            self._next_osd = now + (OSD_JOB_S if self._job is not None else OSD_IDLE_S)
            out.append(Out("osd", c.encode(self.osd()), qos=0))
        return out

    def _drift_weather(self, dt: float) -> None:
        if self._weather_pinned or dt <= 0:
            return
        w, rng = self.weather, self._rng
        # Wind: mean-reverting random walk around the seeded mean, a few m/s per minute.
        w.wind_speed_m_s += 0.05 * (self._wind_mean - w.wind_speed_m_s) * dt + rng.gauss(
            0.0, 0.15 * math.sqrt(dt)
        )
        w.wind_speed_m_s = min(15.0, max(0.0, w.wind_speed_m_s))
        if rng.random() < 0.002 * dt:  # rain changes every few minutes
            w.rainfall = min(3, max(0, w.rainfall + rng.choice((-1, 1))))
        w.temperature_c += rng.gauss(0.0, 0.01 * math.sqrt(dt))

    def charging(self) -> bool:
        return (
            self.drone_in_dock
            and self.cover == c.CoverState.CLOSED
            and self.charge_enabled
            and self.capacity_percent < 100.0
        )

    def state(self) -> c.DockState:
        return c.DockState(
            dock_id=self.dock_id,
            ts_ms=self._wall_ms(),
            mode_code=c.DockMode.WORKING if self._job is not None else c.DockMode.IDLE,
            cover_state=self.cover,
            drone_in_dock=self.drone_in_dock,
            charging=self.charging(),
            fault=self.fault,
        )

    def osd(self) -> c.DockOsd:
        return c.DockOsd(
            dock_id=self.dock_id,
            ts_ms=self._wall_ms(),
            mode_code=c.DockMode.WORKING if self._job is not None else c.DockMode.IDLE,
            cover_state=self.cover,
            drone_in_dock=self.drone_in_dock,
            drone_charge_state=c.ChargeState(
                state=1 if self.charging() else 0,
                capacity_percent=max(0.0, min(100.0, self.capacity_percent)),
            ),
            wind_speed_m_s=round(self.weather.wind_speed_m_s, 1),
            rainfall=self.weather.rainfall,
            environment_temperature_c=round(self.weather.temperature_c, 1),
            emergency_stop_state=self.emergency_stop,
            lat_deg=self.dock.lat_deg,
            lon_deg=self.dock.lon_deg,
        )


def _step_key(method: c.DockMethod) -> str:
    return {
        c.DockMethod.COVER_OPEN: "cover_opening",
        c.DockMethod.COVER_CLOSE: "cover_closing",
        c.DockMethod.DRONE_OPEN: "drone_powering_on",
        c.DockMethod.DRONE_CLOSE: "drone_powering_off",
        c.DockMethod.DEVICE_REBOOT: "rebooting",
    }.get(method, method.value)


def _lenient_ids(payload: bytes) -> tuple[str, str, str]:
    """tid, bid and method from a payload that failed validation, when they can be read."""
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return "", "", ""
    if not isinstance(raw, dict):
        return "", "", ""

    def text(key: str) -> str:
        value = raw.get(key)
        return value[:64] if isinstance(value, str) else ""

    return text("tid"), text("bid"), text("method")


# --- IO: a relay to cut connections, a runner per dock, the fleet -----------------------------


class _Relay:
    """A loopback TCP relay to the broker that can drop its connections abruptly."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def set_cut(self, cut: bool) -> None:
        """Cut: stop listening (connects are refused at once) and reset every connection."""
        if cut == self.cut:
            return
        self.cut = cut
        if not cut:
            await self.start()
            return
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()

    def is_cut(self) -> bool:
        return self.cut

    async def close(self) -> None:
        await self.set_cut(True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.cut:
                raise ConnectionRefusedError
            up_r, up_w = await asyncio.open_connection(*self._target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        if self.is_cut():  # cut while connecting upstream
            up_w.transport.abort()
            self._writers.discard(writer)
            writer.transport.abort()
            return
        for w in (writer, up_w):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writers.add(w)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_pipe(reader, up_w, writer), name="relay:up")
                tg.create_task(_pipe(up_r, writer, up_w), name="relay:down")
        except* OSError:
            pass
        finally:
            for w in (writer, up_w):
                self._writers.discard(w)
                w.transport.abort()


async def _pipe(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, other: asyncio.StreamWriter
) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    finally:
        other.transport.abort()
        dst.transport.abort()


class _DockRunner:
    def __init__(self, sim: DockSim, broker: BrokerConfig, tick_s: float) -> None:
        self.sim = sim
        self.broker = broker
        self.tick_s = tick_s
        self.relay: _Relay | None = None if broker.tls else _Relay(broker.host, broker.port)
        self.bus: Bus | None = None

    def _topic(self, leaf: str) -> str:
        return c.dock_topic(self.sim.dock_id, leaf)

    async def run(self, started: asyncio.Event) -> None:
        config = self.broker
        if self.relay is not None:
            await self.relay.start()
            config = BrokerConfig("127.0.0.1", self.relay.port, config.username,
                                  config.password, False, None, config.mqtt5)
        offline = c.encode(c.Presence(status="offline"))
        bus = Bus(config, f"dock-{self.sim.dock_id}",
                  will=Will(self._topic("status"), offline, retain=True), publish_timeout_s=2.0)
        bus.set_birth(self._topic("status"), c.encode(c.Presence(status="online",
                                                                  ts_ms=c.now_ms())))
        await bus.subscribe(self._topic("services"), 1)
        await bus.subscribe(self._topic("events_reply"), 1)
        await bus.subscribe(c.drone_telemetry(self.sim.dock.drone_id), 0)
        try:
            async with bus:
                self.bus = bus
                started.set()
                tasks = [
                    asyncio.create_task(self._read(bus), name=f"docksim:{self.sim.dock_id}:read"),
                    asyncio.create_task(self._tick(bus), name=f"docksim:{self.sim.dock_id}:tick"),
                ]
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                finally:
                    for task in tasks:
                        await cancel_until_done(task)
        finally:
            self.bus = None
            if self.relay is not None:
                await self.relay.close()

    async def _read(self, bus: Bus) -> None:
        async for msg in bus.messages():
            if self.sim.offline:
                continue
            leaf = msg.topic.rsplit("/", 1)[-1]
            if leaf == "services":
                await self._send(bus, self.sim.handle_service(msg.payload, time.monotonic()))
            elif leaf == "events_reply":
                self.sim.handle_events_reply(msg.payload)
            elif leaf == "telemetry":
                self.sim.on_telemetry(msg.payload)

    async def _tick(self, bus: Bus) -> None:
        was_offline = False
        while True:
            offline = self.sim.offline
            if offline != was_offline:
                was_offline = offline
                if self.relay is not None:
                    await self.relay.set_cut(offline)
                else:
                    log.warning("dock %s: offline faults need a plain TCP broker", self.sim.dock_id)
            outs = self.sim.step(time.monotonic())
            if not offline:
                await self._send(bus, outs)
            await asyncio.sleep(self.tick_s)

    async def _send(self, bus: Bus, outs: list[Out]) -> None:
        for out in outs:
            try:
                await bus.publish(self._topic(out.leaf), out.payload, qos=out.qos,
                                  retain=out.retain)
            except BusError as exc:
                log.warning("dock %s: %s not sent: %s", self.sim.dock_id, out.leaf, exc)


class DockSimFleet:
    """One simulated dock per dock of a site set, each with its own broker session.

    ``logins`` maps a dock id to its password: that dock then logs in as its dock id (a secured
    deployment); otherwise every dock uses the broker config's login, if any.
    """

    def __init__(
        self,
        broker: BrokerConfig,
        site_set: SiteSet,
        *,
        speedup: float = 1.0,
        seed: int = 0,
        logins: dict[str, str] | None = None,
        tick_s: float = 0.05,
    ) -> None:
        if speedup <= 0:
            raise ConfigError("speedup must be positive")
        self.docks: dict[str, DockSim] = {
            d.dock_id: DockSim(d, speedup=speedup, seed=seed) for d in site_set.docks
        }
        logins = logins or {}
        self._runners = [
            _DockRunner(
                sim,
                broker.with_login(sim.dock_id, logins[sim.dock_id])
                if sim.dock_id in logins else broker,
                tick_s,
            )
            for sim in self.docks.values()
        ]
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        events = [asyncio.Event() for _ in self._runners]
        self._tasks = [
            asyncio.create_task(r.run(e), name=f"docksim:{r.sim.dock_id}")
            for r, e in zip(self._runners, events, strict=True)
        ]
        waiter: asyncio.Future[Any] = asyncio.gather(*(e.wait() for e in events))
        done, _ = await asyncio.wait({waiter, *self._tasks}, timeout=15.0,
                                     return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            errors = [t.exception() for t in self._tasks if t.done() and not t.cancelled()]
            await self._stop()
            raise BusError(f"dock simulators did not connect: {errors}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        for task in self._tasks:
            await cancel_until_done(task)
        self._tasks = []

    async def wait(self) -> None:
        """Run until cancelled or a dock fails."""
        if self._tasks:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()


# --- scripts -----------------------------------------------------------------------------------

ACTIONS = ("set_weather", "release_weather", "stick_cover", "press_emergency_stop",
           "clear_fault", "go_offline", "come_online", "drop_requests")


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """At ``at_s`` seconds after the start, call ``action(**args)`` on dock ``dock`` (or all)."""

    at_s: float
    action: str
    dock: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def parse_script(raw: Any) -> list[ScriptStep]:
    """``[{"at_s": 30, "dock": "islington-1", "action": "set_weather",
    "args": {"wind_speed_m_s": 14}}, ...]``, sorted by time."""
    if not isinstance(raw, list):
        raise ConfigError("a dock script is a JSON list of steps")
    steps = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("action") not in ACTIONS:
            raise ConfigError(f"script step #{n}: action must be one of {', '.join(ACTIONS)}")
        at_s, dock, args = item.get("at_s", 0), item.get("dock"), item.get("args", {})
        if not isinstance(at_s, int | float) or at_s < 0:
            raise ConfigError(f"script step #{n}: at_s must be a number >= 0")
        if dock is not None and not isinstance(dock, str):
            raise ConfigError(f"script step #{n}: dock must be a dock id")
        if not isinstance(args, dict):
            raise ConfigError(f"script step #{n}: args must be an object")
        steps.append(ScriptStep(float(at_s), item["action"], dock, args))
    return sorted(steps, key=lambda st: st.at_s)


def apply_step(docks: dict[str, DockSim], step: ScriptStep) -> None:
    """Run one script step now."""
    targets = list(docks.values()) if step.dock is None else [docks[step.dock]]
    for dock in targets:
        try:
            getattr(dock, step.action)(**step.args)
        except TypeError as exc:
            raise ConfigError(f"script {step.action}: {exc}") from exc


async def run_script(docks: dict[str, DockSim], steps: list[ScriptStep]) -> None:
    """Play a script against running docks (times are real seconds from now)."""
    for step in steps:
        if step.dock is not None and step.dock not in docks:
            raise ConfigError(f"script names unknown dock {step.dock!r}")
    loop = asyncio.get_running_loop()
    start = loop.time()
    for step in steps:
        await asyncio.sleep(max(0.0, start + step.at_s - loop.time()))
        log.info("script t=%.1f s: %s %s %s", step.at_s, step.dock or "all", step.action,
                 step.args)
        apply_step(docks, step)


# --- CLI ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="groundstation dock-sim",
                                description="Simulated docks speaking the dfr/v1 dock protocol.")
    p.add_argument("--sites", required=True, help="site set name (met-trial) or JSON file")
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                   help="mqtt://[user:pass@]host:port or mqtts://...")
    p.add_argument("--ca-file", help="CA certificate for mqtts://")
    p.add_argument("--speedup", type=float, default=1.0, help="divide dock job times by this")
    p.add_argument("--seed", type=int, default=0, help="weather seed")
    p.add_argument("--dock-passwords", type=Path,
                   help="JSON object {dock_id: password}: each dock logs in as its dock id")
    p.add_argument("--script", type=Path,
                   help="JSON list of timed steps: weather and faults (see parse_script)")
    p.add_argument("--mqtt311", action="store_true", help="speak MQTT 3.1.1 (e.g. to amqtt)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _read_logins(path: Path) -> dict[str, str]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ConfigError("--dock-passwords must be a JSON object of strings")
    return {str(k): v for k, v in raw.items()}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sites = load_sites(args.sites)
        broker = BrokerConfig.from_url(args.broker, ca_file=args.ca_file, mqtt5=not args.mqtt311)
        logins = None if args.dock_passwords is None else _read_logins(args.dock_passwords)
        script = [] if args.script is None else parse_script(
            json.loads(args.script.read_text(encoding="utf-8")))
    except (SiteSetError, OSError, ValueError, ConfigError) as exc:
        print(f"dock-sim: {exc}")
        return 2

    async def run() -> None:
        async with DockSimFleet(broker, sites, speedup=args.speedup, seed=args.seed,
                                logins=logins) as fleet:
            log.info("%d simulated docks on %s", len(fleet.docks), broker.url())
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(fleet.wait(), name="docksim:fleet")
                    if script:
                        tg.create_task(run_script(fleet.docks, script), name="docksim:script")
            except ExceptionGroup as group:
                ours = group.subgroup(GroundStationError)
                if ours is None:
                    raise
                raise ours.exceptions[0] from group

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    except GroundStationError as exc:
        print(f"dock-sim: {exc}")
        return 1
    return 0
