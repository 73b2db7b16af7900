"""A simulated dock learns its drone from the controller's assignment, calls to one dock run one
after another, and a dock that stops cleanly says offline itself."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from groundstation.adapters.docks import DockLink
from groundstation.docksim import DockSimFleet
from missions.sites import SiteSet
from tests.docks.docks_helpers import SPEEDUP, until

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def controller_link(broker: Mosquitto, site_set: SiteSet) -> AsyncIterator[DockLink]:
    async with Bus(broker.config, "controller-assign") as bus:
        link = DockLink(bus, [d.dock_id for d in site_set.docks], speedup=SPEEDUP)
        for topic, qos in link.subscriptions():
            await bus.subscribe(topic, qos)

        async def reader() -> None:
            async for msg in bus.messages():
                link.handle(msg)

        task = asyncio.create_task(reader(), name="assign:reader")
        try:
            yield link
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await link.aclose()


async def test_docks_learn_their_drone_and_say_offline_when_they_stop(
    broker: Mosquitto, site_set: SiteSet
) -> None:
    renamed = [dataclasses.replace(d, drone_id=f"m4td-{n}") for n, d in enumerate(site_set.docks)]
    seen: dict[str, bytes] = {}
    async with Bus(broker.config, "watcher") as watch:
        await watch.subscribe(c.all_dock("status"), 1)

        async def pump() -> None:
            async for msg in watch.messages():
                seen[msg.topic] = msg.payload

        task = asyncio.create_task(pump(), name="assign:watch")
        try:
            async with (DockSimFleet(broker.config, site_set, speedup=SPEEDUP, seed=1) as fleet,
                        controller_link(broker, site_set) as link):
                link.assign(renamed)
                await until(lambda: [s.drone_id for s in fleet.docks.values()]
                            == ["m4td-0", "m4td-1"])
                # Telemetry of the assigned drone moves the dock's pad sensor.
                sim = fleet.docks["alpha-1"]
                tel = c.Telemetry(drone_id="m4td-0", ts_ms=1, seq=1, lat_deg=sim.dock.lat_deg,
                                  lon_deg=sim.dock.lon_deg, alt_rel_m=30.0, alt_amsl_m=70.0,
                                  heading_deg=0.0, ground_speed_m_s=5.0, climb_m_s=0.0,
                                  battery_pct=70.0, battery_v=23.0, flight_mode="MISSION",
                                  armed=True, in_air=True, gps_fix=3, satellites=12,
                                  link_ok=True)
                for _ in range(50):  # a stream, as telemetry is (the subscription is new)
                    await watch.publish(c.drone_telemetry("m4td-0"), c.encode(tel))
                    await asyncio.sleep(0.1)
                    if not sim.drone_in_dock:
                        break
                assert not sim.drone_in_dock
                # Two calls on one dock: the second waits for the first instead of "busy".
                await until(lambda: link.ready_reason("alpha-2", max_wind_m_s=15,
                                                      max_rainfall=3) is None)
                t0 = time.monotonic()
                await asyncio.gather(link.call("alpha-2", c.DockMethod.COVER_OPEN),
                                     link.call("alpha-2", c.DockMethod.COVER_CLOSE))
                assert time.monotonic() - t0 >= 2 * 12.0 / SPEEDUP * 0.9
                assert fleet.docks["alpha-2"].counters.methods == ["cover_open", "cover_close"]
                assert fleet.docks["alpha-2"].cover == c.CoverState.CLOSED
                await until(lambda: all(
                    c.decode(seen.get(c.dock_topic(d, "status"), b'{"status":"offline"}'),
                             c.Presence).status == "online" for d in fleet.docks))
            # Stopped cleanly: each dock published offline itself, with its time (the Last
            # Will, which has none, did not fire).
            await until(lambda: all(
                c.decode(seen[c.dock_topic(d.dock_id, "status")], c.Presence).status
                == "offline" for d in site_set.docks))
            assert all(c.decode(seen[c.dock_topic(d.dock_id, "status")], c.Presence).ts_ms > 0
                       for d in site_set.docks)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
