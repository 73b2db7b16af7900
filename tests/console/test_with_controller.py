"""The real console window against the real controller: mosquitto, the simulator flown by
MAVSDK, simulated docks, the controller, and the window, all on one qasync loop.

A dispatcher's right-click creates an incident that the controller dispatches and flies; the
pilot takes control mid-transit from the console, sends the drone somewhere else with a click,
sees it arrive, and hands it back to the sortie."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.console.qt import Qt
from groundstation.console.window import MainWindow
from missions.geo import distance_m
from tests.console.conftest import QtRun, open_console, until, viewport
from tests.controller.conftest import small_sites, stack_on

pytestmark = pytest.mark.console

DRONE = "uav-west-end-1"
INCIDENT = (51.5040, -0.1050)  # 1.6 km south-east of the West End dock
DETOUR = (51.5080, -0.1150)


def _click(
    qtbot: QtBot, window: MainWindow, lat: float, lon: float, button: Qt.MouseButton
) -> None:
    window.map.set_view(lat, lon, 0.2)
    qtbot.mouseClick(viewport(window.map), button, pos=viewport(window.map).rect().center())


def test_console_drives_the_real_controller(qt_run: QtRun, qtbot: QtBot, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto(persistence=False) as mq,
            stack_on(mq.config, small_sites(), tmp_path / "journal.sqlite") as stack,
            open_console(mq.config.with_login("pilot", None), user="pilot") as window,
        ):
            ctl = stack.run.controller
            p = window.panel
            # Right-click on the map: a priority-1 incident there, dispatched by the controller.
            _click(qtbot, window, *INCIDENT, Qt.MouseButton.RightButton)
            await until(lambda: window.last_menu is not None, what="context menu")
            assert window.last_menu is not None
            create = next(a for a in window.last_menu.actions() if a.objectName() == "create_p1")
            create.trigger()
            window.last_menu.close()
            await until(
                lambda: "create incident" in p.result.text() and "done" in p.result.text(),
                what="incident created",
            )
            await until(lambda: len(ctl.incidents) == 1, what="incident at the controller")
            incident = next(iter(ctl.incidents.values()))
            assert incident.lat_deg == pytest.approx(INCIDENT[0], abs=1e-4)
            assert incident.lon_deg == pytest.approx(INCIDENT[1], abs=1e-4)
            assert incident.priority == 1 and incident.created_by == "pilot"
            await until(lambda: incident.incident_id in window.incident_model.keys, what="queue")

            # The drone appears in the fleet table and takes off; select it mid-transit.
            await until(lambda: ctl.drones[DRONE].sortie.phase == c.Phase.TRANSIT, 40.0, "transit")
            await until(lambda: DRONE in window.fleet_model.keys, what="drone in the table")
            row = window.fleet_model.keys.index(DRONE)
            qtbot.mouseClick(
                window.fleet_table.viewport(),
                Qt.MouseButton.LeftButton,
                pos=window.fleet_table.visualRect(window.fleet_model.index(row, 0)).center(),
            )
            await until(lambda: window.selected == DRONE, what="selected")

            # Take control, go to a clicked point: the real drone flies there.
            await until(p.take.isEnabled, what="take control enabled")
            qtbot.mouseClick(p.take, Qt.MouseButton.LeftButton)
            await until(
                lambda: f"take control {DRONE}: done" in p.result.text(),
                what=f"grab (result: {p.result.text()!r})",
            )
            await until(lambda: ctl.drones[DRONE].sortie.pilot == "pilot", what="authority")
            qtbot.mouseClick(p.goto, Qt.MouseButton.LeftButton)
            _click(qtbot, window, *DETOUR, Qt.MouseButton.LeftButton)
            await until(lambda: f"go to {DRONE}: done" in p.result.text(), what="goto")

            def dist_to_detour() -> float:
                lat, lon, _ = stack.vehicle(DRONE).state.position()
                return distance_m(lat, lon, *DETOUR)

            await until(lambda: dist_to_detour() < 8.0, 30.0, "the drone at the clicked point")
            assert ctl.drones[DRONE].sortie.phase == c.Phase.TRANSIT  # the autonomy kept out

            # Resume the sortie: the controller takes it on to the incident.
            await until(p.resume.isEnabled, what="resume enabled")
            qtbot.mouseClick(p.resume, Qt.MouseButton.LeftButton)
            await until(
                lambda: f"{DRONE}: done" in p.result.text() and "resume" in p.result.text(),
                what="resume",
            )
            await until(
                lambda: ctl.drones[DRONE].sortie.phase == c.Phase.ON_SCENE, 60.0, "on scene"
            )
            await until(
                lambda: (
                    window.fleet_model.rows[window.fleet_model.keys.index(DRONE)] is not None
                    and "on_scene"
                    in str(window.fleet_model.rows[window.fleet_model.keys.index(DRONE)])
                ),
                what="table shows on_scene",
            )

    qt_run(scenario())
