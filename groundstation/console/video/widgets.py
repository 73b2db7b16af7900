"""The video widgets: one view (picture, overlays, "no video" text), the pane, the grid.

Attributes down, signals up: :class:`~groundstation.console.video.area.VideoArea` sets what a
view shows on its timer; a view only repaints when that changed, and tells the stream's
:class:`~groundstation.console.video.decoder.VideoStats` when it has painted a new frame (that is
"shown" for the latency figures). A left click in the pane's picture asks the camera to look
there (``look_at``, x and y in 0..1 from the top left); a click on a grid tile selects its drone.
"""

from __future__ import annotations

import math
import time

from groundstation.console.qt import (
    QColor,
    QFont,
    QFontMetrics,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QImage,
    QLabel,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPointF,
    QPushButton,
    QRectF,
    QSizePolicy,
    Qt,
    QVBoxLayout,
    QWidget,
    pyqtSignal,
)
from groundstation.console.video.decoder import Frame, VideoStats

BACKGROUND = QColor("#0b0f14")
LABEL_CACHE = 8


def fit_rect(width: float, height: float, src_w: int, src_h: int) -> QRectF:
    """The largest rectangle of the source's aspect centred in ``width x height``."""
    if src_w <= 0 or src_h <= 0 or width <= 0 or height <= 0:
        return QRectF(0, 0, max(0.0, width), max(0.0, height))
    scale = min(width / src_w, height / src_h)
    w, h = src_w * scale, src_h * scale
    return QRectF((width - w) / 2, (height - h) / 2, w, h)


class VideoView(QWidget):
    """One drone's picture with its overlays; black with a reason when there is no picture."""

    look_at = pyqtSignal(str, float, float)  # drone_id, x, y (0..1 from the top left)
    activated = pyqtSignal(str)  # drone_id (a click where no look-at applies)

    def __init__(self, parent: QWidget | None = None, *, compact: bool = False) -> None:
        super().__init__(parent)
        self.compact = compact
        self.drone_id: str | None = None
        self.frame: Frame | None = None
        self.text: str | None = "No drone selected"
        self.top = ""
        self.bottom = ""
        self.stats: VideoStats | None = None
        self.clickable_look = not compact
        self.highlight = False
        self.track: tuple[str, tuple[float, ...]] | None = None
        """Tracking overlay: ("box", (left, top, right, bottom)) or ("marker", (x, y)), 0..1."""
        self.paints = 0
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(
            Qt.CursorShape.CrossCursor if self.clickable_look else Qt.CursorShape.PointingHandCursor
        )
        size = 8 if compact else 10
        self._font = QFont("DejaVu Sans Mono", size)
        self._font.setBold(True)
        self._big = QFont("DejaVu Sans", size + 2)
        self._big.setBold(True)
        self._labels: dict[str, QImage] = {}
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_content(
        self,
        drone_id: str | None,
        frame: Frame | None,
        text: str | None,
        top: str,
        bottom: str,
        stats: VideoStats | None,
        highlight: bool = False,
    ) -> None:
        """Set what to show; repaints only when something visible changed."""
        changed = (
            drone_id != self.drone_id
            or (frame is not self.frame)
            or text != self.text
            or top != self.top
            or bottom != self.bottom
            or highlight != self.highlight
        )
        self.drone_id, self.frame, self.text = drone_id, frame, text
        self.top, self.bottom, self.stats, self.highlight = top, bottom, stats, highlight
        if changed:
            self.update()

    def set_track(self, track: tuple[str, tuple[float, ...]] | None) -> None:
        if track != self.track:
            self.track = track
            self.update()

    def _paint_track(self, p: QPainter, rect: QRectF) -> None:
        assert self.track is not None
        kind, v = self.track
        p.setPen(QPen(QColor("#ef4444"), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        if kind == "box":
            p.drawRect(
                QRectF(
                    rect.left() + v[0] * rect.width(),
                    rect.top() + v[1] * rect.height(),
                    (v[2] - v[0]) * rect.width(),
                    (v[3] - v[1]) * rect.height(),
                )
            )
        else:
            x, y = rect.left() + v[0] * rect.width(), rect.top() + v[1] * rect.height()
            p.drawEllipse(QPointF(x, y), 12.0, 12.0)
            p.drawLine(QPointF(x - 18, y), QPointF(x + 18, y))
            p.drawLine(QPointF(x, y - 18), QPointF(x, y + 18))

    def image_rect(self) -> QRectF:
        f = self.frame
        if f is None:
            return QRectF()
        return fit_rect(self.width(), self.height(), f.source_width_px, f.source_height_px)

    def _label(self, text: str) -> QImage:
        """The overlay line rendered once (a translucent box with the text), reused per frame."""
        image = self._labels.get(text)
        if image is None:
            fm = QFontMetrics(self._font)
            image = QImage(
                fm.horizontalAdvance(text) + 10,
                fm.height() + 4,
                QImage.Format.Format_ARGB32_Premultiplied,
            )
            image.fill(QColor(0, 0, 0, 160))
            p = QPainter(image)
            p.setFont(self._font)
            p.setPen(QPen(QColor("#f9fafb")))
            p.drawText(
                QRectF(5, 0, image.width(), image.height()),
                int(Qt.AlignmentFlag.AlignVCenter),
                text,
            )
            p.end()
            if len(self._labels) >= LABEL_CACHE:
                self._labels.pop(next(iter(self._labels)))
            self._labels[text] = image
        return image

    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802
        cpu = time.thread_time()
        p = QPainter(self)
        frame = self.frame
        rect = self.image_rect()
        if frame is None:
            p.fillRect(self.rect(), BACKGROUND)
        else:
            # Only the bars around the picture need the background (the widget is opaque).
            whole = QRectF(self.rect())
            for bar in (
                QRectF(0, 0, whole.width(), rect.top()),
                QRectF(0, rect.bottom(), whole.width(), whole.height() - rect.bottom()),
                QRectF(0, 0, rect.left(), whole.height()),
                QRectF(rect.right(), 0, whole.width() - rect.right(), whole.height()),
            ):
                if bar.width() > 0 and bar.height() > 0:
                    p.fillRect(bar, BACKGROUND)
            img = frame.image
            if abs(rect.width() - img.width()) < 1 and abs(rect.height() - img.height()) < 1:
                p.drawImage(rect.topLeft(), img)  # decoded at this size: a plain copy
            else:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not self.compact)
                p.drawImage(rect, img)
            if self.stats is not None:
                self.stats.note_shown(frame, time.time())
            if self.track is not None:
                self._paint_track(p, rect)
        if self.text:
            if frame is not None:
                p.fillRect(self.rect(), QColor(0, 0, 0, 150))
            p.setPen(QPen(QColor("#fbbf24" if frame is not None else "#e5e7eb")))
            p.setFont(self._big)
            box = QRectF(self.rect()).adjusted(12, 12, -12, -12)
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            p.drawText(box, int(flags), self.text)
        if self.top:
            p.drawImage(QPointF(4, 4), self._label(self.top))
        if self.bottom:
            # Bottom right: the frame clock code is in the picture's bottom-left band.
            label = self._label(self.bottom)
            x = max(4, self.width() - label.width() - 4)
            p.drawImage(QPointF(x, self.height() - label.height() - 4), label)
        if self.highlight:
            p.setPen(QPen(QColor("#facc15"), 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(self.rect()).adjusted(1.5, 1.5, -1.5, -1.5))
        p.end()
        self.paints += 1
        if frame is not None and self.stats is not None:
            self.stats.paint_cpu_s += time.thread_time() - cpu

    def mouseReleaseEvent(self, event: QMouseEvent | None) -> None:  # noqa: N802
        if event is None or event.button() != Qt.MouseButton.LeftButton or not self.drone_id:
            return
        pos = event.position()
        rect = self.image_rect()
        if self.clickable_look and self.frame is not None and rect.contains(pos):
            x = min(1.0, max(0.0, (pos.x() - rect.left()) / rect.width()))
            y = min(1.0, max(0.0, (pos.y() - rect.top()) / rect.height()))
            self.look_at.emit(self.drone_id, round(x, 4), round(y, 4))
        else:
            self.activated.emit(self.drone_id)


class VideoPane(QGroupBox):
    """The selected drone's video with the camera's buttons and a line of stream figures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Video: no drone selected", parent)
        self.setObjectName("video_pane")
        self.view = VideoView(self)
        self.view.setObjectName("video_view")
        self.snapshot = QPushButton("Snapshot", self)
        self.tilt_up = QPushButton("Tilt ▲", self)
        self.tilt_down = QPushButton("Tilt ▼", self)
        self.reset = QPushButton("Look at incident", self)
        for name, b, tip in (
            ("video_snapshot", self.snapshot, "take a geotagged still (kept as evidence)"),
            ("video_tilt_up", self.tilt_up, "gimbal 10° up"),
            ("video_tilt_down", self.tilt_down, "gimbal 10° down"),
            ("video_reset", self.reset, "back to the sortie's point of interest"),
        ):
            b.setObjectName(name)
            b.setToolTip(tip)
        self.figures = QLabel("", self)
        self.figures.setObjectName("video_figures")
        self.figures.setStyleSheet("color: #6b7280; font-size: 8pt;")
        hint = QLabel("Click the picture to look there · right-click the map: point camera", self)
        hint.setStyleSheet("color: #6b7280; font-size: 8pt;")
        row = QHBoxLayout()
        for b in (self.snapshot, self.tilt_up, self.tilt_down, self.reset):
            row.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        layout.addWidget(hint)
        layout.addWidget(self.figures)

    def buttons(self) -> list[QPushButton]:
        return [self.snapshot, self.tilt_up, self.tilt_down, self.reset]


class VideoGrid(QGroupBox):
    """A tile per airborne drone; tiles are reused, the layout is rebuilt only when the set
    of drones changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("All airborne drones", parent)
        self.setObjectName("video_grid")
        self.tiles: dict[str, VideoView] = {}
        self.order: list[str] = []
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(4)
        self.empty = QLabel("No drone in the air", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self.empty, 0, 0)

    def set_drones(self, drone_ids: list[str]) -> list[VideoView]:
        """Show exactly these drones; returns the tiles that are new (to wire their signals)."""
        if drone_ids == self.order:
            return []
        new: list[VideoView] = []
        for gone in set(self.tiles) - set(drone_ids):
            tile = self.tiles.pop(gone)
            self._layout.removeWidget(tile)
            tile.deleteLater()
        for d in drone_ids:
            if d not in self.tiles:
                tile = VideoView(self, compact=True)
                tile.setObjectName(f"video_tile_{d}")
                tile.drone_id = d
                self.tiles[d] = tile
                new.append(tile)
        self._layout.removeWidget(self.empty)
        cols = max(1, math.ceil(math.sqrt(len(drone_ids))))
        for n, d in enumerate(drone_ids):
            self._layout.removeWidget(self.tiles[d])
            self._layout.addWidget(self.tiles[d], n // cols, n % cols)
        self.empty.setVisible(not drone_ids)
        if not drone_ids:
            self._layout.addWidget(self.empty, 0, 0)
        self.order = list(drone_ids)
        self.setTitle(f"All airborne drones ({len(drone_ids)})")
        return new
