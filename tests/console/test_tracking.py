"""Tracking in the console against a real H.264 source and a real mosquitto: the reason is asked
for first, a click in the picture sends ``drone_track`` (not a look-at), the box the camera
reports is drawn over the picture, the state and distance are always shown, the target's trail
is on the map, Esc sends ``drone_track_stop``."""

from __future__ import annotations

import msgspec
import pytest
from pytestqt.qtbot import QtBot

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from groundstation.console.qt import QPointF, Qt
from tests.console import scenario as sc
from tests.console.conftest import QtRun, open_console, until
from tests.console.test_video import airborne, announce, descriptor, requests_on
from tests.console.videosrc import VideoSource

pytestmark = pytest.mark.console


def status(state: c.TrackState, lat: float, **kw: object) -> c.TrackingStatus:
    """uav-1's tracking from its video, the target at ``lat``; ``kw`` sets any other field."""
    st = c.TrackingStatus(
        drone_id="uav-1",
        ts_ms=c.now_ms(),
        state=state,
        source=c.TrackSource.VIDEO,
        target="video",
        reason="pursuit of a robbery suspect",
        started_by="operator",
        started_ms=1_767_225_600_000,
        since_ms=1_767_225_600_000,
        target_lat_deg=lat,
        target_lon_deg=-0.14,
        distance_m=23.0,
    )
    return msgspec.structs.replace(st, **kw)


def tracking_requests(seen: list[c.Request]) -> list[c.Request]:
    return [r for r in seen if r.method in ("drone_track", "drone_track_stop", "drone_camera")]


def test_click_to_track_box_state_trail_and_esc(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        with VideoSource() as src:
            url = src.add("uav-1", 640, 360)
            async with (
                Mosquitto(persistence=False) as mq,
                Bus(mq.config, "test-ctl") as bus,
                requests_on(bus) as seen,
                open_console(mq.config) as window,
            ):
                await airborne(bus, "uav-1")
                await announce(bus, descriptor("uav-1", url))
                await until(lambda: "uav-1" in window.video.descriptors, what="descriptor")
                window.select_drone("uav-1")
                view = window.video.pane.view
                await until(lambda: view.frame is not None, what="a picture")
                tr = window.tracking
                assert tr.label.text() == "Not tracking"

                # No reason: arming is refused with the reason to give.
                tr.arm.click()
                assert not tr.arm.isChecked()
                assert "reason" in tr.hint.text()

                tr.reason.setText("pursuit of a robbery suspect")
                tr.arm.click()
                assert tr.arm.isChecked()
                rect = view.image_rect()
                at = QPointF(rect.left() + 0.6 * rect.width(), rect.top() + 0.4 * rect.height())
                qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=at.toPoint())
                await until(lambda: tracking_requests(seen), what="drone_track on the broker")
                req = tracking_requests(seen)[0]
                assert req.method == "drone_track"  # not a look-at
                assert req.data["source"] == "video"
                assert req.data["reason"] == "pursuit of a robbery suspect"
                assert req.data["x"] == pytest.approx(0.6, abs=0.01)
                assert req.data["y"] == pytest.approx(0.4, abs=0.01)
                marker = view.track  # a local: mypy would keep view.track narrowed below
                assert marker is not None and marker[0] == "marker"

                # The controller's status: the camera's box over the picture, the state line.
                box = c.ImageBox(left=0.55, top=0.35, right=0.65, bottom=0.45)
                for i in range(3):
                    st = status(c.TrackState.FOLLOWING, 51.51 + i * 0.0002, box=box)
                    await sc.publish(bus, c.drone_tracking("uav-1"), st, retain=True)
                await until(lambda: "FOLLOWING" in tr.label.text(), what="the state line")
                assert "23 m" in tr.label.text() and "operator" in tr.label.text()
                box_drawn = view.track  # a local, as above
                assert box_drawn == ("box", (0.55, 0.35, 0.65, 0.45))
                await until(lambda: len(tr.trail("uav-1")) == 3, what="the trail")
                trail_item = window.map.target_trails["uav-1"]
                assert not trail_item.path().isEmpty()
                # The box is drawn in red over the picture at its place.
                img = view.grab().toImage()
                rect = view.image_rect()
                left = round(rect.left() + 0.55 * rect.width())
                mid_y = round(rect.top() + 0.40 * rect.height())
                edge = [img.pixelColor(x, mid_y) for x in range(left - 2, left + 3)]
                assert any(p.red() > 180 and p.green() < 120 for p in edge), [
                    p.name() for p in edge]
                inside = img.pixelColor(round(rect.left() + 0.6 * rect.width()), mid_y)
                assert not (inside.red() > 180 and inside.green() < 120)

                # Esc stops the selected drone's tracking.
                window.activateWindow()
                qtbot.keyClick(window, Qt.Key.Key_Escape)
                await until(lambda: len(tracking_requests(seen)) >= 2, what="drone_track_stop")
                assert tracking_requests(seen)[1].method == "drone_track_stop"

                stopped = status(
                    c.TrackState.STOPPED, 51.5106, stopped_by="operator",
                    stop_reason="tracking stopped by operator: stopped by the pilot",
                )
                await sc.publish(bus, c.drone_tracking("uav-1"), stopped, retain=True)
                await until(lambda: tr.label.text().startswith("Not tracking"), what="stopped")
                assert "stopped by operator" in tr.label.text()
                assert view.track is None
                assert window.map.target_trails["uav-1"].path().isEmpty()

    qt_run(scenario())


def test_track_a_ground_unit_heard_on_the_broker(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto(persistence=False) as mq,
            Bus(mq.config, "test-ctl") as bus,
            requests_on(bus) as seen,
            open_console(mq.config) as window,
        ):
            await airborne(bus, "uav-1")
            window.select_drone("uav-1")
            tr = window.tracking
            assert tr.unit.count() == 0 and not tr.unit_button.isEnabled()
            # A police car's AVL on units/{id}/position: offered to track.
            for unit in ("car-7", "van-2"):
                pos = c.TargetPosition(id=unit, ts_ms=c.now_ms(), lat_deg=51.51, lon_deg=-0.13)
                await sc.publish(bus, c.unit_position(unit), pos)
            await until(lambda: tr.unit.count() == 2, what="the units offered")
            assert tr.unit_button.isEnabled()
            tr.unit.setCurrentIndex(tr.unit.findText("car-7"))

            # No reason: nothing sent, the reason asked for.
            qtbot.mouseClick(tr.unit_button, Qt.MouseButton.LeftButton)
            assert "reason" in tr.hint.text()
            tr.reason.setText("pursuit of a stolen car, s.17 PACE")
            qtbot.mouseClick(tr.unit_button, Qt.MouseButton.LeftButton)
            await until(lambda: tracking_requests(seen), what="drone_track on the broker")
            req = tracking_requests(seen)[0]
            assert req.method == "drone_track"
            assert req.data["source"] == "unit" and req.data["unit_id"] == "car-7"
            assert req.data["drone_id"] == "uav-1"
            assert req.data["reason"] == "pursuit of a stolen car, s.17 PACE"
            assert len(tracking_requests(seen)) == 1

    qt_run(scenario())
