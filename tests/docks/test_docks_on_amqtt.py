"""The demo runs on the embedded amqtt broker (MQTT 3.1.1): the dock protocol works there too."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import EmbeddedBroker
from groundstation.adapters.bus import Bus
from groundstation.adapters.docks import DockLink
from groundstation.docksim import DockSimFleet
from missions.sites import SiteSet
from tests.docks.docks_helpers import SPEEDUP, until

pytestmark = pytest.mark.integration


# amqtt 0.12.1 leaves a server-side socket unclosed after any client session (seen with one plain
# Bus and nothing else); that is amqtt's, not the dock protocol's, so it is ignored here only.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_launch_and_last_will_on_the_embedded_broker(site_set: SiteSet) -> None:
    async with (EmbeddedBroker() as broker,
                DockSimFleet(broker.config, site_set, speedup=SPEEDUP) as fleet,
                Bus(broker.config, "controller") as bus):
        assert not broker.config.mqtt5
        link = DockLink(bus, fleet.docks, speedup=SPEEDUP)
        for topic, qos in link.subscriptions():
            await bus.subscribe(topic, qos)

        async def reader() -> None:
            async for msg in bus.messages():
                link.handle(msg)

        task = asyncio.create_task(reader(), name="amqtt:reader")
        try:
            await until(lambda: link.ready_reason("alpha-1", max_wind_m_s=15,
                                                  max_rainfall=3) is None)
            await link.call("alpha-1", c.DockMethod.COVER_OPEN)
            fleet.docks["alpha-2"].go_offline()
            await until(lambda: link.ready_reason("alpha-2", max_wind_m_s=15,
                                                  max_rainfall=3) == "dock offline")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await link.aclose()
    assert fleet.docks["alpha-1"].cover == c.CoverState.OPEN
    # Collect amqtt's leaked socket now, under this test's filter, rather than whenever the
    # garbage collector next runs, in some other test.
    await asyncio.sleep(0)
    gc.collect()
