"""Crewed traffic end to end: mosquitto, the simulator (its scripted helicopter heard by a drone's
own ADS-B receiver, and PX4's traffic avoidance), simulated docks, the controller and the console
window (offscreen), on one qasync loop.

A helicopter flies from beyond the Islington dock towards the West End drone in transit: the
drone returns on its own (NAV_TRAFF_AVOID 2, set by the controller at connection), the
controller alerts and publishes the aircraft in its traffic picture, the console shows the
aircraft (callsign, altitude, red: near a drone) and the alert, and an incident next to the
Islington dock, on the helicopter's track, is held with the reason until the helicopter has
passed, then flown."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from missions.geo import distance_m, offset
from sitl.state import FlightMode
from sitl.traffic import ScriptedAircraft, TrafficAction
from tests.console.conftest import QtRun, open_console
from tests.controller.conftest import Stack, small_sites, stack_on, until

pytestmark = pytest.mark.console

WEST_END = "uav-west-end-1"
ISLINGTON = "uav-islington-1"
INCIDENT = (51.4985, -0.0848)  # 3 km south-east of the West End dock
HELI_SPEED_M_S = 40.0


@contextlib.asynccontextmanager
async def pictures(stack: Stack) -> AsyncIterator[list[c.TrafficPicture]]:
    got: list[c.TrafficPicture] = []
    async with Bus(stack.broker.with_login("viewer", None), "traffic-viewer") as bus:
        await bus.subscribe(c.ALL_TRAFFIC_PICTURES, 0)

        async def pump() -> None:
            async for msg in bus.messages():
                got.append(c.decode(msg.payload, c.TrafficPicture))

        task = asyncio.create_task(pump())
        try:
            yield got
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def along(a: tuple[float, float], b: tuple[float, float], metres: float) -> tuple[float, float]:
    """The point ``metres`` from a towards b (beyond b when longer than a-b)."""
    k = math.radians(1.0) * 6_371_008.8
    n = (b[0] - a[0]) * k
    e = (b[1] - a[1]) * k * math.cos(math.radians(a[0]))
    d = math.hypot(n, e)
    p = offset(a[0], a[1], n / d * metres, e / d * metres)
    return p.lat_deg, p.lon_deg


def test_helicopter_crossing_returns_the_drone_alerts_and_holds_a_launch(
    qt_run: QtRun, tmp_path: Path
) -> None:
    qt_run(scenario(tmp_path))


async def scenario(tmp_path: Path) -> None:
    sites = small_sites()
    async with (
        Mosquitto(persistence=False) as mq,
        stack_on(mq.config, sites, tmp_path / "journal.sqlite", traffic_avoid=2) as stack,
        stack.operator("cad") as cad,
        pictures(stack) as seen,
        open_console(mq.config.with_login("pilot", None), user="pilot") as window,
    ):
        west, isl = stack.vehicle(WEST_END), stack.vehicle(ISLINGTON)
        # The controller set the vehicles' own avoidance when they connected.
        await until(lambda: west.state.params.get_int("NAV_TRAFF_AVOID") == 2, 10.0,
                    "NAV_TRAFF_AVOID 2 on the West End drone")
        assert isl.state.params.get_int("NAV_TRAFF_AVOID") == 2
        reply = await cad.call("incident_create", {"lat_deg": INCIDENT[0],
                                                   "lon_deg": INCIDENT[1], "priority": 2})
        assert reply.data.result == 0
        await until(lambda: cad.phase(WEST_END) == c.Phase.TRANSIT, 60.0, "West End in transit")
        lat, lon, alt = west.state.position()
        dock = sites.dock_of_drone(ISLINGTON)
        assert dock is not None
        # From 1.5 km beyond the Islington dock, straight at the drone (4.5 km), 40 m above it.
        start = along((lat, lon), (dock.lat_deg, dock.lon_deg), 4500.0)
        k = math.radians(1.0) * 6_371_008.8
        heading = math.degrees(math.atan2((lon - start[1]) * k * math.cos(math.radians(lat)),
                                          (lat - start[0]) * k)) % 360.0
        heli = ScriptedAircraft(0x43C6F1, "HLE01", start[0], start[1], alt + 40.0, heading,
                                HELI_SPEED_M_S, start_s=west.state.sim_time_s)
        west.traffic.aircraft.append(heli)  # the West End drone's receiver hears it

        ctl = stack.run.controller
        await until(lambda: "43c6f1" in ctl.traffic.picture, 10.0, "the controller to hear it")
        # An incident 500 m from the Islington dock, on the helicopter's track: held.
        scene = along((dock.lat_deg, dock.lon_deg), (lat, lon), 500.0)
        reply = await cad.call("incident_create", {"lat_deg": scene[0], "lon_deg": scene[1],
                                                   "priority": 2})
        assert reply.data.result == 0
        held = reply.data.output["incident_id"]
        await until(lambda: any("crewed aircraft HLE01 (43c6f1)" in (i.reason or "")
                                for i in cad.incidents.get(held, [])), 20.0, "the launch held")
        record = next(i for i in cad.incidents[held] if "crewed aircraft" in (i.reason or ""))
        assert record.status == c.IncidentStatus.QUEUED
        assert cad.phase(ISLINGTON) in (c.Phase.DOCKED, c.Phase.CHARGING)
        # The drone acts on its own (PX4's NAV_TRAFF_AVOID 2): Return.
        await until(lambda: west.traffic.warnings, 20.0, "the drone's own traffic warning")
        assert west.traffic.warnings[0][1] is TrafficAction.RETURN
        await until(lambda: west.state.mode is FlightMode.RTL, 5.0, "the drone to return")
        # The controller knows the aircraft, alerts and publishes it.
        await until(lambda: any(a.code == "traffic_conflict" and a.drone_id == WEST_END
                                for a in cad.alerts), 20.0, "a traffic alert")
        alert = next(a for a in cad.alerts if a.code == "traffic_conflict")
        assert "HLE01 (43c6f1)" in alert.message
        await until(lambda: any(p.aircraft and p.aircraft[0].report.icao == "43c6f1"
                                for p in seen), 10.0, "the aircraft in the traffic picture")
        shown = next(p for p in seen if p.aircraft).aircraft[0]
        assert shown.source == WEST_END and shown.report.callsign == "HLE01"
        assert shown.report.speed_m_s == pytest.approx(HELI_SPEED_M_S, abs=1.0)
        # A ground receiver's feed (dump1090 over MQTT): a police helicopter hovering far off.
        npas = c.TrafficReport(icao="4074c2", callsign="NPAS63", lat_deg=51.55, lon_deg=-0.2,
                               alt_amsl_m=300.0, heading_deg=90.0, speed_m_s=1.0,
                               emitter_type=7, ts_ms=c.now_ms())
        await cad.bus.publish(c.traffic_feed("adsb-city-1"),
                              c.encode(c.TrafficFeed(aircraft=[npas])))
        # A bad message (a 25-bit address) is dropped with its reason; the feed goes on.
        bad = c.encode(c.TrafficFeed(aircraft=[npas])).replace(b"4074c2", b"14074c2")
        await cad.bus.publish(c.traffic_feed("adsb-city-1"), bad)
        await cad.bus.publish(c.traffic_feed("adsb-city-1"),
                              c.encode(c.TrafficFeed(aircraft=[npas])))
        await until(lambda: any(a.report.icao == "4074c2" and a.source == "adsb-city-1"
                                and not a.conflict_drones for p in seen for a in p.aircraft),
                    10.0, "the feed's aircraft in the picture")
        assert ctl.traffic.bad_feeds == 1
        # The console: the aircraft on the map, red (near a drone), and the alert.
        await until(lambda: window.traffic.labels().get("43c6f1", ("", "", False))[2], 10.0,
                    "the aircraft on the console map, in conflict")
        callsign, altitude, _ = window.traffic.labels()["43c6f1"]
        assert callsign == "HLE01"
        await until(lambda: "4074c2" in window.traffic.labels(), 10.0, "NPAS63 on the map")
        assert window.traffic.labels()["4074c2"] == ("NPAS63", "980 ft", False)
        assert altitude == f"{round((alt + 40.0) * 3.28084 / 10) * 10:.0f} ft"
        item = window.traffic.shown["43c6f1"].item
        assert window.map.viewport() is not None and item.scene() is window.map.scene()
        await until(lambda: any(a.alert.code == "traffic_conflict" for a in window.model.alerts),
                    10.0, "the traffic alert in the console")

        # Once the helicopter has passed, the launch goes.
        await until(lambda: any(i.status == c.IncidentStatus.DISPATCHED
                                for i in cad.incidents.get(held, [])), 60.0, "dispatch after")
        where = heli.position(isl.state.sim_time_s)
        assert where is not None  # it had gone by the scene, on its way to the West End
        assert distance_m(*start, *where) > distance_m(*start, *scene)
        # ... and is flown (and the stack is not torn down mid pre-flight: a MAVSDK upload
        # cut by the fleet's shutdown never returns).
        await until(lambda: cad.phase(ISLINGTON) in (c.Phase.TRANSIT, c.Phase.ON_SCENE), 30.0,
                    "the Islington drone on its way")
