"""Vehicle faults injected with MAV_CMD_INJECT_FAILURE mid-sortie, and what the controller does:
GPS lost -> the incident goes to another drone, this one comes home once the fix is back;
GPS lost in the climb -> the vehicle lands itself back on its dock, the incident goes to another
drone; battery drop to empty -> it lands where it is, the incident goes to another drone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import common as mav

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from tests.controller.conftest import Operator, Stack, until
from tests.faults.faults_helpers import (
    NEAR_WEST_END,
    alerts,
    fault_stack,
    inject_failure,
    last,
    sites,
)

pytestmark = pytest.mark.integration

WE1, IS1 = "uav-west-end-1", "uav-islington-1"


def now() -> float:
    return asyncio.get_running_loop().time()


@contextlib.asynccontextmanager
async def incident_near_west_end(
    mosquitto: Mosquitto, tmp_path: Path
) -> AsyncIterator[tuple[Stack, Operator, str]]:
    """A West End and an Islington drone, and an incident filed near the West End one."""
    async with (
        fault_stack(mosquitto.config, sites(west_end=1, islington=1), tmp_path / "j") as st,
        st.operator("dispatcher") as op,
    ):
        reply = await op.call("incident_create", NEAR_WEST_END)
        yield st, op, reply.data.output["incident_id"]


async def handed_to_islington(op: Operator, incident_id: str) -> None:
    await until(
        lambda: (inc := last(op, incident_id)) is not None and inc.assigned_drone == IS1,
        20.0,
        "the incident handed to the Islington drone",
    )


async def test_gps_loss_hands_the_incident_over_and_the_drone_comes_home_when_it_is_back(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with incident_near_west_end(mosquitto, tmp_path) as (st, op, incident_id):
        await until(lambda: op.phase(WE1) == c.Phase.TRANSIT, 40.0, "transit")
        await asyncio.sleep(2.0)  # well away from the dock
        vehicle = st.vehicle(WE1)
        inject_failure(vehicle, mav.FAILURE_UNIT_SENSOR_GPS, on=True, now_s=now())
        await until(lambda: bool(alerts(op, "failsafe_gps_lost", WE1)), 5.0, "GPS loss raised")
        await handed_to_islington(op, incident_id)
        assert op.phase(WE1) == c.Phase.RETURNING
        inject_failure(vehicle, mav.FAILURE_UNIT_SENSOR_GPS, on=False, now_s=now())
        await until(lambda: bool(alerts(op, "gps_recovered", WE1)), 5.0, "GPS back")
        await until(lambda: op.phase(WE1) == c.Phase.CHARGING, 90.0, "home and charging")
        assert op.states[WE1].dock_id == "west-end-1"


async def test_gps_loss_in_the_climb_hands_the_incident_over_when_the_vehicle_lands_itself(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    # Seen in the soak: PX4's failsafe landed a drone during its take-off and it disarmed on
    # its dock, while the sortie waited in ``launching`` for a safe height that never came.
    async with incident_near_west_end(mosquitto, tmp_path) as (st, op, incident_id):
        vehicle = st.vehicle(WE1)
        await until(
            lambda: op.phase(WE1) == c.Phase.LAUNCHING and vehicle.state.in_air, 40.0, "climbing"
        )
        inject_failure(vehicle, mav.FAILURE_UNIT_SENSOR_GPS, on=True, now_s=now())
        await until(lambda: not vehicle.state.armed, 30.0, "PX4 landed and disarmed it")
        await until(lambda: op.phase(WE1) == c.Phase.CHARGING, 15.0, "back on its dock")
        assert alerts(op, "launch_failed", WE1)
        await handed_to_islington(op, incident_id)
        assert op.states[WE1].dock_id == "west-end-1"
        inject_failure(vehicle, mav.FAILURE_UNIT_SENSOR_GPS, on=False, now_s=now())


async def test_a_battery_drop_lands_the_drone_and_the_incident_goes_to_another(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with incident_near_west_end(mosquitto, tmp_path) as (st, op, incident_id):
        await until(lambda: op.phase(WE1) == c.Phase.TRANSIT, 40.0, "transit")
        inject_failure(st.vehicle(WE1), mav.FAILURE_UNIT_SYSTEM_BATTERY, on=True, now_s=now())
        await until(
            lambda: bool(alerts(op, "failsafe_battery_critical", WE1)), 5.0, "battery critical"
        )
        await handed_to_islington(op, incident_id)
        await until(lambda: op.phase(WE1) == c.Phase.FAULT, 60.0, "landed where it was")
        assert alerts(op, "landed_away", WE1)
        assert op.incidents[incident_id][-1].status in (
            c.IncidentStatus.DISPATCHED,
            c.IncidentStatus.ON_SCENE,
        )
        # The recovery crew carries it back onto its dock with a fresh battery: it is in
        # service again (charging, then docked) without anyone restarting anything.
        vehicle = st.vehicle(WE1)
        await until(lambda: not vehicle.state.armed, 10.0, "disarmed where it landed")
        await asyncio.sleep(1.0)
        assert op.phase(WE1) == c.Phase.FAULT  # where it landed, nothing changes
        inject_failure(vehicle, mav.FAILURE_UNIT_SYSTEM_BATTERY, on=False, now_s=now())
        vehicle.set_battery(1.0)
        dock = st.sites.dock("west-end-1")
        assert dock is not None
        vehicle.carry_to(dock.lat_deg, dock.lon_deg)
        await until(lambda: bool(alerts(op, "recovered", WE1)), 10.0, "recovered")
        await until(lambda: op.phase(WE1) == c.Phase.DOCKED, 30.0, "docked and ready")
        assert op.states[WE1].dock_id == "west-end-1"
