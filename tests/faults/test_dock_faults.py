"""Dock faults against the real stack: a cover that sticks on launch, weather over the limits, and
a home dock that drops off the network while its drone is out."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.journal import Journal
from groundstation.core import sortie as so
from tests.controller.conftest import until
from tests.faults.faults_helpers import (
    NEAR_WEST_END,
    alerts,
    away,
    fault_stack,
    last,
    sites,
    status,
)

pytestmark = pytest.mark.integration

WE1, IS1 = "uav-west-end-1", "uav-islington-1"


async def test_a_stuck_cover_sends_another_drone_and_bad_weather_refuses_with_the_reason(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    site_set = sites(west_end=1, islington=1)
    async with (
        fault_stack(mosquitto.config, site_set, tmp_path / "j.sqlite") as st,
        st.operator("dispatcher") as op,
    ):
        # Rain at both docks: the incident is queued and says why.
        for dock in st.docks.docks.values():
            dock.set_weather(rainfall=3)
        await until(lambda: not st.run.controller.drones[WE1].health.dock_ok, 10.0, "the rain seen")
        reply = await op.call("incident_create", NEAR_WEST_END)
        assert reply.data.result == 0, reply.data.output
        rainy = reply.data.output["incident_id"]
        await until(lambda: status(op, rainy) == c.IncidentStatus.QUEUED, 10.0, "queued")
        reason = last(op, rainy).reason or ""  # type: ignore[union-attr]
        assert "rainfall 3 over limit" in reason, reason
        assert st.run.controller.drones[WE1].sortie.phase == c.Phase.DOCKED

        # The rain stops, but the West End cover sticks: the Islington drone goes instead.
        st.docks.docks["west-end-1"].stick_cover()
        for dock in st.docks.docks.values():
            dock.set_weather(rainfall=0)
        await until(
            lambda: (inc := last(op, rainy)) is not None and inc.assigned_drone == IS1,
            60.0,
            "the incident handed to the Islington drone",
        )
        stuck = alerts(op, "launch_aborted", WE1)
        assert stuck and "stuck" in stuck[0].message, [a.message for a in op.alerts]
        await until(lambda: op.phase(WE1) == c.Phase.DOCKED, 20.0, "West End drone docked")
        await until(lambda: op.phase(IS1) == c.Phase.TRANSIT, 60.0, "the Islington drone away")


async def test_a_home_dock_that_goes_offline_sends_the_drone_to_a_free_dock(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    site_set = sites(west_end=2)
    we2_dock = site_set.dock_of_drone("uav-west-end-2")
    assert we2_dock is not None
    # uav-west-end-2 landed in a field yesterday and is out of service: its dock stands empty.
    journal = tmp_path / "j.sqlite"
    j = Journal(journal)
    j.save_sortie(
        so.Sortie(
            drone_id=we2_dock.drone_id,
            dock_id=we2_dock.dock_id,
            dock=so.Target(we2_dock.lat_deg, we2_dock.lon_deg),
            phase=c.Phase.FAULT,
            reason="landed away from a dock",
        ),
        phase_changed=True,
    )
    j.close()
    field = away(we2_dock.lat_deg, we2_dock.lon_deg, -300.0, 0.0, we2_dock.alt_amsl_m)
    async with (
        fault_stack(
            mosquitto.config,
            site_set,
            journal,
            homes={we2_dock.drone_id: field},
            ready=(WE1,),
        ) as st,
        st.operator("dispatcher") as op,
    ):
        reply = await op.call("incident_create", NEAR_WEST_END)
        incident_id = reply.data.output["incident_id"]
        await until(lambda: op.phase(WE1) == c.Phase.TRANSIT, 40.0, "transit")
        st.docks.docks["west-end-1"].go_offline()  # for good
        await until(
            lambda: bool(alerts(op, "alternate_dock", WE1)), 20.0, "the diversion announced"
        )
        assert we2_dock.dock_id in alerts(op, "alternate_dock", WE1)[0].message
        await until(lambda: op.phase(WE1) == c.Phase.CHARGING, 120.0, "landed and charging")
        state = op.states[WE1]
        assert state.dock_id == we2_dock.dock_id, state
        assert status(op, incident_id) == c.IncidentStatus.CLOSED
