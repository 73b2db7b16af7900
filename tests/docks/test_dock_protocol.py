"""The dock protocol end to end: DockLink (controller side) against DockSim over real mosquitto."""

from __future__ import annotations

import asyncio

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus, Message
from groundstation.adapters.docks import DockLink
from groundstation.docksim import DockSimFleet
from groundstation.errors import DockError
from tests.docks.docks_helpers import SPEEDUP, until

pytestmark = pytest.mark.integration

DOCK = "alpha-1"


async def test_launch_sequence_reports_progress_then_ok(
    fleet: DockSimFleet, link: DockLink
) -> None:
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=12, max_rainfall=1) is None)
    seen: list[c.JobEventOutput] = []
    await link.call(DOCK, c.DockMethod.COVER_OPEN, on_progress=seen.append)
    await link.call(DOCK, c.DockMethod.DRONE_OPEN)
    assert [e.progress.percent for e in seen] == [0, 25, 50, 75, 100]
    assert seen[-1].status == c.JobStatus.OK
    assert all(e.progress.step_key == "cover_opening" for e in seen)
    await until(lambda: (v := link.view(DOCK)) is not None and v.osd is not None
                and v.osd.cover_state == c.CoverState.OPEN)
    view = link.view(DOCK)
    assert view is not None
    assert view.online
    assert view.state is not None
    assert view.state.cover_state == c.CoverState.OPEN
    sim = fleet.docks[DOCK]
    await until(lambda: sim.counters.events_acked >= sim.counters.events_sent)
    assert sim.drone_powered


async def test_lost_first_request_is_retried_with_new_tid_same_bid(
    fleet: DockSimFleet, link: DockLink
) -> None:
    sim = fleet.docks[DOCK]
    sim.drop_requests(1)
    link.reply_timeout_s = 0.3
    await link.call(DOCK, c.DockMethod.COVER_OPEN)
    assert sim.counters.services == 2
    assert sim.counters.dropped == 1
    assert sim.cover == c.CoverState.OPEN


async def test_a_job_whose_completion_event_is_lost_ends_on_the_docks_report(
    fleet: DockSimFleet, link: DockLink
) -> None:
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=12, max_rainfall=1) is None)
    sim = fleet.docks[DOCK]
    sim.lose_completion()
    seen: list[c.JobEventOutput] = []
    started = asyncio.get_running_loop().time()
    await link.call(DOCK, c.DockMethod.COVER_OPEN, timeout_s=30.0, on_progress=seen.append)
    # Done as soon as the dock's osd showed the cover open, well before the job's timeout.
    assert asyncio.get_running_loop().time() - started < 30.0 / SPEEDUP
    assert sim.cover == c.CoverState.OPEN
    assert c.JobStatus.OK not in [e.status for e in seen]
    # A method without a visible end state still needs its event: it times out.
    sim.lose_completion()
    with pytest.raises(DockError, match="timed out"):
        await link.call(DOCK, c.DockMethod.DRONE_OPEN, timeout_s=5.0)


async def test_a_broker_outage_longer_than_the_job_timeout_does_not_fail_the_job(
    broker: Mosquitto, fleet: DockSimFleet, link: DockLink
) -> None:
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=12, max_rainfall=1) is None)
    sim = fleet.docks[DOCK]
    # The cover takes 0.6 s; the broker goes away for 2.5 s, longer than the 1.5 s job timeout.
    call = asyncio.create_task(link.call(DOCK, c.DockMethod.COVER_OPEN, timeout_s=30.0))
    await until(lambda: sim.job == "cover_open")
    await asyncio.to_thread(broker.stop)
    await asyncio.sleep(2.5)
    broker.start()
    await broker.wait_ready()
    await asyncio.wait_for(call, 15.0)  # ends ok (event or report), not "timed out"
    assert sim.cover == c.CoverState.OPEN


async def test_retry_of_a_running_job_is_not_restarted_and_tid_is_deduplicated(
    broker: object, fleet: DockSimFleet
) -> None:
    sim = fleet.docks[DOCK]
    cfg = broker.config  # type: ignore[attr-defined]
    async with Bus(cfg, "raw-controller") as bus:
        await bus.subscribe(c.dock_topic(DOCK, "services_reply"), 1)
        await bus.subscribe(c.dock_topic(DOCK, "events"), 1)
        first = c.DockServiceRequest(tid="t1", bid="job-1", timestamp=c.now_ms(),
                                     method=c.DockMethod.COVER_OPEN)
        again = c.DockServiceRequest(tid="t2", bid="job-1", timestamp=c.now_ms(),
                                     method=c.DockMethod.COVER_OPEN)
        for req in (first, first, again):
            await bus.publish(c.dock_topic(DOCK, "services"), c.encode(req), qos=1)
        replies: list[c.Reply] = []
        oks = 0
        async with asyncio.timeout(5):
            async for msg in bus.messages():
                if msg.topic.endswith("services_reply"):
                    replies.append(c.decode(msg.payload, c.Reply))
                else:
                    ev = c.decode(msg.payload, c.DockEvent)
                    oks += ev.data.output.status == c.JobStatus.OK
                    if oks:
                        break
    assert [r.tid for r in replies] == ["t1", "t1", "t2"]
    assert all(r.data.result == 0 for r in replies)
    assert replies[0] == replies[1]
    assert sim.counters.duplicates == 1
    assert sim.counters.methods == ["cover_open", "cover_open"]  # executed once, t2 joined it


async def _raw_request(cfg: object, payload: bytes) -> c.Reply:
    async with Bus(cfg, "raw-controller") as bus:  # type: ignore[arg-type]
        await bus.subscribe(c.dock_topic(DOCK, "services_reply"), 1)
        await bus.publish(c.dock_topic(DOCK, "services"), payload, qos=1)
        async with asyncio.timeout(5):
            async for msg in bus.messages():
                return c.decode(msg.payload, c.Reply)
    raise AssertionError("unreachable")


async def test_stale_request_is_refused_as_expired(broker: object, fleet: DockSimFleet) -> None:
    old = c.DockServiceRequest(tid="old", bid="b", method=c.DockMethod.COVER_OPEN,
                               timestamp=c.now_ms() - (c.COMMAND_TTL_S + 5) * 1000)
    reply = await _raw_request(broker.config, c.encode(old))  # type: ignore[attr-defined]
    assert reply.tid == "old"
    assert reply.data.result == c.Result.EXPIRED
    assert "old" in reply.data.output["reason"]
    assert fleet.docks[DOCK].cover == c.CoverState.CLOSED
    assert fleet.docks[DOCK].job is None


@pytest.mark.parametrize(
    ("payload", "result", "tid"),
    [
        (b"not json", c.Result.MALFORMED, ""),
        (b'{"tid":"m1","timestamp":1}', c.Result.MALFORMED, "m1"),
        (b'{"tid":"m2","bid":"b","timestamp":NOW,"method":"cover_open","data":{"x":1}}',
         c.Result.MALFORMED, "m2"),
        (b'{"tid":"m3","bid":"b","timestamp":NOW,"method":"self_destruct","data":{}}',
         c.Result.UNKNOWN_METHOD, "m3"),
    ],
)
async def test_malformed_request_is_answered_and_changes_nothing(
    broker: object, fleet: DockSimFleet, payload: bytes, result: c.Result, tid: str
) -> None:
    sim = fleet.docks[DOCK]
    before = (sim.cover, sim.fault, sim.job, sim.drone_powered)
    payload = payload.replace(b"NOW", str(c.now_ms()).encode())
    reply = await _raw_request(broker.config, payload)  # type: ignore[attr-defined]
    assert reply.tid == tid
    assert reply.data.result == result
    assert reply.data.output["reason"]
    assert (sim.cover, sim.fault, sim.job, sim.drone_powered) == before


async def test_stuck_cover_fails_the_call_with_a_reason(
    fleet: DockSimFleet, link: DockLink
) -> None:
    fleet.docks[DOCK].stick_cover()
    progress: list[c.JobEventOutput] = []
    with pytest.raises(DockError, match="cover stuck") as info:
        await link.call(DOCK, c.DockMethod.COVER_OPEN, on_progress=progress.append)
    assert info.value.reason == "cover stuck"
    assert progress[-1].status == c.JobStatus.FAILED
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=15, max_rainfall=3)
                == "dock fault: cover stuck")
    # While the fault stands, the dock refuses at once with DOCK_FAULT.
    with pytest.raises(DockError, match="cover stuck"):
        await link.call(DOCK, c.DockMethod.COVER_OPEN)
    await link.call(DOCK, c.DockMethod.DEVICE_REBOOT)
    await link.call(DOCK, c.DockMethod.COVER_OPEN)


async def test_busy_dock_refuses_a_second_job(fleet: DockSimFleet, link: DockLink) -> None:
    first = asyncio.create_task(link.call(DOCK, c.DockMethod.COVER_OPEN))
    await until(lambda: fleet.docks[DOCK].job == "cover_open")
    with pytest.raises(DockError, match="busy"):
        await link.call(DOCK, c.DockMethod.DRONE_OPEN, wait_turn=False)
    await first


async def test_offline_dock_fires_last_will_and_comes_back(
    fleet: DockSimFleet, link: DockLink
) -> None:
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=15, max_rainfall=3) is None)
    fleet.docks[DOCK].go_offline()
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=15, max_rainfall=3)
                == "dock offline")
    view = link.view(DOCK)
    assert view is not None
    assert not view.online
    assert link.ready_reason("alpha-2", max_wind_m_s=15, max_rainfall=3) is None
    with pytest.raises(DockError, match="no reply"):
        await link.call(DOCK, c.DockMethod.COVER_OPEN, attempts=1)
    fleet.docks[DOCK].come_online()
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=15, max_rainfall=3) is None,
                timeout_s=8)


async def test_weather_and_emergency_stop_make_the_dock_not_ready(
    fleet: DockSimFleet, link: DockLink
) -> None:
    sim = fleet.docks[DOCK]
    sim.set_weather(wind_speed_m_s=14.0)
    await until(lambda: (link.ready_reason(DOCK, max_wind_m_s=10, max_rainfall=1) or "")
                .startswith("wind 14.0 m/s over limit 10"))
    sim.set_weather(wind_speed_m_s=2.0, rainfall=3)
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=10, max_rainfall=1)
                == "rainfall 3 over limit 1")
    sim.set_weather(rainfall=0)
    sim.press_emergency_stop()
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=10, max_rainfall=1)
                == "dock emergency stop pressed")
    with pytest.raises(DockError, match="emergency stop"):
        await link.call(DOCK, c.DockMethod.COVER_OPEN)
    sim.press_emergency_stop(False)
    await until(lambda: link.ready_reason(DOCK, max_wind_m_s=10, max_rainfall=1) is None)


async def test_link_ignores_other_topics_and_malformed_dock_messages(link: DockLink) -> None:
    assert not link.handle(Message(c.drone_telemetry("x"), b"{}"))
    assert link.handle(Message(c.dock_topic(DOCK, "osd"), b"garbage"))
    assert link.view(DOCK) is not None
    assert link.view("nope") is None
    assert link.ready_reason("nope", max_wind_m_s=10, max_rainfall=1) == "unknown dock nope"


async def test_link_deduplicates_replies_and_events_and_acknowledges_each(
    broker: object, link: DockLink
) -> None:
    async with Bus(broker.config, "raw-dock") as dock:  # type: ignore[attr-defined]
        await dock.subscribe(c.dock_topic(DOCK, "services"), 1)
        await dock.subscribe(c.dock_topic(DOCK, "events_reply"), 1)
        progress: list[c.JobEventOutput] = []
        call = asyncio.create_task(
            link.call(DOCK, c.DockMethod.COVER_CLOSE, on_progress=progress.append))
        stream = dock.messages()
        req = c.decode((await anext(stream)).payload, c.DockServiceRequest)
        reply = c.make_reply(req.tid, req.method, c.Result.OK, {"status": "in_progress"},
                             bid=req.bid)

        def event(tid: str, status: c.JobStatus, percent: int) -> bytes:
            return c.encode(c.DockEvent(
                tid=tid, bid=req.bid, timestamp=c.now_ms(), method=req.method,
                data=c.DockJobEventData(result=0, output=c.JobEventOutput(
                    status=status, progress=c.JobProgress(percent=percent)))))

        topic = c.dock_topic(DOCK, "events")
        await dock.publish(c.dock_topic(DOCK, "services_reply"), c.encode(reply), qos=1)
        await dock.publish(c.dock_topic(DOCK, "services_reply"), c.encode(reply), qos=1)
        await dock.publish(topic, event("e1", c.JobStatus.IN_PROGRESS, 0), qos=1)
        await dock.publish(topic, event("e1", c.JobStatus.IN_PROGRESS, 0), qos=1)
        await dock.publish(topic, event("e2", c.JobStatus.OK, 100), qos=1)
        async with asyncio.timeout(5):
            await call
            acks = [c.decode((await anext(stream)).payload, c.Reply) for _ in range(3)]
        await stream.aclose()
    assert [(p.status, p.progress.percent) for p in progress] == [
        (c.JobStatus.IN_PROGRESS, 0), (c.JobStatus.OK, 100)]
    assert sorted(a.tid for a in acks) == ["e1", "e1", "e2"]
    assert all(a.data.result == 0 and a.bid == req.bid for a in acks)
