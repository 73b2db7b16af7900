"""Read-only table models fed with whole rows on a timer (one dataChanged per refresh).

The window builds plain rows from the fleet model (:func:`fleet_rows` and friends, pure
functions) and hands them to a :class:`RowsModel`; the view repaints only the rows it shows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from groundstation.console.items import DOCK_COLOURS, PHASE_COLOURS, PRIORITY_COLOURS
from groundstation.console.model import AlertView, DockView, DroneView, FleetModel
from groundstation.console.qt import QAbstractTableModel, QBrush, QColor, QModelIndex, QObject, Qt
from groundstation.contract import CoverState, DockMode, Incident, IncidentStatus, Severity


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    colour: str | None = None  # foreground
    background: str | None = None


Row = tuple[Cell, ...]


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return "-"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


class RowsModel(QAbstractTableModel):
    """A table of :class:`Cell` rows with a key per row (the id in column 0)."""

    def __init__(self, headers: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.headers = headers
        self.rows: list[Row] = []
        self.keys: list[str] = []

    def rowCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return len(self.rows)

    def columnCount(self, parent: QModelIndex | None = None) -> int:  # noqa: N802
        return len(self.headers)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        cell = self.rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return cell.text
        if role == Qt.ItemDataRole.ForegroundRole and cell.colour:
            return QBrush(QColor(cell.colour))
        if role == Qt.ItemDataRole.BackgroundRole and cell.background:
            return QBrush(QColor(cell.background))
        return None

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None

    def set_rows(self, keys: list[str], rows: list[Row]) -> bool:
        """Replace the contents; returns True when the set of rows changed (selection reset)."""
        if keys == self.keys:
            if rows != self.rows:
                self.rows = rows
                self.dataChanged.emit(
                    self.index(0, 0), self.index(len(rows) - 1, len(self.headers) - 1)
                )
            return False
        self.beginResetModel()
        self.keys, self.rows = keys, rows
        self.endResetModel()
        return True


FLEET_HEADERS = ["Drone", "Phase", "Mode", "Battery", "Alt", "Speed", "Link", "Incident", "Pilot"]
INCIDENT_HEADERS = ["Incident", "Status", "P", "Age", "Drone", "ETA", "Summary"]
DOCK_HEADERS = ["Dock", "State", "Cover", "Drone / charge", "Wind", "Rain", "Temp"]
ALERT_HEADERS = ["Time", "Severity", "Alert", "Ack"]


def _battery_colour(pct: float) -> str | None:
    return "#dc2626" if pct < 20 else "#d97706" if pct < 35 else None


def fleet_row(view: DroneView, me: str, now_mono: float) -> Row:
    t, st = view.tel, view.state
    phase = view.phase
    pilot = view.pilot
    link = view.link_text(now_mono)
    inc = st.incident_id if st is not None and st.incident_id else ""
    if t is None:
        nums = (Cell("-"), Cell("-"), Cell("-"), Cell("-"))
    else:
        left = view.battery_time_left_s()
        batt = f"{t.battery_pct:.0f} %" + (f" ({fmt_duration(left)})" if left else "")
        nums = (
            Cell(t.flight_mode),
            Cell(batt, _battery_colour(t.battery_pct)),
            Cell(f"{t.alt_rel_m:.0f} m"),
            Cell(f"{t.ground_speed_m_s:.1f} m/s"),
        )
    return (
        Cell(view.drone_id),
        Cell(phase, PHASE_COLOURS.get(phase)),
        *nums,
        Cell(link, "#dc2626" if link in ("lost", "degraded") else "#15803d"),
        Cell(inc),
        Cell(pilot or "", "#7c3aed" if pilot == me else None, "#fef9c3" if pilot == me else None),
    )


def incident_eta(model: FleetModel, inc: Incident) -> float | None:
    if inc.assigned_drone:
        view = model.drones.get(inc.assigned_drone)
        if view is not None and view.state is not None and view.state.eta_s is not None:
            return view.state.eta_s
    return inc.eta_s


def incident_row(model: FleetModel, inc: Incident, now_ms: int) -> Row:
    age = (
        (now_ms - inc.created_ms) / 1000
        if inc.closed_ms is None
        else ((inc.closed_ms - inc.created_ms) / 1000)
    )
    return (
        Cell(inc.incident_id),
        Cell(str(inc.status)),
        Cell(f"P{inc.priority}", "white", PRIORITY_COLOURS.get(inc.priority)),
        Cell(fmt_duration(age)),
        Cell(inc.assigned_drone or ""),
        Cell(
            fmt_duration(incident_eta(model, inc))
            if inc.assigned_drone and inc.status == IncidentStatus.DISPATCHED
            else ""
        ),
        Cell(inc.reason or inc.summary),
    )


def dock_status(view: DockView) -> str:
    if view.presence is not None and view.presence.status == "offline":
        return "offline"
    osd, st = view.osd, view.state
    if (st is not None and st.fault) or (osd is not None and osd.emergency_stop_state):
        return "fault"
    if osd is None and st is None:
        return "offline"
    cover = osd.cover_state if osd is not None else st.cover_state if st is not None else None
    if cover == CoverState.FAULT:
        return "fault"
    mode = osd.mode_code if osd is not None else st.mode_code if st is not None else None
    if mode == DockMode.WORKING or cover in (CoverState.OPEN, CoverState.HALF_OPEN):
        return "working"
    if dock_charging(view):
        return "charging"
    in_dock = osd.drone_in_dock if osd is not None else bool(st and st.drone_in_dock)
    return "ready" if in_dock else "empty"


def dock_charging(view: DockView) -> bool:
    if view.osd is not None:
        return view.osd.drone_charge_state.state == 1
    return view.state is not None and view.state.charging


def dock_cover_open(view: DockView) -> bool:
    osd, st = view.osd, view.state
    cover = osd.cover_state if osd is not None else st.cover_state if st is not None else None
    return cover in (CoverState.OPEN, CoverState.HALF_OPEN)


def dock_row(view: DockView) -> Row:
    status = dock_status(view)
    osd = view.osd
    cover_state = osd.cover_state if osd else view.state.cover_state if view.state else None
    cover = cover_state.name.lower().replace("_", " ") if cover_state is not None else "-"
    if osd is not None:
        charge = osd.drone_charge_state
        drone = (
            f"{'charging' if charge.state == 1 else 'in dock'} {charge.capacity_percent:.0f} %"
            if osd.drone_in_dock
            else "out"
        )
        wind = Cell(f"{osd.wind_speed_m_s:.1f} m/s", "#dc2626" if osd.wind_speed_m_s > 12 else None)
        rain = Cell(
            ("none", "light", "moderate", "heavy")[osd.rainfall],
            "#dc2626" if osd.rainfall >= 2 else None,
        )
        temp = Cell(f"{osd.environment_temperature_c:.0f} °C")
    else:
        drone = "-"
        wind, rain, temp = Cell("-"), Cell("-"), Cell("-")
    return (
        Cell(view.dock_id),
        Cell(status, "white", DOCK_COLOURS.get(status)),
        Cell(cover),
        Cell(drone),
        wind,
        rain,
        temp,
    )


SEVERITY_COLOURS = {Severity.INFO: None, Severity.WARNING: "#fde68a", Severity.CRITICAL: "#fecaca"}


def alert_row(a: AlertView) -> Row:
    al = a.alert
    when = time.strftime("%H:%M:%S", time.localtime(al.ts_ms / 1000))
    subject = al.drone_id or al.incident_id or al.dock_id or ""
    bg = None if a.acked else SEVERITY_COLOURS.get(al.severity)
    return (
        Cell(when, None, bg),
        Cell(str(al.severity), "#dc2626" if al.severity == Severity.CRITICAL else None, bg),
        Cell(f"{subject}: {al.message}" if subject else al.message, None, bg),
        Cell("yes" if a.acked else "", None, bg),
    )
