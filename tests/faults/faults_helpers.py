"""Fault-suite helpers: the in-process stack of tests/controller (real mosquitto, the simulator
flown by real MAVSDK, simulated docks over MQTT, the controller) on small site sets, with hooks to
break things: MAV_CMD_INJECT_FAILURE into a vehicle, docks that go offline, a drone that starts
somewhere other than its dock. Broker restarts and controller kills run as real processes
(test_broker_restart.py, test_controller_kill.py, marked e2e)."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
from pymavlink.dialects.v20 import common as mav

from groundstation import contract as c
from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.bus import BrokerConfig
from groundstation.cli.controller import controller_running
from groundstation.controller import ControllerConfig
from groundstation.core.dispatch import FlightModel
from groundstation.docksim import DockSimFleet
from missions.geo import offset
from missions.sites import SiteSet, parse_sites
from sitl import Home, SimFleet, SimVehicle
from tests.controller.conftest import Operator, Stack, until

SPEEDUP = 10.0
# West End (Trafalgar Square side) and Islington sites of the Met trial.
SITE_POS = {
    "west-end": (51.50951, -0.12517, 38.0),
    "islington": (51.53393, -0.10874, 52.0),
}
NEAR_WEST_END = {"lat_deg": 51.5040, "lon_deg": -0.1200, "priority": 2, "summary": "fault"}
NEAR_ISLINGTON = {"lat_deg": 51.5390, "lon_deg": -0.1000, "priority": 2, "summary": "fault"}


def sites(**docks: int) -> SiteSet:
    """A site set with the given number of docks per site, e.g. ``sites(west_end=2)``."""
    raw = {
        "name": "faults",
        "cruise_alt_rel_m": 40.0,
        "cruise_speed_m_s": 12.0,
        "sites": [
            {
                "site_id": name.replace("_", "-"),
                "lat_deg": SITE_POS[name.replace("_", "-")][0],
                "lon_deg": SITE_POS[name.replace("_", "-")][1],
                "roof_alt_amsl_m": SITE_POS[name.replace("_", "-")][2],
                "docks": n,
            }
            for name, n in docks.items()
        ],
    }
    return parse_sites(msgspec.json.decode(msgspec.json.encode(raw)))


@contextlib.asynccontextmanager
async def fault_stack(
    broker: BrokerConfig,
    site_set: SiteSet,
    journal: Path,
    *,
    on_scene_s: float = 20.0,
    homes: Mapping[str, Home] | None = None,
    ready: tuple[str, ...] | None = None,
) -> AsyncIterator[Stack]:
    """Like tests/controller's stack, but a drone may start away from its dock (``homes``), and
    only the drones in ``ready`` (default all) must be healthy before the test starts."""
    base = free_udp_range(len(site_set.docks))
    homes = homes or {}
    sim_homes = [
        homes.get(d.drone_id, Home(d.lat_deg, d.lon_deg, d.alt_amsl_m)) for d in site_set.docks
    ]
    model = FlightModel(
        cruise_speed_m_s=site_set.cruise_speed_m_s,
        cruise_alt_rel_m=site_set.cruise_alt_rel_m,
        on_scene_s=on_scene_s,
    )
    config = ControllerConfig(
        site_set=site_set, controller_id="ctl-faults", model=model, speedup=SPEEDUP
    )
    async with (
        SimFleet(sim_homes, base_port=base, speedup=SPEEDUP, seed=5) as sim,
        DockSimFleet(broker, site_set, speedup=SPEEDUP, seed=5) as docks,
        controller_running(config, broker, base_port=base, journal_path=journal) as run,
    ):
        assert await run.fleet.wait_all(15.0), "the simulated drones were not discovered"
        ctl = run.controller
        want = ready if ready is not None else tuple(d.drone_id for d in site_set.docks)
        await until(
            lambda: all(
                ctl.drones[d].health.armable
                and ctl.drones[d].health.dock_ok
                and ctl.drones[d].health.link_ok
                for d in want
            ),
            20.0,
            "the drones healthy and their docks ready",
        )
        yield Stack(broker, site_set, sim, docks, run, journal)


def inject_failure(vehicle: SimVehicle, unit: int, *, on: bool, now_s: float) -> None:
    """Send the vehicle PARAM_SET SYS_FAILURE_EN=1 and MAV_CMD_INJECT_FAILURE as a ground
    station would (encoded and decoded as MAVLink 2), and check the command was accepted.
    ``unit`` is a FAILURE_UNIT value; ``on`` breaks it (FAILURE_TYPE_OFF), else mends it."""
    enc = mav.MAVLink(None, srcSystem=255, srcComponent=190)
    dec = mav.MAVLink(None, srcSystem=255, srcComponent=190)
    sid = vehicle.state.system_id

    def send(msg: Any) -> list[Any]:
        decoded = dec.parse_buffer(msg.pack(enc))
        assert decoded is not None
        enc.seq = (enc.seq + 1) & 0xFF
        return vehicle.handle(decoded[0], now_s)

    one = struct.unpack("<f", struct.pack("<i", 1))[0]  # PX4 sends integers bytewise
    send(mav.MAVLink_param_set_message(sid, 1, b"SYS_FAILURE_EN", one, mav.MAV_PARAM_TYPE_INT32))
    assert vehicle.state.params.get_int("SYS_FAILURE_EN") == 1
    ftype = mav.FAILURE_TYPE_OFF if on else mav.FAILURE_TYPE_OK
    replies = send(
        mav.MAVLink_command_long_message(
            sid, 1, mav.MAV_CMD_INJECT_FAILURE, 0, unit, ftype, 0, 0, 0, 0, 0
        )
    )
    acks = [r for r in replies if r.get_type() == "COMMAND_ACK"]
    assert acks and acks[0].result == mav.MAV_RESULT_ACCEPTED, replies


def status(op: Operator, incident_id: str) -> c.IncidentStatus | None:
    history = op.incidents.get(incident_id)
    return history[-1].status if history else None


def last(op: Operator, incident_id: str) -> c.Incident | None:
    history = op.incidents.get(incident_id)
    return history[-1] if history else None


def assigned(op: Operator, incident_id: str) -> str | None:
    """The drone the operator last saw assigned to an incident (None: none, or not heard)."""
    incident = last(op, incident_id)
    return incident.assigned_drone if incident is not None else None


def alerts(op: Operator, code: str, drone_id: str | None = None) -> list[c.Alert]:
    return [a for a in op.alerts if a.code == code and (drone_id is None or a.drone_id == drone_id)]


def away(lat: float, lon: float, north_m: float, east_m: float, alt: float) -> Home:
    p = offset(lat, lon, north_m, east_m)
    return Home(p.lat_deg, p.lon_deg, alt)


class Radio:
    """The radio link of one simulated vehicle, which a test can cut and restore: while cut,
    nothing goes either way (telemetry is lost, the ground station's heartbeats and commands
    never arrive), as when a drone flies out of range. The vehicle itself runs on."""

    def __init__(self, stack: Stack, drone_id: str) -> None:
        dock = stack.sites.dock_of_drone(drone_id)
        assert dock is not None
        ep = stack.sim.endpoints[dock.fleet_index]
        self.cut = False
        recv, send = ep.datagram_received, ep.send

        def datagram_received(data: bytes, addr: tuple[str, int]) -> None:
            if not self.cut:
                recv(data, addr)

        def send_unless_cut(msgs: Any, to: Any = None) -> None:
            if not self.cut:
                send(msgs, to)

        ep.datagram_received = datagram_received  # type: ignore[method-assign]
        ep.send = send_unless_cut  # type: ignore[method-assign]
