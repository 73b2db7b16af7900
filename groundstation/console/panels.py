"""The selected drone's detail panel (with an attitude indicator) and the command panel."""

from __future__ import annotations

import time

from groundstation.console.model import DroneView
from groundstation.console.qt import (
    QBrush,
    QColor,
    QDoubleSpinBox,
    QFont,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPointF,
    QPushButton,
    QRectF,
    QSize,
    Qt,
    QVBoxLayout,
    QWidget,
)
from groundstation.console.tables import fmt_duration


class AttitudeIndicator(QWidget):
    """An artificial horizon: sky and ground rotated by roll and shifted by pitch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.roll_deg = 0.0
        self.pitch_deg = 0.0
        self.setMinimumSize(QSize(110, 110))

    def set_attitude(self, roll_deg: float, pitch_deg: float) -> None:
        if (round(roll_deg, 1), round(pitch_deg, 1)) != (
            round(self.roll_deg, 1),
            round(self.pitch_deg, 1),
        ):
            self.roll_deg, self.pitch_deg = roll_deg, pitch_deg
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(120, 120)

    def paintEvent(self, event: QPaintEvent | None) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        side = min(self.width(), self.height()) - 4
        r = side / 2
        p.translate(self.width() / 2, self.height() / 2)
        clip = QRectF(-r, -r, side, side)
        p.save()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(QColor("#1f2937")))
        p.drawEllipse(clip)
        round_clip = QPainterPath()
        round_clip.addEllipse(clip)
        p.setClipPath(round_clip)
        px_per_deg = r / 30
        p.rotate(-self.roll_deg)
        p.translate(0, self.pitch_deg * px_per_deg)
        p.setBrush(QBrush(QColor("#38bdf8")))
        p.drawRect(QRectF(-3 * r, -3 * r, 6 * r, 3 * r))
        p.setBrush(QBrush(QColor("#a16207")))
        p.drawRect(QRectF(-3 * r, 0, 6 * r, 3 * r))
        p.setPen(QPen(QColor("white"), 1.5))
        p.drawLine(QPointF(-3 * r, 0), QPointF(3 * r, 0))
        for deg in (-20, -10, 10, 20):
            y = -deg * px_per_deg
            w = r * (0.35 if deg % 20 else 0.55)
            p.drawLine(QPointF(-w / 2, y), QPointF(w / 2, y))
        p.restore()
        # Fixed aircraft symbol and bezel.
        p.setPen(QPen(QColor("#facc15"), 3))
        p.drawLine(QPointF(-r * 0.55, 0), QPointF(-r * 0.15, 0))
        p.drawLine(QPointF(r * 0.15, 0), QPointF(r * 0.55, 0))
        p.drawPoint(QPointF(0, 0))
        p.setPen(QPen(QColor("#111827"), 3))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(clip)
        p.end()


FIELDS = [
    ("alt", "Altitude"),
    ("spd", "Speed"),
    ("hdg", "Heading"),
    ("climb", "Climb"),
    ("batt", "Battery"),
    ("gps", "GPS"),
    ("link", "Link"),
    ("mode", "Mode"),
    ("phase", "Phase"),
    ("pilot", "Pilot"),
    ("incident", "Incident"),
    ("target", "Target"),
]


class DetailPanel(QGroupBox):
    """The numbers a pilot reads at a glance, for the selected drone."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("No drone selected", parent)
        layout = QGridLayout(self)
        self.attitude = AttitudeIndicator(self)
        layout.addWidget(self.attitude, 0, 0, 4, 1)
        big = QFont("DejaVu Sans", 11)
        big.setBold(True)
        self.values: dict[str, QLabel] = {}
        for n, (key, title) in enumerate(FIELDS):
            row, col = n // 2, 1 + (n % 2) * 2
            caption = QLabel(title, self)
            caption.setStyleSheet("color: #6b7280; font-size: 8pt;")
            value = QLabel("-", self)
            value.setFont(big)
            value.setObjectName(f"detail_{key}")
            layout.addWidget(caption, row * 2, col)
            layout.addWidget(value, row * 2 + 1, col)
            self.values[key] = value
        self.drone_id: str | None = None

    def show_drone(self, view: DroneView | None, now_mono: float | None = None) -> None:
        if view is None:
            self.drone_id = None
            self.setTitle("No drone selected")
            for label in self.values.values():
                label.setText("-")
            return
        self.drone_id = view.drone_id
        self.setTitle(f"Selected: {view.drone_id}")
        t, st = view.tel, view.state
        now = time.monotonic() if now_mono is None else now_mono
        v = self.values
        if t is not None:
            self.attitude.set_attitude(t.roll_deg, t.pitch_deg)
            v["alt"].setText(f"{t.alt_rel_m:.0f} m")
            v["spd"].setText(f"{t.ground_speed_m_s:.1f} m/s")
            v["hdg"].setText(f"{t.heading_deg % 360:03.0f}°")
            v["climb"].setText(f"{t.climb_m_s:+.1f} m/s")
            left = view.battery_time_left_s()
            batt = f"{t.battery_pct:.0f} % {t.battery_v:.1f} V"
            if left is not None:
                batt += f" ~{fmt_duration(left)}"
            v["batt"].setText(batt)
            v["batt"].setStyleSheet("color: #dc2626;" if t.battery_pct < 25 else "")
            fix = {0: "none", 1: "none", 2: "2D", 3: "3D", 4: "DGPS", 5: "RTK float", 6: "RTK"}
            v["gps"].setText(f"{fix.get(t.gps_fix, str(t.gps_fix))} · {t.satellites} sats")
            v["mode"].setText(f"{t.flight_mode}{' armed' if t.armed else ''}")
        link = view.link_text(now)
        age = view.link_age_s(now)
        v["link"].setText(link if age > 3 or age == float("inf") else f"{link} · {age:.1f} s")
        v["link"].setStyleSheet("color: #dc2626;" if link in ("lost", "degraded") else "")
        v["phase"].setText(view.phase)
        v["pilot"].setText(view.pilot or "autonomous")
        v["incident"].setText(st.incident_id or "-" if st is not None else "-")
        if st is not None and st.target_lat_deg is not None and st.target_lon_deg is not None:
            orbit = f" ⟳{st.orbit_radius_m:.0f} m" if st.orbit_radius_m else ""
            eta = f" ETA {fmt_duration(st.eta_s)}" if st.eta_s is not None else ""
            v["target"].setText(f"{st.target_lat_deg:.4f}, {st.target_lon_deg:.4f}{orbit}{eta}")
        else:
            v["target"].setText("-")


class CommandPanel(QGroupBox):
    """Buttons for the pilot's commands; the window connects them and sets what is enabled."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Commands", parent)
        outer = QVBoxLayout(self)
        grid = QGridLayout()
        outer.addLayout(grid)

        def button(name: str, text: str, row: int, col: int, tip: str) -> QPushButton:
            b = QPushButton(text, self)
            b.setObjectName(name)
            b.setToolTip(tip)
            grid.addWidget(b, row, col)
            return b

        self.take = button("cmd_take", "Take control [T]", 0, 0, "authority_grab")
        self.release = button("cmd_release", "Release [Shift+T]", 0, 1, "authority_release")
        self.goto = button("cmd_goto", "Go to (click) [G]", 1, 0, "then click the map")
        self.orbit = button("cmd_orbit", "Orbit here [O]", 1, 1, "orbit the drone's position")
        self.hold = button("cmd_hold", "Hold [H]", 2, 0, "stop and hover")
        self.resume = button("cmd_resume", "Resume sortie [S]", 2, 1, "back to the sortie")
        self.alt_up = button("cmd_alt_up", "Alt +10 m [PgUp]", 3, 0, "climb 10 m")
        self.alt_down = button("cmd_alt_down", "Alt -10 m [PgDn]", 3, 1, "descend 10 m")
        self.alt_set = button("cmd_alt_set", "Set altitude [A]", 4, 0, "go to the altitude below")
        self.alt_value = QDoubleSpinBox(self)
        self.alt_value.setObjectName("cmd_alt_value")
        self.alt_value.setRange(5, 120)
        self.alt_value.setValue(60)
        self.alt_value.setSuffix(" m")
        grid.addWidget(self.alt_value, 4, 1)
        self.radius = QDoubleSpinBox(self)
        self.radius.setObjectName("cmd_radius")
        self.radius.setRange(10, 500)
        self.radius.setValue(40)
        self.radius.setPrefix("orbit r ")
        self.radius.setSuffix(" m")
        grid.addWidget(self.radius, 5, 1)
        self.rtl = button("cmd_return", "Return to dock [R]", 6, 0, "asks for confirmation")
        self.land = button("cmd_land", "LAND NOW [L]", 6, 1, "asks for confirmation")
        self.land.setStyleSheet("QPushButton:enabled { color: #b91c1c; font-weight: bold; }")
        self.result = QLabel("", self)
        self.result.setObjectName("cmd_result")
        self.result.setWordWrap(True)
        self.result.setMinimumHeight(34)
        outer.addWidget(self.result)

    @property
    def drone_buttons(self) -> list[QPushButton]:
        return [
            self.take,
            self.release,
            self.goto,
            self.orbit,
            self.hold,
            self.resume,
            self.alt_up,
            self.alt_down,
            self.alt_set,
            self.rtl,
            self.land,
        ]

    def shortcuts(self) -> dict[str, QPushButton]:
        """The key of each button (shown in its text)."""
        return {
            "T": self.take,
            "Shift+T": self.release,
            "G": self.goto,
            "O": self.orbit,
            "H": self.hold,
            "S": self.resume,
            "PgUp": self.alt_up,
            "PgDown": self.alt_down,
            "A": self.alt_set,
            "R": self.rtl,
            "L": self.land,
        }

    def set_allowed(
        self,
        *,
        take: bool,
        release: bool,
        fly: bool,
        altitude_value: bool,
        radius_value: bool,
    ) -> None:
        """Enable what the user may do now: take, release, the flight commands, the two values."""
        self.take.setEnabled(take)
        self.release.setEnabled(release)
        for b in (
            self.goto,
            self.orbit,
            self.hold,
            self.resume,
            self.alt_up,
            self.alt_down,
            self.alt_set,
            self.rtl,
            self.land,
        ):
            b.setEnabled(fly)
        self.alt_value.setEnabled(altitude_value)
        self.radius.setEnabled(radius_value)

    def show_result(self, text: str, ok: bool | None) -> None:
        colour = "#15803d" if ok else "#6b7280" if ok is None else "#b91c1c"
        self.result.setStyleSheet(f"color: {colour}; font-weight: bold;")
        self.result.setText(text)
