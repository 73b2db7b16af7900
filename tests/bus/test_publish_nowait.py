"""Telemetry publishing without waiting for each write, against a real mosquitto: every message
queued arrives in order, and a burst larger than the bound is cut, counted, not buffered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import OUT_LIMIT, Bus

pytestmark = pytest.mark.integration

TOPIC = "dfr/v1/drones/uav-1/telemetry"


async def receive(bus: Bus, count: int, timeout_s: float = 10.0) -> list[bytes]:
    got: list[bytes] = []
    msgs = bus.messages()
    async with asyncio.timeout(timeout_s):
        while len(got) < count:
            got.append((await anext(msgs)).payload)
    return got


@contextlib.asynccontextmanager
async def subscribed(mosquitto: Mosquitto) -> AsyncIterator[Bus]:
    """A client subscribed to TOPIC (and given a moment for the broker to take it)."""
    async with Bus(mosquitto.config, "sub") as sub:
        await sub.subscribe(TOPIC)
        await asyncio.sleep(0.2)
        yield sub


async def test_queued_messages_arrive_in_order(mosquitto: Mosquitto) -> None:
    async with subscribed(mosquitto) as sub, Bus(mosquitto.config, "pub") as pub:
        sent = [f"{i}".encode() for i in range(500)]
        for payload in sent:
            assert pub.publish_nowait(TOPIC, payload)
        assert await receive(sub, len(sent)) == sent
        assert pub.stats.published == len(sent) and pub.stats.dropped_out == 0


async def test_messages_queued_just_before_closing_are_delivered(mosquitto: Mosquitto) -> None:
    async with subscribed(mosquitto) as sub:
        async with Bus(mosquitto.config, "pub") as pub:
            for i in range(200):
                assert pub.publish_nowait(TOPIC, f"{i}".encode())
        assert await receive(sub, 200) == [f"{i}".encode() for i in range(200)]


async def test_a_burst_beyond_the_bound_is_dropped_and_counted(mosquitto: Mosquitto) -> None:
    async with subscribed(mosquitto) as sub, Bus(mosquitto.config, "pub") as pub:
        # Without yielding to the event loop nothing is written, so the queue fills up.
        accepted = [pub.publish_nowait(TOPIC, f"{i}".encode()) for i in range(OUT_LIMIT + 300)]
        assert accepted.count(True) == OUT_LIMIT
        assert not any(accepted[OUT_LIMIT:])
        assert pub.stats.dropped_out == 300
        got = await receive(sub, OUT_LIMIT)
        assert got[0] == b"0" and got[-1] == f"{OUT_LIMIT - 1}".encode()
        # Once written, the bus takes messages again.
        assert pub.publish_nowait(TOPIC, b"after")
        assert await receive(sub, 1) == [b"after"]


async def test_without_a_broker_messages_are_dropped_not_kept(mosquitto: Mosquitto) -> None:
    async with Bus(mosquitto.config, "pub", max_backoff_s=0.2) as pub:
        mosquitto.stop()
        await asyncio.sleep(0.5)
        assert not pub.publish_nowait(TOPIC, b"lost")
        assert pub.stats.dropped_out >= 1
