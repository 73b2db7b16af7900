"""The README's demo, run as a user runs it, against a real mosquitto; a separate subscriber
watches everything the stack publishes."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus, Message

pytestmark = pytest.mark.e2e


async def test_demo_flies_two_incidents_and_every_drone_ends_in_its_dock(
    mosquitto: Mosquitto, procs: Callable[..., Any]
) -> None:
    seen: list[Message] = []
    async with Bus(mosquitto.config, f"watcher-{os.getpid()}") as bus:
        await bus.subscribe(f"{c.PREFIX}/#", qos=1)

        async def record() -> None:
            async for msg in bus.messages():
                seen.append(msg)

        watcher = asyncio.create_task(record())
        demo = await procs(
            "demo", "-m", "groundstation", "demo", "--headless", "--incidents", "2",
            "--speedup", "10", "--seed", "1", "--on-scene", "20",
            "--broker", f"mqtt://127.0.0.1:{mosquitto.port}",
        )
        assert demo.proc is not None
        rc = await asyncio.wait_for(demo.proc.wait(), 240)
        await asyncio.sleep(0.5)
        watcher.cancel()
    out = demo.output()
    assert rc == 0, out[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["incidents"] == 2 and summary["completed"] == 2 and summary["failed"] == 0
    assert 0 < summary["mean_time_to_scene_s"] < 400
    # Simulated seconds read on the simulator's clock, not wall time x the nominal speed-up.
    assert summary["time_base"] == "simulator clock", summary
    assert 0 < summary["speedup_achieved"] <= 10.5 and summary["mean_eta_s"] > 0
    # One progress line per phase change, for each sortie.
    for phase in ("preflight", "launching", "transit", "on_scene", "returning", "landing"):
        assert f" {phase} for inc-" in out, f"no progress line for {phase}"

    telemetry = [c.decode(m.payload, c.Telemetry) for m in seen
                 if m.topic.endswith("/telemetry") and "/drones/" in m.topic]
    airborne = {t.drone_id for t in telemetry if t.in_air and t.alt_rel_m > 20}
    assert len(airborne) == 2, "telemetry of both flying drones arrived over MQTT in flight"
    # Every drone's last state: in a dock (the two that flew are back on theirs).
    last_state: dict[str, c.DroneState] = {}
    for m in seen:
        if m.topic.endswith("/state") and "/drones/" in m.topic:
            st = c.decode(m.payload, c.DroneState)
            last_state[st.drone_id] = st
    for drone_id in airborne:
        st = last_state[drone_id]
        assert st.phase in (c.Phase.CHARGING, c.Phase.DOCKED), st
        assert st.dock_id == st.home_dock_id
    final_tel = {t.drone_id: t for t in telemetry}
    for drone_id in airborne:
        assert not final_tel[drone_id].in_air and not final_tel[drone_id].armed
    incidents = [c.decode(m.payload, c.Incident) for m in seen if "/incidents/" in m.topic]
    closed = {i.incident_id for i in incidents if i.status == c.IncidentStatus.CLOSED}
    assert len(closed) == 2
    # Every message validates against its channel in the AsyncAPI document.
    from groundstation.tools.asyncapi import validate

    for m in seen:
        validate(m.topic, m.payload)
