"""Map symbols that keep their size on screen: drones, docks and incidents.

Each is a QGraphicsItem with ItemIgnoresTransformations, so item coordinates are pixels around
the geographic anchor. They repaint only when a shown value changes (``set_*`` return early).
"""

from __future__ import annotations

import math

from groundstation.console.qt import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QGraphicsItem,
    QImage,
    QPainter,
    QPen,
    QPointF,
    QPolygonF,
    QRectF,
    QStyleOptionGraphicsItem,
    Qt,
    QWidget,
)

PHASE_COLOURS: dict[str, str] = {
    "docked": "#6b7280",
    "charging": "#6b7280",
    "preflight": "#d97706",
    "launching": "#ea580c",
    "transit": "#1d4ed8",
    "on_scene": "#7c3aed",
    "returning": "#0f766e",
    "landing": "#ea580c",
    "fault": "#dc2626",
}
PRIORITY_COLOURS: dict[int, str] = {1: "#dc2626", 2: "#f97316", 3: "#eab308"}
DOCK_COLOURS: dict[str, str] = {
    "ready": "#15803d",
    "charging": "#2563eb",
    "working": "#ea580c",
    "empty": "#9ca3af",
    "fault": "#dc2626",
    "offline": "#4b5563",
}

_LABELS_X, _LABELS_Y = 14.0, -14.0  # top left of the labels' boxes, item pixels
_ARROW = QPolygonF([QPointF(0, -13), QPointF(8, 9), QPointF(0, 4), QPointF(-8, 9)])
_HALO_BRUSH = QBrush(QColor(255, 255, 255, 205))
_OUTLINE_PEN = QPen(QColor("white"), 1.5)


ARROW_HALF_PX = 15
ARROW_STEP_DEG = 2
ARROW_CACHE = 1024
_arrows: dict[tuple[int, int, bool, float], QImage] = {}


def arrow_image(rgba: int, heading_deg: float, simple: bool, dpr: float) -> QImage:
    """A drone's arrow in its colour at the heading (to :data:`ARROW_STEP_DEG`), rendered once
    and copied per paint: a rotated, outlined, anti-aliased polygon per drone per frame was the
    larger part of the map's paint. Simple arrows have no outline and no anti-aliasing."""
    step = round(heading_deg / ARROW_STEP_DEG) % (360 // ARROW_STEP_DEG)
    key = (rgba, step, simple, dpr)
    image = _arrows.get(key)
    if image is not None:
        return image
    side = 2 * ARROW_HALF_PX
    image = QImage(
        math.ceil(side * dpr), math.ceil(side * dpr), QImage.Format.Format_ARGB32_Premultiplied
    )
    image.setDevicePixelRatio(dpr)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, not simple)
    p.translate(ARROW_HALF_PX, ARROW_HALF_PX)
    p.rotate(step * ARROW_STEP_DEG)
    p.setPen(Qt.PenStyle.NoPen if simple else _OUTLINE_PEN)
    p.setBrush(QBrush(QColor.fromRgba(rgba)))
    p.drawPolygon(_ARROW)
    p.end()
    if len(_arrows) >= ARROW_CACHE:
        _arrows.pop(next(iter(_arrows)))
    _arrows[key] = image
    return image


def phase_colour(phase: str) -> QColor:
    return QColor(PHASE_COLOURS.get(phase, "#1d4ed8"))


def draw_label(
    painter: QPainter, x: float, y: float, text: str, colour: QColor, width: float
) -> None:
    """Text on a translucent white box (legible on tiles and on the plain base alike)."""
    if not text:
        return
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_HALO_BRUSH)
    painter.drawRect(QRectF(x - 2, y - 11, width + 4, 14))
    painter.setPen(colour)
    painter.drawText(QPointF(x, y), text)


class _Widths:
    """Label widths, measured once per text change (not per paint)."""

    def __init__(self, font: QFont) -> None:
        self.metrics = QFontMetricsF(font)

    def __call__(self, text: str) -> float:
        return self.metrics.horizontalAdvance(text)


class DroneItem(QGraphicsItem):
    """Heading arrow coloured by phase, with the drone id and altitude beside it."""

    def __init__(self, drone_id: str, font: QFont) -> None:
        super().__init__()
        self.drone_id = drone_id
        self.font = font
        self.heading_deg = 0.0
        self.colour = phase_colour("transit")
        self.line2 = ""
        self.selected = False
        self.controlled = False
        self.labels = True
        """Id and altitude beside the arrow; the selected drone shows them regardless."""
        self.simple = False
        """The arrow alone, no outline and no anti-aliasing (many drones on the map)."""
        self._width = _Widths(font)
        self._w1 = self._width(drone_id)
        self._w2 = 0.0
        self._labels_image: QImage | None = None
        """Both labels rendered once per text change and copied per paint (two text draws on
        boxes per drone per frame were a third of the map's paint time at 100 drones)."""
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(40)
        self.setData(0, ("drone", drone_id))

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return QRectF(-18, -18, 130 if self._shows_labels() else 36, 36)

    def _shows_labels(self) -> bool:
        return self.labels or self.selected

    def set_detail(self, labels: bool, simple: bool) -> None:
        if (labels, simple) == (self.labels, self.simple):
            return
        self.prepareGeometryChange()  # the labels set the bounding box
        self.labels, self.simple = labels, simple
        self.update()

    def set_values(
        self, heading_deg: float, phase: str, line2: str, selected: bool, controlled: bool
    ) -> None:
        colour = phase_colour(phase)
        values = (round(heading_deg), colour.name(), line2, selected, controlled)
        old = (
            round(self.heading_deg),
            self.colour.name(),
            self.line2,
            self.selected,
            self.controlled,
        )
        if values == old:
            return
        if line2 != self.line2:
            self._w2 = self._width(line2)
            self._labels_image = None
        if controlled != self.controlled:
            self._w1 = self._width(self._label1(controlled))
            self._labels_image = None
        if selected != self.selected and not self.labels:
            self.prepareGeometryChange()  # selecting shows the labels
        self.heading_deg, self.colour, self.line2 = heading_deg, colour, line2
        self.selected, self.controlled = selected, controlled
        self.update()

    def _label1(self, controlled: bool) -> str:
        return self.drone_id + (" (you)" if controlled else "")

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None:
            return
        simple = self.simple and not self.selected
        if self.selected:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor("#facc15"), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(QPointF(0, 0), 16, 16)
        dpr = widget.devicePixelRatioF() if widget is not None else 1.0
        arrow = arrow_image(self.colour.rgba(), self.heading_deg, simple, dpr)
        painter.drawImage(QPointF(-ARROW_HALF_PX, -ARROW_HALF_PX), arrow)
        if self._shows_labels():
            painter.drawImage(QPointF(_LABELS_X, _LABELS_Y), self._labels(dpr))

    def _labels(self, dpr: float) -> QImage:
        image = self._labels_image
        if image is not None and image.devicePixelRatio() == dpr:
            return image
        width = max(self._w1, self._w2) + 5
        image = QImage(
            math.ceil(width * dpr), math.ceil(28 * dpr), QImage.Format.Format_ARGB32_Premultiplied
        )
        image.setDevicePixelRatio(dpr)
        image.fill(Qt.GlobalColor.transparent)
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setFont(self.font)
        p.translate(-_LABELS_X, -_LABELS_Y)
        draw_label(p, 16, -3, self._label1(self.controlled), QColor("#111827"), self._w1)
        draw_label(p, 16, 11, self.line2, QColor("#1f2937"), self._w2)
        p.end()
        self._labels_image = image
        return image


class DockItem(QGraphicsItem):
    """A dock: square in its state colour, cover drawn open or shut, a bolt when charging."""

    def __init__(self, dock_id: str, font: QFont) -> None:
        super().__init__()
        self.dock_id = dock_id
        self.font = font
        self.state = "offline"
        self.cover_open = False
        self.charging = False
        self.slot = 0.0
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(20)
        self.setData(0, ("dock", dock_id))

    def boundingRect(self) -> QRectF:  # noqa: N802
        return QRectF(self.slot * 19 - 10, -10, 20, 20)

    def set_values(self, state: str, cover_open: bool, charging: bool) -> None:
        if (state, cover_open, charging) == (self.state, self.cover_open, self.charging):
            return
        self.state, self.cover_open, self.charging = state, cover_open, charging
        self.update()

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(self.slot * 19, 0)
        colour = QColor(DOCK_COLOURS.get(self.state, "#4b5563"))
        painter.setPen(QPen(QColor("#111827"), 1.2))
        painter.setBrush(QBrush(colour))
        painter.drawRoundedRect(QRectF(-8, -8, 16, 16), 2, 2)
        painter.setPen(QPen(QColor("white"), 2))
        if self.cover_open:  # two leaves folded out
            painter.drawLine(QPointF(-6, -5), QPointF(-2, -5))
            painter.drawLine(QPointF(2, -5), QPointF(6, -5))
        else:
            painter.drawLine(QPointF(-6, -5), QPointF(6, -5))
        if self.charging:
            bolt = QPolygonF(
                [
                    QPointF(1, -3),
                    QPointF(-3, 2),
                    QPointF(0, 2),
                    QPointF(-1, 6),
                    QPointF(3, 0),
                    QPointF(0, 0),
                ]
            )
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor("#fde047")))
            painter.drawPolygon(bolt)


class IncidentItem(QGraphicsItem):
    """An incident: a priority-coloured marker with id, age and the assigned drone's ETA."""

    def __init__(self, incident_id: str, font: QFont) -> None:
        super().__init__()
        self.incident_id = incident_id
        self.font = font
        self.priority = 2
        self.line1 = incident_id
        self.line2 = ""
        self._width = _Widths(font)
        self._w1 = self._width(self.line1)
        self._w2 = 0.0
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(30)
        self.setData(0, ("incident", incident_id))

    def boundingRect(self) -> QRectF:  # noqa: N802
        width = max(self._w1, self._w2) + 20
        return QRectF(-width, -40, width + 14, 56)

    def set_values(self, priority: int, line1: str, line2: str) -> None:
        if (priority, line1, line2) == (self.priority, self.line1, self.line2):
            return
        self.prepareGeometryChange()  # the labels' width sets the bounding box
        self.priority, self.line1, self.line2 = priority, line1, line2
        self._w1, self._w2 = self._width(line1), self._width(line2)
        self.update()

    def paint(
        self,
        painter: QPainter | None,
        option: QStyleOptionGraphicsItem | None,
        widget: QWidget | None = None,
    ) -> None:
        if painter is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = QColor(PRIORITY_COLOURS.get(self.priority, "#f97316"))
        pin = QPolygonF([QPointF(0, 0), QPointF(-9, -16), QPointF(0, -26), QPointF(9, -16)])
        painter.setPen(QPen(QColor("#111827"), 1.5))
        painter.setBrush(QBrush(colour))
        painter.drawPolygon(pin)
        painter.setPen(QPen(QColor("white"), 2.5))
        painter.drawLine(QPointF(0, -21), QPointF(0, -14))
        painter.drawPoint(QPointF(0, -10))
        painter.setFont(self.font)
        # Labels to the left of the pin: a drone over the scene writes its own to the right.
        draw_label(painter, -13 - self._w1, -22, self.line1, colour.darker(160), self._w1)
        draw_label(painter, -13 - self._w2, -8, self.line2, QColor("#111827"), self._w2)
