"""The broker restarted mid-sortie (separate processes: mosquitto with persistence, stopped and
started again on the same port; ``python -m sitl``, ``groundstation dock-sim``, ``groundstation
controller``; helpers from tests/e2e/test_processes.py).

Checked: the controller, the docks and a console-like client are back within 5 s of the broker
(capped, jittered backoff); retained state (drone states, incidents, controller presence) is there
for a client that connects afterwards; the sortie in flight carries on to completion; a call filed
during the outage is carried out after reconnection (QoS 1; the controller's persistent session),
and a QoS 1 publish that cannot wait for the broker fails loudly instead of vanishing."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus, Message
from groundstation.errors import BusError
from tests.controller.conftest import Operator, until
from tests.e2e.test_processes import DRONE, INCIDENT, logs, operator, ready, start_stack

pytestmark = pytest.mark.e2e

OTHER = "uav-islington-1"
DOCKS = ("west-end-1", "islington-1")
NEAR_ISLINGTON = {"lat_deg": 51.5390, "lon_deg": -0.1000, "priority": 2, "summary": "outage"}
RECONNECT_S = 5.0


@pytest.fixture
async def broker() -> AsyncIterator[Mosquitto]:
    """Mosquitto with persistence, in its own directory under /tmp: started as root it drops to
    the mosquitto user, which cannot enter pytest's private tmp_path (it would then fail to save
    its sessions on shutdown and the restart would forget them)."""
    async with Mosquitto(persistence=True) as m:
        yield m


class Seen:
    """When each topic was first heard after ``mark`` (wall clock), from a plain subscriber."""

    def __init__(self) -> None:
        self.mark = 0.0
        self.first: dict[str, float] = {}
        self.retained: dict[str, bytes] = {}

    def on(self, msg: Message) -> None:
        self.first.setdefault(msg.topic, time.monotonic())
        if msg.retain:
            self.retained[msg.topic] = msg.payload

    def restart(self, mark: float) -> None:
        self.mark, self.first = mark, {}


async def watch(broker: Mosquitto, name: str, topics: list[str]) -> tuple[Bus, Seen, Any]:
    bus = Bus(broker.config.with_login("viewer", None), f"{name}-{os.getpid()}")
    await bus.__aenter__()
    seen = Seen()
    for topic in topics:
        await bus.subscribe(topic, 1)

    async def pump() -> None:
        async for msg in bus.messages():
            seen.on(msg)

    return bus, seen, asyncio.create_task(pump())


def status(op: Operator, incident_id: str) -> c.IncidentStatus | None:
    history = op.incidents.get(incident_id)
    return history[-1].status if history else None


async def test_a_broker_restart_mid_sortie_loses_nothing(
    tmp_path: Path, broker: Mosquitto, procs: Callable[..., Any]
) -> None:
    await start_stack(tmp_path, broker, procs)
    bus, op, pump = await operator(broker, "dispatcher")
    live = [c.drone_telemetry(DRONE), *(c.dock_topic(d, "osd") for d in DOCKS)]
    wbus, seen, wpump = await watch(broker, "watch", [c.ALL_TELEMETRY, c.dock_topic("+", "osd")])
    try:
        await ready(op)
        reply = await op.call("incident_create", INCIDENT)
        first = reply.data.output["incident_id"]
        await until(lambda: op.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")

        await asyncio.to_thread(broker.stop)
        down = time.monotonic()
        # A QoS 1 publish that cannot wait for the broker is an error to its caller, not a loss.
        impatient = Bus(broker.config, "impatient", publish_timeout_s=0.2)
        with pytest.raises(BusError):
            await impatient.publish(c.operator_services("dispatcher"), b"{}", qos=1)
        # The console files a call during the outage: its QoS 1 publish waits for the broker.
        call = asyncio.create_task(op.call("incident_create", NEAR_ISLINGTON, timeout_s=20.0))
        await asyncio.sleep(2.0)
        assert not call.done()
        broker.start()
        await broker.wait_ready()
        up = time.monotonic()
        seen.restart(up)
        outage_s = up - down

        try:
            await until(lambda: bus.connected and wbus.connected, RECONNECT_S, "clients back")
            clients_s = time.monotonic() - up
            await until(lambda: all(t in seen.first for t in live), RECONNECT_S - clients_s,
                        "controller telemetry and both docks' osd flowing again")
        except pytest.fail.Exception as exc:
            pytest.fail(f"{exc}; seen {seen.first}\n{logs(procs)}")
        back_s = {t.rsplit("/", 2)[-2]: round(seen.first[t] - up, 1) for t in live}
        second_reply = await call
        assert second_reply.data.result == 0, second_reply.data.output
        second = second_reply.data.output["incident_id"]

        # Retained state is on the broker for a client that connects now.
        fresh, fseen, fpump = await watch(
            broker, "fresh", [c.ALL_DRONE_STATE, c.ALL_INCIDENTS, c.ALL_CONTROLLER_STATUS])
        try:
            wanted = [c.drone_state(DRONE), c.drone_state(OTHER), c.incident(first),
                      c.incident(second), c.controller_status("ctl-1")]
            await until(lambda: all(t in fseen.retained for t in wanted), 3.0,
                        "retained states, incidents and controller presence")
            presence = c.decode(fseen.retained[c.controller_status("ctl-1")], c.ControllerStatus)
            assert presence.status == "online"
        finally:
            fpump.cancel()
            await fresh.__aexit__(None, None, None)

        try:
            await until(lambda: status(op, first) == c.IncidentStatus.CLOSED
                        and status(op, second) == c.IncidentStatus.CLOSED, 120.0,
                        "both incidents closed")
        except pytest.fail.Exception as exc:
            pytest.fail(f"{exc}: {op.incidents}\n{logs(procs)}")
        assert op.incidents[first][-1].assigned_drone == DRONE
        assert op.incidents[second][-1].assigned_drone == OTHER
        await until(lambda: op.phase(DRONE) in (c.Phase.CHARGING, c.Phase.DOCKED)
                    and op.phase(OTHER) in (c.Phase.CHARGING, c.Phase.DOCKED), 30.0,
                    "both drones back in their docks")
        # The outage raised no false alarm: no dock job failed for want of a broker, and no
        # drone was told its dock had gone (the docks' Last Wills fire when the broker stops).
        false_alarms = [a for a in op.alerts if a.code in ("dock_failed", "no_alternate_dock")]
        assert not false_alarms, false_alarms
        print(f"outage {outage_s:.1f} s; test clients back after {clients_s:.1f} s, first message "
              f"after the restart (s): {back_s}")
    finally:
        for task in (pump, wpump):
            task.cancel()
        await bus.__aexit__(None, None, None)
        await wbus.__aexit__(None, None, None)
