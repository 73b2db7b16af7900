"""The map's own behaviour: raster tiles with a disk cache, the offline fallback, follow, alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from groundstation import contract as c
from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from groundstation.console import basemap, lod
from groundstation.console.mapview import MapView
from groundstation.console.qt import QColor, QImage, QPixmap, QPoint
from tests.console import scenario as sc
from tests.console.conftest import QtRun, open_console, until, viewport

pytestmark = pytest.mark.console


def _tile_dir(root: Path, z: int, xs: range, ys: range) -> None:
    for x in xs:
        for y in ys:
            pix = QPixmap(256, 256)
            pix.fill(QColor("#a3c9a8"))
            path = root / str(z) / str(x) / f"{y}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            assert pix.save(str(path), "PNG")


def test_tiles_load_and_are_cached(qt_run: QtRun, qtbot: QtBot, tmp_path: Path) -> None:
    server = tmp_path / "server"
    _tile_dir(server, 15, range(16360, 16390), range(10885, 10910))
    cache = tmp_path / "cache"

    async def scenario() -> None:
        view = MapView(tiles_url=f"file://{server}/{{z}}/{{x}}/{{y}}.png", tile_cache=cache)
        qtbot.addWidget(view)
        view.resize(800, 600)
        view.show()
        view.set_view(51.51, -0.12, 256 / 40_075_016.7 * 2**15)
        assert view.tiles is not None
        await until(lambda: view.tiles is not None and view.tiles.loaded >= 6, what="tiles")
        assert view.tiles.status == "tiles: online"
        assert list(cache.rglob("*.png")), "tiles written to the disk cache"
        assert "Tiles:" in view.tiles.attribution or "OpenStreetMap" in view.tiles.attribution
        # The tiles are drawn under the outlines (the static layer is made again as they come).
        img = view.grab().toImage()
        greens = sum(
            (p := img.pixelColor(x, y)).green() - p.red() > 20  # the tiles' #a3c9a8, not the base
            for x in range(0, 800, 20)
            for y in (150, 450)
        )
        assert greens >= 40, f"the tiles' green in {greens} of 80 sampled pixels"

    qt_run(scenario())


def test_unreachable_tile_server_falls_back_to_offline_base(
    qt_run: QtRun, qtbot: QtBot, tmp_path: Path
) -> None:
    async def scenario() -> None:
        view = MapView(tiles_url="http://127.0.0.1:9/{z}/{x}/{y}.png", tile_cache=tmp_path)
        qtbot.addWidget(view)
        view.resize(800, 600)
        view.show()
        view.set_view(51.51, -0.12, 0.2)
        await until(
            lambda: view.tiles is not None and "offline" in view.tiles.status, what="offline status"
        )
        assert view.base_attribution.startswith("Boroughs: contains National Statistics")

    qt_run(scenario())


def test_follow_and_alerts(qt_run: QtRun, qtbot: QtBot) -> None:
    async def scenario() -> None:
        async with (
            Mosquitto() as mq,
            Bus(mq.config, "test-sim") as bus,
            open_console(mq.config) as window,
        ):
            await sc.publish(bus, c.drone_telemetry("uav-3"), sc.telemetry("uav-3", 51.53, -0.10))
            await until(lambda: "uav-3" in window.model.drones, what="drone")
            window.select_drone("uav-3")
            window.follow.setChecked(True)
            await sc.publish(
                bus,
                c.drone_telemetry("uav-3"),
                sc.telemetry("uav-3", 51.54, -0.09, ts_ms=c.now_ms() + 1),
            )
            await until(
                lambda: abs(window.map.center_lat_lon()[0] - 51.54) < 2e-4,
                what="map follows the drone",
            )
            alert = c.Alert(
                ts_ms=c.now_ms(),
                severity=c.Severity.CRITICAL,
                code="low_battery",
                message="battery 18 %, returning",
                drone_id="uav-3",
            )
            await sc.publish(bus, c.controller_events("ctl-1"), alert)
            await until(lambda: window.alert_model.rows, what="alert row")
            assert "uav-3: battery 18 %" in window.alert_model.rows[0][2].text
            assert "1 unacknowledged" in window.alerts_label.text()
            window.ack_all_button.click()
            await until(lambda: window.alerts_label.text() == "", what="acknowledged")
            assert window.alert_model.rows[0][3].text == "yes"
            await asyncio.sleep(0)

    qt_run(scenario())


def _dark(img: QImage, x: int, y: int, below: int = 200, reach: int = 1) -> bool:
    """Any pixel within ``reach`` of (x, y) darker than ``below`` (a drawn line, not the base)."""
    near = range(-reach, reach + 1)
    return any(
        0 <= x + dx < img.width()
        and 0 <= y + dy < img.height()
        and img.pixelColor(x + dx, y + dy).lightness() < below
        for dx in near
        for dy in near
    )


def test_a_zoom_redraws_the_borough_outlines_at_the_new_scale(qtbot: QtBot) -> None:
    """The static layer (outlines, names) is cached between frames; after a zoom the pilot
    must see the outlines where they now are, not the picture of the old scale."""
    view = MapView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    view.set_view(51.515, -0.13, 0.05)
    before = view.grab().toImage()
    centre = QPoint(viewport(view).width() // 2, viewport(view).height() // 2)
    # A borough corner near the centre, drawn now, whose place after a 2x zoom is blank now.
    corner = None
    for area in basemap.load_boroughs():
        for lat, lon in (p for ring in area.rings for p in ring):
            pos = view.viewport_pos(lat, lon)
            after = centre + (pos - centre) * 2
            if (
                15 < (pos - centre).manhattanLength() < 80
                and _dark(before, pos.x(), pos.y())
                and not _dark(before, after.x(), after.y(), below=230, reach=8)
            ):
                corner = (lat, lon, after)
                break
        if corner is not None:
            break
    assert corner is not None, "no borough corner near the centre of central London"
    view.zoom_by(2.0)
    lat, lon, expected = corner
    now = view.viewport_pos(lat, lon)
    # (within the rounding of scroll positions to whole pixels)
    assert (now - expected).manhattanLength() <= 7, "the zoom keeps the centre in place"
    zoomed = view.grab().toImage()
    assert _dark(zoomed, now.x(), now.y()), "the outline is drawn at the new scale"


def test_a_pan_draws_the_uncovered_strip(qtbot: QtBot) -> None:
    """A pan moves the cached layer and draws only the strip it uncovers: the outlines in that
    strip are there, lined up with the rest."""
    view = MapView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    view.set_view(51.515, -0.13, 0.05)
    view.grab()
    full = MapView()
    qtbot.addWidget(full)
    full.resize(400, 300)
    full.show()
    h = view.horizontalScrollBar()
    assert h is not None
    h.setValue(h.value() + 120)  # the map moves 120 px left: a new strip on the right
    full.set_view(*view.center_lat_lon(), view.px_per_m)  # the same place drawn from scratch
    for mine, theirs in (
        (full.horizontalScrollBar(), h),
        (full.verticalScrollBar(), view.verticalScrollBar()),
    ):
        assert mine is not None and theirs is not None
        mine.setValue(theirs.value())  # to the pixel
    panned, fresh = view.grab().toImage(), full.grab().toImage()
    strip = [(x, y) for x in range(290, 390, 3) for y in range(20, 260, 3)]
    drawn = [(x, y) for x, y in strip if _dark(fresh, x, y, below=190)]
    assert drawn, "central London has borough outlines in that strip"
    missing = [(x, y) for x, y in drawn if not _dark(panned, x, y, below=200)]
    assert len(missing) <= len(drawn) // 20, f"outlines missing in the uncovered strip: {missing}"


def _ink(img: QImage, at: QPoint) -> int:
    """Dark pixels (label text) where a drone's labels go: right of its arrow."""
    return sum(
        img.pixelColor(at.x() + dx, at.y() + dy).lightness() < 100
        for dx in range(18, 70)
        for dy in range(-13, 13)
        if 0 <= at.x() + dx < img.width() and 0 <= at.y() + dy < img.height()
    )


def test_many_drones_drop_labels_except_the_selected_until_zoomed_in(qt_run: QtRun) -> None:
    """Above lod.MANY_DRONES a city-wide map shows arrows only; the selected drone keeps its id
    and altitude, and zooming in brings every label back."""
    lone, chosen = (51.50, -0.20), (51.53, -0.20)
    crowd = [
        (51.52 + (i % 13) * 0.001, -0.06 + (i // 13) * 0.0015) for i in range(lod.MANY_DRONES + 10)
    ]

    async def scenario() -> None:
        async with (
            Mosquitto() as mq,
            Bus(mq.config, "test-sim") as bus,
            open_console(mq.config) as window,
        ):
            for n, (lat, lon) in enumerate([lone, chosen, *crowd]):
                drone = ("uav-lone", "uav-chosen")[n] if n < 2 else f"uav-{n:03d}"
                await sc.publish(
                    bus, c.drone_telemetry(drone), sc.telemetry(drone, lat, lon), qos=0
                )
            await until(lambda: len(window.map.drones) == len(crowd) + 2, what="every drone")
            window.map.set_view(51.515, -0.13, 0.03)
            window.select_drone("uav-chosen")
            await until(lambda: not window.map.detail.labels, what="labels off")
            await asyncio.sleep(0.1)  # a frame with the selection drawn
            img = viewport(window.map).grab().toImage()
            assert _ink(img, window.map.viewport_pos(*lone)) < 5, "no label on an unselected drone"
            assert _ink(img, window.map.viewport_pos(*chosen)) > 30, "the selected one keeps it"
            window.map.set_view(*lone, 0.3)
            await until(lambda: window.map.detail.labels, what="labels on, zoomed in")
            await asyncio.sleep(0.1)
            img = viewport(window.map).grab().toImage()
            assert _ink(img, window.map.viewport_pos(*lone)) > 30, "zoomed in: its label is back"

    qt_run(scenario())
