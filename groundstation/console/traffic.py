"""Crewed traffic on the console map: the controller's picture (``traffic/picture/+``).

Each aircraft is a symbol turned to its track (a rotorcraft gets a rotor disc) with its callsign
and altitude (feet above mean sea level, as aviation speaks) beside it, amber, red when the
controller predicts it near a drone; behind it a track of its last positions fading with age.
An aircraft no longer in the picture fades out over ``FADE_S`` and is removed. Updated once per
picture (1 Hz) and by the window's 1 Hz timer: never per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from groundstation import contract as c
from groundstation.console.mapview import MapView, scene_point
from groundstation.console.qt import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QGraphicsItem,
    QGraphicsPathItem,
    QPainter,
    QPainterPath,
    QPen,
    QPointF,
    QPolygonF,
    QRectF,
    QStyleOptionGraphicsItem,
    QWidget,
)

TRACK_S = 60.0
"""How much of an aircraft's past is drawn."""
FADE_S = 10.0
"""How long an aircraft gone from the picture stays, fading."""
FT_PER_M = 3.28084
EMITTER_ROTORCRAFT = 7
AMBER = QColor("#b45309")
RED = QColor("#dc2626")
_PLANE = QPolygonF([QPointF(0, -11), QPointF(3, -3), QPointF(11, 2), QPointF(3, 1),
                    QPointF(2, 8), QPointF(5, 11), QPointF(-5, 11), QPointF(-2, 8),
                    QPointF(-3, 1), QPointF(-11, 2), QPointF(-3, -3)])


def altitude_label(alt_amsl_m: float) -> str:
    return f"{round(alt_amsl_m * FT_PER_M / 10) * 10:.0f} ft"


class AircraftItem(QGraphicsItem):
    """A crewed aircraft: symbol turned to its track, callsign and altitude beside it."""

    def __init__(self, icao: str, font: QFont) -> None:
        super().__init__()
        self.icao = icao
        self.font = font
        self.heading_deg = 0.0
        self.rotorcraft = False
        self.conflict = False
        self.line1 = icao
        self.line2 = ""
        self._metrics = QFontMetricsF(font)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(45)
        self.setData(0, ("aircraft", icao))

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return QRectF(-16, -16, 140, 34)

    def set_values(self, heading_deg: float, rotorcraft: bool, conflict: bool, line1: str,
                   line2: str) -> None:
        values = (round(heading_deg), rotorcraft, conflict, line1, line2)
        if values == (round(self.heading_deg), self.rotorcraft, self.conflict, self.line1,
                      self.line2):
            return
        self.heading_deg, self.rotorcraft, self.conflict = heading_deg, rotorcraft, conflict
        self.line1, self.line2 = line1, line2
        self.update()

    @property
    def colour(self) -> QColor:
        return RED if self.conflict else AMBER

    def paint(self, painter: QPainter | None, option: QStyleOptionGraphicsItem | None,
              widget: QWidget | None = None) -> None:
        if painter is None:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.save()
        painter.rotate(self.heading_deg)
        painter.setPen(QPen(QColor("white"), 1.2))
        painter.setBrush(QBrush(self.colour))
        painter.drawPolygon(_PLANE)
        if self.rotorcraft:
            painter.setBrush(QBrush())
            painter.setPen(QPen(self.colour, 1.5))
            painter.drawEllipse(QPointF(0, 0), 13, 13)
        painter.restore()
        painter.setFont(self.font)
        for y, text in ((-2, self.line1), (11, self.line2)):
            w = self._metrics.horizontalAdvance(text)
            painter.setPen(QPen())
            painter.fillRect(QRectF(15, y - 10, w + 4, 13), QColor(255, 255, 255, 205))
            painter.setPen(QPen(self.colour))
            painter.drawText(QPointF(17, y), text)


@dataclass
class Shown:
    item: AircraftItem
    track: QGraphicsPathItem
    points: list[tuple[float, float, float]] = field(default_factory=list)  # mono s, lat, lon
    last_s: float = 0.0


class TrafficLayer:
    """The aircraft on a map, from the pictures the controller publishes."""

    def __init__(self, map_view: MapView) -> None:
        self.map = map_view
        self.shown: dict[str, Shown] = {}
        self.pictures = 0

    def apply(self, picture: c.TrafficPicture, now_s: float) -> None:
        self.pictures += 1
        for a in picture.aircraft:
            r = a.report
            s = self.shown.get(r.icao)
            if s is None:
                item = AircraftItem(r.icao, self.map.label_font)
                track = QGraphicsPathItem()
                track.setZValue(11)
                self.map.scene().addItem(item)  # type: ignore[union-attr]
                self.map.scene().addItem(track)  # type: ignore[union-attr]
                s = self.shown[r.icao] = Shown(item, track)
            s.last_s = now_s
            s.points.append((now_s, r.lat_deg, r.lon_deg))
            s.item.setPos(scene_point(r.lat_deg, r.lon_deg))
            s.item.setOpacity(1.0)
            s.item.set_values(r.heading_deg, r.emitter_type == EMITTER_ROTORCRAFT,
                              bool(a.conflict_drones), r.callsign or r.icao,
                              altitude_label(r.alt_amsl_m))
        self.tick(now_s)

    def tick(self, now_s: float) -> None:
        """Fade tracks and aircraft no longer reported; drop what has faded out."""
        for icao, s in list(self.shown.items()):
            gone_s = now_s - s.last_s
            if gone_s > FADE_S:
                self.map.scene().removeItem(s.item)  # type: ignore[union-attr]
                self.map.scene().removeItem(s.track)  # type: ignore[union-attr]
                del self.shown[icao]
                continue
            s.item.setOpacity(1.0 if gone_s <= 2.0 else max(0.1, 1.0 - gone_s / FADE_S))
            s.points = [p for p in s.points if now_s - p[0] <= TRACK_S]
            self._draw_track(s, now_s)

    def _draw_track(self, s: Shown, now_s: float) -> None:
        path = QPainterPath()
        pts = [scene_point(lat, lon) for _, lat, lon in s.points]
        if len(pts) >= 2:
            path.addPolygon(QPolygonF(pts))
        colour = QColor(s.item.colour)
        age = now_s - s.points[0][0] if s.points else TRACK_S
        colour.setAlpha(max(40, round(200 * (1.0 - min(age, TRACK_S) / (2 * TRACK_S)))))
        pen = QPen(colour, 2.0)
        pen.setCosmetic(True)
        s.track.setPen(pen)
        s.track.setPath(path)
        s.track.setOpacity(s.item.opacity())

    def labels(self) -> dict[str, tuple[str, str, bool]]:
        """What is shown: icao -> (callsign line, altitude line, in conflict)."""
        return {k: (s.item.line1, s.item.line2, s.item.conflict) for k, s in self.shown.items()}

