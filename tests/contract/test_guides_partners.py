"""docs/partners.md executed: every JSON block is a valid message (or users file, or policy),
the CAP alert validates against CAP 1.2 and carries the guide's M/ETHANE record, the guide's CAP
check runs as written, its partner client runs against a real mosquitto with the ACL generated
from the guide's own users file, and the bridge section is what broker-config writes."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from groundstation import contract as c
from groundstation.adapters.broker import free_port
from groundstation.control import cap
from groundstation.control.sharing import bridge_config
from groundstation.core.sharing_rules import parse_policy
from groundstation.tools.security import main as broker_config
from groundstation.users import parse_users
from tests.contract.test_guides import channels_accepting, examples
from tests.security.security_helpers import run_mosquitto

GUIDE = "partners.md"
DOCS = Path(__file__).parents[2] / "docs"


def _text() -> str:
    return (DOCS / GUIDE).read_text(encoding="utf-8")


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", _text(), flags=re.S | re.M)


def _json() -> list[dict[str, Any]]:
    return [json.loads(b) for b in examples(GUIDE)]


@pytest.mark.unit
def test_every_json_block_is_a_valid_message_users_file_or_policy() -> None:
    blocks = examples(GUIDE)
    assert len(blocks) >= 10
    kinds = set()
    for block in blocks:
        raw = json.loads(block)
        if "users" in raw:
            users = parse_users(raw)
            assert {u.agency for u in users} == {"met", "lfb", "las"}
            kinds.add("users")
        elif "approve" in raw:
            assert parse_policy(raw)
            kinds.add("policy")
        else:
            accepted = channels_accepting(block)
            assert accepted, block
            kinds.update(accepted)
    assert {"users", "policy", "operatorServices", "operatorServicesReply", "agencyIncident",
            "agencyRequest"} <= kinds


@pytest.mark.unit
def test_the_cap_alert_validates_and_carries_the_guides_methane() -> None:
    (xml,) = _blocks("xml")
    cap.validate(xml.encode())
    shared = next(b for b in _json() if "shared_by" in b)
    request = next(b for b in _json() if b.get("method") == "incident_methane")
    incident_id, methane = cap.methane_from_cap(xml.encode())
    assert incident_id == shared["incident_id"]
    assert methane == msgspec.convert(shared["methane"], c.Methane)
    assert methane == msgspec.convert(request["data"]["methane"], c.Methane)
    # It is what the controller writes for that record.
    record = msgspec.convert(shared, c.SharedIncident)
    ours = cap.to_cap(record, sender="dfr.met", identifier="dfr.met.inc-0042.lfb.1",
                      sent_ms=1_767_225_600_000)
    assert cap.methane_from_cap(ours) == (incident_id, methane)


@pytest.mark.unit
def test_the_guides_cap_check_runs_as_written() -> None:
    (xml,) = _blocks("xml")
    code = next(b for b in _blocks("python") if "def check_cap" in b)
    scope: dict[str, Any] = {}
    exec(code, scope)  # the guide's own snippet
    params = scope["check_cap"](xml.encode(), str(cap.XSD_PATH))
    assert params["methane.casualties"] == "2"
    assert params["methane.services_required"] == "las"
    with pytest.raises(ValueError, match="sent"):
        scope["check_cap"](xml.replace("-00:00</sent>", "Z</sent>").encode(), str(cap.XSD_PATH))


@pytest.mark.unit
def test_the_bridge_section_is_what_broker_config_writes() -> None:
    (section,) = _blocks("conf")
    assert section == bridge_config("lfb", address="gs.example:8883", username="lfb-bridge",
                                    password="bridge-secret", cafile="ca.crt")
    assert "--bridge lfb:lfb-bridge@gs.example:8883" in _text()


def _deploy_dir() -> Path:
    """A directory the ``mosquitto`` user can read (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dfr-partners-guide-"))
    path.chmod(0o755)
    return path


@pytest.mark.integration
async def test_the_guides_partner_client_sees_its_agency_only() -> None:
    code = next(b for b in _blocks("python") if "def follow" in b)
    scope: dict[str, Any] = {}
    exec(code, scope)  # the guide's own client
    users = next(b for b in _json() if "users" in b)
    shared = next(b for b in _json() if "shared_by" in b)
    (xml,) = _blocks("xml")
    deploy = _deploy_dir()
    port = free_port()
    try:
        (deploy / "users.json").write_text(json.dumps(users))
        assert broker_config(["--out", str(deploy), "--users", str(deploy / "users.json"),
                              "--port", str(port)]) == 0
        async with run_mosquitto(deploy / "mosquitto.conf", port):
            ctl = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            ctl.username_pw_set("ctl-1", "change-me")
            ctl.connect("127.0.0.1", port)
            ctl.loop_start()
            try:
                gone = c.agency_incident("lfb", "inc-0041")
                for topic, body, retain in (
                    (c.agency_incident("lfb", "inc-0042"), json.dumps(shared).encode(), True),
                    (c.agency_incident_cap("lfb", "inc-0042"), xml.encode(), True),
                    (gone, json.dumps(shared).encode(), True),
                    (gone, b"", True),  # withdrawn: cleared
                    (c.incident("inc-0042"), b"{}", True),  # the fleet's own record
                    (c.agency_incident("las", "inc-0043"), b"{}", True),  # another agency's
                ):
                    ctl.publish(topic, body, qos=1, retain=retain).wait_for_publish(5)

                async def telemetry() -> None:
                    for _ in range(15):
                        ctl.publish(c.agency_telemetry("lfb", "uav-islington-1"), b'{"n":1}')
                        ctl.publish(c.drone_telemetry("uav-islington-1"), b'{"n":1}')
                        await asyncio.sleep(0.1)

                got, _ = await asyncio.gather(
                    asyncio.to_thread(scope["follow"], "127.0.0.1", port, "lfb-control-1",
                                      "lfb-secret", "lfb", 2.0),
                    telemetry())
            finally:
                ctl.loop_stop()
                ctl.disconnect()
        assert set(got) == {c.agency_incident("lfb", "inc-0042"),
                            c.agency_incident_cap("lfb", "inc-0042"),
                            c.agency_telemetry("lfb", "uav-islington-1")}
        assert got[c.agency_incident("lfb", "inc-0042")] == shared
        assert got[c.agency_incident_cap("lfb", "inc-0042")] == xml
    finally:
        shutil.rmtree(deploy, ignore_errors=True)
