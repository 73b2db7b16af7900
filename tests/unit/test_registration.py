"""Adding a dock to a running controller (groundstation.control.registration): the rules of
``dock_register`` one by one, the request through the controller's real services path (a
controller with a recording bus, as the fuzz tests use), the site-set file it writes, and the
SIGHUP reload of that file. The lab test (tests/e2e/test_lab.py) flies from a registered dock."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.adapters.docks import DockLink
from groundstation.control.registration import DockRegistry, check
from groundstation.errors import Refused
from groundstation.tools.sitesfile import check as check_file
from groundstation.users import DEMO_USERS
from missions.airspace import Airspace, Zone
from missions.geo import offset
from missions.sites import load_sites, parse_sites
from tests.fuzz.fuzz_helpers import RecordingBus, make_controller

pytestmark = pytest.mark.unit

SITES = load_sites("met-trial")
ISL = SITES.sites[0]
NORTH = offset(ISL.lat_deg, ISL.lon_deg, 30.0, 0.0)
GOOD: dict[str, Any] = {"dock_id": "acme-7", "site_id": "islington",
                        "lat_deg": round(NORTH.lat_deg, 7), "lon_deg": round(NORTH.lon_deg, 7),
                        "alt_amsl_m": 52.0}


def req(**over: Any) -> c.DockRegister:
    return c.DockRegister(**{**GOOD, **over})


def test_a_good_registration_adds_the_dock_after_every_other() -> None:
    reg = check(SITES, req(), caller="acme-7", role=c.Role.DOCK, airspace=None)
    assert reg.new
    d = reg.dock
    n = len(SITES.docks)
    assert (d.drone_id, d.site_id, d.fleet_index, d.system_id) == ("uav-acme-7", "islington", n,
                                                                   n + 1)
    assert reg.site_set.dock("acme-7") == d and len(reg.site_set.docks) == n + 1
    again = check(reg.site_set, req(), caller="acme-7", role=c.Role.DOCK, airspace=None)
    assert not again.new and again.dock == d


ZONE = offset(ISL.lat_deg, ISL.lon_deg, -100.0, 0.0)


@pytest.mark.parametrize(("over", "caller", "role", "result", "reason"), [
    ({}, "acme-8", c.Role.DOCK, c.Result.FORBIDDEN, "registers itself only"),
    ({"site_id": "nowhere"}, "acme-7", c.Role.DOCK, c.Result.MALFORMED, "unknown site 'nowhere'"),
    ({"dock_id": "islington-1"}, "pilot", c.Role.OPERATOR, c.Result.DUPLICATE,
     "registered already"),
    ({"drone_id": "uav-islington-1"}, "acme-7", c.Role.DOCK, c.Result.DUPLICATE,
     "already lives in another dock"),
    ({"system_id": 1}, "acme-7", c.Role.DOCK, c.Result.DUPLICATE, "system id 1 is taken"),
    ({"lat_deg": 51.55}, "acme-7", c.Role.DOCK, c.Result.OUT_OF_RANGE, "m from site islington"),
    ({"lat_deg": round(ZONE.lat_deg, 7)}, "acme-7", c.Role.DOCK, c.Result.AIRSPACE,
     "restricted airspace: "),
    ({"mavlink_url": "http://drone:80"}, "acme-7", c.Role.DOCK, c.Result.MALFORMED, "udpin://"),
])
def test_bad_registrations_are_refused_with_the_reason(
    over: dict[str, Any], caller: str, role: c.Role, result: c.Result, reason: str
) -> None:
    airspace = Airspace.load_default().with_zones([Zone.circle("Test zone", ZONE.lat_deg,
                                                               ZONE.lon_deg, 40.0)])
    with pytest.raises(Refused) as err:
        check(SITES, req(**over), caller=caller, role=role, airspace=airspace)
    assert err.value.result == result and reason in err.value.reason, err.value.reason


class GrowingFleet:
    """The controller's FleetGrowth, recording what it was asked to listen for."""

    def __init__(self) -> None:
        self.added: list[tuple[str, int, str]] = []

    async def add_drone(self, drone_id: str, system_id: int, url: str) -> None:
        self.added.append((drone_id, system_id, url))


def site_file(tmp_path: Path) -> Path:
    path = tmp_path / "sites.json"
    path.write_text(json.dumps({"name": "t", "sites": [
        {"site_id": s.site_id, "lat_deg": s.lat_deg, "lon_deg": s.lon_deg,
         "roof_alt_amsl_m": s.roof_alt_amsl_m, "docks": len(s.docks)} for s in SITES.sites]}))
    assert parse_sites(json.loads(path.read_text())).docks == SITES.docks
    return path


def replies(bus: RecordingBus, user: str) -> list[c.Reply]:
    return [c.decode(p, c.Reply) for t, p in bus.sent if t == c.operator_services_reply(user)]


async def test_dock_register_over_the_services_path_then_the_site_file_keeps_it(
    tmp_path: Path,
) -> None:
    ctl, bus = make_controller()
    ctl.config = replace(ctl.config, roles={**DEMO_USERS, "acme-7": c.Role.DOCK,
                                            "acme-8": c.Role.DOCK})
    fleet = GrowingFleet()
    path = site_file(tmp_path)
    link = ctl.docks
    assert isinstance(link, DockLink)  # make_controller's real dock link (DockAnnouncer too)
    ctl.registry = DockRegistry(ctl, fleet=fleet, docks=link, base_port=20000, sites_path=path)

    async def call(user: str, data: dict[str, Any]) -> c.Reply:
        await ctl.services.handle(user, c.encode(c.make_request("dock_register", data)))
        return replies(bus, user)[-1]

    # Refused: a CAD login, a login with no role, a dock for another id. Nothing changes.
    for user, data, why in (("cad", GOOD, "role cad may not call dock_register"),
                            ("mallory", GOOD, "'mallory' has no role"),
                            ("acme-8", GOOD, "registers itself only")):
        reply = await call(user, data)
        assert reply.data.result == c.Result.FORBIDDEN and why in reply.data.output["reason"]
    assert "uav-acme-7" not in ctl.drones and fleet.added == []

    reply = await call("acme-7", GOOD)
    n = len(SITES.docks)
    assert reply.data.result == c.Result.OK, reply
    assert reply.data.output == {"dock_id": "acme-7", "drone_id": "uav-acme-7",
                                 "site_id": "islington", "system_id": n + 1,
                                 "mavlink_url": f"udpin://0.0.0.0:{20000 + n}",
                                 "registered": True, "persisted": True}
    assert fleet.added == [("uav-acme-7", n + 1, f"udpin://0.0.0.0:{20000 + n}")]
    assert ctl.drones["uav-acme-7"].sortie.phase == c.Phase.DOCKED
    assert ctl.drones["uav-acme-7"].sortie.dock_id == "acme-7"
    assert link.view("acme-7") is not None  # heard from now on
    assert ctl.video.drones.get("uav-acme-7") is not None
    # The file has it after the sites: a restart rebuilds the same dock, the others unmoved.
    kept = check_file(path)
    assert kept.docks == ctl.config.site_set.docks
    assert json.loads(path.read_text())["registered_docks"][0]["dock_id"] == "acme-7"
    # The same registration again (a dock rebooted) is answered and changes nothing.
    again = await call("acme-7", GOOD)
    assert again.data.result == c.Result.OK and again.data.output["registered"] is False
    assert len(fleet.added) == 1
    moved = await call("acme-7", {**GOOD, "alt_amsl_m": 60.0})
    assert moved.data.result == c.Result.DUPLICATE
    # Every answer, refusals included, is in the journal with who asked.
    rows = [r for r in ctl.journal.commands() if r.method == "dock_register"]
    assert [(r.who, r.result) for r in rows][-2:] == [("acme-7", 0), ("acme-7", 14)]

    # SIGHUP: a dock added to the file by hand is added live; a removed one is not.
    raw = json.loads(path.read_text())
    raw["registered_docks"].append({"site_id": "west-end", "dock_id": "hand-1",
                                    "system_id": 40, "mavlink_url": "udpin://0.0.0.0:20100"})
    raw["sites"][2]["docks"] = 2  # hyde-park-3 removed
    path.write_text(json.dumps(raw))
    notes = await ctl.registry.reload()
    assert ctl.drones["uav-hand-1"].sortie.dock_id == "hand-1"
    assert fleet.added[-1] == ("uav-hand-1", 40, "udpin://0.0.0.0:20100")
    assert any("hyde-park-3 is gone" in n and "restart" in n for n in notes), notes
    assert "uav-hyde-park-3" in ctl.drones
