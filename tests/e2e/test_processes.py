"""The production layout: mosquitto, ``python -m sitl``, ``groundstation dock-sim`` and
``groundstation controller`` as separate processes, driven by an operator over MQTT: an incident
is dispatched, flown and closed, with the controller SIGKILLed mid-transit and restarted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.adapters.bus import Bus
from tests.controller.conftest import Operator, until

pytestmark = pytest.mark.e2e

SITES = {
    "name": "e2e",
    "cruise_alt_rel_m": 40.0,
    "cruise_speed_m_s": 12.0,
    "sites": [
        {"site_id": "west-end", "lat_deg": 51.50951, "lon_deg": -0.12517,
         "roof_alt_amsl_m": 38.0, "docks": 1},
        {"site_id": "islington", "lat_deg": 51.53393, "lon_deg": -0.10874,
         "roof_alt_amsl_m": 52.0, "docks": 1},
    ],
}
DRONE = "uav-west-end-1"
# 640 m from the west-end dock (3.2 km from islington's, so west-end's drone goes), clear of
# no-fly zones: the transit is about 53 simulated seconds each way, 5 s of wall time at 10x, and
# the faults these tests inject (controller killed mid-transit, mid-orbit and mid-landing; the
# broker restarted mid-sortie) all land inside the sortie. It was 1.5 km away: 25 s more per test.
INCIDENT = {"lat_deg": 51.5059, "lon_deg": -0.1180, "priority": 2, "summary": "e2e"}


def logs(procs: Callable[..., Any]) -> str:
    """The tail of every process's output, for a failure message."""
    started = getattr(procs, "started", [])
    return "\n".join(f"--- {p.name}\n{p.output()[-2500:]}" for p in started)


async def start_stack(tmp_path: Path, mosquitto: Mosquitto, procs: Callable[..., Any]) -> Any:
    sites = tmp_path / "sites.json"
    sites.write_text(json.dumps(SITES))
    base = free_udp_range(2)
    broker = f"mqtt://127.0.0.1:{mosquitto.port}"
    sim = await procs("sitl", "-m", "sitl", "--sites", str(sites), "--base-port", str(base),
                      "--speedup", "10", "--seed", "2")
    await sim.wait_for_output("sitl:", 20)
    docks = await procs("docks", "-m", "groundstation", "dock-sim", "--sites", str(sites),
                        "--broker", broker, "--speedup", "10", "--seed", "2")
    journal = tmp_path / "journal.sqlite"
    ctl_args = ("-m", "groundstation", "controller", "--sites", str(sites), "--broker", broker,
                "--base-port", str(base), "--journal", str(journal), "--speedup", "10",
                "--on-scene", "30", "--demo-users")
    ctl = await procs("controller", *ctl_args)
    await ctl.wait_for_output("controller ctl-1:", 30)
    return sites, ctl_args, ctl, docks, journal


async def operator(mosquitto: Mosquitto, user: str) -> tuple[Bus, Operator, asyncio.Task[None]]:
    bus = Bus(mosquitto.config.with_login(user, None), f"e2e-{user}-{os.getpid()}")
    await bus.__aenter__()
    op = Operator(bus, user)
    for topic, qos in ((c.operator_services_reply(user), 1), (c.ALL_INCIDENTS, 1),
                       (c.ALL_DRONE_STATE, 1), (c.ALL_TELEMETRY, 0)):
        await bus.subscribe(topic, qos)

    async def pump() -> None:
        async for msg in bus.messages():
            op.on(msg)

    return bus, op, asyncio.create_task(pump())


async def ready(op: Operator) -> None:
    await until(lambda: all((st := op.states.get(d)) is not None and st.health.armable
                            and st.health.dock_ok and st.health.link_ok
                            for d in (DRONE, "uav-islington-1")),
                40.0, "both drones healthy and both docks ready")


async def test_a_killed_controller_restarts_and_readopts_without_a_second_launch(
    tmp_path: Path, mosquitto: Mosquitto, procs: Callable[..., Any]
) -> None:
    _, ctl_args, ctl, _, journal = await start_stack(tmp_path, mosquitto, procs)
    bus, op, pump = await operator(mosquitto, "dispatcher")
    try:
        await ready(op)
        reply = await op.call("incident_create", INCIDENT)
        incident_id = reply.data.output["incident_id"]
        await until(lambda: op.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")
        await asyncio.sleep(1.5)
        assert await ctl.stop(signal.SIGKILL) == -signal.SIGKILL
        await asyncio.sleep(1.0)
        restarted = await procs("controller-2", *ctl_args)
        await restarted.wait_for_output("controller ctl-1:", 30)
        try:
            await until(lambda: op.incidents[incident_id][-1].status == c.IncidentStatus.CLOSED,
                        120.0, "the incident closed after the restart")
        except pytest.fail.Exception:
            pytest.fail(f"not closed: {op.incidents[incident_id][-1]}\n{logs(procs)}")
        assert op.incidents[incident_id][-1].assigned_drone == DRONE
        assert op.phase("uav-islington-1") == c.Phase.DOCKED, "no second drone was launched"
        # The record went through its statuses on MQTT, across the restart.
        statuses = [i.status for i in op.incidents[incident_id]]
        assert statuses.index(c.IncidentStatus.DISPATCHED) < statuses.index(
            c.IncidentStatus.ON_SCENE) < statuses.index(c.IncidentStatus.CLOSED)
    finally:
        pump.cancel()
        await bus.__aexit__(None, None, None)
    # Stopped as a service manager stops it: its shutdown ends and it exits 0, journal closed.
    assert await restarted.stop(signal.SIGTERM, timeout_s=30.0) == 0, logs(procs)
    db = sqlite3.connect(journal)
    launches = db.execute(
        "SELECT COUNT(*) FROM phases WHERE phase = 'preflight' AND incident_id = ?", (incident_id,)
    ).fetchone()[0]
    assert launches == 1
    readopt = db.execute("SELECT COUNT(*) FROM events WHERE code = 'controller_restart'").fetchone()
    assert readopt[0] >= 1
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
