"""The real console window against a real mosquitto: what a pilot sees and does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import BrokerConfig, Bus
from groundstation.console.qt import QMessageBox, QPoint, Qt
from groundstation.console.window import MainWindow
from tests.console import scenario as sc
from tests.console.conftest import QtRun, open_console, until, viewport

pytestmark = pytest.mark.console


class StandInController:
    """A scripted stand-in for the controller's operator service (NOT the real controller).

    Answers requests on ``operators/+/services`` the way the contract says the controller does:
    Reply envelopes matched by tid, ``output.reason`` on refusals, and the drone's retained state
    republished with the new pilot / target. ``refuse`` maps a method to (Result, reason).
    """

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.requests: list[tuple[str, c.Request]] = []
        self.refuse: dict[str, tuple[c.Result, str]] = {}
        self.pilot: dict[str, str | None] = {}

    def methods(self) -> list[str]:
        return [r.method for _, r in self.requests]

    async def serve(self) -> None:
        async for msg in self.bus.messages():
            ref = c.parse_topic(msg.topic)
            if ref is None or ref.kind != "operator" or ref.leaf != "services":
                continue
            req = c.decode(msg.payload, c.Request)
            self.requests.append((ref.ident, req))
            await self._answer(ref.ident, req)

    async def _answer(self, user: str, req: c.Request) -> None:
        reply_topic = c.operator_services_reply(user)
        if req.method in self.refuse:
            code, reason = self.refuse[req.method]
            reply = c.refusal(req.tid, req.method, code, reason)
            await self.bus.publish(reply_topic, c.encode(reply), qos=1)
            return
        drone = str(req.data.get("drone_id", ""))  # "" for a request about no drone
        output: dict[str, Any] = {}
        if req.method == c.OperatorMethod.AUTHORITY_GRAB:
            self.pilot[drone] = user
            await self._state(drone, pilot=user)
        elif req.method == c.OperatorMethod.AUTHORITY_RELEASE:
            self.pilot[drone] = None
            await self._state(drone)
        elif req.method == c.OperatorMethod.DRONE_GOTO:
            await self._state(
                drone,
                pilot=user,
                target_lat_deg=req.data["lat_deg"],
                target_lon_deg=req.data["lon_deg"],
            )
        elif req.method == c.OperatorMethod.DRONE_ORBIT:
            await self._state(
                drone,
                pilot=user,
                target_lat_deg=req.data["lat_deg"],
                target_lon_deg=req.data["lon_deg"],
                orbit_radius_m=req.data["radius_m"],
            )
        elif req.method == c.OperatorMethod.INCIDENT_CREATE:
            output = {"incident_id": "inc-test"}
        reply = c.make_reply(req.tid, req.method, c.Result.OK, output)
        await self.bus.publish(reply_topic, c.encode(reply), qos=1)

    async def _state(self, drone_id: str, **kw: object) -> None:
        state = sc.drone_state(drone_id, c.Phase.ON_SCENE, **kw)
        await sc.publish(self.bus, c.drone_state(drone_id), state, retain=True)


@contextlib.asynccontextmanager
async def stand_in(broker: BrokerConfig) -> AsyncIterator[StandInController]:
    async with Bus(broker, "stand-in-controller") as bus:
        await bus.subscribe(c.ALL_OPERATOR_SERVICES, qos=1)
        ctl = StandInController(bus)
        task = asyncio.create_task(ctl.serve(), name="test:stand-in")
        try:
            yield ctl
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _fly(bus: Bus, drone_id: str, n: int, start: tuple[float, float]) -> None:
    """n telemetry samples 0.1 s apart (in their timestamps), heading north-east."""
    t0 = c.now_ms()
    for i in range(n):
        lat, lon = start[0] + i * 0.0002, start[1] + i * 0.0003
        tel = sc.telemetry(drone_id, lat, lon, seq=i, ts_ms=t0 + i * 600)
        await sc.publish(bus, c.drone_telemetry(drone_id), tel, qos=0)


def _click_map(
    qtbot: QtBot,
    window: MainWindow,
    pos: QPoint,
    button: Qt.MouseButton = Qt.MouseButton.LeftButton,
) -> None:
    qtbot.mouseClick(viewport(window.map), button, pos=pos)


# ---------------------------------------------------------------------------------------------


def test_drone_appears_and_moves(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto() as mq,
            Bus(mq.config, "test-sim") as bus,
            open_console(mq.config) as window,
        ):
            await _fly(bus, "uav-7", 3, sc.HYDE_PARK)
            await until(lambda: "uav-7" in window.map.drones, what="drone on the map")
            await until(lambda: "uav-7" in window.fleet_model.keys, what="drone in the table")
            item = window.map.drones["uav-7"]
            first = item.pos()
            assert item.isVisible()
            row = window.fleet_model.rows[window.fleet_model.keys.index("uav-7")]
            assert row[1].text == "transit"
            assert row[4].text == "60 m"
            # It moves: new telemetry moves the symbol and grows the trail.
            await _fly(bus, "uav-7", 8, (sc.HYDE_PARK[0] + 0.002, sc.HYDE_PARK[1] + 0.003))
            await until(
                lambda: item.pos() != first and item.pos().y() < first.y(), what="drone moved north"
            )
            await until(
                lambda: window.map.trails["uav-7"].path().elementCount() >= 5, what="trail drawn"
            )
            # Selecting it on the map fills the detail panel.
            _click_map(qtbot, window, window.map.mapFromScene(item.pos()))
            await until(lambda: window.selected == "uav-7", what="selected by click")
            assert window.detail.values["alt"].text() == "60 m"
            assert "sats" in window.detail.values["gps"].text()

    qt_run(scenario())


def test_docks_and_incidents_are_drawn(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto() as mq,
            Bus(mq.config, "test-docks") as bus,
            open_console(mq.config) as window,
        ):
            await sc.publish(
                bus,
                c.dock_topic("hyde-park-1", "osd"),
                sc.dock_osd("hyde-park-1", cover=c.CoverState.OPEN, charging=False),
            )
            inc = sc.incident(
                "inc-42",
                51.51,
                -0.15,
                status=c.IncidentStatus.DISPATCHED,
                assigned_drone="uav-hyde-park-1",
                eta_s=65.0,
            )
            await sc.publish(bus, c.incident("inc-42"), inc, retain=True)
            await until(lambda: "inc-42" in window.map.incidents, what="incident on the map")
            item = window.map.incidents["inc-42"]
            assert "P1" in item.line1 and "1:1" in item.line1  # created 75 s ago
            assert "ETA 1:05" in item.line2
            await until(
                lambda: window.map.docks["hyde-park-1"].state == "working", what="dock state colour"
            )
            assert window.map.docks["hyde-park-1"].cover_open
            await until(lambda: "inc-42" in window.incident_model.keys, what="incident row")
            # Closing the incident removes it from the map.
            closed = sc.incident(
                "inc-42", 51.51, -0.15, status=c.IncidentStatus.CLOSED, closed_ms=c.now_ms()
            )
            await sc.publish(bus, c.incident("inc-42"), closed, retain=True)
            await until(lambda: "inc-42" not in window.map.incidents, what="incident gone")

    qt_run(scenario())


def test_right_click_creates_incident_at_clicked_position(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto() as mq,
            stand_in(mq.config) as ctl,
            open_console(mq.config, user="dispatch1", role=c.Role.CAD) as window,
        ):
            window.map.set_view(51.5200, -0.1000, 0.2)
            centre = viewport(window.map).rect().center()
            _click_map(qtbot, window, centre, Qt.MouseButton.RightButton)
            await until(lambda: window.last_menu is not None, what="context menu")
            menu = window.last_menu
            assert menu is not None
            action = next(a for a in menu.actions() if a.objectName() == "create_p1")
            assert action.isEnabled()
            goto = next(a for a in menu.actions() if a.objectName() == "goto_here")
            assert not goto.isEnabled()  # a dispatcher cannot fly
            action.trigger()
            menu.close()
            await until(lambda: ctl.requests, what="request on the broker")
            user, req = ctl.requests[0]
            assert user == "dispatch1"
            assert req.method == c.OperatorMethod.INCIDENT_CREATE
            data = c.decode_data(req.data, c.IncidentCreate)
            # One pixel is 5 Mercator metres here: the decoded click is within a pixel or two.
            assert data.lat_deg == pytest.approx(51.52, abs=1e-4)
            assert data.lon_deg == pytest.approx(-0.10, abs=1e-4)
            assert data.priority == 1
            await until(lambda: "done" in window.panel.result.text(), what="result shown")
            assert window.panel.result.text().startswith("create incident")

    qt_run(scenario())


def test_takeover_goto_orbit_refusal_release(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto() as mq,
            Bus(mq.config, "test-sim") as bus,
            stand_in(mq.config) as ctl,
            open_console(mq.config, user="pilot1") as window,
        ):
            p = window.panel
            await sc.publish(bus, c.drone_state("uav-1"), sc.drone_state("uav-1"), retain=True)
            await _fly(bus, "uav-1", 3, sc.HYDE_PARK)
            await until(lambda: "uav-1" in window.fleet_model.keys, what="drone in the table")
            assert not p.take.isEnabled()  # nothing selected yet
            qtbot.mouseClick(
                window.fleet_table.viewport(),
                Qt.MouseButton.LeftButton,
                pos=window.fleet_table.visualRect(window.fleet_model.index(0, 0)).center(),
            )
            await until(lambda: window.selected == "uav-1", what="selected")
            assert p.take.isEnabled() and not p.goto.isEnabled() and not p.release.isEnabled()

            qtbot.mouseClick(p.take, Qt.MouseButton.LeftButton)
            await until(lambda: "take control uav-1: done" in p.result.text(), what="grab ok")
            await until(lambda: p.goto.isEnabled() and p.release.isEnabled(), what="control")
            assert not p.take.isEnabled()

            # Go to: the button arms the map, the next click is the destination.
            qtbot.mouseClick(p.goto, Qt.MouseButton.LeftButton)
            armed = window.map.goto_mode  # a local: mypy would keep goto_mode narrowed below
            assert armed
            window.map.set_view(51.5100, -0.1600, 0.2)
            _click_map(qtbot, window, viewport(window.map).rect().center())
            await until(lambda: "go to uav-1: done" in p.result.text(), what="goto ok")
            goto = ctl.requests[-1][1]
            assert goto.method == c.OperatorMethod.DRONE_GOTO
            assert goto.data["lat_deg"] == pytest.approx(51.51, abs=1e-4)
            assert goto.data["lon_deg"] == pytest.approx(-0.16, abs=1e-4)
            assert goto.data["alt_rel_m"] == pytest.approx(60.0)
            assert not window.map.goto_mode
            await until(
                lambda: (
                    window.map.routes.get("uav-1") is not None
                    and window.map.routes["uav-1"].path().elementCount() == 2
                ),
                what="planned route drawn",
            )

            # Orbit with the radius from the spin box (keyboard shortcut O).
            p.radius.setValue(75)
            qtbot.keyClick(window, Qt.Key.Key_O)
            await until(lambda: "orbit uav-1: done" in p.result.text(), what="orbit ok")
            orbit = ctl.requests[-1][1]
            assert orbit.method == c.OperatorMethod.DRONE_ORBIT
            assert orbit.data["radius_m"] == 75
            await until(
                lambda: (
                    window.map.orbits.get("uav-1") is not None
                    and window.map.orbits["uav-1"].isVisible()
                ),
                what="orbit circle drawn",
            )

            # A dangerous command asks first, and its refusal reason is shown.
            ctl.refuse[c.OperatorMethod.DRONE_LAND] = (
                c.Result.INVALID_STATE,
                "landing site is over the Serpentine",
            )
            qtbot.mouseClick(p.land, Qt.MouseButton.LeftButton)
            box = window.last_confirm
            assert box is not None and box.isVisible()
            n = len(ctl.requests)
            qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
            await until(lambda: "refused" in p.result.text(), what="refusal shown")
            assert len(ctl.requests) == n + 1
            assert "land now uav-1: refused (invalid state)" in p.result.text()
            assert "over the Serpentine" in p.result.text()

            # Cancel on the confirmation sends nothing.
            qtbot.mouseClick(p.rtl, Qt.MouseButton.LeftButton)
            box = window.last_confirm
            assert box is not None
            qtbot.mouseClick(
                box.button(QMessageBox.StandardButton.Cancel), Qt.MouseButton.LeftButton
            )
            await asyncio.sleep(0.3)
            assert len(ctl.requests) == n + 1

            qtbot.mouseClick(p.release, Qt.MouseButton.LeftButton)
            await until(lambda: "release control uav-1: done" in p.result.text(), what="release")
            await until(lambda: not p.goto.isEnabled() and p.take.isEnabled(), what="released")
            # T takes control again from the keyboard, after a right-click menu was open.
            centre = viewport(window.map).rect().center()
            _click_map(qtbot, window, centre, Qt.MouseButton.RightButton)
            await until(lambda: window.last_menu is not None, what="menu")
            menu = window.last_menu
            assert menu is not None
            menu.close()
            await until(window.isActiveWindow, what="the console active again")
            qtbot.keyClick(window, Qt.Key.Key_T)
            await until(p.release.isEnabled, what="control taken with T")
            assert ctl.methods() == [
                "authority_grab",
                "drone_goto",
                "drone_orbit",
                "drone_land",
                "authority_release",
                "authority_grab",
            ]

    qt_run(scenario())


def test_viewer_can_command_nothing(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto() as mq,
            Bus(mq.config, "test-sim") as bus,
            stand_in(mq.config) as ctl,
            open_console(mq.config, user="viewer", role=c.Role.VIEWER) as window,
        ):
            # Even with the drone "controlled" by this user, a viewer's buttons stay disabled.
            await sc.publish(
                bus, c.drone_state("uav-2"), sc.drone_state("uav-2", pilot="viewer"), retain=True
            )
            await _fly(bus, "uav-2", 2, sc.HYDE_PARK)
            await until(lambda: "uav-2" in window.model.drones, what="drone")
            window.select_drone("uav-2")
            await asyncio.sleep(0.2)
            assert window.selected == "uav-2"
            for button in window.panel.drone_buttons:
                assert not button.isEnabled(), button.objectName()
            assert not window.close_incident_button.isEnabled()
            _click_map(qtbot, window, QPoint(300, 200), Qt.MouseButton.RightButton)
            await until(lambda: window.last_menu is not None, what="menu")
            menu = window.last_menu
            assert menu is not None
            acts = [a for a in menu.actions() if a.objectName()]
            assert acts and not any(a.isEnabled() for a in acts)
            menu.close()
            # Keyboard shortcuts do nothing either. (F, follow, is a view setting a viewer may
            # change: it shows the keys do reach the window.)
            await until(window.isActiveWindow, what="the console active again")
            following = window.follow.isChecked()
            qtbot.keyClick(window, Qt.Key.Key_F)
            await until(lambda: window.follow.isChecked() != following, what="F reaches the window")
            qtbot.keyClick(window, Qt.Key.Key_T)
            await asyncio.sleep(0.3)
            assert ctl.requests == []
            # The drone is still fully visible to the viewer.
            assert window.detail.values["alt"].text() == "60 m"

    qt_run(scenario())
