"""Simulated docks and a controller in a secured deployment: each dock logs in as its dock id."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import msgspec
import pytest

from groundstation import contract as c
from groundstation.adapters.bus import BrokerConfig, Bus
from groundstation.adapters.docks import DockLink
from groundstation.docksim import DockSimFleet
from groundstation.tools.security import UserSpec, write_mosquitto_config
from missions.sites import parse_sites
from tests.security.security_helpers import run_mosquitto, until

pytestmark = pytest.mark.integration

SITES = parse_sites({"name": "t", "sites": [{"site_id": "alpha", "lat_deg": 51.5, "lon_deg": -0.1,
                                              "roof_alt_amsl_m": 40.0, "docks": 2}]})


async def test_docks_and_controller_work_under_the_generated_acl(
    deploy_dir: Path, port: int
) -> None:
    users = [UserSpec("ctl", c.Role.CONTROLLER, "ctl-pw")] + [
        UserSpec(d.dock_id, c.Role.DOCK, f"{d.dock_id}-pw") for d in SITES.docks]
    conf = write_mosquitto_config(deploy_dir, users, port=port)
    base = BrokerConfig.from_url(f"mqtt://127.0.0.1:{port}")
    logins = {d.dock_id: f"{d.dock_id}-pw" for d in SITES.docks}
    async with (run_mosquitto(conf, port),
                DockSimFleet(base, SITES, speedup=20.0, logins=logins) as fleet,
                Bus(base.with_login("ctl", "ctl-pw"), "controller") as bus):
        link = DockLink(bus, fleet.docks, speedup=20.0)
        for topic, qos in link.subscriptions():
            await bus.subscribe(topic, qos)

        async def reader() -> None:
            async for msg in bus.messages():
                link.handle(msg)

        task = asyncio.create_task(reader(), name="secured:reader")
        try:
            async with asyncio.timeout(15):
                await until(lambda: link.ready_reason(
                    "alpha-1", max_wind_m_s=15, max_rainfall=3) is None)
                await link.call("alpha-1", c.DockMethod.COVER_OPEN)
                # The dock may read its drone's telemetry: a flying drone is not in the dock.
                tel = {"drone_id": "uav-alpha-1", "ts_ms": 1, "seq": 1, "lat_deg": 51.5,
                       "lon_deg": -0.1, "alt_rel_m": 30.0, "alt_amsl_m": 70.0,
                       "heading_deg": 0.0, "ground_speed_m_s": 5.0, "climb_m_s": 0.0,
                       "battery_pct": 70.0, "battery_v": 23.0, "flight_mode": "MISSION",
                       "armed": True, "in_air": True, "gps_fix": 3, "satellites": 12,
                       "link_ok": True}
                await bus.publish(c.drone_telemetry("uav-alpha-1"), msgspec.json.encode(tel))
                await until(lambda: not fleet.docks["alpha-1"].drone_in_dock)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await link.aclose()
    assert fleet.docks["alpha-1"].cover == c.CoverState.OPEN
