"""The window's lists: the fleet table, and the incidents, alerts and docks tabs beside it.

Each list is a :class:`RowsModel` behind a read-only table view; the rows come from the pure
row builders of ``tables.py``. The window decides when to refresh; these only fill and select.
"""

from __future__ import annotations

import time

from groundstation.console.model import FleetModel
from groundstation.console.qt import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from groundstation.console.tables import (
    ALERT_HEADERS,
    DOCK_HEADERS,
    FLEET_HEADERS,
    INCIDENT_HEADERS,
    RowsModel,
    alert_row,
    dock_row,
    fleet_row,
    incident_row,
)

INCIDENTS_TAB, ALERTS_TAB, DOCKS_TAB = 0, 1, 2


def make_table(model: RowsModel, widths_px: list[int], parent: QWidget) -> QTableView:
    """A read-only, single-row-selection table over ``model`` with the given column widths."""
    view = QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)  # type: ignore[union-attr]
    view.verticalHeader().setDefaultSectionSize(20)  # type: ignore[union-attr]
    header = view.horizontalHeader()
    assert header is not None
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    for col, w in enumerate(widths_px):
        view.setColumnWidth(col, w)
    return view


def selected_key(model: RowsModel, table: QTableView) -> str | None:
    row = table.currentIndex().row()
    return model.keys[row] if 0 <= row < len(model.keys) else None


def select_key(model: RowsModel, table: QTableView, key: str | None) -> None:
    """Select ``key``'s row unless it is already current (so a refresh keeps the selection)."""
    if key in model.keys:
        row = model.keys.index(key)
        if table.currentIndex().row() != row:
            table.selectRow(row)


class FleetList:
    """The fleet table: one row per drone, in the model's order."""

    def __init__(self, parent: QWidget) -> None:
        self.model = RowsModel(FLEET_HEADERS, parent)
        self.table = make_table(self.model, [120, 80, 90, 110, 55, 75, 60, 165], parent)
        self.table.setObjectName("fleet_table")
        self._source: tuple[FleetModel, str] | None = None
        bar = self.table.verticalScrollBar()
        if bar is not None:
            bar.valueChanged.connect(self._scrolled)

    def refresh(self, fleet: FleetModel, me: str, now_mono: float) -> bool:
        """Refill the rows; True when the set or order of drones changed. With the same drones
        in the same order only the rows in sight are made again (a table of 250 drones shows
        about 20; making all 250 five times a second held the console's thread for 7 ms each
        time); rows scrolled into sight are made as they come."""
        self._source = (fleet, me)
        keys = list(fleet.order)
        model = self.model
        if keys != model.keys:
            rows = [fleet_row(fleet.drones[k], me, now_mono) for k in keys]
            return model.set_rows(keys, rows)
        first, last = self.rows_in_sight()
        rows = list(model.rows)
        for i in range(first, last + 1):
            rows[i] = fleet_row(fleet.drones[keys[i]], me, now_mono)
        return model.set_rows(keys, rows)

    def rows_in_sight(self) -> tuple[int, int]:
        """First and last row the table shows (every row when it shows none yet)."""
        n = len(self.model.keys)
        viewport = self.table.viewport()
        first = self.table.rowAt(0)
        last = -1 if viewport is None else self.table.rowAt(viewport.height() - 1)
        if first < 0:
            return 0, n - 1
        return first, (n - 1 if last < 0 else last)

    def _scrolled(self, _value: int) -> None:
        if self._source is not None:
            self.refresh(*self._source, time.monotonic())

    def key_at(self, row: int) -> str | None:
        return self.model.keys[row] if 0 <= row < len(self.model.keys) else None


class ListTabs(QTabWidget):
    """Incidents (newest first, with a close button), alerts (with acknowledge), docks."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.incident_model = RowsModel(INCIDENT_HEADERS, self)
        self.dock_model = RowsModel(DOCK_HEADERS, self)
        self.alert_model = RowsModel(ALERT_HEADERS, self)
        self.incident_table = make_table(self.incident_model, [165, 80, 34, 55, 110, 55], self)
        self.dock_table = make_table(self.dock_model, [110, 75, 70, 120, 70, 70], self)
        self.alert_table = make_table(self.alert_model, [70, 70, 380], self)
        self.ack_button = QPushButton("Acknowledge", self)
        self.ack_all_button = QPushButton("Acknowledge all", self)
        self.close_incident_button = QPushButton("Close incident", self)

        incidents = QWidget(self)
        il = QVBoxLayout(incidents)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(self.incident_table)
        il.addWidget(self.close_incident_button)
        alerts = QWidget(self)
        al = QVBoxLayout(alerts)
        al.setContentsMargins(0, 0, 0, 0)
        al.addWidget(self.alert_table)
        row = QHBoxLayout()
        row.addWidget(self.ack_button)
        row.addWidget(self.ack_all_button)
        al.addLayout(row)
        self.addTab(incidents, "Incidents")
        self.addTab(alerts, "Alerts")
        self.addTab(self.dock_table, "Docks")

    def refresh_incidents(self, fleet: FleetModel, now_ms: int) -> None:
        keys = list(reversed(fleet.incident_order))
        self.incident_model.set_rows(
            keys, [incident_row(fleet, fleet.incidents[k], now_ms) for k in keys]
        )

    def refresh_docks(self, fleet: FleetModel) -> None:
        keys = fleet.dock_order
        self.dock_model.set_rows(keys, [dock_row(fleet.docks[k]) for k in keys])

    def refresh_alerts(self, fleet: FleetModel) -> None:
        self.alert_model.set_rows(
            [str(id(a)) for a in fleet.alerts], [alert_row(a) for a in fleet.alerts]
        )

    def show_incident(self, incident_id: str) -> None:
        if incident_id in self.incident_model.keys:
            self.setCurrentIndex(INCIDENTS_TAB)
            self.incident_table.selectRow(self.incident_model.keys.index(incident_id))

    def show_dock(self, dock_id: str) -> None:
        if dock_id in self.dock_model.keys:
            self.setCurrentIndex(DOCKS_TAB)
            self.dock_table.selectRow(self.dock_model.keys.index(dock_id))

    def selected_incident(self) -> str | None:
        return selected_key(self.incident_model, self.incident_table)

    def selected_alert_row(self, alerts: int) -> int | None:
        row = self.alert_table.currentIndex().row()
        return row if 0 <= row < alerts else None
