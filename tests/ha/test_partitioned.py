"""Partitioned controllers: two controllers on one mosquitto, the Met trial split 2 + 1 sites;
every incident is served once, by the least ETA across both (offers and a deterministic award)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import BrokerConfig, Bus, Will
from groundstation.adapters.journal import Journal
from groundstation.control.partition import Partition, PartitionConfig, award
from groundstation.controller import Controller, ControllerConfig
from groundstation.core.dispatch import Candidate, FlightModel, choose
from missions.airspace import Airspace
from missions.sites import SiteSet, load_sites, parse_sites
from tests.controller.conftest import until
from tests.ha.conftest import Watcher, watcher
from tests.ha.ha_fakes import FakeFleet

pytestmark = pytest.mark.integration

AIRSPACE = Airspace.load_default()


def subset(site_ids: tuple[str, ...]) -> SiteSet:
    full = load_sites("met-trial")
    raw = msgspec.json.decode(msgspec.json.encode({
        "name": "-".join(site_ids), "cruise_alt_rel_m": full.cruise_alt_rel_m,
        "cruise_speed_m_s": full.cruise_speed_m_s,
        "sites": [{"site_id": s.site_id, "lat_deg": s.lat_deg, "lon_deg": s.lon_deg,
                   "roof_alt_amsl_m": s.roof_alt_amsl_m, "docks": len(s.docks)}
                  for s in full.sites if s.site_id in site_ids]}))
    return parse_sites(raw)


def model(sites: SiteSet) -> FlightModel:
    return FlightModel(cruise_speed_m_s=sites.cruise_speed_m_s,
                       cruise_alt_rel_m=sites.cruise_alt_rel_m, on_scene_s=5.0)


@contextlib.asynccontextmanager
async def partitioned(broker: BrokerConfig, cid: str, sites: SiteSet,
                      journal: Path) -> AsyncIterator[Controller]:
    will = Will(c.controller_status(cid),
                c.encode(c.ControllerStatus(controller_id=cid, status="offline")))
    j = Journal(journal, controller_id=cid)
    async with Bus(broker, f"controller-{cid}", will=will) as bus:
        config = ControllerConfig(site_set=sites, controller_id=cid, model=model(sites),
                                  speedup=10.0, tick_hz=20.0)
        ctl = Controller(config, fleet=FakeFleet(sites), bus=bus, journal=j, airspace=AIRSPACE)
        ctl.partition = Partition(ctl, PartitionConfig())
        task = asyncio.create_task(ctl.run())
        try:
            yield ctl
        finally:
            await ctl.shutdown()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    j.close()


def expected_drone(lat: float, lon: float, everyone: SiteSet) -> tuple[str, float]:
    """The oracle: the dispatcher run over the whole force at once, every drone docked."""
    cands = [Candidate(drone_id=d.drone_id, dock_id=d.dock_id, lat_deg=d.lat_deg,
                       lon_deg=d.lon_deg, dock_lat_deg=d.lat_deg, dock_lon_deg=d.lon_deg,
                       battery_pct=100.0, connected=True, gps_ok=True, satellites=14,
                       armable=True, dock_reason=None) for d in everyone.docks]
    choice = choose(lat, lon, 2, cands, model(everyone), AIRSPACE).choice
    assert choice is not None
    return choice.drone_id, choice.eta_s


def incident_points(n: int) -> list[tuple[float, float]]:
    rng = random.Random(7)
    out: list[tuple[float, float]] = []
    while len(out) < n:
        lat, lon = rng.uniform(51.495, 51.545), rng.uniform(-0.19, -0.09)
        if AIRSPACE.check_point(lat, lon) is None:
            out.append((lat, lon))
    return out


def all_docked(op: Watcher, drones: list[str]) -> bool:
    return all((st := op.states.get(d)) is not None and st.phase == c.Phase.DOCKED
               and st.health.armable and st.health.link_ok for d in drones)


def test_the_award_is_the_least_eta_with_ties_to_the_least_controller() -> None:
    def offer(cid: str, eta: float | None) -> c.Offer:
        return c.Offer(incident_id="i", controller_id=cid, eta_s=eta, lat_deg=51.5,
                       lon_deg=-0.1)

    assert award([offer("b", 50.0), offer("a", 60.0)]).controller_id == "b"  # type: ignore[union-attr]
    assert award([offer("b", 50.0), offer("a", 50.0)]).controller_id == "a"  # type: ignore[union-attr]
    assert award([offer("a", None), offer("b", None)]) is None


async def test_twenty_incidents_each_served_once_by_the_least_eta_across_partitions(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    north_east, west = subset(("islington", "west-end")), subset(("hyde-park",))
    everyone = load_sites("met-trial")
    drones = [d.drone_id for d in everyone.docks]
    owner = {d.drone_id: "ctl-1" for d in north_east.docks} | {
        d.drone_id: "ctl-2" for d in west.docks}
    broker = mosquitto.config
    async with (
        partitioned(broker, "ctl-1", north_east, tmp_path / "ctl-1.sqlite"),
        partitioned(broker, "ctl-2", west, tmp_path / "ctl-2.sqlite"),
        watcher(broker) as op,
    ):
        await until(lambda: all_docked(op, drones), 15.0, "nine drones docked and healthy")
        served_by = set()
        for n, (lat, lon) in enumerate(incident_points(20)):
            want, eta = expected_drone(lat, lon, everyone)
            reply = await op.call("incident_create", {"lat_deg": lat, "lon_deg": lon,
                                                      "summary": f"#{n}"})
            assert reply.data.result == 0, reply.data.output
            iid = reply.data.output["incident_id"]
            assert reply.data.output["assigned_drone"] == want, (n, lat, lon, want, eta)
            assert {o.controller_id for o in op.offers[iid]} == {"ctl-1", "ctl-2"}
            served_by.add(owner[want])
            await until(lambda iid=iid: op.incidents.get(iid, [None])[-1] is not None
                        and op.incidents[iid][-1].status == c.IncidentStatus.CLOSED,
                        10.0, f"incident #{n} closed")
            await until(lambda: all_docked(op, drones), 10.0, "every drone back")
        assert served_by == {"ctl-1", "ctl-2"}, "both partitions won some"
    launches: dict[str, int] = {}
    for j in ("ctl-1", "ctl-2"):
        db = sqlite3.connect(tmp_path / f"{j}.sqlite")
        for (iid,) in db.execute("SELECT incident_id FROM phases WHERE phase = 'preflight'"):
            launches[iid] = launches.get(iid, 0) + 1
        db.close()
    assert len(launches) == 20
    assert set(launches.values()) == {1}, "each incident launched exactly once"
    for iid, history in op.incidents.items():
        dispatched = [h for h in history if h.status == c.IncidentStatus.DISPATCHED]
        assert len({h.assigned_drone for h in dispatched}) == 1, iid


async def test_a_dead_partition_only_takes_its_own_drones_away(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    north_east, west = subset(("islington", "west-end")), subset(("hyde-park",))
    broker = mosquitto.config
    hyde_park = (51.5080, -0.1700)  # next to the Hyde Park site: ctl-2's if it were up
    async with (
        partitioned(broker, "ctl-1", north_east, tmp_path / "ctl-1.sqlite"),
        watcher(broker) as op,
    ):
        async with partitioned(broker, "ctl-2", west, tmp_path / "ctl-2.sqlite"):
            await until(lambda: op.role("ctl-2") == "active", 5.0, "ctl-2 up")
        await until(lambda: op.role("ctl-2") is None, 5.0, "ctl-2 offline")
        await until(lambda: all_docked(op, [d.drone_id for d in north_east.docks]), 10.0,
                    "ctl-1's drones ready")
        reply = await op.call("incident_create", {"lat_deg": hyde_park[0],
                                                  "lon_deg": hyde_park[1]})
        assert reply.data.result == 0, reply.data.output
        iid = reply.data.output["incident_id"]
        assert reply.data.output["assigned_drone"].startswith("uav-west-end")
        assert {o.controller_id for o in op.offers[iid]} == {"ctl-1"}
