"""One simulated dock, sans-IO: :class:`DockSim` takes requests, telemetry and event replies and
returns the messages to publish (``handle_service(payload, now)``, ``on_telemetry``,
``handle_events_reply``, ``step(now)``). It models cover timing (about 12 s, divided by
``speedup``, progress events every 25 %), charging, seeded weather and the faults a test scripts:
``set_weather``, ``stick_cover``, ``press_emergency_stop``, ``go_offline``, ``drop_requests``,
``lose_completion``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from groundstation import contract as c
from missions.geo import distance_m
from missions.sites import Dock

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
        self.drone_id = dock.drone_id
        """The drone this dock senses: the site set's, until the controller's assignment says."""
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

    def on_assignment(self, payload: bytes) -> str | None:
        """The controller's ``assignment``: which drone lives here. Its drone id, if new."""
        if not payload:
            return None
        try:
            assignment = c.decode(payload, c.DockAssignment)
        except c.ContractError as exc:
            log.warning("dock %s: malformed assignment: %s", self.dock_id, exc.reason)
            return None
        if assignment.dock_id != self.dock_id or assignment.drone_id == self.drone_id:
            return None
        log.info("dock %s: assigned drone %s", self.dock_id, assignment.drone_id)
        self.drone_id = assignment.drone_id
        return self.drone_id

    def on_telemetry(self, payload: bytes) -> None:
        """Sense the dock's drone: in the dock when on the ground within 3 m; its battery."""
        try:
            tel = c.decode(payload, c.Telemetry)
        except c.ContractError:
            return
        if tel.drone_id != self.drone_id:
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
