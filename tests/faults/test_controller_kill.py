"""The controller SIGKILLed mid-orbit, restarted, then SIGKILLed again mid-landing and restarted
(separate processes: mosquitto, ``python -m sitl``, ``groundstation dock-sim``, ``groundstation
controller``; helpers from tests/e2e/test_processes.py). Each restart reloads the journal and
re-adopts the drone after ADOPT_GRACE_S: no second launch, the sortie ends in its dock, the
incident closes, and the journal keeps every phase exactly once."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from tests.controller.conftest import Operator, until
from tests.e2e.test_processes import DRONE, INCIDENT, logs, operator, ready, start_stack
from tests.faults.faults_helpers import last

pytestmark = pytest.mark.e2e

OTHER = "uav-islington-1"


async def kill_and_restart(
    procs: Callable[..., Any], ctl: Any, ctl_args: tuple[str, ...], name: str
) -> Any:
    assert await ctl.stop(signal.SIGKILL) == -signal.SIGKILL
    await asyncio.sleep(0.5)
    restarted = await procs(name, *ctl_args)
    await restarted.wait_for_output("controller ctl-1:", 30)
    return restarted


def closed(op: Operator, incident_id: str) -> bool:
    incident = last(op, incident_id)
    return incident is not None and incident.status == c.IncidentStatus.CLOSED


async def test_a_controller_killed_mid_orbit_and_mid_landing_readopts_the_drone_each_time(
    tmp_path: Path, mosquitto: Mosquitto, procs: Callable[..., Any]
) -> None:
    _, ctl_args, ctl, _, journal = await start_stack(tmp_path, mosquitto, procs)
    bus, op, pump = await operator(mosquitto, "dispatcher")
    try:
        await ready(op)
        reply = await op.call("incident_create", INCIDENT)
        assert reply.data.result == 0, reply.data.output
        incident_id = reply.data.output["incident_id"]
        await until(lambda: op.phase(DRONE) == c.Phase.ON_SCENE, 60.0, "on scene")
        await asyncio.sleep(0.5)
        ctl = await kill_and_restart(procs, ctl, ctl_args, "controller-2")
        try:
            await until(lambda: op.phase(DRONE) == c.Phase.LANDING, 90.0, "landing")
        except pytest.fail.Exception:
            pytest.fail(f"never landing after the mid-orbit restart\n{logs(procs)}")
        await kill_and_restart(procs, ctl, ctl_args, "controller-3")
        try:
            await until(lambda: closed(op, incident_id), 60.0, "the incident closed")
            await until(lambda: op.phase(DRONE) in (c.Phase.CHARGING, c.Phase.DOCKED), 30.0,
                        "the drone back in its dock")
        except pytest.fail.Exception as exc:
            pytest.fail(f"{exc}: {op.incidents[incident_id][-1]} {op.states.get(DRONE)}\n"
                        f"{logs(procs)}")
        assert op.incidents[incident_id][-1].assigned_drone == DRONE
        assert op.phase(OTHER) == c.Phase.DOCKED, "no second drone was launched"
    finally:
        pump.cancel()
        await bus.__aexit__(None, None, None)
    db = sqlite3.connect(journal)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        phases = [p for (p,) in db.execute(
            "SELECT phase FROM phases WHERE drone_id = ? ORDER BY rowid", (DRONE,))]
        # Every phase once, in order, across three controller lives: none lost, none repeated.
        assert phases[:7] == ["preflight", "launching", "transit", "on_scene", "returning",
                              "landing", "charging"], phases
        assert phases[7:] in ([], ["docked"]), phases
        assert db.execute("SELECT COUNT(*) FROM phases WHERE drone_id = ?", (OTHER,)).fetchone()[
            0] == 0, "the other drone never left its dock"
        rows = db.execute("SELECT COUNT(*) FROM incidents").fetchone()[0]
        assert rows == 1
        created = db.execute(
            "SELECT COUNT(*) FROM commands WHERE method = 'incident_create'").fetchone()[0]
        assert created == 1
        restarts = db.execute(
            "SELECT COUNT(*) FROM events WHERE code = 'controller_restart'").fetchone()[0]
        assert restarts == 2
        landed_away = db.execute(
            "SELECT COUNT(*) FROM events WHERE code = 'landed_away'").fetchone()[0]
        assert landed_away == 0
        # The restart that found the drone on scene took the arrival still once the camera was
        # found again, rather than warning that there was none.
        failed = db.execute(
            "SELECT message FROM events WHERE code = 'snapshot_failed'").fetchall()
        assert failed == [], failed
    finally:
        db.close()
