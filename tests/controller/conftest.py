"""An in-process stack on loopback: real mosquitto, the simulator flown by real MAVSDK over UDP,
simulated docks over MQTT, and the controller. Plus an operator client that calls services."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.adapters.bus import BrokerConfig, Bus, Message
from groundstation.cli.controller import Running, config_from_args, controller_running
from groundstation.docksim import DockSimFleet
from missions.airspace import Airspace, Zone
from missions.sites import SiteSet, load_sites
from sitl import Home, SimFleet
from sitl.camera import CameraConfig

SPEEDUP = 10.0
# A user no-fly zone 800 m north-west of the West End dock (over Soho Square).
NO_FLY = Zone.circle("Soho test zone", 51.5154, -0.1319, 150.0)


@dataclass
class Operator:
    """A console or CAD system as a test drives it: calls services, remembers what it saw."""

    bus: Bus
    user: str
    replies: dict[str, c.Reply] = field(default_factory=dict)
    incidents: dict[str, list[c.Incident]] = field(default_factory=dict)
    states: dict[str, c.DroneState] = field(default_factory=dict)
    telemetry: dict[str, int] = field(default_factory=dict)
    received: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    """Per drone: (monotonic time of arrival, in the air) of every telemetry message."""
    alerts: list[c.Alert] = field(default_factory=list)
    _waiters: dict[str, asyncio.Future[c.Reply]] = field(default_factory=dict)

    def on(self, msg: Message) -> None:
        ref = c.parse_topic(msg.topic)
        if ref is None:
            return
        if ref.kind == "operator" and ref.leaf == "services_reply" and ref.ident == self.user:
            reply = c.decode(msg.payload, c.Reply)
            self.replies[reply.tid] = reply
            fut = self._waiters.pop(reply.tid, None)
            if fut is not None and not fut.done():
                fut.set_result(reply)
        elif ref.kind == "incident" and msg.payload:  # empty: a cleared record
            inc = c.decode(msg.payload, c.Incident)
            history = self.incidents.setdefault(inc.incident_id, [])
            if not history or history[-1].status != inc.status:
                history.append(inc)
        elif ref.kind == "drone" and ref.leaf == "state":
            st = c.decode(msg.payload, c.DroneState)
            self.states[st.drone_id] = st
        elif ref.kind == "drone" and ref.leaf == "telemetry":
            self.telemetry[ref.ident] = self.telemetry.get(ref.ident, 0) + 1
            tel = c.decode(msg.payload, c.Telemetry)
            self.received.setdefault(ref.ident, []).append((time.monotonic(), tel.in_air))
        elif ref.kind == "controller" and ref.leaf == "events":
            self.alerts.append(c.decode(msg.payload, c.Alert))

    async def call(self, method: str, data: dict[str, Any], *, timeout_s: float = 10.0) -> c.Reply:
        req = c.make_request(method, data)
        return await self.send_raw(c.encode(req), req.tid, timeout_s=timeout_s)

    async def send_raw(self, payload: bytes, tid: str, *, timeout_s: float = 10.0) -> c.Reply:
        fut: asyncio.Future[c.Reply] = asyncio.get_running_loop().create_future()
        self._waiters[tid] = fut
        await self.bus.publish(c.operator_services(self.user), payload, qos=1)
        return await asyncio.wait_for(fut, timeout_s)

    def phase(self, drone_id: str) -> c.Phase | None:
        st = self.states.get(drone_id)
        return st.phase if st else None


@dataclass
class Stack:
    broker: BrokerConfig
    sites: SiteSet
    sim: SimFleet
    docks: DockSimFleet
    run: Running
    journal: Path

    def vehicle(self, drone_id: str) -> Any:
        dock = self.sites.dock_of_drone(drone_id)
        assert dock is not None
        return self.sim.vehicles[dock.fleet_index]

    @contextlib.asynccontextmanager
    async def operator(self, user: str) -> AsyncIterator[Operator]:
        async with Bus(self.broker.with_login(user, None), f"op-{user}-{os.getpid()}") as bus:
            op = Operator(bus, user)
            for topic, qos in (
                (c.operator_services_reply(user), 1),
                (c.ALL_INCIDENTS, 1),
                (c.ALL_DRONE_STATE, 1),
                (c.ALL_TELEMETRY, 0),
                (c.ALL_CONTROLLER_EVENTS, 1),
            ):
                await bus.subscribe(topic, qos)

            async def pump() -> None:
                async for msg in bus.messages():
                    op.on(msg)

            task = asyncio.create_task(pump())
            await asyncio.sleep(0.2)
            try:
                yield op
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def until(pred: Any, timeout_s: float, what: str, step_s: float = 0.1) -> None:
    """Wait for a condition a user would see; fail with what was awaited."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(step_s)


def small_sites() -> SiteSet:
    """The West End and Islington sites of the Met trial, one dock each (fast to start)."""
    full = load_sites("met-trial")
    raw = msgspec.json.decode(
        msgspec.json.encode(
            {
                "name": "test",
                "cruise_alt_rel_m": 40.0,
                "cruise_speed_m_s": 12.0,
                "sites": [
                    {
                        "site_id": s.site_id,
                        "name": s.name,
                        "borough": s.borough,
                        "lat_deg": s.lat_deg,
                        "lon_deg": s.lon_deg,
                        "roof_alt_amsl_m": s.roof_alt_amsl_m,
                        "docks": 1,
                    }
                    for s in full.sites
                    if s.site_id in ("west-end", "islington")
                ],
            }
        )
    )
    from missions.sites import parse_sites

    return parse_sites(raw)


@contextlib.asynccontextmanager
async def stack_on(
    broker: BrokerConfig,
    sites: SiteSet,
    journal: Path,
    on_scene_s: float = 30.0,
    airspace: Airspace | None = None,
    traffic_avoid: int | None = None,
    camera: CameraConfig | None = None,
    speedup: float = SPEEDUP,
) -> AsyncIterator[Stack]:
    base = free_udp_range(len(sites.docks))
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]
    args = argparse.Namespace(controller_id="ctl-test", speedup=speedup, on_scene=on_scene_s,
                              traffic_avoid=traffic_avoid)
    config = config_from_args(args, sites)
    async with (
        SimFleet(homes, base_port=base, speedup=speedup, seed=3, camera=camera) as sim,
        DockSimFleet(broker, sites, speedup=speedup, seed=3) as docks,
        controller_running(
            config, broker, base_port=base, journal_path=journal, airspace=airspace
        ) as run,
    ):
        assert await run.fleet.wait_all(15.0), "the simulated drones were not discovered"
        ctl = run.controller
        await until(
            lambda: all(
                ctl.drones[d.drone_id].health.armable
                and ctl.drones[d.drone_id].health.dock_ok
                and ctl.drones[d.drone_id].health.link_ok
                for d in sites.docks
            ),
            20.0,
            "every drone healthy and linked and every dock ready",
        )
        yield Stack(broker, sites, sim, docks, run, journal)




@pytest.fixture
async def stack(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Stack]:
    airspace = Airspace.load_default().with_zones([NO_FLY])
    async with stack_on(
        mosquitto.config, small_sites(), tmp_path / "journal.sqlite", airspace=airspace
    ) as s:
        yield s


@dataclass
class Track:
    """The simulated drone's true position against wall-clock time (sampled by the test)."""

    times: list[float] = field(default_factory=list)
    points: list[tuple[float, float]] = field(default_factory=list)

    def at(self, t: float) -> tuple[float, float]:
        i = min(max(bisect.bisect_left(self.times, t), 1), len(self.times) - 1)
        t0, t1 = self.times[i - 1], self.times[i]
        f = 0.0 if t1 == t0 else min(1.0, max(0.0, (t - t0) / (t1 - t0)))
        (a0, o0), (a1, o1) = self.points[i - 1], self.points[i]
        return a0 + (a1 - a0) * f, o0 + (o1 - o0) * f
