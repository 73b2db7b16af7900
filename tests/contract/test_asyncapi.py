"""docs/asyncapi.yaml against the contract package, and validate() on good and bad messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the dev tools (as asyncapi.py)

from groundstation import contract as c
from groundstation.tools import asyncapi

pytestmark = pytest.mark.unit

DOC_PATH = Path(__file__).parents[2] / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
    return loaded


def test_document_on_disk_is_the_generated_one(doc: dict[str, Any]) -> None:
    assert asyncapi.main(["--check", str(DOC_PATH)]) == 0
    assert doc == asyncapi.document()
    assert doc["asyncapi"] == "3.0.0"


def test_schemas_equal_the_msgspec_generated_ones(doc: dict[str, Any]) -> None:
    types = [ch.payload for ch in c.ALL_CHANNELS]
    schemas, components = msgspec.json.schema_components(types, ref_template=asyncapi.REF)
    assert doc["components"]["schemas"] == components
    for ch, schema in zip(c.ALL_CHANNELS, schemas, strict=True):
        message = doc["components"]["messages"][f"{ch.name}Message"]
        if "discriminator" in schema:  # the one AsyncAPI-specific change (see asyncapi_schema)
            assert ch.name == "operatorServices"
            assert message["payload"] == {**schema, "discriminator": "method"}
            assert schema["discriminator"]["propertyName"] == "method"
        else:
            assert message["payload"] == schema, ch.name


def test_every_channel_has_address_qos_retain_expiry_and_will(doc: dict[str, Any]) -> None:
    assert set(doc["channels"]) == {ch.name for ch in c.ALL_CHANNELS}
    for ch in c.ALL_CHANNELS:
        channel = doc["channels"][ch.name]
        assert channel["address"] == ch.address
        assert set(channel.get("parameters", {})) == set(ch.parameters)
        binding = doc["operations"][f"{ch.name}Publish"]["bindings"]["mqtt"]
        assert (binding["qos"], binding["retain"]) == (ch.qos, ch.retain)
        assert binding.get("messageExpiryInterval") == ch.expiry_s
    assert doc["channels"]["dockStatus"]["x-last-will"]["payload"] == '{"status":"offline"}'
    assert "x-last-will" in doc["channels"]["controllerStatus"]
    assert doc["operations"]["dockServicesPublish"]["bindings"]["mqtt"][
        "messageExpiryInterval"] == c.COMMAND_TTL_S
    addresses = {ch.address.replace("{", "").replace("}", "") for ch in c.ALL_CHANNELS}
    assert "dfr/v1/docks/dock_id/services_reply" in addresses


def test_every_example_in_the_document_validates(doc: dict[str, Any]) -> None:
    for ch in c.ALL_CHANNELS:
        topic = ch.address
        for p in ch.parameters:
            value = "uav-islington-1" if p == "drone_id" else {
                "dock_id": "islington-1", "incident_id": "inc-0042", "username": "alice",
                "controller_id": "ctl-a", "cluster_id": "met", "agency": "lfb",
                "request_id": "req-las-1767225600000-0001", "feed_id": "adsb-city-1",
                "unit_id": "car-mp-31", "target_id": "suspect-0042"}[p]
            topic = topic.replace(f"{{{p}}}", value)
        if ch.name == "agencyRequest":
            topic = topic.replace("/lfb/", "/las/")
        for example in doc["components"]["messages"][f"{ch.name}Message"]["examples"]:
            payload = example["payload"]
            wire = payload.encode() if isinstance(payload, str) else msgspec.json.encode(payload)
            asyncapi.validate(topic, wire)


def test_last_wills_and_retained_clears_validate() -> None:
    asyncapi.validate(c.dock_topic("d1", "status"), b'{"status":"offline"}')
    asyncapi.validate(c.controller_status("ctl-a"),
                      b'{"controller_id":"ctl-a","status":"offline"}')
    asyncapi.validate(c.incident("inc-1"), b"")


GOOD_TEL = {
    "drone_id": "uav-1", "ts_ms": 1, "seq": 1, "lat_deg": 51.5, "lon_deg": -0.1,
    "alt_rel_m": 10.0, "alt_amsl_m": 50.0, "heading_deg": 0.0, "ground_speed_m_s": 0.0,
    "climb_m_s": 0.0, "battery_pct": 90.0, "battery_v": 24.0, "flight_mode": "HOLD",
    "armed": False, "in_air": False, "gps_fix": 3, "satellites": 12, "link_ok": True,
}


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("dfr/v1/nowhere/x", b"{}", "not a channel"),
        ("dfr/v1/drones/a+b/telemetry", b"{}", "not a channel"),
        (c.drone_telemetry("uav-1"), b"{not json", "JSON"),
        (c.drone_telemetry("uav-1"), msgspec.json.encode({**GOOD_TEL, "lat_deg": 91.0}),
         "lat_deg"),
        (c.drone_telemetry("uav-1"), msgspec.json.encode({**GOOD_TEL, "armed": None}), "armed"),
        (c.drone_telemetry("uav-2"), msgspec.json.encode(GOOD_TEL), "does not match"),
        (c.drone_telemetry("uav-1"), b"", "empty"),
        (c.dock_topic("d1", "services"),
         b'{"tid":"t","timestamp":1,"method":"cover_explode","data":{}}', "method"),
        (c.dock_topic("d1", "services"),
         b'{"tid":"","timestamp":1,"method":"cover_open","data":{}}', "tid"),
        (c.dock_topic("d1", "status"), b'{"status":"maybe"}', "status"),
        (c.operator_services("alice"),
         b'{"tid":"t","timestamp":1,"method":"drone_goto","data":{"drone_id":"u"}}', "lat_deg"),
        (c.operator_services("alice"),
         b'{"tid":"t","timestamp":1,"method":"launch_nukes","data":{}}', "method"),
        (c.operator_services("alice"),
         b'{"tid":"t","timestamp":1,"method":"drone_hold","data":{"drone_id":"u","x":1}}', "x"),
        (c.dock_topic("d1", "events"),
         b'{"tid":"t","bid":"b","timestamp":1,"method":"cover_open","need_reply":1,'
         b'"data":{"result":0,"output":{"status":"done","progress":{"percent":5}}}}', "status"),
    ],
)
def test_validate_refuses_bad_messages_with_a_reason(
    topic: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        asyncapi.validate(topic, payload)


def test_validate_accepts_good_operator_and_dock_messages() -> None:
    asyncapi.validate(c.drone_telemetry("uav-1"), msgspec.json.encode(GOOD_TEL))
    goto = c.make_request("drone_goto", c.DroneGoto(drone_id="u", lat_deg=51.5, lon_deg=-0.1,
                                                   alt_rel_m=60.0))
    asyncapi.validate(c.operator_services("alice"), c.encode(goto))
    reply = c.refusal(goto.tid, "drone_goto", c.Result.NOT_AUTHORITY, "bob has authority")
    asyncapi.validate(c.operator_services_reply("alice"), c.encode(reply))
    req = c.DockServiceRequest(tid="t", bid="b", timestamp=c.now_ms(),
                               method=c.DockMethod.DRONE_OPEN)
    asyncapi.validate(c.dock_topic("d1", "services"), c.encode(req))
