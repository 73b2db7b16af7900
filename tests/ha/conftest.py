"""Fixtures for the high-availability tests: real mosquittos (one, or two bridged), controller
processes, and an operator that also follows controller presence."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from groundstation import contract as c
from groundstation.adapters.bus import BrokerConfig, Bus, Message
from tests.controller.conftest import Operator
from tests.e2e.conftest import procs  # noqa: F401  (the same fixture)


class Watcher(Operator):
    """An operator (console) that also keeps every controller's presence and every offer."""

    def __init__(self, bus: Bus, user: str) -> None:
        super().__init__(bus, user)
        self.controllers: dict[str, c.ControllerStatus] = {}
        self.history: list[tuple[float, c.ControllerStatus]] = []
        self.offers: dict[str, list[c.Offer]] = {}
        self.state_log: list[tuple[float, c.DroneState]] = []

    def on(self, msg: Message) -> None:
        parts = msg.topic.split("/")
        now = asyncio.get_running_loop().time()
        if len(parts) == 5 and parts[2] == "incidents" and parts[4] == "offers":
            offer = c.decode(msg.payload, c.Offer)
            self.offers.setdefault(offer.incident_id, []).append(offer)
            return
        ref = c.parse_topic(msg.topic)
        if ref is not None and ref.kind == "controller" and ref.leaf == "status" and msg.payload:
            st = c.decode(msg.payload, c.ControllerStatus)
            self.controllers[ref.ident] = st
            self.history.append((now, st))
            return
        if ref is not None and ref.kind == "drone" and ref.leaf == "state" and msg.payload:
            self.state_log.append((now, c.decode(msg.payload, c.DroneState)))
        super().on(msg)

    def role(self, controller_id: str) -> str | None:
        st = self.controllers.get(controller_id)
        return st.role if st is not None and st.status == "online" else None


@contextlib.asynccontextmanager
async def watcher(broker: BrokerConfig, user: str = "dispatcher") -> AsyncIterator[Watcher]:
    async with Bus(broker.with_login(user, None), f"ha-{user}-{os.getpid()}-{id(broker)}") as bus:
        w = Watcher(bus, user)
        for topic, qos in (
            (c.operator_services_reply(user), 1),
            (c.ALL_INCIDENTS, 1),
            (c.ALL_DRONE_STATE, 1),
            (c.ALL_CONTROLLER_STATUS, 1),
            (c.ALL_INCIDENT_OFFERS, 1),
            (c.ALL_CONTROLLER_EVENTS, 1),
        ):
            await bus.subscribe(topic, qos)

        async def pump() -> None:
            async for msg in bus.messages():
                w.on(msg)

        task = asyncio.create_task(pump())
        await asyncio.sleep(0.2)
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


