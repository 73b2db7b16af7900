"""Partner services end to end: real mosquitto running the ACL broker-config writes from one
users.json, the controller (with its video relay) on the same file, and simulated drones flown
over MAVSDK. Partners are paho clients written from docs/partners.md.

- LFB's viewer, subscribed to all of ``dfr/v1/#``, is delivered its shared incident, the drone
  over it (telemetry, video descriptor), the M/ETHANE record and its CAP alert, and nothing
  else; the relay refuses it another drone; an unshare cuts it off within 2 s.
- LAS's dispatcher asks for a drone; a force operator approves; the drone flies and LAS sees it.
- Refusals carry their reasons: wrong role, unknown incident, unknown agency, over the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
from msgspec.structs import replace as sreplace

from groundstation import contract as c
from groundstation.adapters.broker import free_udp_range
from groundstation.adapters.bus import BrokerConfig
from groundstation.cli.controller import VideoOptions, config_from_args, controller_running
from groundstation.control import cap
from groundstation.control.sharing_store import audit
from groundstation.tools.security import main as broker_config
from groundstation.users import UserDirectory
from groundstation.video.auth import UsersFileLogins
from groundstation.web.server import WebConfig
from sitl import Home, SimFleet
from tests.controller.conftest import SPEEDUP, small_sites
from tests.security.partner_client import Partner, wait_for
from tests.security.security_helpers import run_mosquitto
from tests.security.weblink_checks import page, viewer_messages
from tests.video.video_helpers import http_status

pytestmark = pytest.mark.integration

USERS = {"agency": "met", "users": [
    {"username": "ctl-1", "role": "controller", "password": "ctl-pw"},
    {"username": "alice", "role": "operator", "password": "alice-pw"},
    {"username": "lfb-view", "role": "partner-viewer", "agency": "lfb", "password": "lfb-pw"},
    {"username": "las-desk", "role": "partner-dispatcher", "agency": "las", "password": "las-pw"},
]}
WEST_END_SCENE = (51.5150, -0.1250)  # about 700 m east of the West End dock
ISLINGTON_SCENE = (51.5380, -0.1030)  # about 500 m from the Islington dock
METHANE = {"major_incident": False, "exact_location": "Shaftesbury Avenue by Cambridge Circus",
           "incident_type": "Fire in a theatre", "hazards": "smoke; crowd leaving",
           "access": "from Charing Cross Road", "casualties": 2,
           "casualties_detail": "smoke inhalation", "services_present": ["met", "lfb"],
           "services_required": ["las"]}


def ok(reply: dict[str, object]) -> dict[str, object]:
    data = reply["data"]
    assert isinstance(data, dict) and data["result"] == 0, reply
    output = data["output"]
    assert isinstance(output, dict)
    return output


def refused(reply: dict[str, object]) -> tuple[int, str]:
    data = reply["data"]
    assert isinstance(data, dict) and data["result"] != 0, reply
    return int(data["result"]), str(data["output"]["reason"])


async def call(p: Partner, method: str, data: dict[str, object]) -> dict[str, object]:
    return await asyncio.to_thread(p.call, method, data)


T = TypeVar("T")

async def until(pred: Callable[[], T | None], timeout_s: float, what: str) -> T:
    return await asyncio.to_thread(wait_for, pred, timeout_s, what)


def shared_record(p: Partner, agency: str, incident_id: str) -> dict[str, object] | None:
    body = p.last(c.agency_incident(agency, incident_id))
    return json.loads(body) if body else None


async def test_partners_see_what_is_shared_and_ask_for_drones(
    deploy_dir: Path, port: int
) -> None:
    users = deploy_dir / "users.json"
    users.write_text(json.dumps(USERS))
    assert broker_config(["--out", str(deploy_dir / "broker"), "--users", str(users),
                          "--port", str(port)]) == 0
    sites = small_sites()
    policy = deploy_dir / "policy.json"
    policy.write_text(json.dumps({"approve": [{"agency": "las", "max_priority": 1}]}))
    args = argparse.Namespace(controller_id="ctl-1", speedup=SPEEDUP, on_scene=60.0,
                              users=str(users), partner_requests="3/600",
                              partner_policy=str(policy))
    config = config_from_args(args, sites)
    broker = BrokerConfig.from_url(f"mqtt://127.0.0.1:{port}")
    base = free_udp_range(len(sites.docks))
    homes = [Home(d.lat_deg, d.lon_deg, d.alt_amsl_m) for d in sites.docks]
    video = VideoOptions(users=UsersFileLogins(UserDirectory(users)))
    alice, lfb, las = (Partner(port, "alice", "alice-pw"), Partner(port, "lfb-view", "lfb-pw"),
                       Partner(port, "las-desk", "las-pw"))
    async with (
        run_mosquitto(deploy_dir / "broker" / "mosquitto.conf", port),
        SimFleet(homes, base_port=base, speedup=SPEEDUP, seed=3),
        controller_running(config, broker.with_login("ctl-1", "ctl-pw"), base_port=base,
                           journal_path=deploy_dir / "journal.sqlite", with_docks=False,
                           flight_logs=False, video=video, web=WebConfig()) as run,
    ):
        ctl = run.controller
        assert run.relay is not None
        try:
            assert await run.fleet.wait_all(15.0)
            for p in (alice, lfb, las):
                assert await asyncio.to_thread(p.connect)
            await asyncio.to_thread(alice.subscribe, [("dfr/v1/#", 1)])
            await asyncio.to_thread(lfb.subscribe, [("dfr/v1/#", 1)])
            await asyncio.to_thread(las.subscribe, [("dfr/v1/#", 1)])
            await until(lambda: all(rt.health.armable and rt.health.link_ok
                                    for rt in ctl.drones.values()), 30, "healthy drones")

            # --- LFB: a shared incident, its drone, M/ETHANE and CAP; nothing else --------
            lat, lon = WEST_END_SCENE
            inc = str(ok(await call(alice, "incident_create", {
                "lat_deg": lat, "lon_deg": lon, "priority": 1,
                "summary": "Theatre fire"}))["incident_id"])
            out = ok(await call(alice, "incident_share", {
                "incident_id": inc, "agencies": ["lfb"],
                "reason": "LFB incident commander asked for the drone's view"}))
            assert out["shared_with"] == ["lfb"]
            ok(await call(alice, "incident_methane", {"incident_id": inc, "methane": METHANE}))
            record = await until(lambda: (r := shared_record(lfb, "lfb", inc)) and
                                 r.get("drone_id") and r.get("methane") and r, 30,
                                 "LFB sees the incident, its drone and M/ETHANE")
            assert isinstance(record, dict)
            drone = str(record["drone_id"])
            other = next(d for d in ctl.drones if d != drone)
            await until(lambda: lfb.last(c.agency_telemetry("lfb", drone)), 10, "telemetry")

            def descriptor(p: Partner, topic: str) -> c.VideoDescriptor | None:
                body = p.last(topic)
                return (sreplace(msgspec.json.decode(body, type=c.VideoDescriptor), ts_ms=0)
                        if body else None)

            # The drone's video descriptor, as the force's own consoles have it.
            await until(lambda: descriptor(lfb, c.agency_video("lfb", drone)) is not None
                        and descriptor(lfb, c.agency_video("lfb", drone))
                        == descriptor(alice, c.drone_video(drone)), 10, "video descriptor")
            alert = lfb.last(c.agency_incident_cap("lfb", inc)) or b""
            cap.validate(alert)
            assert cap.methane_from_cap(alert) == (inc, c.Methane(**METHANE))  # type: ignore[arg-type]
            # Everything LFB was delivered is in its own namespace, though it asked for all.
            assert all(t.startswith("dfr/v1/agencies/lfb/") for t in lfb.topics()), lfb.topics()
            assert any(t.startswith("dfr/v1/drones/") for t in alice.topics())  # the fleet ran
            # The relay: another drone is refused with the reason; the shared one passes the
            # gate (no camera in this simulator: the relay does not watch it).
            status, body, _ = await asyncio.to_thread(
                http_status, run.relay.url_for(other), ("lfb-view", "lfb-pw"))
            assert (status, body) == (403, f"lfb-view: drone {other} is not over an incident "
                                           "shared with lfb\n")
            status, body, _ = await asyncio.to_thread(
                http_status, run.relay.url_for(drone), ("lfb-view", "lfb-pw"))
            assert status == 404 and "relay does not watch it" in body

            # --- a share link for LFB's commander: the browser view (groundstation.web) ----
            link = ok(await call(alice, "incident_link_create", {
                "incident_id": inc, "agency": "lfb", "pin": True, "max_viewers": 2,
                "expires_s": 3600, "reason": "LFB commander on scene has no DFR client"}))
            url, pin = str(link["url"]), str(link["pin"])
            status, body = await asyncio.to_thread(page, url)
            assert status == 200 and "window.viewStatus" in body
            seen = await viewer_messages(url, pin, until_drone=True)
            scene = seen[-1]
            assert scene["type"] == "scene", seen
            assert scene["drone"]["drone_id"] == drone and scene["incident"]["incident_id"] == inc
            assert scene["methane"]["incident_type"] == "Fire in a theatre"
            wrong = await viewer_messages(url, "000000" if pin != "000000" else "1", False)
            assert wrong[-1]["reason"] == "wrong_pin", wrong
            assert refused(await call(alice, "incident_link_create", {
                "incident_id": inc, "agency": "las", "reason": "test"}))[0] == (
                c.Result.INVALID_STATE)
            own = ok(await call(alice, "incident_link_create", {
                "incident_id": inc, "reason": "Met gold commander's laptop"}))
            assert ok(await call(alice, "incident_link_revoke", {
                "link_id": own["link_id"], "reason": "laptop left the room"}))[
                "closed_viewers"] == 0
            status, body = await asyncio.to_thread(page, str(own["url"]))
            assert status == 403 and "data-reason='revoked'" in body

            # --- refusals, with reasons ----------------------------------------------------
            assert refused(await call(las, "incident_share", {
                "incident_id": inc, "agencies": ["las"], "reason": "let us see"})) == (
                c.Result.FORBIDDEN, "role partner-dispatcher may not call incident_share")
            assert refused(await call(alice, "incident_share", {
                "incident_id": "nope", "agencies": ["lfb"], "reason": "test"})) == (
                c.Result.UNKNOWN_INCIDENT, "unknown incident 'nope'")
            assert refused(await call(alice, "incident_share", {
                "incident_id": inc, "agencies": ["fbi"], "reason": "test"})) == (
                c.Result.UNKNOWN_AGENCY, "unknown agency 'fbi': partners are las, lfb")
            assert refused(await call(alice, "incident_request_decide", {
                "request_id": "req-x", "decision": "approve", "reason": "test"})) == (
                c.Result.UNKNOWN_REQUEST, "unknown request 'req-x'")

            # --- unshare: cut off within 2 s ---------------------------------------------
            t0 = time.monotonic()
            ok(await call(alice, "incident_unshare", {
                "incident_id": inc, "agencies": ["lfb"], "reason": "LFB left the scene"}))
            await until(lambda: lfb.last(c.agency_incident("lfb", inc)) == b"", 2.0,
                        "the shared record cleared")
            await asyncio.sleep(2.0)
            after = [(t - t0, topic) for t, topic, _, _ in lfb.snapshot() if t > t0]
            assert max(dt for dt, _ in after) < 2.0, after  # the last thing LFB ever got
            print(f"unshare: LFB's last message {max(dt for dt, _ in after):.3f} s after the call")
            cleared = {topic for t, topic, payload, _ in lfb.snapshot() if t > t0 and not payload}
            assert {c.agency_incident("lfb", inc), c.agency_incident_cap("lfb", inc),
                    c.agency_video("lfb", drone)} <= cleared
            status, _, _ = await asyncio.to_thread(
                http_status, run.relay.url_for(drone), ("lfb-view", "lfb-pw"))
            assert status == 403
            status, body = await asyncio.to_thread(page, url)  # LFB's share link stopped too
            assert status == 403 and "data-reason='unshared'" in body

            # --- LAS asks for a drone; an operator approves; it flies ---------------------
            lat, lon = ISLINGTON_SCENE
            asked = ok(await call(las, "incident_request", {
                "lat_deg": lat, "lon_deg": lon, "priority": 2,
                "incident_type": "cardiac arrest, patient not found",
                "location": "Upper Street by Islington Green",
                "reason": "caller cannot say where the patient is"}))
            assert asked["status"] == "pending"
            req_id = str(asked["request_id"])
            await until(lambda: las.last(c.agency_request("las", req_id)), 5, "pending seen")
            assert alice.last(c.agency_request("las", req_id))  # the force sees it too
            decided = ok(await call(alice, "incident_request_decide", {
                "request_id": req_id, "decision": "approve",
                "reason": "the Islington drone is free"}))
            assert decided["status"] == "approved"
            las_inc = str(decided["incident_id"])
            await until(lambda: json.loads(las.last(c.agency_request("las", req_id)) or b"{}")
                        .get("status") == "approved", 5, "approval seen by LAS")
            req = json.loads(las.last(c.agency_request("las", req_id)) or b"{}")
            flying = await until(lambda: (r := shared_record(las, "las", las_inc)) and
                                 r.get("status") == "on_scene" and r, 60, "LAS's drone on scene")
            assert isinstance(flying, dict)
            las_drone = str(flying["drone_id"])
            tel = json.loads(las.last(c.agency_telemetry("las", las_drone)) or b"{}")
            assert tel["in_air"] is True
            assert all(t.startswith(("dfr/v1/agencies/las/", "dfr/v1/operators/las-desk/"))
                       for t in las.topics()), las.topics()

            # --- the written policy approves priority 1 from LAS at once --------------------
            urgent = ok(await call(las, "incident_request", {
                "lat_deg": lat, "lon_deg": lon, "priority": 1, "incident_type": "stabbing",
                "reason": "a second call"}))
            assert urgent["status"] == "approved" and urgent["incident_id"] in ctl.incidents
            assert urgent["decision_reason"] == "priority 1 or higher from las is approved"
            assert ctl.sharing.requests[str(urgent["request_id"])].decided_by == "policy"

            # --- over the rate (3 in 600 s here): refused with the reason ------------------
            second = ok(await call(las, "incident_request", {
                "lat_deg": lat, "lon_deg": lon, "priority": 3, "incident_type": "welfare",
                "reason": "a third call"}))
            assert second["status"] == "pending"
            result, reason = refused(await call(las, "incident_request", {
                "lat_deg": lat, "lon_deg": lon, "priority": 3, "incident_type": "welfare",
                "reason": "a fourth call"}))
            assert result == c.Result.RATE_LIMITED
            assert reason.startswith("las: over the rate for partner requests: 3 in 600 s")
            ok(await call(alice, "incident_request_decide", {
                "request_id": second["request_id"], "decision": "decline",
                "reason": "no drone free for a welfare check"}))
            await until(lambda: json.loads(las.last(c.agency_request(
                "las", str(second["request_id"]))) or b"{}").get("status") == "declined", 5,
                "the decline seen by LAS")
            trail = audit(ctl.journal.db)
        finally:
            for p in (alice, lfb, las):
                await asyncio.to_thread(p.close)
    assert [(e.incident_id, e.agency, e.action, e.who) for e in trail] == [
        (inc, "lfb", "share", "alice"), (inc, "lfb", "unshare", "alice"),
        (las_inc, "las", "share", "alice"), (str(urgent["incident_id"]), "las", "share", "policy")]
    assert trail[1].reason == "LFB left the scene"
    assert req["decided_by"] == "alice"
    report = (await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "groundstation", "report", "--journal",
                         str(deploy_dir / "journal.sqlite")], capture_output=True, text=True,
        check=True)).stdout
    assert f"{inc}  share with lfb  by alice: LFB incident commander asked" in report
    assert f"{inc}  unshare from lfb  by alice: LFB left the scene" in report
