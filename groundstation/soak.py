"""``groundstation soak``: the Met's load, replayed in simulated time with random faults.

    groundstation soak --days 1 --speedup 40 [--seed 1] [--json]

The whole stack runs on loopback (mosquitto if installed, else the embedded broker; the simulator;
simulated docks; the controller with a journal in a temporary directory). A CAD client files
incidents at the Met's rate (about 200 a week over the sites' drones), at random points within
3 km of a random site. Faults are drawn at random: a dock cover that sticks, rain over the limit
for a while, a drone's radio cut for a few seconds.

Time is compressed twice: the simulation runs ``speedup`` times faster than the wall clock, and
quiet time is skipped: when every drone is docked and nothing is open, the incident clock jumps
to the next arrival. The report says how much was skipped. The dock's charger is played by the
soak (batteries refill at ``CHARGE_PCT_PER_MIN`` in simulated time while a drone is in its dock).

The report: incidents filed, handled (closed after time on scene), refused (rejected at intake),
lost (neither closed nor rejected at the end: must be 0), stuck (drones not back in a dock at the
end: must be 0), time to scene (simulated seconds, from filing to on scene) and whether the
journal agrees with the controller. ``--json`` prints it as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groundstation import contract as c
from groundstation.broker import free_udp_range
from groundstation.bus import BrokerConfig, Bus
from groundstation.controller import Controller, ControllerConfig
from groundstation.controller_main import controller_running
from groundstation.dispatch import FlightModel
from groundstation.docksim import DockSimFleet
from missions.geo import offset
from missions.sites import SiteSet, load_sites
from sitl import Home, SimFleet

log = logging.getLogger(__name__)

INCIDENTS_PER_WEEK = 200.0
CHARGE_PCT_PER_MIN = 2.0
ON_SCENE_S = 120.0


@dataclass
class Report:
    incidents: int = 0
    handled: int = 0
    refused: int = 0
    lost: int = 0
    stuck: int = 0
    faulted_drones: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    time_to_scene_s: dict[str, float | None] = field(default_factory=dict)
    journal_consistent: bool = False
    simulated_s: float = 0.0
    skipped_quiet_s: float = 0.0
    wall_s: float = 0.0

    def as_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=False)


def arrivals(days: float, rng: random.Random) -> list[float]:
    """Poisson arrival times (simulated seconds) at the Met's rate."""
    rate = INCIDENTS_PER_WEEK / (7 * 86400.0)
    t, out = 0.0, list[float]()
    while True:
        t += rng.expovariate(rate)
        if t > days * 86400.0:
            return out
        out.append(t)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))
    return round(s[k], 1)


@contextlib.asynccontextmanager
async def broker() -> AsyncIterator[BrokerConfig]:
    try:
        from groundstation.broker import Mosquitto, mosquitto_binary

        mosquitto_binary()
        async with Mosquitto(persistence=False) as m:
            yield m.config
    except Exception:  # no mosquitto: the embedded broker (MQTT 3.1.1)
        from groundstation.broker import EmbeddedBroker

        async with EmbeddedBroker() as b:
            yield b.config


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.sites: SiteSet = load_sites(args.sites)
        self.report = Report()

    async def run(self) -> Report:
        a, sites = self.args, self.sites
        t_wall0 = time.monotonic()
        times = arrivals(a.days, self.rng)
        base = free_udp_range(len(sites.docks))
        homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]
        model = FlightModel(
            cruise_speed_m_s=sites.cruise_speed_m_s,
            cruise_alt_rel_m=sites.cruise_alt_rel_m,
            on_scene_s=ON_SCENE_S,
        )
        config = ControllerConfig(
            site_set=sites, controller_id="ctl-soak", model=model, speedup=a.speedup
        )
        with tempfile.TemporaryDirectory(prefix="dfr-soak-") as tmp:
            async with (
                broker() as bcfg,
                SimFleet(homes, base_port=base, speedup=a.speedup, seed=a.seed) as sim,
                DockSimFleet(bcfg, sites, speedup=a.speedup, seed=a.seed) as docks,
                controller_running(
                    config, bcfg, base_port=base, journal_path=Path(tmp) / "journal.sqlite"
                ) as running,
                Bus(bcfg.with_login("cad", None), "soak-cad") as cad,
            ):
                ctl = running.controller
                await running.fleet.wait_all(30.0)
                await self._wait(lambda: all(rt.health.armable for rt in ctl.drones.values()), 60)
                await self._drive(ctl, sim, docks, cad, times)
                self._finish(ctl)
        self.report.wall_s = round(time.monotonic() - t_wall0, 1)
        return self.report

    async def _wait(self, pred: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not pred():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def _drive(
        self, ctl: Controller, sim: SimFleet, docks: DockSimFleet, cad: Bus, times: list[float]
    ) -> None:
        a, rng, rep = self.args, self.rng, self.report
        clock = 0.0  # the incident clock, simulated seconds
        last = time.monotonic()
        pending = list(times)
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            dt = (now - last) * a.speedup
            last = now
            clock += dt
            self._charge(ctl, sim, dt)
            idle = all(not rt.sortie.busy for rt in ctl.drones.values()) and not self._open(ctl)
            if pending and idle and pending[0] > clock:
                rep.skipped_quiet_s += pending[0] - clock
                clock = pending[0]
            while pending and pending[0] <= clock:
                pending.pop(0)
                await self._file(cad)
                self._maybe_fault(docks, rng)
            if not pending:
                break
        # Everything filed: let the fleet finish (bounded: four simulated hours).
        settle_s = 4 * 3600.0 / a.speedup
        t0 = time.monotonic()
        await self._wait(
            lambda: all(not rt.sortie.busy for rt in ctl.drones.values()) and not self._open(ctl),
            settle_s,
        )
        clock += (time.monotonic() - t0) * a.speedup
        rep.simulated_s = round(clock, 1)

    def _open(self, ctl: Controller) -> bool:
        done = (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED)
        return any(inc.status not in done for inc in ctl.incidents.values())

    def _charge(self, ctl: Controller, sim: SimFleet, dt_sim_s: float) -> None:
        """The docks' chargers: a drone sitting in its dock, disarmed, refills."""
        for dock in self.sites.docks:
            rt = ctl.drones[dock.drone_id]
            v = sim.vehicles[dock.fleet_index]
            if rt.sortie.phase in (c.Phase.DOCKED, c.Phase.CHARGING) and not v.state.armed:
                level = v.state.battery.remaining
                v.set_battery(min(1.0, level + CHARGE_PCT_PER_MIN / 100.0 * dt_sim_s / 60.0))

    async def _file(self, cad: Bus) -> None:
        site = self.rng.choice(self.sites.sites)
        bearing = self.rng.uniform(0, 2 * math.pi)
        dist = 3000.0 * math.sqrt(self.rng.random())
        p = offset(site.lat_deg, site.lon_deg, dist * math.cos(bearing), dist * math.sin(bearing))
        req = c.make_request(
            "incident_create",
            {"lat_deg": p.lat_deg, "lon_deg": p.lon_deg, "priority": self.rng.choice([1, 2, 2, 3])},
        )
        await cad.publish(c.operator_services("cad"), c.encode(req), qos=1)
        self.report.incidents += 1

    def _maybe_fault(self, docks: DockSimFleet, rng: random.Random) -> None:
        if rng.random() >= self.args.fault_rate:
            return
        kind = rng.choice(["stuck_cover", "rain"])
        dock = docks.docks[rng.choice(list(docks.docks))]
        if kind == "stuck_cover":
            dock.stick_cover()
        else:
            dock.set_weather(rainfall=3)
            loop = asyncio.get_running_loop()
            loop.call_later(600.0 / self.args.speedup, lambda: dock.set_weather(rainfall=0))
        self.report.faults_injected[kind] = self.report.faults_injected.get(kind, 0) + 1

    def _finish(self, ctl: Controller) -> None:
        rep = self.report
        tts: list[float] = []
        for inc in ctl.incidents.values():
            if inc.status == c.IncidentStatus.REJECTED:
                rep.refused += 1
            elif inc.status == c.IncidentStatus.CLOSED and inc.on_scene_ms is not None:
                rep.handled += 1
                tts.append((inc.on_scene_ms - inc.created_ms) / 1000.0 * self.args.speedup)
            elif inc.status != c.IncidentStatus.CLOSED:
                rep.lost += 1
        for rt in ctl.drones.values():
            if rt.sortie.phase == c.Phase.FAULT:
                rep.faulted_drones += 1
            elif rt.sortie.busy:
                rep.stuck += 1
        rep.time_to_scene_s = {"p50": percentile(tts, 0.5), "p90": percentile(tts, 0.9)}
        journal = {i.incident_id: i for i in ctl.journal.incidents()}
        sorties = {s.drone_id: s for s in ctl.journal.sorties()}
        rep.journal_consistent = (
            ctl.journal.integrity()
            and journal == ctl.incidents
            and all(ctl.drones[k].sortie == v for k, v in sorties.items())
        )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groundstation soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--days", type=float, default=1.0, help="simulated days of load")
    p.add_argument("--speedup", type=float, default=40.0, help="simulated time per wall second")
    p.add_argument("--sites", default="met-trial")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fault-rate", type=float, default=0.2, help="chance of a fault per incident")
    p.add_argument("--json", action="store_true", help="one JSON line")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    rep = asyncio.run(Soak(args).run())
    if args.json:
        keys = ("incidents", "handled", "refused", "lost", "stuck", "time_to_scene_s")
        out = {k: getattr(rep, k) for k in keys}
        out["journal_consistent"] = rep.journal_consistent
        out["details"] = {
            "faulted_drones": rep.faulted_drones,
            "faults_injected": rep.faults_injected,
            "simulated_s": rep.simulated_s,
            "skipped_quiet_s": round(rep.skipped_quiet_s, 1),
            "wall_s": rep.wall_s,
            "compressed": "quiet time between sorties skipped (see docs/reliability.md)",
        }
        print(json.dumps(out), flush=True)
    else:
        print(
            f"soak: {rep.incidents} incidents over {args.days:g} simulated days "
            f"({rep.skipped_quiet_s / 3600:.1f} h of quiet time skipped, {rep.wall_s:.0f} s wall)"
        )
        print(f"  handled {rep.handled}, refused {rep.refused}, lost {rep.lost}, stuck {rep.stuck}")
        print(f"  drones faulted (landed away): {rep.faulted_drones}; faults {rep.faults_injected}")
        print(
            f"  time to scene p50 {rep.time_to_scene_s.get('p50')} s, "
            f"p90 {rep.time_to_scene_s.get('p90')} s; journal consistent {rep.journal_consistent}"
        )
    return 0 if rep.lost == 0 and rep.stuck == 0 and rep.journal_consistent else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
