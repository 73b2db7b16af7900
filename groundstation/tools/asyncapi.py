"""The AsyncAPI 3 document of the MQTT contract, and a validator for messages on the wire.

Both come from ``groundstation.contract``: every channel of ``contract.CHANNELS`` is rendered with
its address, parameters, QoS, retain flag, MQTT 5 message expiry and Last Will, and its payload
JSON Schema is the one msgspec generates from the payload type. ``docs/asyncapi.yaml`` is this
document; a test keeps the two equal (``groundstation asyncapi --check docs/asyncapi.yaml``).

:func:`validate` checks one message against its channel with the same msgspec types the schemas
are made from, so what validates here is what the document describes.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import msgspec

from groundstation import contract as c

ASYNCAPI_VERSION = "3.0.0"
DOC_VERSION = "1.0.0"
MQTT_BINDING_VERSION = "0.2.0"
REF = "#/components/schemas/{name}"


# --- validation -------------------------------------------------------------------------------


@functools.cache
def _decoder(name: str) -> msgspec.json.Decoder[Any]:
    channel = next(ch for ch in c.ALL_CHANNELS if ch.name == name)
    return msgspec.json.Decoder(channel.payload)


def validate(topic: str, payload: bytes | bytearray | str | dict[str, Any]) -> None:
    """Check one message against the schema of its channel; raise ValueError with the reason.

    ``payload`` is what goes on the wire (bytes, or its text), or the JSON object as a dict
    (encoded here first). An empty payload is accepted on retained channels: it clears the
    retained message. Anything else (a list, a number) is refused with ValueError too.
    """
    if isinstance(payload, dict):
        try:
            payload = json.dumps(payload).encode()
        except (TypeError, ValueError) as exc:
            raise c.ContractError(f"{topic}: payload is not JSON-serialisable: {exc}") from exc
    elif isinstance(payload, str):
        payload = payload.encode()
    elif not isinstance(payload, bytes | bytearray):
        raise c.ContractError(
            f"{topic}: payload must be bytes, str or a dict, not {type(payload).__name__}"
        )
    found = c.channel_for(topic)
    if found is None:
        raise c.ContractError(f"{topic}: not a channel of the dfr/v1 contract")
    channel, params = found
    if not payload:
        if channel.retain:
            return
        raise c.ContractError(f"{topic}: empty payload on a channel that is not retained")
    if len(payload) > c.MAX_PAYLOAD_BYTES:
        raise c.ContractError(f"{topic}: payload of {len(payload)} bytes is over the limit")
    if channel.content_type != "application/json":  # a CAP alert: XML, checked for form here
        try:
            ElementTree.fromstring(payload)
        except ElementTree.ParseError as exc:
            raise c.ContractError(f"{topic} ({channel.name}): not XML: {exc}") from exc
        return
    try:
        obj = _decoder(channel.name).decode(payload)
    except msgspec.DecodeError as exc:
        raise c.ContractError(f"{topic} ({channel.name}): {exc}") from exc
    if channel.id_field is not None:
        # the topic parameter named like the field, else the topic's only one (units/{unit_id}
        # carries its id in ``id``)
        field_name = channel.id_field
        param = params[field_name] if field_name in params else next(iter(params.values()))
        value = getattr(obj, channel.id_field)
        if value != param:
            raise c.ContractError(
                f"{topic}: {channel.id_field} {value!r} does not match the topic's {param!r}"
            )


# --- the document -----------------------------------------------------------------------------


def _examples() -> dict[str, msgspec.Struct | str]:
    """One realistic example message per channel (rendered into the document)."""
    ts = 1_767_225_600_000
    def reply(tid: str, method: str, output: dict[str, Any], bid: str = "") -> c.Reply:
        return c.Reply(tid=tid, bid=bid, timestamp=ts, method=method,
                       data=c.ReplyData(result=0, output=output))

    helicopter = c.TrafficReport(
        icao="43c6f1", callsign="HLE01", lat_deg=51.5312, lon_deg=-0.1123, alt_amsl_m=245.0,
        heading_deg=184.0, speed_m_s=41.2, climb_m_s=-1.5, emitter_type=7, ts_ms=ts)
    job = c.JobEventOutput(status=c.JobStatus.IN_PROGRESS,
                           progress=c.JobProgress(percent=25, step_key="cover_opening"))
    return {
        "droneTelemetry": c.Telemetry(
            drone_id="uav-islington-1", ts_ms=ts, seq=1042, lat_deg=51.53401, lon_deg=-0.10880,
            alt_rel_m=60.2, alt_amsl_m=112.2, heading_deg=211.0, ground_speed_m_s=14.8,
            climb_m_s=0.1, battery_pct=81.0, battery_v=23.9, flight_mode="MISSION", armed=True,
            in_air=True, gps_fix=3, satellites=17, link_ok=True, phase=c.Phase.TRANSIT),
        "droneState": c.DroneState(
            drone_id="uav-islington-1", ts_ms=ts, phase=c.Phase.TRANSIT,
            home_dock_id="islington-1", incident_id="inc-0042", pilot="alice",
            target_lat_deg=51.5290, target_lon_deg=-0.1200, eta_s=48.0),
        "droneVideo": c.VideoDescriptor(
            drone_id="uav-islington-1", ts_ms=ts, state=c.VideoState.LIVE,
            url="http://gs.example:8890/video/uav-islington-1.ts",
            source="rtp://0.0.0.0:5600", width_px=1280, height_px=720, fps=25.0,
            bitrate_kbps=2500, hfov_deg=84.0, live=True, recording=True,
            camera="DFR SimCam 1", gimbal_pitch_deg=-35.0, gimbal_yaw_deg=0.0),
        "droneTracking": c.TrackingStatus(
            drone_id="uav-islington-1", ts_ms=ts, state=c.TrackState.FOLLOWING,
            source=c.TrackSource.UNIT, target="car-mp-31", reason="pursuit of a stolen car",
            started_by="alice", started_ms=ts - 60_000, since_ms=ts - 55_000,
            target_lat_deg=51.53120, target_lon_deg=-0.11050, target_speed_m_s=11.8,
            target_age_s=0.4, distance_m=14.2),
        "unitPosition": c.TargetPosition(
            id="car-mp-31", ts_ms=ts, lat_deg=51.53120, lon_deg=-0.11050, alt_amsl_m=38.0,
            vel_n_m_s=-2.1, vel_e_m_s=11.6),
        "targetPosition": c.TargetPosition(
            id="suspect-0042", ts_ms=ts, lat_deg=51.52950, lon_deg=-0.12010),
        "dockOsd": c.DockOsd(
            dock_id="islington-1", ts_ms=ts, mode_code=c.DockMode.IDLE,
            cover_state=c.CoverState.CLOSED, drone_in_dock=True,
            drone_charge_state=c.ChargeState(state=1, capacity_percent=87.0),
            wind_speed_m_s=4.2, rainfall=0, environment_temperature_c=11.5,
            emergency_stop_state=False, lat_deg=51.53393, lon_deg=-0.10882),
        "dockState": c.DockState(
            dock_id="islington-1", ts_ms=ts, mode_code=c.DockMode.IDLE,
            cover_state=c.CoverState.CLOSED, drone_in_dock=True, charging=True),
        "dockStatus": c.Presence(status="online", ts_ms=ts),
        "dockAssignment": c.DockAssignment(
            dock_id="islington-1", drone_id="uav-islington-1", site_id="islington",
            lat_deg=51.53393, lon_deg=-0.10882, alt_amsl_m=52.0, ts_ms=ts),
        "dockServices": c.DockServiceRequest(
            tid="6a7bd1c2e0f94d0f8c1f2b9a5d3e4f01", bid="b1d2c3e4f5a6478990aabbccddeeff00",
            timestamp=ts, method=c.DockMethod.COVER_OPEN),
        "dockServicesReply": reply(
            "6a7bd1c2e0f94d0f8c1f2b9a5d3e4f01", "cover_open", {"status": "in_progress"},
            bid="b1d2c3e4f5a6478990aabbccddeeff00"),
        "dockEvents": c.DockEvent(
            tid="0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f", bid="b1d2c3e4f5a6478990aabbccddeeff00",
            timestamp=ts, method=c.DockMethod.COVER_OPEN, need_reply=1,
            data=c.DockJobEventData(result=0, output=job)),
        "dockEventsReply": reply(
            "0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f", "cover_open", {},
            bid="b1d2c3e4f5a6478990aabbccddeeff00"),
        "incident": c.Incident(
            incident_id="inc-0042", status=c.IncidentStatus.DISPATCHED, lat_deg=51.5290,
            lon_deg=-0.1200, priority=1, summary="Robbery in progress", created_by="cad1",
            assigned_drone="uav-islington-1", eta_s=48.0, created_ms=ts - 20_000,
            dispatched_ms=ts - 15_000),
        "operatorServices": c.OPERATOR_REQUESTS[c.OperatorMethod.INCIDENT_CREATE](
            tid="f00dfeed000000000000000000000001",
            timestamp=ts,
            data=c.IncidentCreate(lat_deg=51.5290, lon_deg=-0.1200, priority=1,
                                  summary="Robbery in progress")),
        "operatorServicesReply": reply(
            "f00dfeed000000000000000000000001", "incident_create", {"incident_id": "inc-0042"}),
        "controllerStatus": c.ControllerStatus(controller_id="ctl-a", status="online",
                                               ts_ms=ts, drones=9),
        "controllerLease": c.Lease(cluster_id="met", holder="ctl-a", epoch=7, ts_ms=ts),
        "incidentOffers": c.Offer(
            incident_id="inc-0042", controller_id="ctl-west", round=0, eta_s=61.0,
            drone_id="uav-west-end-2", lat_deg=51.5290, lon_deg=-0.1200, priority=1,
            summary="Robbery in progress", created_by="cad1", created_ms=ts - 20_000,
            ts_ms=ts),
        **_partner_examples(ts),
        "controllerEvents": c.Alert(ts_ms=ts, severity=c.Severity.WARNING, code="wind_limit",
                                    message="islington-1: wind 12.4 m/s over limit 10 m/s",
                                    dock_id="islington-1"),
        "trafficFeed": c.TrafficFeed(aircraft=[helicopter]),
        "trafficPicture": c.TrafficPicture(
            controller_id="ctl-a", ts_ms=ts, aircraft=[c.TrafficAircraft(
                report=helicopter, source="adsb-city-1", age_s=0.4,
                conflict_drones=["uav-islington-1"])]),
    }


def _partner_examples(ts: int) -> dict[str, msgspec.Struct | str]:
    from groundstation.control.cap import to_cap

    methane = c.Methane(
        major_incident=False, exact_location="Camden Lock Market, Chalk Farm Road NW1",
        incident_type="Fire in a market building", hazards="smoke; gas cylinders in stalls",
        access="from Chalk Farm Road; Camden High Street closed", casualties=2,
        casualties_detail="smoke inhalation", services_present=["met", "lfb"],
        services_required=["las"])
    shared = c.SharedIncident(
        incident_id="inc-0042", agency="lfb", ts_ms=ts, status=c.IncidentStatus.ON_SCENE,
        lat_deg=51.5416, lon_deg=-0.1466, priority=1, summary="Fire at Camden Lock",
        drone_id="uav-islington-1", created_ms=ts - 90_000, on_scene_ms=ts - 30_000,
        shared_by="alice", shared_ms=ts - 60_000, reason="LFB incident commander asked for "
        "the drone's view", methane=methane)
    return {
        "agencyIncident": shared,
        "agencyIncidentCap": to_cap(shared, sender="dfr.met", identifier="dfr.met.inc-0042.lfb.1",
                                    sent_ms=ts).decode(),
        "agencyTelemetry": c.Telemetry(
            drone_id="uav-islington-1", ts_ms=ts, seq=2211, lat_deg=51.54190, lon_deg=-0.14610,
            alt_rel_m=60.1, alt_amsl_m=112.1, heading_deg=95.0, ground_speed_m_s=5.0,
            climb_m_s=0.0, battery_pct=64.0, battery_v=23.1, flight_mode="ORBIT", armed=True,
            in_air=True, gps_fix=3, satellites=18, link_ok=True, phase=c.Phase.ON_SCENE),
        "agencyVideo": c.VideoDescriptor(
            drone_id="uav-islington-1", ts_ms=ts, state=c.VideoState.LIVE,
            url="http://gs.example:8890/video/uav-islington-1.ts", width_px=1280, height_px=720,
            fps=25.0, live=True, recording=True, camera="DFR SimCam 1"),
        "agencyRequest": c.PartnerRequest(
            request_id="req-las-1767225600000-0001", agency="las", requested_by="las-desk-1",
            ts_ms=ts, status=c.RequestStatus.APPROVED, lat_deg=51.5033, lon_deg=-0.1196,
            priority=1, incident_type="cardiac arrest, patient not found",
            location="South Bank by the London Eye", reason="caller lost; locate the patient",
            decided_by="alice", decision_reason="drone free at West End", decided_ms=ts + 20_000,
            incident_id="inc-0043"),
        "agencyTraffic": c.TrafficPicture(
            controller_id="ctl-a", ts_ms=ts, aircraft=[c.TrafficAircraft(
                report=c.TrafficReport(
                    icao="43c6f1", callsign="HLE01", lat_deg=51.5380, lon_deg=-0.1500,
                    alt_amsl_m=180.0, heading_deg=170.0, speed_m_s=60.0, climb_m_s=0.0,
                    emitter_type=7, ts_ms=ts - 400),
                source="uav-islington-1", age_s=0.4, conflict_drones=[])]),
    }


_PARAM_DOC = {
    "drone_id": "Drone id (A-Z a-z 0-9 _ . -, 1-64 characters).",
    "dock_id": "Dock id; in a secured deployment also the dock's MQTT login.",
    "incident_id": "Incident id.",
    "unit_id": "Ground unit id (its AVL identity), as CAD knows it.",
    "target_id": "Id of a moving point CAD wants followed.",
    "username": "The MQTT login of the operator or CAD system; the broker's ACL enforces it.",
    "controller_id": "Controller id.",
    "cluster_id": "Id of a hot-standby pair of controllers.",
    "agency": "A partner agency (lfb, las, npas, ...); its logins may read only this namespace.",
    "request_id": "A partner's request for a drone.",
    "feed_id": "Id of a ground ADS-B receiver feeding traffic (its MQTT login when secured).",
}

_INFO = """\
The MQTT contract of the DFR ground station: drones, docks, incidents, operators and
controllers under `dfr/v1/`. Envelopes follow the DJI Cloud API (`tid`, `bid`, `timestamp`,
`method`, `data`; replies carry `data.result` 0 or a non-zero code with `data.output.reason`).
Requests and replies are matched by `tid`; a job keeps its `bid` across retries. Commands carry an
MQTT 5 message expiry and receivers also refuse an envelope older than 30 s. Every inbound message
is validated; a malformed request is answered on the reply channel with a non-zero result and
changes nothing. Generated from `groundstation/contract/` by `groundstation asyncapi`.
"""


def asyncapi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """msgspec's JSON Schema in AsyncAPI Schema form.

    The one difference: msgspec writes an OpenAPI-style ``discriminator`` object for a tagged
    union, where an AsyncAPI Schema's ``discriminator`` is the property name alone.
    """
    out = dict(schema)
    disc = out.get("discriminator")
    if isinstance(disc, dict):
        out["discriminator"] = disc["propertyName"]
    return out


def document() -> dict[str, Any]:
    """The AsyncAPI 3 document as plain data (JSON/YAML-ready)."""
    payload_types = [ch.payload for ch in c.ALL_CHANNELS]
    schemas, components = msgspec.json.schema_components(payload_types, ref_template=REF)
    examples = _examples()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for ch, schema in zip(c.ALL_CHANNELS, schemas, strict=True):
        msg_name = f"{ch.name}Message"
        message: dict[str, Any] = {
            "name": ch.name,
            "title": ch.name,
            "summary": ch.summary,
            "contentType": ch.content_type,
            "payload": asyncapi_schema(schema),
            "examples": [{"name": "example",
                          "payload": msgspec.to_builtins(examples[ch.name])}],
        }
        messages[msg_name] = message
        channel: dict[str, Any] = {
            "address": ch.address,
            "description": ch.summary,
            "messages": {msg_name: {"$ref": f"#/components/messages/{msg_name}"}},
        }
        if ch.parameters:
            channel["parameters"] = {p: {"description": _PARAM_DOC[p]} for p in ch.parameters}
        if ch.last_will is not None:
            channel["x-last-will"] = {"payload": ch.last_will, "qos": 1, "retain": True}
        channels[ch.name] = channel
        binding: dict[str, Any] = {"qos": ch.qos, "retain": ch.retain}
        if ch.expiry_s is not None:
            binding["messageExpiryInterval"] = ch.expiry_s
        binding["bindingVersion"] = MQTT_BINDING_VERSION
        operations[f"{ch.name}Publish"] = {
            "action": "send",
            "title": f"{ch.sender} publishes {ch.name}",
            "summary": ch.summary,
            "channel": {"$ref": f"#/channels/{ch.name}"},
            "messages": [{"$ref": f"#/channels/{ch.name}/messages/{msg_name}"}],
            "bindings": {"mqtt": binding},
            "x-sender": ch.sender,
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "DFR ground station MQTT contract",
            "version": DOC_VERSION,
            "description": " ".join(_INFO.split()),
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "broker.example.org:8883",
                "protocol": "mqtts",
                "protocolVersion": "5",
                "description": "TLS listener written by `groundstation broker-config`; "
                               "clients verify it with the deployment's CA file.",
                "security": [{"$ref": "#/components/securitySchemes/userPassword"}],
            },
            "local": {
                "host": "127.0.0.1:1883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "A development broker without TLS.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(components.items())),
            "messages": messages,
            "securitySchemes": {
                "userPassword": {
                    "type": "userPassword",
                    "description": "One login per user; roles controller, operator, viewer, "
                                   "dock, cad (see docs/dock-integration.md), partner-viewer "
                                   "and partner-dispatcher (docs/partners.md).",
                },
            },
        },
    }


def render_yaml(doc: dict[str, Any] | None = None) -> str:
    """The document as YAML (JSON, which is YAML too, when PyYAML is missing)."""
    doc = document() if doc is None else doc
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return json.dumps(doc, indent=2) + "\n"
    header = "# Generated from groundstation/contract/ by `groundstation asyncapi`.\n"
    text: str = yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)
    return header + text


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="groundstation asyncapi",
                                description="Print the AsyncAPI 3 document of the MQTT contract.")
    p.add_argument("--out", type=Path, help="write to this file instead of standard output")
    p.add_argument("--check", type=Path, help="exit 1 if this file differs from the contract")
    p.add_argument("--json", action="store_true", help="JSON instead of YAML")
    args = p.parse_args(argv)
    text = json.dumps(document(), indent=2) + "\n" if args.json else render_yaml()
    if args.check is not None:
        if not args.check.is_file() or args.check.read_text(encoding="utf-8") != text:
            print(f"{args.check} is out of date: run groundstation asyncapi --out {args.check}",
                  file=sys.stderr)
            return 1
        return 0
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
