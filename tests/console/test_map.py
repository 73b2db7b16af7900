"""The map's own behaviour: raster tiles with a disk cache, the offline fallback, follow, alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from groundstation import contract as c
from groundstation.broker import Mosquitto
from groundstation.bus import Bus
from groundstation.console.mapview import MapView
from groundstation.console.qt import QColor, QPixmap
from tests.console import scenario as sc
from tests.console.conftest import open_console, until

pytestmark = pytest.mark.console


def _tile_dir(root: Path, z: int, xs: range, ys: range) -> None:
    for x in xs:
        for y in ys:
            pix = QPixmap(256, 256)
            pix.fill(QColor("#a3c9a8"))
            path = root / str(z) / str(x) / f"{y}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            assert pix.save(str(path), "PNG")


def test_tiles_load_and_are_cached(qt_run: Any, qtbot: Any, tmp_path: Path) -> None:
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

    qt_run(scenario())


def test_unreachable_tile_server_falls_back_to_offline_base(
    qt_run: Any, qtbot: Any, tmp_path: Path
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


def test_follow_and_alerts(qt_run: Any, qtbot: Any) -> None:
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
