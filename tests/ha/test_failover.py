"""Several broker nodes: a client named with all of them moves to the next when its node dies."""

from __future__ import annotations

import asyncio
import os

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import BrokerConfig, Bus

pytestmark = pytest.mark.integration


def test_comma_separated_urls_name_the_nodes_of_a_cluster() -> None:
    cfg = BrokerConfig.from_url("mqtt://pilot:pw@a.example:1883, mqtt://b.example:1884")
    assert cfg.endpoints() == [("a.example", 1883), ("b.example", 1884)]
    assert cfg.username == "pilot" and cfg.with_login("viewer", None).alternates == cfg.alternates


async def test_a_client_fails_over_to_the_next_node_within_seconds() -> None:
    async with Mosquitto(persistence=False) as b:
        a = Mosquitto(persistence=False)
        a.start()
        try:
            await a.wait_ready()
            url = f"mqtt://127.0.0.1:{a.port},mqtt://127.0.0.1:{b.port}"
            cfg = BrokerConfig.from_url(url)
            async with Bus(cfg, f"failover-{os.getpid()}") as bus:
                assert bus.node().endswith(f":{a.port}")
                await bus.subscribe(c.ALL_TELEMETRY)
                a.cleanup()  # node A dies
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                while not (bus.connected and bus.node().endswith(f":{b.port}")):
                    assert loop.time() - t0 < 5.0, "no failover to node B within 5 s"
                    await asyncio.sleep(0.05)
                # Subscriptions came along: a message on node B reaches the client.
                async with Bus(b.config, f"pub-{os.getpid()}") as pub:
                    await pub.publish(c.drone_telemetry("uav-x"), b"{}", qos=1)
                msg = await asyncio.wait_for(anext(bus.messages()), 5.0)
                assert msg.topic == c.drone_telemetry("uav-x")
        finally:
            a.cleanup()
