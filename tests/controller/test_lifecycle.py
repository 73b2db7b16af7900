"""The incident lifecycle and dock maintenance as integrators see them on MQTT: closing before
take-off cancels the launch, closing later recalls; finished records leave the broker after the
retention; replies carry the ids they created; an operator can reboot a dock; docks are told
their drone; the dock guide's sequence is what the controller sends."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.bus import Bus, Message
from groundstation.tools.report import build_report, open_read_only
from tests.controller.conftest import Stack, until

pytestmark = pytest.mark.integration

DRONE, DOCK = "uav-west-end-1", "west-end-1"
OTHER_DRONE, OTHER_DOCK = "uav-islington-1", "islington-1"
INCIDENT = {"lat_deg": 51.5120, "lon_deg": -0.1180, "priority": 2, "summary": "burglary"}
GUIDE = Path(__file__).parents[2] / "docs" / "dock-integration.md"


def guide_sequence() -> list[str]:
    """The dock calls of one sortie, as section 7 of the dock guide lists them."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## 7.", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| \d+ \|.*\| `(\w+)` \|$", section, flags=re.M)


@contextlib.asynccontextmanager
async def listener(stack: Stack, *topics: str) -> AsyncIterator[dict[str, bytes]]:
    """A fresh subscriber: topic -> last payload (retained ones arrive first)."""
    seen: dict[str, bytes] = {}
    async with Bus(stack.broker, f"listen-{os.getpid()}-{len(topics)}") as bus:
        for topic in topics:
            await bus.subscribe(topic, 1)

        async def pump() -> None:
            msg: Message
            async for msg in bus.messages():
                seen[msg.topic] = msg.payload

        task = asyncio.create_task(pump())
        await asyncio.sleep(0.5)
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_closing_before_take_off_cancels_the_launch(stack: Stack) -> None:
    dock = stack.docks.docks[DOCK]
    async with stack.operator("cad1") as cad, stack.operator("pilot") as pilot:
        created = await cad.call("incident_create", INCIDENT)
        assert created.data.result == 0, created.data.output
        incident_id = created.data.output["incident_id"]
        assert created.data.output["assigned_drone"] == DRONE
        # The dock is opening for the launch: maintenance waits.
        busy = await pilot.call("dock_command", {"dock_id": DOCK, "method": "device_reboot"})
        assert busy.data.result == c.Result.INVALID_STATE, busy.data.output
        assert "preflight" in busy.data.output["reason"]
        closed = await cad.call("incident_close", {"incident_id": incident_id})
        assert closed.data.result == 0, closed.data.output
        assert closed.data.output == {"incident_id": incident_id, "status": "closed",
                                      "drone_id": DRONE, "drone_action": "launch_cancelled"}
        await until(lambda: stack.run.controller.drones[DRONE].sortie.phase == c.Phase.DOCKED
                    and dock.cover == c.CoverState.CLOSED and dock.job is None,
                    20.0, "the drone docked and the cover closed again")
        await until(lambda: any(a.code == "launch_cancelled" for a in cad.alerts), 5.0,
                    "the launch_cancelled alert")
        alert = next(a for a in cad.alerts if a.code == "launch_cancelled")
        assert alert.dock_id == DOCK and alert.drone_id == DRONE
        await asyncio.sleep(1.0)  # nothing else happens afterwards
        vehicle = stack.vehicle(DRONE)
        assert not vehicle.state.armed
        assert not any(in_air for _, in_air in cad.received.get(DRONE, []))
        assert dock.counters.methods == ["cover_open", "cover_close"]
        assert cad.incidents[incident_id][-1].status == c.IncidentStatus.CLOSED
        assert cad.phase(OTHER_DRONE) in (None, c.Phase.DOCKED), "nothing else launched"
    phases = [p[3] for p in stack.run.controller.journal.phases(DRONE)]
    assert phases == ["preflight", "docked"]


async def test_closing_in_flight_recalls_and_the_docks_see_the_guides_sequence(
    stack: Stack,
) -> None:
    async with stack.operator("cad1") as cad:
        created = await cad.call("incident_create", INCIDENT)
        incident_id = created.data.output["incident_id"]
        await until(lambda: cad.phase(DRONE) == c.Phase.TRANSIT, 40.0, "transit")
        closed = await cad.call("incident_close", {"incident_id": incident_id})
        assert closed.data.output["drone_action"] == "recalled"
        await until(lambda: cad.phase(DRONE) in (c.Phase.RETURNING, c.Phase.LANDING), 5.0,
                    "returning at once")
        await until(lambda: cad.phase(DRONE) in (c.Phase.CHARGING, c.Phase.DOCKED), 60.0,
                    "back in its dock")
        await until(lambda: stack.docks.docks[DOCK].cover == c.CoverState.CLOSED, 10.0,
                    "the cover closed over it")
        assert stack.run.controller.incidents[incident_id].on_scene_ms is None
    sequence = guide_sequence()
    assert sequence == ["cover_open", "cover_close", "cover_open", "cover_close"]
    assert stack.docks.docks[DOCK].counters.methods == sequence
    assert stack.docks.docks[OTHER_DOCK].counters.methods == []


async def test_finished_records_leave_the_broker_after_the_retention(stack: Stack) -> None:
    ctl = stack.run.controller
    ctl.config = dataclasses.replace(ctl.config, incident_retention_s=1.5)
    async with stack.operator("cad1") as cad:
        # In the test's no-fly zone: rejected, and the reply names the incident it created.
        rejected = await cad.call("incident_create", {"lat_deg": 51.5154, "lon_deg": -0.1319})
        assert rejected.data.result == c.Result.AIRSPACE
        incident_id = rejected.data.output["incident_id"]
        assert rejected.data.output["status"] == "rejected"
        assert incident_id in rejected.data.output["reason"]
        topic = c.incident(incident_id)
        async with listener(stack, c.ALL_INCIDENTS) as early:
            assert early.get(topic), "retained while recent"
        await asyncio.sleep(1.5 + 1.5)
        async with listener(stack, c.ALL_INCIDENTS) as late:
            assert not late.get(topic), "cleared after the retention"
        # Still there over MQTT for whoever asks.
        got = await cad.call("incident_get", {"incident_id": incident_id})
        assert got.data.result == 0
        assert got.data.output["incident"]["status"] == "rejected"
        missing = await cad.call("incident_get", {"incident_id": "never-made"})
        assert missing.data.result == c.Result.UNKNOWN_INCIDENT
    assert incident_id in ctl.retention.cleared
    # The history stays: in the journal, and so in groundstation report.
    db = open_read_only(stack.journal)
    try:
        report = build_report(db, incident_id=incident_id)
    finally:
        db.close()
    assert [(i.incident_id, i.status) for i in report.incidents] == [(incident_id, "rejected")]


async def test_docks_are_told_their_drone(stack: Stack) -> None:
    async with listener(stack, c.all_dock("assignment")) as seen:
        await until(lambda: len(seen) == 2, 5.0, "an assignment per dock")
    for dock in stack.sites.docks:
        got = c.decode(seen[c.dock_topic(dock.dock_id, "assignment")], c.DockAssignment)
        assert (got.dock_id, got.drone_id, got.site_id) == (dock.dock_id, dock.drone_id,
                                                          dock.site_id)
        assert stack.docks.docks[dock.dock_id].drone_id == dock.drone_id


async def test_an_operator_clears_a_stuck_cover_with_a_dock_reboot(stack: Stack) -> None:
    dock = stack.docks.docks[OTHER_DOCK]
    dock.stick_cover()
    async with stack.operator("pilot") as pilot, stack.operator("cad1") as cad:
        forbidden = await cad.call("dock_command", {"dock_id": OTHER_DOCK, "method": "cover_open"})
        assert forbidden.data.result == c.Result.FORBIDDEN
        unknown = await pilot.call("dock_command", {"dock_id": "nowhere-9",
                                                    "method": "cover_open"})
        assert unknown.data.result == c.Result.UNKNOWN_DOCK
        opened = await pilot.call("dock_command", {"dock_id": OTHER_DOCK, "method": "cover_open"})
        assert opened.data.result == 0, opened.data.output
        assert opened.data.output["dock_id"] == OTHER_DOCK and opened.data.output["bid"]
        await until(lambda: any(a.code == "dock_command_failed" for a in pilot.alerts), 10.0,
                    "the failed cover to be reported")
        failed = next(a for a in pilot.alerts if a.code == "dock_command_failed")
        assert failed.dock_id == OTHER_DOCK and "cover stuck" in failed.message
        assert dock.fault == "cover stuck"
        # The dock's own refusal is relayed with its code and reason.
        refused = await pilot.call("dock_command", {"dock_id": OTHER_DOCK,
                                                    "method": "cover_close"})
        assert refused.data.result == c.Result.DOCK_FAULT
        assert "cover stuck" in refused.data.output["reason"]
        await until(lambda: not stack.run.controller.drones[OTHER_DRONE].health.dock_ok, 5.0,
                    "the faulty dock not ready")
        reboot = await pilot.call("dock_command", {"dock_id": OTHER_DOCK,
                                                   "method": "device_reboot"})
        assert reboot.data.result == 0, reboot.data.output
        await until(lambda: any(a.code == "dock_command_done" for a in pilot.alerts), 10.0,
                    "the reboot to finish")
        done = next(a for a in pilot.alerts if a.code == "dock_command_done")
        assert done.dock_id == OTHER_DOCK
        dock = stack.docks.docks[OTHER_DOCK]  # read afresh: the reboot changed it
        assert dock.fault is None and dock.cover == c.CoverState.CLOSED
        await until(lambda: stack.run.controller.drones[OTHER_DRONE].health.dock_ok, 5.0,
                    "the dock ready again")
