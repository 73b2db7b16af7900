"""The controller's side of the dock protocol: call dock methods, follow jobs, watch dock health.

A :class:`DockLink` shares the controller's :class:`~groundstation.adapters.bus.Bus`. The controller
subscribes to :meth:`DockLink.subscriptions` and hands every message to :meth:`DockLink.handle`
from its single reader; :meth:`DockLink.call` then runs one dock job::

    controller -> docks/{id}/services        {tid, bid, timestamp, method, data: {}}  QoS 1, expiry
    dock       -> docks/{id}/services_reply  {tid, bid, method, data: {result, output}}
    dock       -> docks/{id}/events          {tid, bid, method, need_reply: 1,
                                              data: {result, output: {status, progress, reason}}}
    controller -> docks/{id}/events_reply    {tid, bid, method, data: {result: 0}}

A request not answered within the reply timeout is sent again with a new ``tid`` and the same
``bid``; the dock runs a job once per ``bid``. Replies and events are deduplicated by ``tid``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from groundstation import contract as c
from groundstation.adapters.bus import Bus, Message
from groundstation.errors import BusError, DockError

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 2.0
"""How long to wait for a services_reply before sending the request again (new tid)."""
OUTAGE_CHECK_S = 0.5
"""How often a job waiting for its dock's events looks whether the broker is still there."""
AFTER_OUTAGE_S = 8.0
"""After a broker outage, how long a job waits at least for its dock to reconnect and report
(measured: simulated docks report 3.2-3.9 s after the broker is back)."""
OSD_STALE_S = 5.0
"""A dock whose last osd is older than this is not ready (osd comes at 1 Hz)."""
_SEEN_LIMIT = 4096

_TERMINAL_FAILURES = {
    c.JobStatus.FAILED,
    c.JobStatus.REJECTED,
    c.JobStatus.CANCELED,
    c.JobStatus.TIMEOUT,
}


@dataclass(frozen=True, slots=True)
class DockView:
    """What the controller last heard from one dock."""

    dock_id: str
    online: bool
    osd: c.DockOsd | None
    state: c.DockState | None
    last_seen_s: float | None
    """``time.monotonic()`` of the last message from the dock, None if never heard."""


@dataclass
class _DockRecord:
    status: str | None = None
    osd: c.DockOsd | None = None
    osd_at: float | None = None
    state: c.DockState | None = None
    state_at: float | None = None
    last_seen: float | None = None


_END_STATE = {
    c.DockMethod.COVER_OPEN: c.CoverState.OPEN,
    c.DockMethod.COVER_CLOSE: c.CoverState.CLOSED,
}
"""Jobs whose end the dock's own osd report shows, when their completion event is lost."""


@dataclass
class _Job:
    dock_id: str
    method: c.DockMethod
    bid: str
    tids: set[str] = field(default_factory=set)
    replies: asyncio.Queue[c.Reply] = field(default_factory=asyncio.Queue)
    events: asyncio.Queue[c.JobEventOutput] = field(default_factory=asyncio.Queue)


class DockLink:
    """Calls dock services over the bus and keeps the latest view of every dock."""

    def __init__(self, bus: Bus, dock_ids: Iterable[str], *, speedup: float = 1.0) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self._bus = bus
        self._docks: dict[str, _DockRecord] = {d: _DockRecord() for d in dock_ids}
        self._speedup = speedup
        self._jobs: dict[str, _Job] = {}  # by bid
        self._seen: OrderedDict[str, None] = OrderedDict()  # reply and event tids handled
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self.reply_timeout_s = max(0.5, REPLY_TIMEOUT_S / speedup)

    # --- wiring ------------------------------------------------------------------------------

    def subscriptions(self) -> list[tuple[str, int]]:
        """Topic filters (and QoS) the controller must subscribe to for this link."""
        return [
            (c.all_dock("osd"), 0),
            (c.all_dock("state"), 1),
            (c.all_dock("status"), 1),
            (c.all_dock("services_reply"), 1),
            (c.all_dock("events"), 1),
        ]

    def handle(self, msg: Message) -> bool:
        """Take a message from the controller's reader. True if it was a dock message."""
        ref = c.parse_topic(msg.topic)
        if ref is None or ref.kind != "dock":
            return False
        if ref.leaf in ("services", "events_reply", "assignment"):
            return True  # our own outbound traffic, if the controller subscribes broadly
        record = self._docks.get(ref.ident)
        if record is None:
            log.debug("message from unknown dock %s ignored", ref.ident)
            return True
        try:
            self._dispatch(ref.ident, ref.leaf, record, msg.payload)
        except c.ContractError as exc:
            log.warning("dock %s: malformed %s dropped: %s", ref.ident, ref.leaf, exc.reason)
        return True

    def _dispatch(self, dock_id: str, leaf: str, record: _DockRecord, payload: bytes) -> None:
        now = time.monotonic()
        if leaf == "status":
            if not payload:
                record.status = None
                return
            record.status = c.decode(payload, c.Presence).status
        elif leaf == "osd":
            record.osd = c.decode(payload, c.DockOsd)
            record.osd_at = now
        elif leaf == "state":
            if not payload:
                record.state = None
                return
            record.state = c.decode(payload, c.DockState)
            record.state_at = now
        elif leaf == "services_reply":
            self._on_reply(c.decode(payload, c.Reply))
        elif leaf == "events":
            self._on_event(dock_id, c.decode(payload, c.Request))
        else:
            return
        record.last_seen = now

    def _first_time(self, tid: str) -> bool:
        if tid in self._seen:
            return False
        self._seen[tid] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    def _on_reply(self, reply: c.Reply) -> None:
        job = self._jobs.get(reply.bid)
        if job is None or reply.tid not in job.tids or not self._first_time(reply.tid):
            return
        job.replies.put_nowait(reply)

    def _on_event(self, dock_id: str, event: c.Request) -> None:
        if event.need_reply:
            self._spawn(self._ack_event(dock_id, event))
        if not self._first_time(event.tid):
            return
        job = self._jobs.get(event.bid)
        if job is None or job.dock_id != dock_id:
            return
        try:
            data = c.decode_data(event.data, c.DockJobEventData)
        except c.ContractError as exc:
            log.warning("dock %s: malformed event %s: %s", dock_id, event.tid, exc.reason)
            return
        output = data.output
        if data.result != 0 and output.status not in _TERMINAL_FAILURES:
            output = c.JobEventOutput(
                status=c.JobStatus.FAILED, progress=output.progress,
                reason=output.reason or f"result {data.result}",
            )
        job.events.put_nowait(output)

    async def _ack_event(self, dock_id: str, event: c.Request) -> None:
        ack = c.make_reply(event.tid, event.method, c.Result.OK, bid=event.bid)
        try:
            await self._bus.publish(c.dock_topic(dock_id, "events_reply"), c.encode(ack), qos=1)
        except BusError as exc:
            log.warning("dock %s: events_reply %s not sent: %s", dock_id, event.tid, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("no running loop: dock message not sent")
            coro.close()
            return
        task = loop.create_task(coro, name="docklink:publish")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Wait for outstanding event acknowledgements (optional, for a tidy shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)

    def add(self, dock: Any) -> None:
        """A dock registered while running (``missions.sites.Dock``): heard from now on, and
        told its drone."""
        self._docks.setdefault(dock.dock_id, _DockRecord())
        self.assign([dock])

    def assign(self, docks: Iterable[Any]) -> None:
        """Tell each dock which drone lives in it: a retained ``assignment`` (re-sent on every
        connection). ``docks``: the site set's docks (``missions.sites.Dock``)."""
        for d in docks:
            if d.dock_id not in self._docks:
                continue
            msg = c.DockAssignment(
                dock_id=d.dock_id, drone_id=d.drone_id, site_id=d.site_id, lat_deg=d.lat_deg,
                lon_deg=d.lon_deg, alt_amsl_m=d.alt_amsl_m, ts_ms=c.now_ms(),
            )
            topic = c.dock_topic(d.dock_id, "assignment")
            self._bus.set_birth(topic, c.encode(msg))
            if self._bus.connected:
                self._spawn(self._publish_retained(topic, c.encode(msg)))

    async def _publish_retained(self, topic: str, payload: bytes) -> None:
        try:
            await self._bus.publish(topic, payload, qos=1, retain=True)
        except BusError as exc:
            log.warning("%s not sent (sent again on reconnection): %s", topic, exc)

    # --- calls -------------------------------------------------------------------------------

    async def call(
        self,
        dock_id: str,
        method: c.DockMethod,
        *,
        timeout_s: float = 30.0,
        attempts: int = 3,
        on_progress: Callable[[c.JobEventOutput], None] | None = None,
        bid: str | None = None,
        wait_turn: bool = True,
    ) -> None:
        """Run one dock job to its end. Raise DockError on refusal, failure or timeout.

        ``timeout_s`` bounds the whole job (divided by ``speedup``); the request is sent up to
        ``attempts`` times, each with a new tid, while no services_reply comes. ``bid``: the
        job's id (made up when not given). ``wait_turn``: this link's calls to one dock run one
        after another, in call order (a cover_open for a drone recalled while the cover is
        still closing behind it waits for the close instead of being refused BUSY); False
        sends at once, and the dock answers BUSY while it runs another job.
        """
        if dock_id not in self._docks:
            raise DockError(dock_id, method, "unknown dock")
        if not wait_turn:
            await self._call(dock_id, method, timeout_s, attempts, on_progress, bid)
            return
        async with self._locks.setdefault(dock_id, asyncio.Lock()):
            await self._call(dock_id, method, timeout_s, attempts, on_progress, bid)

    async def _call(
        self,
        dock_id: str,
        method: c.DockMethod,
        timeout_s: float,
        attempts: int,
        on_progress: Callable[[c.JobEventOutput], None] | None,
        bid: str | None,
    ) -> None:
        job = _Job(dock_id, c.DockMethod(method), bid or c.new_tid())
        self._jobs[job.bid] = job
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        deadline = loop.time() + timeout_s / self._speedup
        try:
            accepted = await self._request(job, attempts, on_progress, deadline)
            if accepted is not None:  # the job already ended while we waited for the reply
                return
            outage = False
            while True:
                now = loop.time()
                left = deadline - now
                if left <= 0:
                    raise DockError(dock_id, method, f"job timed out after {timeout_s:g} s")
                try:
                    out = await asyncio.wait_for(job.events.get(), min(left, OUTAGE_CHECK_S))
                except TimeoutError:
                    if not self._bus.connected:
                        # Without a broker the dock cannot report: an outage stops the job's
                        # clock instead of failing a job the dock may well have finished.
                        deadline += loop.time() - now
                        outage = True
                    elif outage:
                        # Back: the dock reconnects on its own schedule; give it time to report.
                        outage = False
                        deadline = max(deadline, loop.time() + AFTER_OUTAGE_S)
                    elif self._done_per_report(job, started):
                        # Its completion event was lost (sent while the broker was away), but
                        # the dock's own report since shows the job's end state.
                        log.info("dock %s: %s done per its report", dock_id, method)
                        return
                    continue
                if self._job_ended(job, out, on_progress):
                    return
        finally:
            del self._jobs[job.bid]

    async def _request(
        self,
        job: _Job,
        attempts: int,
        on_progress: Callable[[c.JobEventOutput], None] | None,
        deadline: float,
    ) -> bool | None:
        """Send until accepted. None when accepted and the job runs; True if it already ended."""
        topic = c.dock_topic(job.dock_id, "services")
        loop = asyncio.get_running_loop()
        for attempt in range(1, max(1, attempts) + 1):
            wait_s = min(self.reply_timeout_s, deadline - loop.time())
            if wait_s <= 0:
                break
            request = c.DockServiceRequest(
                tid=c.new_tid(), bid=job.bid, timestamp=c.now_ms(), method=job.method
            )
            job.tids.add(request.tid)
            try:
                await self._bus.publish(
                    topic, c.encode(request), qos=1, expiry_s=c.COMMAND_TTL_S
                )
            except BusError as exc:
                raise DockError(job.dock_id, job.method, f"not sent: {exc}") from exc
            waiter = asyncio.create_task(job.replies.get(), name="docklink:reply")
            events = asyncio.create_task(job.events.get(), name="docklink:event")
            try:
                done, _ = await asyncio.wait(
                    {waiter, events},
                    timeout=wait_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiter.cancel()  # no-op when done; a pending Queue.get loses nothing
                events.cancel()
            if events in done and self._job_ended(job, events.result(), on_progress):
                return True
            if waiter in done:
                reply = waiter.result()
                if reply.data.result != 0:
                    reason = str(reply.data.output.get("reason", f"result {reply.data.result}"))
                    raise DockError(job.dock_id, job.method, reason, reply.data.result)
                return None
            if events in done:  # progress before the reply: the dock has the job
                return None
            log.info("dock %s: no reply to %s (attempt %d)", job.dock_id, job.method, attempt)
        raise DockError(job.dock_id, job.method, f"no reply after {len(job.tids)} attempts")

    def _job_ended(
        self,
        job: _Job,
        out: c.JobEventOutput,
        on_progress: Callable[[c.JobEventOutput], None] | None,
    ) -> bool:
        if on_progress is not None:
            on_progress(out)
        if out.status == c.JobStatus.OK:
            return True
        if out.status in _TERMINAL_FAILURES:
            raise DockError(job.dock_id, job.method, out.reason or out.status.value,
                            int(c.Result.DOCK_FAULT))
        return False

    def _done_per_report(self, job: _Job, started: float) -> bool:
        """The dock's osd or state, received since the job began, shows the job's end state."""
        target = _END_STATE.get(job.method)
        record = self._docks.get(job.dock_id)
        if target is None or record is None:
            return False
        reports = ((record.osd, record.osd_at), (record.state, record.state_at))
        return any(
            report is not None and at is not None and at > started and report.cover_state == target
            for report, at in reports
        )

    # --- views -------------------------------------------------------------------------------

    def view(self, dock_id: str) -> DockView | None:
        record = self._docks.get(dock_id)
        if record is None:
            return None
        return DockView(dock_id, self._online(record), record.osd, record.state, record.last_seen)

    def _online(self, record: _DockRecord) -> bool:
        if record.status is not None:
            return record.status == "online"
        return record.osd_at is not None and time.monotonic() - record.osd_at < OSD_STALE_S

    def ready_reason(
        self, dock_id: str, *, max_wind_m_s: float, max_rainfall: int
    ) -> str | None:
        """None when the dock can launch; otherwise a reason a pilot can read."""
        record = self._docks.get(dock_id)
        if record is None:
            return f"unknown dock {dock_id}"
        if record.status == "offline":
            return "dock offline"
        osd = record.osd
        if osd is None or record.osd_at is None:
            return "no report from dock yet"
        age = time.monotonic() - record.osd_at
        if age > OSD_STALE_S:
            return f"dock silent for {age:.0f} s"
        if record.state is not None and record.state.fault:
            return f"dock fault: {record.state.fault}"
        if osd.emergency_stop_state:
            return "dock emergency stop pressed"
        if osd.cover_state == c.CoverState.FAULT:
            return "dock cover fault"
        if osd.wind_speed_m_s > max_wind_m_s:
            return f"wind {osd.wind_speed_m_s:.1f} m/s over limit {max_wind_m_s:g} m/s"
        if osd.rainfall > max_rainfall:
            return f"rainfall {osd.rainfall} over limit {max_rainfall}"
        return None
