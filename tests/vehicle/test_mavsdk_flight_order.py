"""Flight commands to one drone, through MAVSDK to the simulator: they reach the vehicle in
the order they were given, and the newest wins. MAVSDK itself sends different commands
concurrently and resends each until it is acknowledged, so without the adapter's ordering a
command whose first copy is lost would land after a newer one and undo it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from pymavlink.dialects.v20 import common as mav

from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.mavsdk_link import DroneEndpoint, MavsdkFleet, MavsdkVehicle
from groundstation.errors import Superseded
from missions.geo import distance_m, offset
from sitl import CommandFault, Home, SimFleet, SimVehicle
from sitl.state import FlightMode
from tests.controller.conftest import until

pytestmark = pytest.mark.integration

HOME = Home(51.5, -0.12, 30.0)
SCENE = offset(HOME.lat_deg, HOME.lon_deg, 200.0, 0.0)


@contextlib.asynccontextmanager
async def orbit_slow() -> AsyncIterator[tuple[MavsdkVehicle, SimVehicle, float]]:
    """One simulated drone flown by MAVSDK, at 20 m, whose next DO_ORBIT loses its first copy:
    the link, the simulated vehicle and the flying height (AMSL)."""
    base = free_udp_range(1)
    async with (
        SimFleet([HOME], base_port=base, speedup=4.0, seed=1) as sim,
        MavsdkFleet([DroneEndpoint("uav-0", 1, f"udpin://0.0.0.0:{base}")]) as fleet,
    ):
        assert await fleet.wait_all(20.0)
        v = fleet.get("uav-0")
        assert isinstance(v, MavsdkVehicle)
        vehicle = sim.vehicles[0]
        await until(lambda: v.sample().armable, 15.0, "armable")
        await v.arm()
        await v.takeoff(20.0)
        await until(lambda: vehicle.state.rel_alt_m > 18.0, 20.0, "at 20 m")
        vehicle.command_faults[mav.MAV_CMD_DO_ORBIT] = CommandFault.DROP_FIRST
        yield v, vehicle, v.sample().home_alt_amsl_m + 20.0


async def test_an_orbit_whose_first_copy_is_lost_does_not_undo_the_goto_given_after_it() -> None:
    """The orbit's first COMMAND_INT is lost (MAVSDK resends it); a goto is given 50 ms later.
    The drone ends up flying the goto, not circling: the goto waited for the orbit's answer."""
    async with orbit_slow() as (v, vehicle, alt):
        there = offset(HOME.lat_deg, HOME.lon_deg, -150.0, 0.0)
        orbit = asyncio.create_task(v.orbit(SCENE.lat_deg, SCENE.lon_deg, alt, 40.0, 5.0))
        await asyncio.sleep(0.05)
        await v.goto(there.lat_deg, there.lon_deg, alt)
        await orbit  # answered, on its second copy, before the goto went out
        assert vehicle.command_counts[mav.MAV_CMD_DO_ORBIT] == 2
        await asyncio.sleep(1.0)
        assert vehicle.state.mode == FlightMode.HOLD, "the drone circles the older target"
        await until(
            lambda: distance_m(*vehicle.state.position()[:2], there.lat_deg, there.lon_deg) < 10.0,
            30.0, "the drone at the goto's target",
        )
        assert vehicle.state.mode == FlightMode.HOLD


async def test_a_command_still_waiting_when_a_newer_one_is_given_is_dropped_unsent() -> None:
    """Orbit (slow: its first copy lost), goto, land, given together: the goto was already
    outdated when its turn came, so it is never sent and says so; the drone lands."""
    async with orbit_slow() as (v, vehicle, alt):
        repositions = vehicle.command_counts[mav.MAV_CMD_DO_REPOSITION]
        results = await asyncio.gather(
            v.orbit(SCENE.lat_deg, SCENE.lon_deg, alt, 40.0, 5.0),
            v.goto(SCENE.lat_deg, SCENE.lon_deg, alt),
            v.land(),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], Superseded)
        assert "superseded by a newer command" in str(results[1])
        assert vehicle.command_counts[mav.MAV_CMD_DO_REPOSITION] == repositions
        await asyncio.sleep(0.5)
        assert vehicle.state.mode == FlightMode.LAND
        await until(lambda: not vehicle.state.in_air, 30.0, "landed")
