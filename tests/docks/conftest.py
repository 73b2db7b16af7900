"""Fixtures for the dock protocol tests: a real mosquitto, simulated docks, a controller link."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from groundstation.adapters.docks import DockLink
from groundstation.docksim import DockSimFleet
from missions.sites import SiteSet, parse_sites
from tests.docks.docks_helpers import SPEEDUP


@pytest.fixture
def site_set() -> SiteSet:
    return parse_sites({
        "name": "test",
        "sites": [{"site_id": "alpha", "lat_deg": 51.5, "lon_deg": -0.1,
                   "roof_alt_amsl_m": 40.0, "docks": 2}],
    })


@pytest.fixture
async def broker() -> AsyncIterator[Mosquitto]:
    async with Mosquitto(persistence=False) as m:
        yield m


@pytest.fixture
async def fleet(broker: Mosquitto, site_set: SiteSet) -> AsyncIterator[DockSimFleet]:
    async with DockSimFleet(broker.config, site_set, speedup=SPEEDUP, seed=1) as f:
        yield f


@pytest.fixture
async def link(broker: Mosquitto, site_set: SiteSet) -> AsyncIterator[DockLink]:
    """A controller-side DockLink fed by one reader, as the controller does it."""
    async with Bus(broker.config, "controller-test") as bus:
        dock_link = DockLink(bus, [d.dock_id for d in site_set.docks], speedup=SPEEDUP)
        for topic, qos in dock_link.subscriptions():
            await bus.subscribe(topic, qos)

        async def reader() -> None:
            async for msg in bus.messages():
                dock_link.handle(msg)

        task = asyncio.create_task(reader(), name="test:reader")
        try:
            yield dock_link
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await dock_link.aclose()
