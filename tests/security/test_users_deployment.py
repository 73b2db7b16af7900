"""One users.json for mosquitto (broker-config --users) and the controller (controller --users):
the CAD guide's own login works, a login missing from the file is refused with the reason, and
a changed file takes effect without a restart."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from groundstation.adapters.broker import free_udp_range
from groundstation.tools.security import main as broker_config
from tests.e2e.conftest import Proc
from tests.security.security_helpers import run_mosquitto, until
from tests.thirdparty.guide_cad import GuideCad

pytestmark = pytest.mark.integration

SITES = {"name": "t", "sites": [{"site_id": "alpha", "lat_deg": 51.50951, "lon_deg": -0.12517,
                                  "roof_alt_amsl_m": 38.0, "dock_list": [{"dock_id": "acme-7"}]}]}
# The incident_create example of docs/cad-integration.md, section 2.
GUIDE_INCIDENT = {"lat_deg": 51.5290, "lon_deg": -0.1200, "priority": 1,
                  "summary": "Robbery in progress", "incident_id": "cad-2026-118822"}


def users_file(path: Path, *extra: dict[str, str]) -> None:
    rows = [{"username": "ctl-1", "role": "controller", "password": "ctl-pw"},
            {"username": "cad1", "role": "cad", "password": "cad1-pw"}, *extra]
    path.write_text(json.dumps({"users": rows}))


async def test_one_users_file_for_the_broker_and_the_controller(
    deploy_dir: Path, port: int
) -> None:
    users = deploy_dir / "users.json"
    users_file(users)
    sites = deploy_dir / "sites.json"
    sites.write_text(json.dumps(SITES))
    assert broker_config(["--out", str(deploy_dir / "broker"), "--users", str(users),
                          "--port", str(port)]) == 0
    conf = deploy_dir / "broker" / "mosquitto.conf"
    ctl = Proc("controller", [
        sys.executable, "-m", "groundstation", "controller", "--sites", str(sites),
        # The controller's own password comes from the users file.
        "--broker", f"mqtt://ctl-1@127.0.0.1:{port}", "--users", str(users),
        "--journal", str(deploy_dir / "journal.sqlite"), "--no-flight-logs", "--no-docks",
        "--base-port", str(free_udp_range(1))], deploy_dir)
    async with run_mosquitto(conf, port) as mosquitto:
        await ctl.start()
        cads: list[GuideCad] = []
        try:
            await ctl.wait_for_output("controller ctl-1:", 30)
            cad1 = GuideCad("127.0.0.1", port, "cad1", "cad1-pw")
            cads.append(cad1)
            assert await asyncio.to_thread(cad1.connect)
            reply = await asyncio.to_thread(cad1.call, "incident_create", GUIDE_INCIDENT)
            assert reply["data"]["result"] == 0, reply
            assert reply["data"]["output"]["incident_id"] == "cad-2026-118822"

            # Not in the file: the broker refuses the login itself.
            ghost = GuideCad("127.0.0.1", port, "cad2", "cad2-pw")
            cads.append(ghost)
            assert not await asyncio.to_thread(ghost.connect)
            assert "authori" in ghost.connack.lower()

            # Added to the file: broker-config again and SIGHUP reload mosquitto; the
            # controller reloads the file by itself. No restart.
            users_file(users, {"username": "cad2", "role": "cad", "password": "cad2-pw"})
            assert broker_config(["--out", str(deploy_dir / "broker"), "--users", str(users),
                                  "--port", str(port)]) == 0
            mosquitto.send_signal(signal.SIGHUP)
            await asyncio.sleep(1.0)
            cad2 = GuideCad("127.0.0.1", port, "cad2", "cad2-pw")
            cads.append(cad2)
            assert await asyncio.to_thread(cad2.connect)
            reply = await asyncio.to_thread(cad2.call, "incident_close",
                                            {"incident_id": "cad-2026-118822"})
            assert reply["data"]["result"] == 0, reply

            # Taken out of the controller's file (SIGHUP reloads it at once): refused with why.
            users_file(users)
            assert ctl.proc is not None
            ctl.proc.send_signal(signal.SIGHUP)
            await until(lambda: "users reloaded" in ctl.output() and "removed cad2"
                        in ctl.output(), 10)
            reply = await asyncio.to_thread(cad2.call, "incident_create", GUIDE_INCIDENT)
            assert reply["data"]["result"] == 4
            assert reply["data"]["output"]["reason"] == (
                "'cad2' has no role on this controller: not a user in users.json (add it with "
                "a role, then the controller reloads the file)")
        finally:
            for cad in cads:
                await asyncio.to_thread(cad.close)
            await ctl.stop()
