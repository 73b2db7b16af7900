"""Hot standby: two controller processes for one fleet, elected through the broker; the active
one is SIGKILLed mid-transit and the standby carries the sortie to the end."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto, free_udp_range
from groundstation.docksim import DockSimFleet
from missions.sites import load_sites
from sitl import Home, SimFleet
from tests.controller.conftest import until
from tests.e2e.test_processes import DRONE, INCIDENT, SITES
from tests.ha.conftest import watcher

pytestmark = pytest.mark.e2e

MAV_CMD_COMPONENT_ARM_DISARM = 400
MAV_CMD_NAV_TAKEOFF = 22


def journal_rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return [tuple(r) for r in db.execute(sql, args).fetchall()]
    finally:
        db.close()


async def test_the_standby_takes_over_a_killed_active_mid_transit(
    tmp_path: Path, mosquitto: Mosquitto, procs: Callable[..., Any]
) -> None:
    sites_path = tmp_path / "sites.json"
    sites_path.write_text(json.dumps(SITES))
    sites = load_sites(str(sites_path))
    base, mirror = free_udp_range(2), free_udp_range(2)
    broker = mosquitto.config
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]

    def controller_args(cid: str, port: int) -> tuple[str, ...]:
        return ("-m", "groundstation", "controller", "--sites", str(sites_path), "--broker", url,
                "--base-port", str(port), "--journal", str(tmp_path / f"{cid}.sqlite"),
                "--controller-id", cid, "--ha-cluster", "met", "--speedup", "10",
                "--on-scene", "30", "--demo-users")

    async with (
        SimFleet(homes, base_port=base, speedup=10.0, seed=3, mirror_base_port=mirror) as sim,
        DockSimFleet(broker, sites, speedup=10.0, seed=3),
        watcher(broker) as op,
    ):
        a = await procs("ctl-a", *controller_args("ctl-a", base))
        await until(lambda: op.role("ctl-a") == "active", 30.0, "ctl-a active")
        b = await procs("ctl-b", *controller_args("ctl-b", mirror))
        await until(lambda: op.role("ctl-b") == "standby", 30.0, "ctl-b online as standby")
        await until(lambda: all((st := op.states.get(d.drone_id)) is not None
                                and st.health.armable and st.health.dock_ok
                                and st.health.link_ok
                                for d in sites.docks), 40.0, "both drones ready")
        assert all(st.controller_id == "ctl-a" for st in op.states.values())

        reply = await op.call("incident_create", INCIDENT)
        assert reply.data.result == 0, reply.data.output
        incident_id = reply.data.output["incident_id"]
        await until(lambda: op.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")
        await asyncio.sleep(1.0)
        killed_at = asyncio.get_running_loop().time()
        assert await a.stop(signal.SIGKILL) == -signal.SIGKILL

        await until(lambda: op.role("ctl-b") == "active", 5.0, "ctl-b active within 5 s")
        await until(lambda: any(t > killed_at and st.controller_id == "ctl-b"
                                and st.drone_id == DRONE for t, st in op.state_log),
                    5.0 - (asyncio.get_running_loop().time() - killed_at),
                    "ctl-b flying the drone within 5 s of the kill")
        takeover_s = asyncio.get_running_loop().time() - killed_at
        try:
            await until(lambda: op.incidents[incident_id][-1].status == c.IncidentStatus.CLOSED,
                        90.0, "the incident closed by the standby")
        except pytest.fail.Exception:
            logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in (a, b))
            pytest.fail(f"not closed: {op.incidents[incident_id][-1]}\n{logs}")
        assert op.incidents[incident_id][-1].assigned_drone == DRONE
        assert op.phase("uav-islington-1") == c.Phase.DOCKED, "no second drone was launched"
        vehicle = sim.vehicles[sites.dock_of_drone(DRONE).fleet_index]  # type: ignore[union-attr]
        assert vehicle.command_counts[MAV_CMD_COMPONENT_ARM_DISARM] == 1, "armed once"
        assert vehicle.command_counts[MAV_CMD_NAV_TAKEOFF] == 1, "took off once"
        other = sim.vehicles[sites.dock_of_drone("uav-islington-1").fleet_index]  # type: ignore[union-attr]
        assert other.command_counts[MAV_CMD_COMPONENT_ARM_DISARM] == 0

        # ctl-a comes back: it sees ctl-b's lease (greater epoch) and stays standby.
        await procs("ctl-a-again", *controller_args("ctl-a", base))
        await until(lambda: op.role("ctl-a") == "standby", 30.0, "ctl-a back as standby")
        await asyncio.sleep(2.0)
        assert op.role("ctl-a") == "standby"
        assert op.role("ctl-b") == "active"

    ja, jb = tmp_path / "ctl-a.sqlite", tmp_path / "ctl-b.sqlite"
    cmd_sql = ("SELECT ts_ms, message FROM events WHERE code = 'vehicle_command' "
               "AND drone_id = ? ORDER BY id")
    cmds_a, cmds_b = journal_rows(ja, cmd_sql, DRONE), journal_rows(jb, cmd_sql, DRONE)
    assert cmds_a and all(m.startswith("epoch 1:") for _, m in cmds_a), cmds_a
    assert cmds_b and all(m.startswith("epoch 2:") for _, m in cmds_b), cmds_b
    assert max(t for t, _ in cmds_a) <= min(t for t, _ in cmds_b), "no overlap between epochs"
    every = [m.split(": ", 1)[1] for _, m in cmds_a + cmds_b]
    assert sum(m.startswith("ArmTakeoff") for m in every) == 1
    assert sum(m.startswith("Prepare") for m in every) == 1
    handover = journal_rows(jb, "SELECT message FROM events WHERE code = 'ha_takeover'")
    assert handover and DRONE in handover[0][0] and "epoch 2" in handover[0][0]
    launches = sum(
        journal_rows(j, "SELECT COUNT(*) FROM phases WHERE phase = 'preflight' "
                        "AND incident_id = ?", incident_id)[0][0] for j in (ja, jb))
    assert launches == 1
    phases_b = [r[0] for r in journal_rows(
        jb, "SELECT phase FROM phases WHERE drone_id = ? ORDER BY id", DRONE)]
    assert phases_b[0] == "transit" and "on_scene" in phases_b and phases_b[-1] in (
        "charging", "docked"), phases_b
    print(f"takeover in {takeover_s:.2f} s")
