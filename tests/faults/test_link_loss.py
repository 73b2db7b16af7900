"""Drone link loss of 5 s and of 30 s (both at once, one drone each): the controller shows the
loss within 3 s; the vehicle flies its own data-link-loss action (PX4 NAV_DLL_ACT=2, return, after
COM_DL_LOSS_T=10 s) only on the long one; when the link is back the drone is re-adopted and its
sortie resolved: the short one carries on, the long one is found landed in its dock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from sitl import FlightMode
from tests.controller.conftest import until
from tests.faults.faults_helpers import (
    NEAR_ISLINGTON,
    NEAR_WEST_END,
    Radio,
    alerts,
    assigned,
    fault_stack,
    sites,
)

pytestmark = pytest.mark.integration

SHORT, LONG = "uav-islington-1", "uav-west-end-1"


async def test_short_and_long_link_losses_are_shown_flown_out_and_resolved(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with (
        fault_stack(
            mosquitto.config, sites(west_end=1, islington=1), tmp_path / "j", on_scene_s=60.0
        ) as st,
        st.operator("dispatcher") as op,
    ):
        ids = {}
        for drone, where in ((LONG, NEAR_WEST_END), (SHORT, NEAR_ISLINGTON)):
            reply = await op.call("incident_create", where)
            ids[drone] = reply.data.output["incident_id"]
        await until(
            lambda: op.phase(LONG) == c.Phase.TRANSIT and op.phase(SHORT) == c.Phase.TRANSIT,
            40.0,
            "both in transit",
        )
        assert assigned(op, ids[LONG]) == LONG
        loop = asyncio.get_running_loop()
        cut = loop.time()
        radios = {drone: Radio(st, drone) for drone in (SHORT, LONG)}
        for radio in radios.values():
            radio.cut = True
        shown: dict[str, float] = {}

        def seen() -> bool:
            for drone in (SHORT, LONG):
                state = op.states.get(drone)
                if drone not in shown and state is not None and not state.health.link_ok:
                    shown[drone] = loop.time() - cut
            return len(shown) == 2

        await until(seen, 4.0, "both losses shown")
        assert max(shown.values()) <= 3.5, shown
        assert alerts(op, "failsafe_link_lost", SHORT) and alerts(op, "failsafe_link_lost", LONG)

        await asyncio.sleep(5.0 - (loop.time() - cut))
        radios[SHORT].cut = False
        assert not st.vehicle(SHORT).link_lost, "5 s is under COM_DL_LOSS_T: no failsafe"
        await until(lambda: bool(alerts(op, "link_recovered", SHORT)), 5.0, "short link back")
        await until(
            lambda: op.phase(SHORT) == c.Phase.ON_SCENE, 60.0, "the short-loss drone on scene"
        )

        long_vehicle = st.vehicle(LONG)
        await until(lambda: long_vehicle.link_lost, 15.0, "the long-loss drone's own failsafe")
        assert long_vehicle.state.mode is FlightMode.RTL
        await asyncio.sleep(max(0.0, 30.0 - (loop.time() - cut)))
        radios[LONG].cut = False
        journal = st.run.controller.journal

        def phases() -> list[str]:
            return [p[3] for p in journal.phases(LONG)]

        await until(lambda: "charging" in phases(), 30.0, "re-adopted, found in its dock")
        assert "fault" not in phases(), phases()
        # Its incident was never reached: it goes back to the dispatcher, not lost.
        await until(
            lambda: (
                any(i.status == c.IncidentStatus.QUEUED for i in op.incidents[ids[LONG]])
                or assigned(op, ids[LONG]) == SHORT
            ),
            10.0,
            "the long-loss incident handed back",
        )
