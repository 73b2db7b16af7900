"""The MAVSDK adapter on a fleet larger than one ``Mavsdk`` instance serves: the drones are
spread over several instances, every one is discovered, reports its own position, and obeys."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pymavlink.dialects.v20 import common as mav

from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.mavsdk_link import RATE_CONCURRENCY, DroneEndpoint, MavsdkFleet, _shards
from missions.geo import distance_m
from sitl import CommandFault, Home, SimFleet
from tests.controller.conftest import until

DRONES = 12
PER_INSTANCE = 5


def endpoint(i: int, url: str) -> DroneEndpoint:
    return DroneEndpoint(f"uav-{i}", i + 1, url)


@pytest.mark.unit
def test_drones_are_split_into_instances_and_a_shared_url_stays_whole() -> None:
    eps = [endpoint(i, f"udpin://0.0.0.0:{15000 + i}") for i in range(12)]
    shards = _shards(eps, 5)
    assert [len(s) for s in shards] == [5, 5, 2]
    assert sorted(u for s in shards for u in s) == sorted(e.url for e in eps)
    # Four drones behind one port (e.g. a radio) are never split across instances.
    shared = [endpoint(i, "udpin://0.0.0.0:16000") for i in range(4)]
    shards = _shards(eps[:3] + shared, 5)
    assert ["udpin://0.0.0.0:16000" in s for s in shards].count(True) == 1
    assert all(len(s) <= 5 for s in shards if "udpin://0.0.0.0:16000" not in s)


@pytest.mark.integration
async def test_a_fleet_over_several_instances_is_seen_and_flown() -> None:
    homes = [Home(51.50 + 0.001 * i, -0.12, 30.0) for i in range(DRONES)]
    base = free_udp_range(DRONES)
    eps = [endpoint(i, f"udpin://0.0.0.0:{base + i}") for i in range(DRONES)]
    async with (
        SimFleet(homes, base_port=base, speedup=5.0, seed=1) as sim,
        MavsdkFleet(eps, drones_per_instance=PER_INSTANCE) as fleet,
    ):
        assert len(fleet._instances) == 3
        assert await fleet.wait_all(20.0)
        await until(
            lambda: all(v.sample().has_position for v in fleet.links()), 10.0, "positions"
        )
        for i, home in enumerate(homes):
            v = fleet.get(f"uav-{i}")
            assert v is not None
            smp = v.sample()
            assert distance_m(smp.lat_deg, smp.lon_deg, home.lat_deg, home.lon_deg) < 5.0
        # The last drone lives in the third instance: it takes off when told to.
        last = fleet.get(f"uav-{DRONES - 1}")
        assert last is not None
        await until(lambda: last.sample().armable, 15.0, "the last drone armable")
        await last.arm()
        await last.takeoff(10.0)
        await until(lambda: sim.vehicles[DRONES - 1].state.rel_alt_m > 8.0, 15.0, "take-off")
        assert not sim.vehicles[0].state.in_air


@pytest.mark.integration
async def test_the_vehicle_is_asked_only_for_the_streams_the_controller_reads() -> None:
    """Position at the telemetry rate, attitude at 2 Hz, and the streams nothing reads
    (ALTITUDE, LOCAL_POSITION_NED) switched off, as SET_MESSAGE_INTERVAL -1 does on PX4."""
    base = free_udp_range(1)
    async with (
        SimFleet([Home(51.5, -0.12, 30.0)], base_port=base, seed=1) as sim,
        MavsdkFleet([endpoint(0, f"udpin://0.0.0.0:{base}")]) as fleet,
    ):
        assert await fleet.wait_all(20.0)
        v = fleet.get("uav-0")
        assert v is not None
        await until(lambda: v.sample().has_position, 10.0, "position")
        await v.set_position_rate(10.0)
        intervals = sim.vehicles[0]._intervals_s
        assert intervals[mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT] == pytest.approx(0.1)
        assert intervals[mav.MAVLINK_MSG_ID_ATTITUDE] == pytest.approx(0.5)
        assert intervals[mav.MAVLINK_MSG_ID_ALTITUDE] == 0.0
        assert intervals[mav.MAVLINK_MSG_ID_LOCAL_POSITION_NED] == 0.0
        # What the controller does read keeps PX4's rates.
        assert intervals[mav.MAVLINK_MSG_ID_VFR_HUD] == pytest.approx(0.25)
        assert intervals[mav.MAVLINK_MSG_ID_HOME_POSITION] == pytest.approx(2.0)


@pytest.mark.integration
async def test_a_fleet_starting_together_gets_every_drones_rates_one_lost_command_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A controller starting with more drones than it configures at once (a planned network
    of 144): every drone is asked for its stream rates at the same moment, as at start-up; one
    drone swallows its first SET_MESSAGE_INTERVAL (the command times out) and is asked again,
    with the reason logged, and ends up streaming at the asked rate like the others."""
    caplog.set_level(logging.INFO, logger="groundstation.adapters.mavsdk_link")
    assert DRONES > RATE_CONCURRENCY
    homes = [Home(51.50 + 0.001 * i, -0.12, 30.0) for i in range(DRONES)]
    base = free_udp_range(DRONES)
    eps = [endpoint(i, f"udpin://0.0.0.0:{base + i}") for i in range(DRONES)]
    async with (
        SimFleet(homes, base_port=base, speedup=5.0, seed=1) as sim,
        MavsdkFleet(eps, drones_per_instance=PER_INSTANCE) as fleet,
    ):
        assert await fleet.wait_all(20.0)
        await until(
            lambda: all(v.sample().has_position for v in fleet.links()), 10.0, "positions"
        )
        mute = sim.vehicles[3]
        mute.command_faults[mav.MAV_CMD_SET_MESSAGE_INTERVAL] = CommandFault.NO_ACK
        links = [fleet.get(f"uav-{i}") for i in range(DRONES)]
        jobs = asyncio.gather(*(v.set_position_rate(2.0) for v in links if v is not None))
        await until(lambda: "uav-3: stream rates not set (attempt 1 of 3)" in caplog.text,
                    15.0, "the lost command reported")
        del mute.command_faults[mav.MAV_CMD_SET_MESSAGE_INTERVAL]
        await asyncio.wait_for(jobs, 30.0)
        position = mav.MAVLINK_MSG_ID_GLOBAL_POSITION_INT
        assert [v._intervals_s[position] for v in sim.vehicles] == [0.5] * DRONES
        assert "TIMEOUT" in caplog.text and "attempt 2 of 3" not in caplog.text
