"""What a subscriber receives through the bus's own reader, against a real mosquitto: QoS 0
messages parsed by the bus, everything else by paho, in the order sent, whatever their size."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus, Message

pytestmark = pytest.mark.integration


async def take(bus: Bus, count: int, timeout_s: float = 10.0) -> list[Message]:
    got: list[Message] = []
    msgs = bus.messages()
    async with asyncio.timeout(timeout_s):
        while len(got) < count:
            got.append(await anext(msgs))
    return got


@pytest.mark.parametrize("mqtt5", [True, False])
async def test_small_large_qos1_and_retained_messages_arrive_whole_and_in_order(
    mosquitto: Mosquitto, mqtt5: bool
) -> None:
    config = dataclasses.replace(mosquitto.config, mqtt5=mqtt5)
    async with Bus(config, "pub") as pub:
        await pub.publish("dfr/t/retained", b"kept", retain=True, qos=1)
        async with Bus(config, "sub") as sub:
            await sub.subscribe("dfr/t/#", qos=1)
            [retained] = await take(sub, 1)
            assert retained == Message("dfr/t/retained", b"kept", True)
            large = bytes(range(256)) * 1024  # 256 KiB: several reads of the socket
            for i in range(300):
                pub.publish_nowait(f"dfr/t/{i % 7}", str(i).encode())
            pub.publish_nowait("dfr/t/large", large)
            got = await take(sub, 301)
            await pub.publish("dfr/t/command", b"qos1", qos=1)
            got += await take(sub, 1)
    assert [m.payload for m in got[:300]] == [str(i).encode() for i in range(300)]
    assert [m.topic for m in got[:300]] == [f"dfr/t/{i % 7}" for i in range(300)]
    assert got[300] == Message("dfr/t/large", large, False)
    assert got[301] == Message("dfr/t/command", b"qos1", False)


async def test_a_subscriber_that_loses_the_broker_receives_again_after_it_returns(
    mosquitto: Mosquitto,
) -> None:
    async with Bus(mosquitto.config, "sub", max_backoff_s=0.2) as sub:
        await sub.subscribe("dfr/t/#")
        mosquitto.stop()
        mosquitto.start()
        await mosquitto.wait_ready()
        assert await sub.wait_connected(10.0)
        async with Bus(mosquitto.config, "pub") as pub:
            await asyncio.sleep(0.2)
            await pub.publish("dfr/t/after", b"back")
            [msg] = await take(sub, 1)
    assert msg == Message("dfr/t/after", b"back", False)
