"""Tracking in the console: click in the video to track, the reason asked for first, Esc stops,
the state and the distance always in sight, the target's box in the picture and its trail on
the map.

Speaks only the MQTT contract: ``drone_track`` / ``drone_track_stop`` requests, and the
retained ``drones/{id}/tracking`` status (:meth:`TrackingControl.apply_status`).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from groundstation import contract as c
from groundstation.console.commands import Commands
from groundstation.console.qt import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QObject,
    QPushButton,
    QVBoxLayout,
    QWidget,
    pyqtSignal,
)

M = c.OperatorMethod
TRAIL_POINTS = 240
MAX_UNITS = 200
"""Ground units offered to track (the most recently heard)."""
UNIT_STALE_S = 60.0
"""A unit not heard for this long is no longer offered."""
ACTIVE = frozenset(
    {c.TrackState.ACQUIRING, c.TrackState.FOLLOWING, c.TrackState.HELD, c.TrackState.LOST}
)
STATE_COLOURS = {
    c.TrackState.ACQUIRING: "#2563eb",
    c.TrackState.FOLLOWING: "#16a34a",
    c.TrackState.HELD: "#d97706",
    c.TrackState.LOST: "#dc2626",
    c.TrackState.STOPPED: "#6b7280",
}


@dataclass(slots=True)
class DroneTracking:
    status: c.TrackingStatus | None = None
    trail: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=TRAIL_POINTS))
    clicked: tuple[float, float] | None = None
    """Where the pilot clicked to track (a marker until the camera reports its box)."""


def status_text(st: c.TrackingStatus | None) -> str:
    """One line a pilot reads at a glance."""
    if st is None or st.state == c.TrackState.STOPPED:
        tail = ""
        if st is not None and st.stop_reason:
            tail = f" · last: {st.stop_reason}"
        return f"Not tracking{tail}"
    what = "camera target" if st.source == c.TrackSource.VIDEO else f"{st.source} {st.target}"
    dist = f" · {st.distance_m:.0f} m" if st.distance_m is not None else " · distance ?"
    since = time.strftime("%H:%M:%S", time.localtime(st.started_ms / 1000))
    detail = f" ({st.detail})" if st.detail else ""
    return (
        f"TRACKING {what} · {st.state.upper()}{detail}{dist} · since {since} by "
        f"{st.started_by} · {st.reason}"
    )


class TrackingControl(QObject):
    """The tracking row of the video pane, and what the video and the map draw of it."""

    changed = pyqtSignal(str)  # drone_id whose tracking (status or trail) changed

    def __init__(self, commands: Commands, parent: QWidget) -> None:
        super().__init__(parent)
        self.commands = commands
        self.drones: dict[str, DroneTracking] = {}
        self.selected: str | None = None
        self.widget = QWidget(parent)
        self.widget.setObjectName("tracking_row")
        self.reason = QLineEdit(self.widget)
        self.reason.setObjectName("tracking_reason")
        self.reason.setPlaceholderText("Reason for tracking (legal basis): required")
        self.arm = QPushButton("Track: click target", self.widget)
        self.arm.setObjectName("tracking_arm")
        self.arm.setCheckable(True)
        self.arm.setToolTip("then click the target in the picture (Esc stops tracking)")
        self.stop_button = QPushButton("Stop tracking (Esc)", self.widget)
        self.stop_button.setObjectName("tracking_stop")
        self.unit = QComboBox(self.widget)
        self.unit.setObjectName("tracking_unit")
        self.unit.setPlaceholderText("ground unit (AVL)")
        self.unit.setToolTip("a ground unit publishing its position: the drone follows it")
        self.unit_button = QPushButton("Track unit", self.widget)
        self.unit_button.setObjectName("tracking_unit_button")
        self.units_heard: dict[str, float] = {}
        self.label = QLabel("Not tracking", self.widget)
        self.label.setObjectName("tracking_status")
        self.label.setWordWrap(True)
        self.hint = QLabel("", self.widget)
        self.hint.setObjectName("tracking_hint")
        self.hint.setStyleSheet("color: #b45309; font-size: 8pt;")
        row = QHBoxLayout()
        row.addWidget(self.reason, 1)
        row.addWidget(self.arm)
        row.addWidget(self.unit)
        row.addWidget(self.unit_button)
        row.addWidget(self.stop_button)
        layout = QVBoxLayout(self.widget)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.label)
        layout.addWidget(self.hint)
        self.stop_button.clicked.connect(self._stop_clicked)
        self.unit_button.clicked.connect(self._track_unit_clicked)
        self.arm.toggled.connect(self._armed)
        self.refresh()

    # --- inputs --------------------------------------------------------------------------------

    def select(self, drone_id: str | None) -> None:
        self.selected = drone_id
        self.arm.setChecked(False)
        self.refresh()

    def apply_status(self, st: c.TrackingStatus) -> None:
        dt = self.drones.setdefault(st.drone_id, DroneTracking())
        if dt.status is None or dt.status.started_ms != st.started_ms:
            dt.trail.clear()  # a new tracking: a new trail
        dt.status = st
        if st.state in ACTIVE and st.target_lat_deg is not None and st.target_lon_deg is not None:
            point = (st.target_lat_deg, st.target_lon_deg)
            if not dt.trail or dt.trail[-1] != point:
                dt.trail.append(point)
        if st.state != c.TrackState.ACQUIRING:
            dt.clicked = None
        if st.drone_id == self.selected:
            self.refresh()
        self.changed.emit(st.drone_id)

    def apply_unit(self, pos: c.TargetPosition) -> None:
        """A ground unit's position (``units/{id}/position``): offered to track while heard."""
        now = time.monotonic()
        self.units_heard[pos.id] = now
        fresh = {u: t for u, t in self.units_heard.items() if now - t <= UNIT_STALE_S}
        keep = sorted(fresh, key=lambda u: -fresh[u])[:MAX_UNITS]
        self.units_heard = {u: fresh[u] for u in keep}
        names = sorted(self.units_heard)
        if names != [self.unit.itemText(i) for i in range(self.unit.count())]:
            current = self.unit.currentText()
            self.unit.blockSignals(True)
            self.unit.clear()
            self.unit.addItems(names)
            self.unit.setCurrentIndex(names.index(current) if current in names else -1)
            self.unit.blockSignals(False)
            self.refresh()

    def clear_status(self, drone_id: str) -> None:
        self.drones.pop(drone_id, None)
        if drone_id == self.selected:
            self.refresh()
        self.changed.emit(drone_id)

    # --- what the pilot does -------------------------------------------------------------------

    def _armed(self, on: bool) -> None:
        if on and not self.reason.text().strip():
            self.arm.setChecked(False)  # toggles back (and clears the hint): say why after
            self.hint.setText("Enter the reason for tracking (the legal basis) first")
            self.reason.setFocus()
            return
        self.hint.setText("Click the target in the picture" if on else "")

    def clicked(self, drone_id: str, x: float, y: float) -> bool:
        """A click in the picture. True when it started tracking (not a look-at)."""
        if not self.arm.isChecked() or drone_id != self.selected:
            return False
        reason = self.reason.text().strip()
        if not reason:
            self.hint.setText("Enter the reason for tracking (the legal basis) first")
            return True
        self.arm.setChecked(False)
        self.drones.setdefault(drone_id, DroneTracking()).clicked = (x, y)
        self.commands.request(
            M.DRONE_TRACK,
            c.DroneTrack(
                drone_id=drone_id, source=c.TrackSource.VIDEO, reason=reason, x=x, y=y
            ),
        )
        self.hint.setText("")
        self.changed.emit(drone_id)
        return True

    def track_unit(self, drone_id: str, unit_id: str) -> bool:
        """Track a ground unit with a drone (from a unit's menu); False without a reason."""
        reason = self.reason.text().strip()
        if not reason:
            self.hint.setText("Enter the reason for tracking (the legal basis) first")
            return False
        self.commands.request(
            M.DRONE_TRACK,
            c.DroneTrack(
                drone_id=drone_id, source=c.TrackSource.UNIT, reason=reason, unit_id=unit_id
            ),
        )
        return True

    def _track_unit_clicked(self) -> None:
        unit = self.unit.currentText()
        if self.selected is None or not unit:
            self.hint.setText("Select a drone and the ground unit to track")
            return
        if self.track_unit(self.selected, unit):
            self.hint.setText("")

    def _stop_clicked(self) -> None:
        self.stop()

    def tracking(self, drone_id: str | None) -> bool:
        dt = self.drones.get(drone_id or "")
        return dt is not None and dt.status is not None and dt.status.state in ACTIVE

    def stop(self, drone_id: str | None = None) -> bool:
        """Stop the (selected) drone's tracking; False when it is not tracking."""
        drone = drone_id or self.selected
        if drone is None or not self.tracking(drone):
            return False
        self.commands.request(
            M.DRONE_TRACK_STOP, c.DroneTrackStop(drone_id=drone, reason="stopped by the pilot")
        )
        return True

    # --- what is drawn -------------------------------------------------------------------------

    def refresh(self) -> None:
        dt = self.drones.get(self.selected or "")
        st = dt.status if dt is not None else None
        self.label.setText(status_text(st))
        colour = STATE_COLOURS.get(st.state, "#6b7280") if st is not None else "#6b7280"
        self.label.setStyleSheet(f"color: {colour}; font-weight: bold;")
        ok = self.selected is not None and self.commands.allowed(M.DRONE_TRACK)
        self.arm.setEnabled(ok)
        self.unit_button.setEnabled(ok and self.unit.count() > 0)
        self.stop_button.setEnabled(ok and self.tracking(self.selected))

    def overlay(self, drone_id: str | None) -> tuple[str, tuple[float, ...]] | None:
        """What the video draws over the picture: the camera's box around the target, else a
        marker where the pilot clicked (until the controller answers)."""
        dt = self.drones.get(drone_id or "")
        if dt is None:
            return None
        st = dt.status
        if st is not None and st.state in ACTIVE and st.box is not None:
            b = st.box
            return ("box", (b.left, b.top, b.right, b.bottom))
        if dt.clicked is not None:
            return ("marker", dt.clicked)
        return None

    def trail(self, drone_id: str) -> list[tuple[float, float]]:
        dt = self.drones.get(drone_id)
        if dt is None or dt.status is None or dt.status.state not in ACTIVE:
            return []
        return list(dt.trail)
