"""``groundstation lab``: one command, the whole stack, no incidents, until stopped. A CAD client
and a dock written from the guides alone (tests/thirdparty) use the logins it prints; the dock is
added as the integrator's own (``--own-dock``) and the controller launches from it."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from groundstation.broker import free_port
from missions.geo import offset
from tests.controller.conftest import until
from tests.thirdparty.guide_cad import GuideCad
from tests.thirdparty.test_thirdparty_dock import GuideDock

pytestmark = pytest.mark.e2e

SITES = {"name": "lab-test", "cruise_alt_rel_m": 40.0, "cruise_speed_m_s": 12.0,
         "sites": [{"site_id": "west-end", "lat_deg": 51.50951, "lon_deg": -0.12517,
                    "roof_alt_amsl_m": 38.0, "docks": 1}]}
OWN = "acme-7"


def logins(output: str) -> dict[str, tuple[str, str]]:
    return {kind: (user, pw) for kind, user, pw in
            re.findall(r"^lab: login (\w+) +(\S+) / (\S+)", output, flags=re.M)}


async def test_the_lab_runs_until_stopped_for_a_guide_cad_and_a_guide_dock(
    tmp_path: Path, procs: Callable[..., Any]
) -> None:
    sites = tmp_path / "sites.json"
    sites.write_text(json.dumps(SITES))
    port = free_port()
    lab = await procs("lab", "-m", "groundstation", "lab", "--sites", str(sites),
                      "--port", str(port), "--speedup", "10", "--own-dock", OWN,
                      "--workdir", str(tmp_path / "lab"))
    await lab.wait_for_output("no incidents; Ctrl-C stops", 90)
    out = lab.output()
    assert f"lab: broker mqtt://127.0.0.1:{port}" in out
    found = logins(out)
    assert set(found) == {"cad", "pilot", "dock"}
    assert found["dock"] == (OWN, f"{OWN}-lab")
    users = json.loads((tmp_path / "lab" / "users.json").read_text())
    assert {u["username"]: u["role"] for u in users["users"]}["cad1"] == "cad"
    await asyncio.sleep(3.0)
    assert lab.proc is not None and lab.proc.returncode is None, "it keeps running"

    cad = GuideCad("127.0.0.1", port, *found["cad"])
    dock = GuideDock("127.0.0.1", port, *found["dock"])
    stranger = GuideCad("127.0.0.1", port, "mallory", "guess")
    try:
        assert await asyncio.to_thread(cad.connect)
        assert not await asyncio.to_thread(stranger.connect)
        await asyncio.to_thread(dock.start)
        await until(lambda: dock.drone_id == f"uav-{OWN}", 10.0, "the dock told its drone")
        # Let the controller see the dock ready (osd, state) before the call.
        await asyncio.sleep(2.0)
        # 600 m north of the integrator's dock: its drone is the nearest.
        north = offset(SITES["sites"][0]["lat_deg"], SITES["sites"][0]["lon_deg"], 630.0, 0.0)
        created = await asyncio.to_thread(cad.call, "incident_create", {
            "lat_deg": round(north.lat_deg, 6), "lon_deg": round(north.lon_deg, 6),
            "summary": "lab"})
        assert created["data"]["result"] == 0, created
        assert created["data"]["output"]["assigned_drone"] == f"uav-{OWN}", created
        await until(lambda: dock.methods[:1] == ["cover_open"], 10.0, "the dock opened")
        closed = await asyncio.to_thread(cad.call, "incident_close",
                                         {"incident_id": created["data"]["output"]
                                          ["incident_id"]})
        assert closed["data"]["result"] == 0, closed
        await until(lambda: dock.methods == ["cover_open", "cover_close"] and dock.cover == 0
                    and dock.job is None, 20.0, "the cover closed again")
    finally:
        for client in (cad, stranger):
            await asyncio.to_thread(client.close)
        await asyncio.to_thread(dock.close)
    assert await lab.stop(signal.SIGINT) == 0
