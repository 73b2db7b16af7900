"""``groundstation soak``: the Met's load, replayed in simulated time with random faults.

    groundstation soak --days 1 --speedup 100 [--seed 1] [--fault-rate 0.2] [--json]

The whole stack runs on loopback (mosquitto if installed, else the embedded broker; the simulator;
simulated docks; the controller with a journal in a temporary directory). A CAD client files
incidents at the Met's rate (about 200 a week over the sites' drones), at random points within
3 km of a random site. Faults are drawn at random, ``--fault-rate`` per incident: a dock cover that
sticks (repaired after half an hour), rain over the limit for ten minutes, a drone's radio cut
(4 s or 15 s of wall clock: PX4's and MAVSDK's link timers run on the wall clock, and 15 s is past
the vehicle's own data-link-loss timeout, so it flies home by itself), GPS lost in the air for
20 s (PX4 starts a blind landing; the drone may come down away from a dock: ``fault``, until a
crew carries it back onto its dock ``RECOVERY_S`` later and it is in service again).

Time is compressed twice, and the report says by how much:

1. While anything flies, everything runs ``--speedup`` times faster than the wall clock.
2. While nothing flies (every drone docked, charging or faulted, every filed call answered), the
   soak's clock jumps to its next event (an arrival, the end of a rain shower, a dock repair, a
   recovery); with an incident waiting (queued for rain, a stuck cover or battery) it jumps by at
   most ``QUEUED_STEP_S``, so the wait is counted to within that step. The docks' chargers are
   played by the soak (``CHARGE_PCT_PER_MIN`` in simulated time, jumps included). The docks' own
   weather drift runs on the wall clock, so it is pinned at the start; rain comes from the faults
   only.

The report: incidents filed, handled (on scene, then closed), refused (rejected at intake), lost
(everything else, including a call never answered: must be 0), stuck (drones neither in a dock,
charging nor in ``fault`` at the end: must be 0), time to scene (simulated seconds from filing to
on scene, skipped time included) and whether the journal agrees with the controller. ``--json``
prints it as one JSON line. The exit status is 1 unless lost and stuck are 0 and the journal agrees.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import math
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groundstation import contract as c
from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.bus import BrokerConfig, Bus
from groundstation.cli import configure_logging
from groundstation.cli.controller import controller_running
from groundstation.controller import Controller, ControllerConfig
from groundstation.core.dispatch import FlightModel
from groundstation.docksim import DockSimFleet
from missions.geo import offset
from missions.sites import SiteSet, load_sites
from sitl import Fault, Home, SimFleet

log = logging.getLogger(__name__)

INCIDENTS_PER_WEEK = 200.0
CHARGE_PCT_PER_MIN = 2.0
ON_SCENE_S = 120.0
TICK_WALL_S = 0.2
QUEUED_STEP_S = 60.0
"""Largest jump of the soak's clock while an incident waits (simulated seconds)."""
SETTLE_S = 4 * 3600.0
"""After the last arrival, how long (simulated) the fleet may take to finish."""
RAIN_S = 600.0
COVER_REPAIR_S = 1800.0
GPS_OUTAGE_S = 20.0
RECOVERY_S = 45 * 60.0
"""A drone that came down away from a dock is carried back onto it this long after (a crew
drives out to it), in simulated time; the controller then has it charging and back in service."""
RADIO_CUTS_WALL_S = (4.0, 15.0)
FAULT_KINDS = ("stuck_cover", "rain", "radio_cut", "gps_lost")


@dataclass
class Report:
    incidents: int = 0
    handled: int = 0
    refused: int = 0
    lost: int = 0
    stuck: int = 0
    faulted_drones: int = 0
    recovered_drones: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    time_to_scene_s: dict[str, float | None] = field(default_factory=dict)
    journal_consistent: bool = False
    simulated_s: float = 0.0
    flying_s: float = 0.0
    skipped_quiet_s: float = 0.0
    wall_s: float = 0.0
    lost_ids: list[str] = field(default_factory=list)
    stuck_ids: list[str] = field(default_factory=list)


@dataclass(order=True)
class _Due:
    """Something the soak's world does at a simulated time (a shower ends, a dock is mended)."""

    at_s: float
    seq: int
    act: Callable[[], None] = field(compare=False)


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
        from groundstation.adapters.broker import Mosquitto, mosquitto_binary

        mosquitto_binary()
        async with Mosquitto(persistence=False) as m:
            yield m.config
    except Exception:  # no mosquitto: the embedded broker (MQTT 3.1.1)
        from groundstation.adapters.broker import EmbeddedBroker

        async with EmbeddedBroker() as b:
            yield b.config


class Radios:
    """Every simulated vehicle's radio, which the soak can cut (nothing either way) and mend."""

    def __init__(self, sim: SimFleet) -> None:
        self.cut: set[int] = set()
        for i, ep in enumerate(sim.endpoints):
            self._wrap(i, ep)

    def _wrap(self, i: int, ep: Any) -> None:
        recv, send = ep.datagram_received, ep.send

        def datagram_received(data: bytes, addr: tuple[str, int]) -> None:
            if i not in self.cut:
                recv(data, addr)

        def send_unless_cut(msgs: Any, to: Any = None) -> None:
            if i not in self.cut:
                send(msgs, to)

        ep.datagram_received = datagram_received
        ep.send = send_unless_cut


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.sites: SiteSet = load_sites(args.sites)
        self.report = Report()
        self.clock_s = 0.0  # the soak's simulated clock
        self.skips: list[tuple[int, float]] = []  # (wall ms, simulated s skipped)
        self.world: list[_Due] = []
        self._seq = itertools.count()
        self.filed: dict[str, float] = {}  # tid -> simulated filing time
        self.answers: dict[str, c.Reply] = {}
        self._recovering: set[str] = set()

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
                for dock in docks.docks.values():
                    dock.set_weather(rainfall=0)  # wall-clock drift pinned: rain is a fault
                await cad.subscribe(c.operator_services_reply("cad"), 1)
                reader = asyncio.create_task(self._answers(cad), name="soak:answers")
                try:
                    await running.fleet.wait_all(30.0)
                    await self._wait(lambda: all(
                        rt.adopted and rt.health.armable and rt.health.link_ok
                        and rt.health.dock_ok for rt in ctl.drones.values()), 60)
                    await self._drive(ctl, sim, docks, cad, times)
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
                self._finish(ctl)
        self.report.wall_s = round(time.monotonic() - t_wall0, 1)
        return self.report

    async def _answers(self, cad: Bus) -> None:
        async for msg in cad.messages():
            with contextlib.suppress(c.ContractError):
                reply = c.decode(msg.payload, c.Reply)
                self.answers.setdefault(reply.tid, reply)

    async def _wait(self, pred: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not pred():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    # --- the clock ------------------------------------------------------------------------------

    def _flying(self, ctl: Controller) -> bool:
        """A drone on a sortie (a drone in ``fault`` sits where it came down: not flying)."""
        return any(rt.sortie.busy and rt.sortie.phase != c.Phase.FAULT
                   for rt in ctl.drones.values())

    def _open(self, ctl: Controller) -> bool:
        done = (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED)
        return any(inc.status not in done for inc in ctl.incidents.values())

    def _advance(self, ctl: Controller, sim: SimFleet, dt_s: float) -> None:
        """Move the soak's clock on by ``dt_s`` simulated seconds: chargers, then due events."""
        self.clock_s += dt_s
        self._charge(ctl, sim, dt_s)
        while self.world and self.world[0].at_s <= self.clock_s:
            heapq.heappop(self.world).act()

    def _later(self, delay_s: float, act: Callable[[], None]) -> None:
        heapq.heappush(self.world, _Due(self.clock_s + delay_s, next(self._seq), act))

    async def _drive(
        self, ctl: Controller, sim: SimFleet, docks: DockSimFleet, cad: Bus, times: list[float]
    ) -> None:
        a, rep = self.args, self.report
        end_s = a.days * 86400.0
        pending = list(times)
        radios = Radios(sim)
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_WALL_S)
            now = time.monotonic()
            dt = (now - last) * a.speedup
            last = now
            if self._flying(ctl):
                rep.flying_s += dt
            self._advance(ctl, sim, dt)
            self._recover(ctl, sim)
            while pending and pending[0] <= self.clock_s:
                pending.pop(0)
                await self._file(cad)
                self._maybe_fault(ctl, sim, docks, radios)
            answered = all(tid in self.answers for tid in self.filed)
            quiet = answered and not self._flying(ctl) and not radios.cut
            if not pending and quiet and not self._open(ctl) and self.clock_s >= end_s:
                break
            if self.clock_s >= end_s + SETTLE_S:
                log.warning("soak: the fleet did not settle within %.0f s", SETTLE_S)
                break
            if quiet:
                nexts = [end_s + SETTLE_S if self._open(ctl) else end_s]
                nexts += pending[:1] + [d.at_s for d in self.world[:1]]
                target = min(nexts)
                if self._open(ctl):
                    target = min(target, self.clock_s + QUEUED_STEP_S)
                if target > self.clock_s:
                    skip = target - self.clock_s
                    rep.skipped_quiet_s += skip
                    self.skips.append((c.now_ms(), skip))
                    self._advance(ctl, sim, skip)
        rep.simulated_s = round(self.clock_s, 1)

    def _charge(self, ctl: Controller, sim: SimFleet, dt_sim_s: float) -> None:
        """The docks' chargers: a drone sitting in its dock, disarmed, refills."""
        for dock in self.sites.docks:
            rt = ctl.drones[dock.drone_id]
            v = sim.vehicles[dock.fleet_index]
            if rt.sortie.phase in (c.Phase.DOCKED, c.Phase.CHARGING) and not v.state.armed:
                level = v.state.battery.remaining
                v.set_battery(min(1.0, level + CHARGE_PCT_PER_MIN / 100.0 * dt_sim_s / 60.0))

    def _recover(self, ctl: Controller, sim: SimFleet) -> None:
        """A drone down away from a dock is fetched by a crew and put back onto its dock."""
        for dock in self.sites.docks:
            drone_id, v = dock.drone_id, sim.vehicles[dock.fleet_index]
            if ctl.drones[drone_id].sortie.phase != c.Phase.FAULT or drone_id in self._recovering:
                continue
            if v.state.armed or v.state.in_air:
                continue
            self._recovering.add(drone_id)

            def carry(d: Any = dock, veh: Any = v) -> None:
                self._recovering.discard(d.drone_id)
                if not veh.state.armed and not veh.state.in_air:
                    veh.carry_to(d.lat_deg, d.lon_deg)
                    self.report.recovered_drones += 1

            self._later(RECOVERY_S, carry)

    # --- load and faults ------------------------------------------------------------------------

    async def _file(self, cad: Bus) -> None:
        site = self.rng.choice(self.sites.sites)
        bearing = self.rng.uniform(0, 2 * math.pi)
        dist = 3000.0 * math.sqrt(self.rng.random())
        p = offset(site.lat_deg, site.lon_deg, dist * math.cos(bearing), dist * math.sin(bearing))
        req = c.make_request(
            "incident_create",
            {"lat_deg": p.lat_deg, "lon_deg": p.lon_deg, "priority": self.rng.choice([1, 2, 2, 3])},
        )
        self.filed[req.tid] = self.clock_s
        self.report.incidents += 1
        await cad.publish(c.operator_services("cad"), c.encode(req), qos=1)

    def _maybe_fault(
        self, ctl: Controller, sim: SimFleet, docks: DockSimFleet, radios: Radios
    ) -> None:
        rng = self.rng
        if rng.random() >= self.args.fault_rate:
            return
        kind = rng.choice(FAULT_KINDS)
        dock = docks.docks[rng.choice(list(docks.docks))]
        if kind == "stuck_cover":
            dock.stick_cover()

            def mend() -> None:  # a technician resets the dock
                dock.stick_cover(False)
                dock.clear_fault()

            self._later(COVER_REPAIR_S, mend)
        elif kind == "rain":
            dock.set_weather(rainfall=3)
            self._later(RAIN_S, lambda: dock.set_weather(rainfall=0))
        else:
            # In the air, a few minutes after this incident was filed: whoever is flying then.
            self._later(rng.uniform(60.0, 300.0), lambda: self._air_fault(kind, ctl, sim, radios))
            return
        self._count(kind)

    def _air_fault(self, kind: str, ctl: Controller, sim: SimFleet, radios: Radios) -> None:
        flying = [d for d in self.sites.docks if ctl.drones[d.drone_id].sortie.airborne]
        if not flying:
            return
        i = self.rng.choice(flying).fleet_index
        if kind == "radio_cut":
            if i in radios.cut:
                return
            radios.cut.add(i)
            wall_s = self.rng.choice(RADIO_CUTS_WALL_S)
            asyncio.get_running_loop().call_later(wall_s, radios.cut.discard, i)
        else:
            v = sim.vehicles[i]
            v.inject(Fault.GPS)
            self._later(GPS_OUTAGE_S, lambda: v.inject(Fault.GPS, on=False))
        self._count(kind)

    def _count(self, kind: str) -> None:
        self.report.faults_injected[kind] = self.report.faults_injected.get(kind, 0) + 1

    # --- the report -----------------------------------------------------------------------------

    def _skipped_between(self, t0_ms: int, t1_ms: int) -> float:
        return sum(s for at, s in self.skips if t0_ms <= at < t1_ms)

    def _finish(self, ctl: Controller) -> None:
        """Every filed call ends counted once: handled, refused or lost."""
        rep, speedup = self.report, self.args.speedup
        tts: list[float] = []
        for tid in self.filed:
            reply = self.answers.get(tid)
            if reply is not None and reply.data.result != c.Result.OK:
                rep.refused += 1
                continue
            incident_id = reply.data.output.get("incident_id") if reply is not None else None
            inc = ctl.incidents.get(incident_id or "")
            if inc is None:
                rep.lost += 1
                rep.lost_ids.append(f"{tid}: never answered")
            elif inc.status == c.IncidentStatus.REJECTED:
                rep.refused += 1
            elif inc.status == c.IncidentStatus.CLOSED and inc.on_scene_ms is not None:
                rep.handled += 1
                wall = (inc.on_scene_ms - inc.created_ms) / 1000.0 * speedup
                tts.append(wall + self._skipped_between(inc.created_ms, inc.on_scene_ms))
            else:
                rep.lost += 1
                rep.lost_ids.append(f"{inc.incident_id}: {inc.status} {inc.reason}")
        for rt in ctl.drones.values():
            if rt.sortie.phase == c.Phase.FAULT:
                rep.faulted_drones += 1
            elif rt.sortie.busy:
                rep.stuck += 1
                rep.stuck_ids.append(f"{rt.sortie.drone_id}: {rt.sortie.phase} {rt.sortie.reason}")
        rep.time_to_scene_s = {"p50": percentile(tts, 0.5), "p90": percentile(tts, 0.9)}
        journal = {i.incident_id: i for i in ctl.journal.incidents()}
        sorties = {s.drone_id: s for s in ctl.journal.sorties()}
        rep.journal_consistent = (
            ctl.journal.integrity()
            and journal == ctl.incidents
            and all(ctl.drones[k].sortie == v for k, v in sorties.items())
        )


def summary(rep: Report, args: argparse.Namespace) -> dict[str, Any]:
    """The one JSON line of ``--json``."""
    keys = ("incidents", "handled", "refused", "lost", "stuck", "time_to_scene_s")
    out: dict[str, Any] = {k: getattr(rep, k) for k in keys}
    out["journal_consistent"] = rep.journal_consistent
    out["details"] = {
        "faulted_drones": rep.faulted_drones,
        "recovered_drones": rep.recovered_drones,
        "faults_injected": rep.faults_injected,
        "lost": rep.lost_ids,
        "stuck": rep.stuck_ids,
        "simulated_s": rep.simulated_s,
        "flying_s": round(rep.flying_s, 1),
        "skipped_quiet_s": round(rep.skipped_quiet_s, 1),
        "wall_s": rep.wall_s,
        "compressed": (
            f"{rep.simulated_s / max(rep.wall_s, 1e-9):.0f}x overall: speedup {args.speedup:g} "
            "while anything flies, quiet time skipped (see docs/reliability.md)"
        ),
    }
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="groundstation soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--days", type=float, default=1.0, help="simulated days of load")
    p.add_argument(
        "--speedup", type=float, default=100.0, help="simulated seconds per wall second in flight"
    )
    p.add_argument("--sites", default="met-trial")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fault-rate", type=float, default=0.2, help="chance of a fault per incident")
    p.add_argument("--json", action="store_true", help="one JSON line")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.INFO if args.verbose else logging.ERROR)
    rep = asyncio.run(Soak(args).run())
    if args.json:
        print(json.dumps(summary(rep, args)), flush=True)
    else:
        print(
            f"soak: {rep.incidents} incidents over {rep.simulated_s / 86400:.2f} simulated days "
            f"in {rep.wall_s:.0f} s wall ({rep.flying_s / 3600:.1f} h with something flying at "
            f"speedup {args.speedup:g}, {rep.skipped_quiet_s / 3600:.1f} h of quiet time skipped)"
        )
        print(f"  handled {rep.handled}, refused {rep.refused}, lost {rep.lost}, stuck {rep.stuck}")
        for why in rep.lost_ids:
            print(f"    lost {why}")
        print(
            f"  drones down away from a dock at the end: {rep.faulted_drones}, carried back "
            f"meanwhile: {rep.recovered_drones}; faults {rep.faults_injected}"
        )
        print(
            f"  time to scene p50 {rep.time_to_scene_s.get('p50')} s, "
            f"p90 {rep.time_to_scene_s.get('p90')} s; journal consistent {rep.journal_consistent}"
        )
    return 0 if rep.lost == 0 and rep.stuck == 0 and rep.journal_consistent else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
