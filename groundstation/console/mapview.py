"""The map: a native QGraphicsView slippy map (no web view) with the console's overlays.

Scene coordinates are Web Mercator metres (:mod:`.mercator`). Layers, bottom to top: optional
raster tiles (:mod:`.tiles`), the offline base (background colour, a metric grid, London borough
outlines), flight restriction zones and the operating area, trails, planned routes and orbit
circles, docks, incidents, drones. The scale bar and the attribution line are drawn in the
foreground in screen pixels.

The static layers (everything up to the operating areas and site names) are not scene items:
:meth:`MapView.drawBackground` paints them into Qt's background cache (``CacheBackground``), a
viewport-sized pixmap that is re-made only on zoom, resize or a change of the layers (a tile
arriving); a pan scrolls it and paints only the uncovered strip. A frame then repaints only the
moving symbols' old and new rectangles (the scene coalesces them until the next paint) over a
copy of that pixmap. Left-drag pans, the wheel zooms, a click selects; a right click asks
the window for a context menu; in go-to mode the next click is a destination.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from groundstation.console import basemap, lod
from groundstation.console import mercator as m
from groundstation.console.items import DockItem, DroneItem, IncidentItem, draw_label, phase_colour
from groundstation.console.qt import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPoint,
    QPointF,
    QPolygonF,
    QRectF,
    QResizeEvent,
    Qt,
    QTimer,
    QWheelEvent,
    QWidget,
    pyqtSignal,
)
from groundstation.console.tiles import TileLayer, tile_rect

BACKGROUND = QColor("#eef1e8")
GRID = QColor(120, 130, 120, 70)
MIN_PX_PER_M = 256 / m.WORLD_M * 2**8  # zoom 8
MAX_PX_PER_M = 256 / m.WORLD_M * 2**19  # zoom 19
CLICK_SLOP_PX = 5


@dataclass(frozen=True, slots=True)
class StaticShape:
    """Outlines drawn into the static layer (boroughs, no-fly zones, operating areas)."""

    path: QPainterPath
    pen: QPen
    brush: QBrush
    bounds: QRectF


@dataclass(frozen=True, slots=True)
class StaticText:
    """A name drawn into the static layer at a fixed size on screen.

    ``point`` is in scene coordinates; ``centred`` texts are centred under it on a white box
    (site names), the others start at it (borough and zone names)."""

    point: QPointF
    text: str
    colour: QColor
    centred: bool = False


LABEL_REACH_PX = 200.0
"""How far (screen pixels) a static name may reach beyond its anchor: the strip a pan uncovers
is drawn with every name anchored this close to it, so a name is never cut at the strip's edge."""


def scene_point(lat_deg: float, lon_deg: float) -> QPointF:
    return QPointF(*m.to_scene(lat_deg, lon_deg))


def _cosmetic(
    colour: QColor | str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine
) -> QPen:
    pen = QPen(QColor(colour), width, style)
    pen.setCosmetic(True)
    return pen


class MapView(QGraphicsView):
    """The slippy map. Signals carry WGS84 degrees."""

    clicked = pyqtSignal(float, float)  # lat, lon (go-to mode or empty map)
    item_clicked = pyqtSignal(str, str)  # kind ("drone", "dock", "incident"), id
    context_requested = pyqtSignal(float, float, QPoint)  # lat, lon, global position
    view_changed = pyqtSignal()

    def __init__(
        self,
        *,
        tiles_url: str | None = None,
        tile_cache: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        scene = QGraphicsScene(self)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        scene.setSceneRect(-m.HALF_WORLD_M, -m.HALF_WORLD_M, m.WORLD_M, m.WORLD_M)
        self.setScene(scene)
        self._scene = scene
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # see zoom_by
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setMouseTracking(False)
        self.label_font = QFont("DejaVu Sans", 8)
        self.label_font.setBold(True)
        self.small_font = QFont("DejaVu Sans", 7)

        self.drones: dict[str, DroneItem] = {}
        self.trails: dict[str, QGraphicsPathItem] = {}
        self._trail_points: dict[str, dict[tuple[float, float], QPointF]] = {}
        self._trail_pens: dict[tuple[str, float], QPen] = {}
        self.routes: dict[str, QGraphicsPathItem] = {}
        self.target_trails: dict[str, QGraphicsPathItem] = {}
        self.orbits: dict[str, QGraphicsEllipseItem] = {}
        self.docks: dict[str, DockItem] = {}
        self.incidents: dict[str, IncidentItem] = {}
        self.goto_mode = False
        self.detail = lod.FULL
        self.follow_id: str | None = None
        self._press: QPoint | None = None
        self._last_drag: QPoint | None = None
        self._dragged = False
        self.paints = 0
        self.paint_s = 0.0
        """CPU time (this thread) spent painting the map: robust on a loaded machine."""
        self.static_paints = 0
        """Times the static layer was painted (whole or a strip a pan uncovered)."""
        self.static_shapes: list[StaticShape] = []
        self.static_texts: list[StaticText] = []
        self._small_metrics = QFontMetricsF(self.small_font)
        self._grid_step = 1000.0

        self.base_attribution = ""
        self._add_base()
        self.tiles: TileLayer | None = None
        if tiles_url:
            self.tiles = TileLayer(tiles_url, tile_cache or Path(".tiles"), self)
            self.tiles.status_changed.connect(lambda _t: self.viewport().update())  # type: ignore[union-attr]
            self.tiles.changed.connect(self.static_changed)
        self._tile_timer = QTimer(self)
        self._tile_timer.setSingleShot(True)
        self._tile_timer.setInterval(120)
        self._tile_timer.timeout.connect(self._refresh_tiles)
        self.set_view(51.515, -0.13, 0.05)

    # --- base layers -------------------------------------------------------------------------

    def _add_base(self) -> None:
        boroughs = basemap.load_boroughs()
        if boroughs:
            self._add_shape(
                [ring for area in boroughs for ring in area.rings],
                _cosmetic("#7c8a7c", 1.2),
                QBrush(QColor(255, 255, 255, 60)),
            )
            colour = QColor(90, 100, 90, 170)
            for area in boroughs:
                ring = max(area.rings, key=len)
                lat = sum(p[0] for p in ring) / len(ring)
                lon = sum(p[1] for p in ring) / len(ring)
                self.static_texts.append(StaticText(scene_point(lat, lon), area.name, colour))
            self.base_attribution = basemap.BOROUGHS_ATTRIBUTION
        else:
            self.base_attribution = "Offline base: grid only (borough outlines not installed)"
        airspace = basemap.load_airspace()
        if airspace:
            self._add_shape(
                [ring for area in airspace for ring in area.rings],
                _cosmetic("#b91c1c", 1.5),
                QBrush(QColor(220, 38, 38, 45), Qt.BrushStyle.SolidPattern),
            )
            colour = QColor("#991b1b")
            for area in airspace:
                top = min(area.rings[0], key=lambda p: -p[0])
                self.static_texts.append(
                    StaticText(scene_point(*top), f"{area.name} (no fly)", colour)
                )

    def _add_shape(self, rings: list[list[tuple[float, float]]], pen: QPen, brush: QBrush) -> None:
        path = QPainterPath()
        for ring in rings:
            path.addPolygon(QPolygonF([scene_point(lat, lon) for lat, lon in ring]))
            path.closeSubpath()
        self.static_shapes.append(StaticShape(path, pen, brush, path.boundingRect()))

    def add_operating_area(self, lat_deg: float, lon_deg: float, radius_m: float) -> None:
        """A dashed circle: the area a site's drones reach within the response target."""
        r = radius_m / m.ground_scale(lat_deg)
        c = scene_point(lat_deg, lon_deg)
        path = QPainterPath()
        path.addEllipse(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r))
        pen = _cosmetic("#15803d", 1.3, Qt.PenStyle.DashLine)
        self.static_shapes.append(
            StaticShape(path, pen, QBrush(QColor(34, 197, 94, 18)), path.boundingRect())
        )
        self.static_changed()

    def add_site_label(self, lat_deg: float, lon_deg: float, text: str) -> None:
        """A dock site's name, centred under its row of docks."""
        point = scene_point(lat_deg, lon_deg)
        self.static_texts.append(StaticText(point, text, QColor("#14532d"), centred=True))
        self.static_changed()

    def static_changed(self) -> None:
        """The static layer's content changed: paint it again at the next frame."""
        self.resetCachedContent()
        vp = self.viewport()
        if vp is not None:
            vp.update()

    # --- view --------------------------------------------------------------------------------

    @property
    def px_per_m(self) -> float:
        return self.transform().m11()

    def set_view(self, lat_deg: float, lon_deg: float, px_per_m: float) -> None:
        s = max(MIN_PX_PER_M, min(MAX_PX_PER_M, px_per_m))
        self.resetTransform()
        self.scale(s, s)
        self.centerOn(scene_point(lat_deg, lon_deg))
        self._rescaled()
        self._changed()

    def fit(self, points: list[tuple[float, float]], margin_m: float = 1500.0) -> None:
        """Show all points with a margin (ground metres)."""
        if not points:
            return
        xs, ys = zip(*(m.to_scene(lat, lon) for lat, lon in points), strict=True)
        lat_c = sum(p[0] for p in points) / len(points)
        pad = margin_m / m.ground_scale(lat_c)
        w = max(xs) - min(xs) + 2 * pad
        h = max(ys) - min(ys) + 2 * pad
        vw, vh = max(200, self.viewport().width()), max(200, self.viewport().height())  # type: ignore[union-attr]
        scale = min(vw / w, vh / h)
        cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
        lat, lon = m.from_scene(cx, cy)
        self.set_view(lat, lon, scale)

    def center_lat_lon(self) -> tuple[float, float]:
        c = self.mapToScene(self.viewport().rect().center())  # type: ignore[union-attr]
        return m.from_scene(c.x(), c.y())

    def lat_lon_at(self, pos: QPoint) -> tuple[float, float]:
        p = self.mapToScene(pos)
        return m.from_scene(p.x(), p.y())

    def viewport_pos(self, lat_deg: float, lon_deg: float) -> QPoint:
        return self.mapFromScene(scene_point(lat_deg, lon_deg))

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom keeping the point under ``anchor`` (viewport pixels; default the centre) in
        place. Qt's own AnchorUnderMouse jumped to 0 N 0 E when the pointer was not over the map."""
        s = self.px_per_m
        factor = max(MIN_PX_PER_M / s, min(MAX_PX_PER_M / s, factor))
        vp = self.viewport()
        centre = vp.rect().center() if vp is not None else QPoint()
        at = anchor if anchor is not None else centre
        fixed = self.mapToScene(at)
        self.scale(factor, factor)
        s = self.px_per_m
        self.centerOn(
            QPointF(fixed.x() + (centre.x() - at.x()) / s, fixed.y() + (centre.y() - at.y()) / s)
        )
        self._rescaled()
        self._changed()

    def _rescaled(self) -> None:
        """A new scale: the grid's spacing for it (kept while panning, so the strips a pan
        uncovers line up with the cached layer) and the static layer painted anew."""
        lat, _ = self.center_lat_lon()
        gs = m.ground_scale(lat)
        self._grid_step = m.nice_length(150 / self.px_per_m * gs) / gs
        self.static_changed()

    def _changed(self) -> None:
        self._tile_timer.start()
        self.view_changed.emit()

    def _refresh_tiles(self) -> None:
        if self.tiles is None:
            return
        rect = self.mapToScene(self.viewport().rect()).boundingRect()  # type: ignore[union-attr]
        self.tiles.show(rect, m.tile_zoom(self.px_per_m))

    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802
        t0 = time.thread_time()
        super().paintEvent(event)
        self.paints += 1
        self.paint_s += time.thread_time() - t0

    def resizeEvent(self, event: QResizeEvent | None) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._rescaled()
        self._changed()

    def wheelEvent(self, event: QWheelEvent | None) -> None:  # noqa: N802
        if event is None:
            return
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(1.25**steps, event.position().toPoint())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent | None) -> None:  # noqa: N802
        if event is None:
            return
        pos = event.position().toPoint()
        if event.button() == Qt.MouseButton.RightButton:
            lat, lon = self.lat_lon_at(pos)
            self.context_requested.emit(lat, lon, event.globalPosition().toPoint())
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = self._last_drag = pos
            self._dragged = False
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent | None) -> None:  # noqa: N802
        if event is None or self._press is None or self._last_drag is None:
            return
        pos = event.position().toPoint()
        if (pos - self._press).manhattanLength() > CLICK_SLOP_PX:
            self._dragged = True
        if self._dragged:
            d = pos - self._last_drag
            h, v = self.horizontalScrollBar(), self.verticalScrollBar()
            if h is not None and v is not None:
                h.setValue(h.value() - d.x())
                v.setValue(v.value() - d.y())
            self._last_drag = pos
            self.follow_id = None
            self._changed()

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:  # noqa: N802
        if event is None or self._press is None:
            return
        pos = event.position().toPoint()
        dragged, self._press = self._dragged, None
        if dragged or event.button() != Qt.MouseButton.LeftButton:
            return
        if not self.goto_mode:
            hit = self._item_at(pos)
            if hit is not None:
                self.item_clicked.emit(*hit)
                return
        lat, lon = self.lat_lon_at(pos)
        self.clicked.emit(lat, lon)

    def _item_at(self, pos: QPoint) -> tuple[str, str] | None:
        for item in self.items(QRectF(pos.x() - 10, pos.y() - 10, 20, 20).toRect()):
            data = item.data(0)
            if isinstance(data, tuple) and len(data) == 2:
                return str(data[0]), str(data[1])
        return None

    # --- background and foreground -----------------------------------------------------------

    def drawBackground(self, painter: QPainter | None, rect: QRectF) -> None:  # noqa: N802
        """The static layer: Qt calls this only to fill its background cache (whole, or the
        strip a pan uncovered), not per frame."""
        if painter is None:
            return
        self.static_paints += 1
        painter.fillRect(rect, BACKGROUND)
        step = self._grid_step
        painter.setPen(_cosmetic(GRID, 1))
        x = math.floor(rect.left() / step) * step
        while x <= rect.right():
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            x += step
        y = math.floor(rect.top() / step) * step
        while y <= rect.bottom():
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
            y += step
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.tiles is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            for key, pix in self.tiles.pixmaps.items():
                target = tile_rect(key)
                if target.intersects(rect):
                    painter.drawPixmap(target, pix, QRectF(pix.rect()))
        for shape in self.static_shapes:
            if shape.bounds.intersects(rect):
                painter.setPen(shape.pen)
                painter.setBrush(shape.brush)
                painter.drawPath(shape.path)
        self._draw_static_texts(painter, rect)

    def _draw_static_texts(self, painter: QPainter, rect: QRectF) -> None:
        to_device = painter.worldTransform()
        reach = LABEL_REACH_PX
        area = to_device.mapRect(rect).adjusted(-reach, -reach, reach, reach)
        painter.save()
        painter.resetTransform()
        painter.setFont(self.small_font)
        ascent = self._small_metrics.ascent()
        for t in self.static_texts:
            p = to_device.map(t.point)
            if not area.contains(p):
                continue
            if t.centred:
                width = self._small_metrics.horizontalAdvance(t.text)
                draw_label(painter, p.x() - width / 2, p.y() + 22, t.text, t.colour, width)
            else:
                painter.setPen(t.colour)
                painter.drawText(QPointF(p.x(), p.y() + ascent), t.text)
        painter.restore()

    def drawForeground(self, painter: QPainter | None, rect: QRectF) -> None:  # noqa: N802
        if painter is None:
            return
        vp = self.viewport()
        if vp is None:
            return
        painter.save()
        painter.resetTransform()
        painter.setFont(self.small_font)
        w, h = vp.width(), vp.height()
        # Scale bar, bottom left.
        lat, _ = self.center_lat_lon()
        m_per_px = m.ground_scale(lat) / self.px_per_m
        length_m = m.nice_length(140 * m_per_px)
        px = length_m / m_per_px
        x0, y0 = 12.0, h - 30.0
        painter.fillRect(QRectF(x0 - 6, y0 - 16, px + 60, 26), QColor(255, 255, 255, 200))
        painter.setPen(QPen(QColor("#111827"), 2))
        painter.drawLine(QPointF(x0, y0), QPointF(x0 + px, y0))
        painter.drawLine(QPointF(x0, y0 - 5), QPointF(x0, y0 + 3))
        painter.drawLine(QPointF(x0 + px, y0 - 5), QPointF(x0 + px, y0 + 3))
        text = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
        painter.drawText(QPointF(x0 + px + 6, y0 + 4), text)
        # Attribution, bottom right.
        parts = []
        if self.tiles is not None:
            parts.append(self.tiles.attribution)
            if self.tiles.status.endswith("(base map only)"):
                parts.append(self.tiles.status)
        parts.append(self.base_attribution)
        attribution = " | ".join(parts)
        metrics = painter.fontMetrics()
        tw = metrics.horizontalAdvance(attribution)
        box = QRectF(w - tw - 10, h - 16, tw + 10, 16)
        painter.fillRect(box, QColor(255, 255, 255, 215))
        painter.setPen(QColor("#374151"))
        painter.drawText(QPointF(w - tw - 5, h - 4), attribution)
        if self.goto_mode:
            painter.fillRect(QRectF(w / 2 - 150, 8, 300, 22), QColor(250, 204, 21, 230))
            painter.setPen(QColor("#111827"))
            painter.drawText(QPointF(w / 2 - 140, 24), "Click the map: go to here   (Esc cancels)")
        painter.restore()

    # --- overlays ----------------------------------------------------------------------------

    def drone_item(self, drone_id: str) -> DroneItem:
        item = self.drones.get(drone_id)
        if item is None:
            item = self.drones[drone_id] = DroneItem(drone_id, self.label_font)
            item.set_detail(self.detail.labels, self.detail.simple)
            self._scene.addItem(item)
            trail = QGraphicsPathItem()
            trail.setZValue(10)
            trail.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self._scene.addItem(trail)
            self.trails[drone_id] = trail
        return item

    def set_target_trail(self, drone_id: str, points: list[tuple[float, float]]) -> None:
        """A tracked target's trail (red) ending in a ring at its last known point; nothing
        when ``points`` is empty (not tracking)."""
        item = self.target_trails.get(drone_id)
        if item is None:
            item = self.target_trails[drone_id] = QGraphicsPathItem()
            item.setPen(_cosmetic("#dc2626", 2.5))
            item.setZValue(14)
            self._scene.addItem(item)
        path = QPainterPath()
        if points:
            if len(points) >= 2:
                path.addPolygon(QPolygonF([scene_point(lat, lon) for lat, lon in points]))
            end = scene_point(*points[-1])
            r = 0.6 * self.transform().inverted()[0].m11() * 10 if self.transform().m11() else 1
            path.addEllipse(end, r, r)
        item.setPath(path)

    def apply_detail(self) -> None:
        """Choose the level of detail (:mod:`.lod`) for the drones shown now and the zoom; when
        it changes every drone symbol takes it at once (trails at their next point)."""
        shown = sum(1 for item in self.drones.values() if item.isVisible())
        detail = lod.detail(shown, self.px_per_m)
        if detail == self.detail:
            return
        self.detail = detail
        for item in self.drones.values():
            item.set_detail(detail.labels, detail.simple)

    def set_trail(self, drone_id: str, points: list[tuple[float, float]], phase: str) -> None:
        trail = self.trails.get(drone_id)
        if trail is None:
            self.drone_item(drone_id)
            trail = self.trails[drone_id]
        path = QPainterPath()
        if len(points) >= 2:
            # A trail gains one point per update: the others' scene points are reused. They
            # are kept for every point, not only the drawn ones: decimation counts back from
            # the newest, so each new point draws the other half of the trail, and keeping only
            # the drawn half made every frame with new points convert half of every trail again
            # (30-40 ms frames at 250 drones).
            known = self._trail_points.get(drone_id, {})
            scene = {p: known.get(p) or scene_point(*p) for p in points}
            self._trail_points[drone_id] = scene
            drawn = lod.decimate(points, self.detail.trail_step)
            path.addPolygon(QPolygonF([scene[p] for p in drawn]))
        pen = self._trail_pen(phase, 2.0 if self.detail.simple else 3.0)
        if trail.pen() != pen:
            trail.setPen(pen)
        trail.setPath(path)

    def _trail_pen(self, phase: str, width: float) -> QPen:
        pen = self._trail_pens.get((phase, width))
        if pen is None:
            colour = phase_colour(phase)
            colour.setAlpha(190)
            pen = self._trail_pens[(phase, width)] = _cosmetic(colour, width)
        return pen

    def set_route(
        self,
        drone_id: str,
        start: tuple[float, float] | None,
        target: tuple[float, float] | None,
        orbit_radius_m: float | None,
    ) -> None:
        """The planned leg (dashed line to the target) and the orbit circle, if any."""
        route = self.routes.get(drone_id)
        if route is None:
            route = self.routes[drone_id] = QGraphicsPathItem()
            route.setPen(_cosmetic("#1d4ed8", 1.5, Qt.PenStyle.DashLine))
            route.setZValue(12)
            self._scene.addItem(route)
        path = QPainterPath()
        if start is not None and target is not None:
            path.moveTo(scene_point(*start))
            path.lineTo(scene_point(*target))
        route.setPath(path)
        orbit = self.orbits.get(drone_id)
        if target is None or not orbit_radius_m:
            if orbit is not None:
                orbit.setVisible(False)
            return
        if orbit is None:
            orbit = self.orbits[drone_id] = QGraphicsEllipseItem()
            orbit.setPen(_cosmetic("#7c3aed", 2, Qt.PenStyle.DashLine))
            orbit.setZValue(12)
            self._scene.addItem(orbit)
        r = orbit_radius_m / m.ground_scale(target[0])
        c = scene_point(*target)
        orbit.setRect(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r))
        orbit.setVisible(True)

    def dock_item(
        self, dock_id: str, lat_deg: float, lon_deg: float, slot: float = 0.0
    ) -> DockItem:
        """A dock symbol; ``slot`` shifts it sideways by symbol widths so a site's docks
        (metres apart) stay distinct at any zoom."""
        item = self.docks.get(dock_id)
        if item is None:
            item = self.docks[dock_id] = DockItem(dock_id, self.small_font)
            self._scene.addItem(item)
        if item.slot != slot:
            item.prepareGeometryChange()
            item.slot = slot
        item.setPos(scene_point(lat_deg, lon_deg))
        return item

    def incident_item(self, incident_id: str, lat_deg: float, lon_deg: float) -> IncidentItem:
        item = self.incidents.get(incident_id)
        if item is None:
            item = self.incidents[incident_id] = IncidentItem(incident_id, self.label_font)
            self._scene.addItem(item)
        item.setPos(scene_point(lat_deg, lon_deg))
        return item

    def remove_incident(self, incident_id: str) -> None:
        item = self.incidents.pop(incident_id, None)
        if item is not None:
            self._scene.removeItem(item)

    def follow(self, lat_deg: float, lon_deg: float) -> None:
        self.centerOn(scene_point(lat_deg, lon_deg))
        self._tile_timer.start()

    def close_tiles(self) -> None:
        if self.tiles is not None:
            self.tiles.close()
