"""The console's live video against a real H.264 MPEG-TS-over-HTTP source and a real mosquitto.

The source (tests/console/videosrc.py) stands in for the relay until it is merged: PyAV's
libx264 with the frame clock code in each picture, served by aiohttp with Basic auth. The
descriptor a controller would publish is published retained on the broker; the console finds
the URL there, as it will in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from pytestqt.qtbot import QtBot

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from groundstation.console.qt import QImage, QPoint, QPointF, QRectF, Qt, QTimer
from groundstation.console.video.status import DecoderState
from groundstation.console.video.widgets import VideoView
from groundstation.console.window import MainWindow
from tests.console import scenario as sc
from tests.console.conftest import QtRun, open_console, until
from tests.console.videosrc import VideoSource, black_hole

pytestmark = pytest.mark.console


def descriptor(
    drone_id: str, url: str | None, state: c.VideoState = c.VideoState.LIVE, **kw: object
) -> c.VideoDescriptor:
    """A 720p H.264 stream's descriptor; ``kw`` sets any other of its fields."""
    desc = c.VideoDescriptor(
        drone_id=drone_id,
        ts_ms=c.now_ms(),
        state=state,
        url=url,
        codec="h264",
        width_px=1280,
        height_px=720,
        fps=25.0,
        live=state == c.VideoState.LIVE,
    )
    return msgspec.structs.replace(desc, **kw)


async def announce(bus: Bus, desc: c.VideoDescriptor) -> None:
    await sc.publish(bus, c.drone_video(desc.drone_id), desc, retain=True)


async def airborne(bus: Bus, drone_id: str, *, in_air: bool = True, lat: float = 51.51) -> None:
    tel = sc.telemetry(drone_id, lat, -0.14, in_air=in_air, alt=62.0, heading=123.0)
    await sc.publish(bus, c.drone_telemetry(drone_id), tel, qos=0)


def picture(window: MainWindow) -> QImage:
    """The central half of the picture the pane paints (overlays are at the edges)."""
    view = window.video.pane.view
    rect = view.image_rect()
    inner = QRectF(
        rect.left() + rect.width() / 4,
        rect.top() + rect.height() / 4,
        rect.width() / 2,
        rect.height() / 2,
    ).toRect()
    return view.grab().toImage().copy(inner)


@contextlib.asynccontextmanager
async def requests_on(bus: Bus) -> AsyncIterator[list[c.Request]]:
    """Every operator request the console publishes, as the controller would receive it."""
    seen: list[c.Request] = []
    await bus.subscribe(c.ALL_OPERATOR_SERVICES, qos=1)

    async def collect() -> None:
        async for msg in bus.messages():
            ref = c.parse_topic(msg.topic)
            if ref is not None and ref.leaf == "services":
                seen.append(c.decode(msg.payload, c.Request))

    task = asyncio.create_task(collect(), name="test:requests")
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def camera_requests(seen: list[c.Request]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.data.items() if v is not None}
        for r in seen
        if r.method == c.OperatorMethod.DRONE_CAMERA
    ]


def _shows(view: VideoView, text: str) -> bool:
    return (view.text or "").startswith(text)


# ---------------------------------------------------------------------------------------------


def test_pane_shows_moving_frames_of_the_stream(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        with VideoSource() as src:
            url = src.add("uav-1")
            async with (
                Mosquitto(persistence=False) as mq,
                Bus(mq.config, "test-ctl") as bus,
                open_console(mq.config) as window,
            ):
                await airborne(bus, "uav-1")
                await announce(bus, descriptor("uav-1", url))
                await until(lambda: "uav-1" in window.video.descriptors, what="descriptor")
                window.select_drone("uav-1")
                video = window.video
                await until(
                    lambda: video.stats.get("uav-1") and video.stats["uav-1"].shown >= 5,
                    what="frames shown",
                )
                frame = video.frames["uav-1"]
                assert (frame.source_width_px, frame.source_height_px) == (1280, 720)
                rect = video.pane.view.image_rect()
                assert rect.width() / rect.height() == pytest.approx(16 / 9, rel=0.01)
                assert video.pane.view.text is None
                first = picture(window)
                await asyncio.sleep(0.5)
                second = picture(window)
                assert first != second, "the picture does not move"
                # The picture is the stream's (the source's ramp and box), not the empty background.
                assert (
                    len(
                        {
                            first.pixelColor(x, first.height() // 2).name()
                            for x in range(0, first.width(), 8)
                        }
                    )
                    > 5
                )
                # The overlays: drone, altitude, heading.
                assert video.pane.view.top.startswith("uav-1 ")
                assert "ALT 62 m" in video.pane.view.bottom and "HDG 123°" in video.pane.view.bottom
                # Capture -> shown latency from the frame clock code: read from every frame (a
                # misread code would be off by hours or years; the figure itself is bench's).
                lat = video.latencies_ms("uav-1")
                assert len(lat) >= 5 and all(0 < v < 60_000 for v in lat), lat[:10]
                st = video.stats["uav-1"]
                assert st.decoded >= st.shown >= 5
                # Deselecting closes the stream (the grid shows uav-1 too: take it down first).
                await airborne(bus, "uav-1", in_air=False)
                window.select_drone(None)
                await until(lambda: not video.decoders, what="stream closed")

    qt_run(scenario())


def test_grid_shows_every_airborne_drone_and_closes_the_rest(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        with VideoSource() as src:
            urls = {d: src.add(d, 320, 180) for d in ("uav-a", "uav-b", "uav-c")}
            async with (
                Mosquitto(persistence=False) as mq,
                Bus(mq.config, "test-ctl") as bus,
                open_console(mq.config) as window,
            ):
                video = window.video
                for n, (d, url) in enumerate(urls.items()):
                    await announce(bus, descriptor(d, url, width_px=320, height_px=180))
                    await airborne(bus, d, in_air=d != "uav-c", lat=51.51 + n * 0.01)
                await until(lambda: video.grid.order == ["uav-a", "uav-b"], what="two tiles")
                await until(
                    lambda: all(
                        (s := video.stats.get(d)) and s.shown >= 3 for d in ("uav-a", "uav-b")
                    ),
                    what="frames in both tiles",
                )
                assert set(video.decoders) == {"uav-a", "uav-b"}, "the docked drone is not streamed"
                for d in ("uav-a", "uav-b"):
                    tile = video.grid.tiles[d]
                    assert tile.frame is not None and tile.text is None
                    assert tile.top.startswith(d)
                # uav-b lands: its tile goes and its stream is closed; uav-c takes off.
                await airborne(bus, "uav-b", in_air=False)
                await airborne(bus, "uav-c", in_air=True)
                await until(
                    lambda: video.grid.order == ["uav-a", "uav-c"], what="tiles follow the air"
                )
                await until(
                    lambda: set(video.decoders) == {"uav-a", "uav-c"}, what="streams follow"
                )
                # A click on a tile selects its drone for the pane.
                tile = video.grid.tiles["uav-c"]
                qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
                assert window.selected == "uav-c"
                assert video.pane.view.drone_id == "uav-c"

    qt_run(scenario())


def test_camera_requests_from_the_video_and_the_map(qt_run: QtRun, qtbot: QtBot) -> None:
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
                await announce(bus, descriptor("uav-1", url, gimbal_pitch_deg=-30.0))
                await until(lambda: "uav-1" in window.video.descriptors, what="descriptor")
                window.select_drone("uav-1")
                view = window.video.pane.view
                await until(lambda: view.frame is not None, what="a picture")
                rect = view.image_rect()
                at = QPointF(rect.left() + 0.25 * rect.width(), rect.top() + 0.75 * rect.height())
                qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=at.toPoint())
                await until(lambda: camera_requests(seen), what="look_at_image on the broker")
                req = camera_requests(seen)[0]
                assert req["drone_id"] == "uav-1" and req["action"] == "look_at_image"
                assert req["x"] == pytest.approx(0.25, abs=0.01)
                assert req["y"] == pytest.approx(0.75, abs=0.01)

                window.video.pane.snapshot.click()
                window.video.pane.tilt_down.click()
                window.video.pane.reset.click()
                await until(lambda: len(camera_requests(seen)) >= 4, what="three more requests")
                snap, tilt, reset = camera_requests(seen)[1:4]
                assert snap == {"drone_id": "uav-1", "action": "snapshot"}
                assert tilt == {"drone_id": "uav-1", "action": "point", "pitch_deg": -40.0}
                assert reset == {"drone_id": "uav-1", "action": "reset"}

                # Right-click on the map: "Point camera here" looks at that ground point.
                pos = QPoint(300, 200)
                lat, lon = window.map.lat_lon_at(pos)
                window._context_menu(lat, lon, window.map.mapToGlobal(pos))
                menu = window.last_menu
                assert menu is not None
                action = next(a for a in menu.actions() if a.objectName() == "camera_look_here")
                assert action.isEnabled()
                action.trigger()
                menu.close()
                await until(lambda: len(camera_requests(seen)) >= 5, what="look_at")
                look = camera_requests(seen)[4]
                assert look["action"] == "look_at"
                assert look["lat_deg"] == pytest.approx(lat, abs=1e-6)
                assert look["lon_deg"] == pytest.approx(lon, abs=1e-6)
                # No controller answers here: the pane's outcome line will say so, not crash.

    qt_run(scenario())


def test_no_video_states_show_their_reason(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto(persistence=False) as mq,
            Bus(mq.config, "test-ctl") as bus,
            open_console(mq.config) as window,
        ):
            video = window.video
            await airborne(bus, "uav-1")
            window.select_drone("uav-1")
            await until(
                lambda: "not described" in (video.pane.view.text or ""), what="no descriptor"
            )
            cases = [
                (
                    descriptor(
                        "uav-1",
                        None,
                        c.VideoState.NO_CAMERA,
                        reason="dock hyde-park-1 has no stream",
                    ),
                    "No camera: dock hyde-park-1 has no stream",
                ),
                (descriptor("uav-1", None, c.VideoState.IDLE), "Camera idle"),
                (
                    descriptor(
                        "uav-1",
                        "http://127.0.0.1:9/x.ts",
                        c.VideoState.LOST,
                        reason="no packet for 30 s",
                    ),
                    "Stream lost: no packet for 30 s",
                ),
            ]
            for desc, text in cases:
                await announce(bus, desc)
                await until(functools.partial(_shows, video.pane.view, text), what=text)
                assert video.pane.view.frame is None
                assert not video.decoders, "nothing to open"
                tile = video.grid.tiles["uav-1"]
                await until(functools.partial(_shows, tile, text), what=f"tile: {text!r}")
            # The retained descriptor is cleared: back to "not described".
            await bus.publish(c.drone_video("uav-1"), b"", qos=1, retain=True)
            await until(lambda: "not described" in (video.pane.view.text or ""), what="cleared")

    qt_run(scenario())


def test_refused_login_is_shown_with_its_code(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        with VideoSource(
            users={"operator": "right", "dock": "d"}, forbidden=frozenset({"dock"})
        ) as src:
            url = src.add("uav-1", 320, 180)
            async with (
                Mosquitto(persistence=False) as mq,
                Bus(mq.config, "test-ctl") as bus,
            ):
                wrong = dataclasses.replace(mq.config, username="operator", password="wrong")
                async with open_console(wrong) as window:
                    await airborne(bus, "uav-1")
                    await announce(bus, descriptor("uav-1", url))
                    await until(lambda: "uav-1" in window.video.descriptors, what="descriptor")
                    window.select_drone("uav-1")
                    await until(lambda: "401" in (window.video.pane.view.text or ""), what="401")
                    assert (window.video.pane.view.text or "").startswith("Video refused: 401")
                    assert ("uav-1", 401) in src.requests
                dock = dataclasses.replace(mq.config, username="dock", password="d")
                async with open_console(dock, user="dock", role=c.Role.VIEWER) as window:
                    window.select_drone("uav-1")
                    await until(lambda: "403" in (window.video.pane.view.text or ""), what="403")
                    assert ("uav-1", 403) in src.requests
                    # A viewer watches but may not point the camera.
                    assert not window.video.pane.snapshot.isEnabled()
                right = dataclasses.replace(mq.config, username="operator", password="right")
                async with open_console(right) as window:
                    window.select_drone("uav-1")
                    await until(
                        lambda: window.video.pane.view.frame is not None,
                        what="frames with the right login",
                    )

    qt_run(scenario())


def test_a_stream_that_stops_shows_stalled_then_recovers(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        with VideoSource() as src:
            url = src.add("uav-1", 320, 180)
            async with (
                Mosquitto(persistence=False) as mq,
                Bus(mq.config, "test-ctl") as bus,
                open_console(mq.config) as window,
            ):
                await airborne(bus, "uav-1")
                await announce(bus, descriptor("uav-1", url))
                await until(lambda: "uav-1" in window.video.descriptors, what="descriptor")
                window.select_drone("uav-1")
                view = window.video.pane.view
                await until(lambda: view.frame is not None and view.text is None, what="playing")
                src.pause("uav-1")
                await until(
                    lambda: (view.text or "").startswith("Stream stalled: no frame for"),
                    what="stalled",
                )
                assert view.frame is not None, "the last picture stays under the reason"
                shown = window.video.stats["uav-1"].shown
                src.pause("uav-1", False)
                await until(
                    lambda: view.text is None and window.video.stats["uav-1"].shown > shown + 10,
                    what="recovered",
                )
                # The relay drops its viewers: the console reconnects by itself.
                connects = window.video.stats["uav-1"].connects
                src.drop_viewers("uav-1")
                await until(
                    lambda: window.video.stats["uav-1"].connects > connects, what="reconnected"
                )
                await until(lambda: view.text is None, what="playing again")

    qt_run(scenario())


def test_ui_never_waits_for_a_relay_that_does_not_answer(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        with black_hole() as url:
            async with (
                Mosquitto(persistence=False) as mq,
                Bus(mq.config, "test-ctl") as bus,
                open_console(mq.config) as window,
            ):
                await airborne(bus, "uav-1")
                await announce(bus, descriptor("uav-1", url))
                await until(lambda: "uav-1" in window.video.descriptors, what="descriptor")
                window.select_drone("uav-1")
                await until(lambda: "uav-1" in window.video.decoders, what="decoder opened")
                dec = window.video.decoders["uav-1"]
                ticks: list[float] = []
                timer = QTimer()
                timer.setInterval(20)
                timer.timeout.connect(lambda: ticks.append(time.monotonic()))
                timer.start()
                await asyncio.sleep(2.0)
                timer.stop()
                assert dec.status()[0] == DecoderState.CONNECTING, "still waiting for the relay"
                assert (window.video.pane.view.text or "").startswith(
                    "Connecting to the video relay"
                )
                gaps = [b - a for a, b in itertools.pairwise(ticks)]
                assert len(ticks) > 50 and max(gaps) < 0.25, (len(ticks), max(gaps))
                # Closing never waits either: the thread ends by itself within its open timeout.
                await airborne(bus, "uav-1", in_air=False)
                await until(lambda: not window.video.grid.order, what="no tile")
                t0 = time.monotonic()
                window.select_drone(None)
                assert time.monotonic() - t0 < 0.1 and not window.video.decoders
                await until(lambda: not dec.alive, timeout_s=10, what="decoder thread ended")

    qt_run(scenario())
