"""Two forces, two mosquittos bridged with deploy/mosquitto/bridge-to-force-a.conf: a console on
either broker sees the drones of both; requests never cross."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import BrokerConfig, Bus
from groundstation.adapters.journal import Journal
from groundstation.controller import Controller, ControllerConfig
from missions.airspace import Airspace
from missions.sites import SiteSet
from tests.controller.conftest import until
from tests.ha.conftest import watcher
from tests.ha.ha_fakes import FakeFleet
from tests.ha.test_partitioned import model, subset

pytestmark = pytest.mark.integration

BRIDGE = Path(__file__).parents[2] / "deploy" / "mosquitto" / "bridge-to-force-a.conf"


def bridge_conf(port_a: int) -> str:
    """The shipped bridge configuration, pointed at force A's test broker (no TLS, no login)."""
    keep = []
    for line in BRIDGE.read_text().splitlines():
        if line.startswith(("#", "remote_username", "remote_password", "bridge_cafile")):
            continue
        keep.append(f"address 127.0.0.1:{port_a}" if line.startswith("address ") else line)
    return "\n".join(keep) + "\n"


@contextlib.asynccontextmanager
async def force(broker: BrokerConfig, cid: str, sites: SiteSet) -> AsyncIterator[Controller]:
    async with Bus(broker, f"controller-{cid}") as bus:
        config = ControllerConfig(site_set=sites, controller_id=cid, model=model(sites),
                                  speedup=10.0)
        ctl = Controller(config, fleet=FakeFleet(sites), bus=bus, journal=Journal(":memory:"),
                         airspace=Airspace.load_default())
        task = asyncio.create_task(ctl.run())
        try:
            yield ctl
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_console_on_either_bridged_broker_sees_the_drones_of_both() -> None:
    a_sites, b_sites = subset(("west-end",)), subset(("hyde-park",))
    a_drones = {d.drone_id for d in a_sites.docks}
    b_drones = {d.drone_id for d in b_sites.docks}
    async with Mosquitto(persistence=False) as broker_a:  # noqa: SIM117 (b needs a's port)
        async with Mosquitto(persistence=False, extra_conf=bridge_conf(broker_a.port)) as broker_b:
            async with (
                force(broker_a.config, "force-a", a_sites) as ctl_a,
                force(broker_b.config, "force-b", b_sites),
                watcher(broker_b.config, "console") as on_b,
                watcher(broker_a.config, "console") as on_a,
            ):
                everyone = a_drones | b_drones
                await until(lambda: set(on_b.states) >= everyone, 15.0,
                            "force B's console sees both forces' drones")
                await until(lambda: set(on_a.states) >= everyone, 15.0,
                            "force A's console sees both forces' drones")
                await until(lambda: {"force-a", "force-b"} <= set(on_b.controllers), 5.0,
                            "both controllers' presence on B")
                # Requests do not cross: B's console asks for force A's drone, and only force
                # B's controller hears it (and does not know the drone).
                drone_a = sorted(a_drones)[0]
                reply = await on_b.call("authority_grab", {"drone_id": drone_a})
                assert reply.data.result == c.Result.UNKNOWN_DRONE
                await asyncio.sleep(0.5)
                assert ctl_a.journal.commands() == []
                assert ctl_a.drones[drone_a].sortie.pilot is None
                # ... and no message loops: the states arrive a bounded number of times.
                n = len(on_b.state_log)
                await asyncio.sleep(1.0)
                assert len(on_b.state_log) - n < 50
