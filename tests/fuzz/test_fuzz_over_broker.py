"""The fuzz cases over the wire: a few hundred hostile operator requests and dock messages
(the same hypothesis strategies as test_fuzz_inbound.py) sent through a real mosquitto to a
running controller with its simulated fleet, from users without rights (a viewer, and a user the
controller does not know), so that every one must be refused. Every request whose tid can be read
is answered with a refusal and a reason, nothing changes, the telemetry never stops, and a proper
call made right after the barrage is served. (Each method's validation is fuzzed, faster, through
the handlers in test_fuzz_inbound.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus, Message
from tests.controller.conftest import Stack, small_sites, stack_on, until
from tests.fuzz.fuzz_helpers import dock_messages, service_payloads

pytestmark = pytest.mark.integration

USERS = ("viewer", "nobody")
READABLE_TID = re.compile(rb'"tid"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')
"""A tid the controller can read back even from a request it cannot parse (the protocol's rule:
a refusal carries the request's tid when its text shows one)."""
REQUESTS = 240
TIDS = [f"fz-{i}" for i in range(100)]
DOCK_MESSAGES = 120
Batch = tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]
"""The operator requests (user, payload) and the dock messages (topic, payload) of one barrage."""


@pytest.fixture
async def stack(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_on(mosquitto.config, small_sites(), tmp_path / "journal.sqlite") as s:
        yield s


def hostile_batch() -> Batch:
    """Deterministic draws from the fuzz strategies: every example hypothesis tries, kept."""
    requests: list[tuple[str, bytes]] = []
    docks: list[tuple[str, bytes]] = []
    fixed = settings(derandomize=True, database=None, deadline=None)

    @settings(fixed, max_examples=REQUESTS, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(USERS), service_payloads(TIDS))
    def draw_request(user: str, payload: bytes) -> None:
        requests.append((user, payload))

    @settings(fixed, max_examples=DOCK_MESSAGES, suppress_health_check=list(HealthCheck))
    @given(dock_messages())
    def draw_dock(message: tuple[str, bytes]) -> None:
        docks.append(message)

    draw_request()
    draw_dock()
    return requests, docks


@pytest.fixture(scope="module")
def batch() -> Batch:
    """Drawn before the stack starts: drawing takes about 3 s of CPU, and done on the running
    loop it would stall the in-process fleet's telemetry past the 3 s link-loss failsafe."""
    return hostile_batch()


def tid_of(payload: bytes) -> str | None:
    """The tid a refusal of this request will carry, if the request shows a readable one."""
    m = READABLE_TID.search(payload[:4096])
    return m.group(1).decode() if m else None


async def test_a_barrage_of_hostile_messages_over_mosquitto(batch: Batch, stack: Stack) -> None:
    ctl = stack.run.controller
    requests, dock_msgs = batch
    before = {d: rt.sortie for d, rt in ctl.drones.items()}
    replies: dict[str, c.Reply] = {}
    telemetry: dict[str, int] = {}

    def on(msg: Message) -> None:
        if msg.topic.endswith("/services_reply"):
            reply = c.decode(msg.payload, c.Reply)
            replies.setdefault(reply.tid, reply)
        elif msg.topic.endswith("/telemetry"):
            telemetry[msg.topic] = telemetry.get(msg.topic, 0) + 1

    async with Bus(stack.broker, f"fuzzer-{os.getpid()}") as bus:
        for user in USERS:
            await bus.subscribe(c.operator_services_reply(user), 1)
        await bus.subscribe(c.ALL_TELEMETRY)

        async def pump() -> None:
            async for msg in bus.messages():
                on(msg)

        reader = asyncio.create_task(pump())
        try:
            await asyncio.sleep(0.5)
            expected: set[str] = set()
            for user, payload in requests:
                tid = tid_of(payload)
                if tid is not None:
                    expected.add(tid)
                await bus.publish(c.operator_services(user), payload, qos=1)
            for topic, payload in dock_msgs:
                if "+" not in topic:  # MQTT cannot publish to a wildcard (the unit fuzz can)
                    await bus.publish(topic, payload, qos=0)
            assert len(expected) >= 20, "the barrage must hold requests a reply can match"
            # Every request with a readable tid is answered, and none is carried out.
            await until(lambda: expected <= set(replies), 20.0, "a reply to every usable tid")
            for tid in expected:
                reply = replies[tid]
                assert reply.data.result != c.Result.OK, (tid, reply)
                assert reply.data.output.get("reason"), reply
            assert {d: rt.sortie for d, rt in ctl.drones.items()} == before
            assert not ctl.incidents
            # The fleet's telemetry went on through it all.
            seen = dict(telemetry)
            await asyncio.sleep(2.5)
            for drone_id in before:
                topic = c.drone_telemetry(drone_id)
                assert telemetry.get(topic, 0) > seen.get(topic, 0), drone_id
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    # And a proper call right after is served.
    async with stack.operator("cad") as cad:
        reply = await cad.call(
            "incident_create", {"lat_deg": 51.5120, "lon_deg": -0.1180, "summary": "after"}
        )
        assert reply.data.result == 0, reply.data.output
        incident_id = reply.data.output["incident_id"]
        await until(
            lambda: any(
                i.status == c.IncidentStatus.DISPATCHED for i in cad.incidents.get(incident_id, [])
            ),
            30.0,
            "the incident dispatched",
        )
