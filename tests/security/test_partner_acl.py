"""Partner users in users.json and the broker's ACL, against a real mosquitto running what
broker-config writes: a partner login reads its agency's namespace and nothing else of the
fleet (checked by subscribing to everything), a dispatcher asks only in its own name, and a
partner's own broker bridged in carries only what is shared with that agency."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from groundstation.adapters.broker import free_port
from groundstation.errors import ConfigError
from groundstation.tools.security import acl_text
from groundstation.tools.security import main as broker_config
from groundstation.users import UserSpec, parse_users
from tests.security.partner_client import Partner, wait_for
from tests.security.security_helpers import run_mosquitto

pytestmark = pytest.mark.integration

USERS = {"agency": "met", "users": [
    {"username": "ctl-1", "role": "controller", "password": "ctl-pw"},
    {"username": "alice", "role": "operator", "password": "alice-pw"},
    {"username": "lfb-view", "role": "partner-viewer", "agency": "lfb", "password": "lfb-pw"},
    {"username": "lfb-bridge", "role": "partner-viewer", "agency": "lfb", "password": "lfbb-pw"},
    {"username": "las-desk", "role": "partner-dispatcher", "agency": "las", "password": "las-pw"},
]}
NOT_AUTHORIZED = 0x87


def test_agencies_in_the_users_file_and_their_refusals() -> None:
    users = {u.username: u for u in parse_users(USERS)}
    assert users["alice"].agency == "met"
    assert (users["lfb-view"].role.value, users["lfb-view"].agency) == ("partner-viewer", "lfb")
    bad = [
        ({"users": [{"username": "x", "role": "partner-viewer", "password": "p"}]},
         "role partner-viewer is for another agency's users: give it its agency"),
        ({"users": [{"username": "x", "role": "operator", "agency": "lfb", "password": "p"}]},
         "role operator belongs to the force (met); a user of 'lfb' gets partner-viewer"),
        ({"users": [{"username": "x", "role": "partner-viewer", "agency": "LFB!",
                     "password": "p"}]}, "agency 'LFB!': use 1-32 of a-z 0-9 _ -"),
        ({"agency": "btp", "users": [{"username": "x", "role": "partner-viewer",
                                      "agency": "btp", "password": "p"}]}, "not the force's own"),
    ]
    for raw, why in bad:
        with pytest.raises(ConfigError, match=why.replace("(", r"\(").replace(")", r"\)")):
            parse_users(raw)
    text = acl_text(list(users.values()))
    assert "# role partner-viewer, agency lfb\nuser lfb-view\ntopic read dfr/v1/agencies/lfb/#\n" \
        in text
    assert ("user las-desk\ntopic read dfr/v1/agencies/las/#\n"
            "topic write dfr/v1/operators/las-desk/services\n"
            "topic read dfr/v1/operators/las-desk/services_reply\n") in text


async def test_a_partner_reads_its_agency_and_nothing_else(deploy_dir: Path, port: int) -> None:
    users = deploy_dir / "users.json"
    users.write_text(json.dumps(USERS))
    out = deploy_dir / "broker"
    assert broker_config(["--out", str(out), "--users", str(users), "--port", str(port),
                          "--bridge", f"lfb:lfb-bridge@127.0.0.1:{port}"]) == 0
    ctl, lfb, las, alice = (Partner(port, "ctl-1", "ctl-pw"), Partner(port, "lfb-view", "lfb-pw"),
                            Partner(port, "las-desk", "las-pw"), Partner(port, "alice", "alice-pw"))
    clients = [ctl, lfb, las, alice]
    async with run_mosquitto(out / "mosquitto.conf", port):
        try:
            for p in clients:
                assert await asyncio.to_thread(p.connect)
            codes = await asyncio.to_thread(lfb.subscribe, [
                ("dfr/v1/#", 1), ("dfr/v1/drones/+/telemetry", 0), ("dfr/v1/incidents/+", 1),
                ("dfr/v1/agencies/las/#", 1), ("dfr/v1/agencies/lfb/#", 1)])
            # mosquitto 2.0.11 grants every filter (SUBACK QoS) and checks the read ACL on each
            # message it would deliver: what matters is what arrives, checked below. A broker
            # that refuses a filter outright answers 0x87, which is as good.
            assert codes[4] == 1, codes
            assert all(code in (0, 1, NOT_AUTHORIZED) for code in codes), codes
            await asyncio.to_thread(ctl.subscribe, [("dfr/v1/operators/+/services", 1)])
            await asyncio.to_thread(alice.subscribe, [("dfr/v1/agencies/+/requests/+", 1)])
            fleet = ["dfr/v1/drones/uav-1/telemetry", "dfr/v1/drones/uav-1/video",
                     "dfr/v1/incidents/inc-1", "dfr/v1/docks/d1/state",
                     "dfr/v1/controllers/ctl-1/events", "dfr/v1/operators/alice/services_reply",
                     "dfr/v1/agencies/las/incidents/inc-2", "dfr/v1/agencies/las/requests/r1"]
            shared = ["dfr/v1/agencies/lfb/incidents/inc-1",
                      "dfr/v1/agencies/lfb/drones/uav-1/telemetry"]
            for topic in fleet + shared:
                ctl.client.publish(topic, b'{"x":1}', qos=1, retain=topic.endswith("inc-1"))
            await asyncio.to_thread(wait_for, lambda: set(shared) <= lfb.topics(), 5, "shared")
            await asyncio.sleep(0.5)  # anything else would have arrived by now
            assert lfb.topics() == set(shared)
            # Alice (an operator) sees the partners' requests; LAS asks only in its own name.
            await asyncio.to_thread(wait_for, lambda: "dfr/v1/agencies/las/requests/r1"
                                    in alice.topics(), 5, "operator sees requests")
            las.client.publish("dfr/v1/operators/alice/services", b"{}", qos=1)
            las.client.publish("dfr/v1/operators/las-desk/services", b"{}", qos=1)
            await asyncio.to_thread(wait_for, ctl.topics, 5, "las-desk's request")
            await asyncio.sleep(0.3)
            assert ctl.topics() == {"dfr/v1/operators/las-desk/services"}

            # A partner's broker bridged in with the generated snippet: only lfb's namespace.
            await _bridged(deploy_dir, out / "bridge-lfb.conf", ctl)
        finally:
            for p in clients:
                await asyncio.to_thread(p.close)


async def _bridged(deploy_dir: Path, snippet: Path, ctl: Partner) -> None:
    text = await asyncio.to_thread(snippet.read_text)
    assert "topic # in 1 dfr/ dfr/v1/agencies/lfb/\n" in text
    assert "remote_username lfb-bridge\nremote_password lfbb-pw\n" in text
    partner_dir = deploy_dir / "lfb-broker"
    partner_dir.mkdir()
    port = free_port()
    shutil.copy(snippet, partner_dir / "bridge.conf")
    (partner_dir / "bridge.conf").chmod(0o644)
    conf = partner_dir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n" + text)
    async with run_mosquitto(conf, port):
        local = Partner(port, "lfb-cad", "x")
        try:
            assert await asyncio.to_thread(local.connect)
            await asyncio.to_thread(local.subscribe, [("#", 1)])
            await asyncio.sleep(1.0)  # the bridge connects
            ctl.client.publish("dfr/v1/agencies/lfb/drones/uav-1/telemetry", b'{"n":2}', qos=1)
            ctl.client.publish("dfr/v1/drones/uav-1/telemetry", b'{"n":2}', qos=1)
            ctl.client.publish("dfr/v1/agencies/las/requests/r1", b'{"n":2}', qos=1)
            await asyncio.to_thread(wait_for, lambda: "dfr/drones/uav-1/telemetry"
                                    in local.topics(), 10, "the bridged telemetry")
            await asyncio.sleep(0.5)
            assert local.topics() <= {"dfr/drones/uav-1/telemetry", "dfr/incidents/inc-1"}
            assert "dfr/incidents/inc-1" in local.topics()  # the retained copy, bridged
        finally:
            await asyncio.to_thread(local.close)


def test_bridge_needs_a_partner_user_of_that_agency(deploy_dir: Path) -> None:
    users = deploy_dir / "users.json"
    users.write_text(json.dumps(USERS))
    for spec in ("lfb:las-desk@h:1883", "lfb:alice@h:1883", "lfb:lfb-view@h"):
        assert broker_config(["--out", str(deploy_dir / "b"), "--users", str(users),
                              "--bridge", spec]) == 2


def test_user_spec_default_agency_is_the_forces() -> None:
    assert UserSpec("a", parse_users(USERS)[1].role, "p").agency == "met"
