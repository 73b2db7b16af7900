"""``groundstation lab``: one command, the whole stack, no incidents, until stopped. A CAD client
and a dock written from the guides alone (tests/thirdparty) use the logins it prints; the dock,
given only a login (``--new-dock``), registers itself with the guide's own ``dock_register``
example, the lab simulates its drone, and the CAD's incident is flown from it and back."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from groundstation.adapters.broker import free_port
from missions.geo import offset
from tests.contract.test_guides import examples
from tests.controller.conftest import until
from tests.thirdparty.guide_cad import GuideCad
from tests.thirdparty.test_thirdparty_dock import GuideDock

pytestmark = pytest.mark.e2e

# The dock guide's Islington site, one simulated dock.
SITE_LAT_DEG, SITE_LON_DEG = 51.53393, -0.10874
SITES = {"name": "lab-test", "cruise_alt_rel_m": 40.0, "cruise_speed_m_s": 12.0,
         "sites": [{"site_id": "islington", "lat_deg": SITE_LAT_DEG, "lon_deg": SITE_LON_DEG,
                    "roof_alt_amsl_m": 52.0, "docks": 1}]}
NEW = "acme-7"


def logins(output: str) -> dict[str, tuple[str, str]]:
    return {kind: (user, pw) for kind, user, pw in
            re.findall(r"^lab: login (\w+) +(\S+) / (\S+)", output, flags=re.M)}


def guide_registration() -> dict[str, Any]:
    """The data of the dock guide's dock_register example (section 10.2)."""
    data: dict[str, Any] = next(
        raw["data"] for raw in map(json.loads, examples("dock-integration.md"))
        if raw.get("method") == "dock_register" and "dock_id" in raw.get("data", {}))
    return data


async def test_the_lab_runs_until_stopped_and_a_guide_dock_adds_itself_and_flies(
    tmp_path: Path, procs: Callable[..., Any]
) -> None:
    sites = tmp_path / "sites.json"
    sites.write_text(json.dumps(SITES))
    port = free_port()
    lab = await procs("lab", "-m", "groundstation", "lab", "--sites", str(sites),
                      "--port", str(port), "--speedup", "10", "--on-scene", "20",
                      "--new-dock", NEW, "--workdir", str(tmp_path / "lab"))
    await lab.wait_for_output("no incidents; Ctrl-C stops", 90)
    out = lab.output()
    assert f"lab: broker mqtt://127.0.0.1:{port}" in out
    assert "lab: site islington 51.533930,-0.108740 roof 52.0 m AMSL" in out
    found = logins(out)
    assert set(found) == {"cad", "pilot", "dock"}
    assert found["dock"] == (NEW, f"{NEW}-lab")
    users = json.loads((tmp_path / "lab" / "users.json").read_text())
    assert {u["username"]: u["role"] for u in users["users"]}["cad1"] == "cad"
    await asyncio.sleep(3.0)
    assert lab.proc is not None and lab.proc.returncode is None, "it keeps running"

    cad = GuideCad("127.0.0.1", port, *found["cad"])
    dock = GuideDock("127.0.0.1", port, *found["dock"])
    dock.wind_m_s = 0.0  # calm: the ETA from it is the least whatever the simulated docks' wind
    stranger = GuideCad("127.0.0.1", port, "mallory", "guess")
    try:
        assert await asyncio.to_thread(cad.connect)
        assert not await asyncio.to_thread(stranger.connect)
        await asyncio.to_thread(dock.start)
        data = guide_registration()
        assert data["dock_id"] == NEW
        where = {k: v for k, v in data.items() if k != "dock_id"}
        # Bad input first: refused with the reason, and the lab keeps running.
        bad = await asyncio.to_thread(dock.register, **{**where, "site_id": "nowhere"})
        assert bad["data"]["result"] == 1, bad
        assert "unknown site 'nowhere'" in bad["data"]["output"]["reason"]
        # The guide's own example, as written.
        reply = await asyncio.to_thread(dock.register, **where)
        assert reply["data"]["result"] == 0, reply
        out = reply["data"]["output"]
        assert (out["drone_id"], out["registered"], out["persisted"]) == (f"uav-{NEW}", True, True)
        kept = json.loads((tmp_path / "lab" / "sites.json").read_text())["registered_docks"]
        assert [d["dock_id"] for d in kept] == [NEW]
        await lab.wait_for_output(f"lab: dock {NEW} registered: simulating uav-{NEW}", 20)
        await until(lambda: dock.drone_id == f"uav-{NEW}", 10.0, "the dock told its drone")
        await until(lambda: dock.telemetry_seen > 0, 20.0, "the new drone's telemetry")
        await asyncio.sleep(4.0)  # the controller watches a new drone 2.5 s before using it
        # 600 m north of the new dock (it stands 30 m north of the site): its drone is nearest.
        north = offset(SITE_LAT_DEG, SITE_LON_DEG, 630.0, 0.0)
        created = await asyncio.to_thread(cad.call, "incident_create", {
            "lat_deg": round(north.lat_deg, 6), "lon_deg": round(north.lon_deg, 6),
            "summary": "lab"})
        assert created["data"]["result"] == 0, created
        assert created["data"]["output"]["assigned_drone"] == f"uav-{NEW}", created
        incident_id = created["data"]["output"]["incident_id"]
        # Flown from the registered dock and back: the guide's sequence (section 7).
        await until(lambda: dock.drone_in_air, 30.0, "the drone in the air")
        await until(lambda: (cad.incidents.get(incident_id) or {}).get("status") == "closed",
                    90.0, "the incident served and closed")
        await until(lambda: dock.methods == ["cover_open", "cover_close"] * 2 and dock.cover == 0
                    and dock.job is None and not dock.drone_in_air, 60.0, "back in the dock")
    finally:
        for client in (cad, stranger):
            await asyncio.to_thread(client.close)
        await asyncio.to_thread(dock.close)
    assert await lab.stop(signal.SIGINT) == 0
