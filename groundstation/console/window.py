"""The main window: map, tables, detail and command panels, status line.

Bus signals only update the :class:`FleetModel`; a frame timer (``frame_hz``) moves map symbols
for whatever changed, a slower timer refreshes the tables, and a 1 Hz timer ages incidents and
links. So the UI cost follows the frame rate, not the message rate.
"""

from __future__ import annotations

import logging
import time

from groundstation import contract as c
from groundstation.console.bridge import Bridge
from groundstation.console.commands import CommandOutcome, Commands
from groundstation.console.config import ConsoleConfig
from groundstation.console.mapview import MapView, scene_point
from groundstation.console.model import Dirty, DockView, FleetModel
from groundstation.console.panels import CommandPanel, DetailPanel
from groundstation.console.qt import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QModelIndex,
    QPoint,
    QPushButton,
    QScrollArea,
    QShortcut,
    QSplitter,
    Qt,
    QTableView,
    QTabWidget,
    QTimer,
    QVBoxLayout,
    QWidget,
    pyqtSignal,
)
from groundstation.console.tables import (
    ALERT_HEADERS,
    DOCK_HEADERS,
    FLEET_HEADERS,
    INCIDENT_HEADERS,
    RowsModel,
    alert_row,
    dock_charging,
    dock_cover_open,
    dock_row,
    dock_status,
    fleet_row,
    fmt_duration,
    incident_eta,
    incident_row,
)
from groundstation.console.tiles import default_cache_dir
from groundstation.console.tracking import TrackingControl
from groundstation.console.traffic import TrafficLayer
from groundstation.console.video import VideoArea
from missions.sites import SiteSet

log = logging.getLogger(__name__)

M = c.OperatorMethod
ALT_STEP_M = 10.0
RESPONSE_TARGET_S = 120.0


def _table(model: RowsModel, parent: QWidget) -> QTableView:
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
    return view


class MainWindow(QMainWindow):
    closed = pyqtSignal()

    def __init__(self, config: ConsoleConfig, bridge: Bridge, sites: SiteSet | None = None) -> None:
        super().__init__()
        self.config = config
        self.user = config.user
        self.bridge = bridge
        self.model = FleetModel()
        self.commands = Commands(bridge, config.user, config.role, parent=self)
        self.selected: str | None = None
        self.auto_select = config.auto_select
        self.last_menu: QMenu | None = None
        self.last_confirm: QMessageBox | None = None
        self.frames = 0
        self.frame_time_s = 0.0
        """CPU time (this thread) of the frame updates (model to scene)."""
        self.setWindowTitle(f"{config.title} — {config.user} ({config.role})")
        self.resize(1600, 1000)

        # --- widgets ---
        self.map = MapView(
            tiles_url=config.tiles_url,
            tile_cache=config.tile_cache or default_cache_dir(),
            parent=self,
        )
        self.detail = DetailPanel(self)
        self.panel = CommandPanel(self)
        self.follow = QCheckBox("Follow selected drone [F]", self)
        self.follow.setObjectName("follow")
        self.fleet_model = RowsModel(FLEET_HEADERS, self)
        self.incident_model = RowsModel(INCIDENT_HEADERS, self)
        self.dock_model = RowsModel(DOCK_HEADERS, self)
        self.alert_model = RowsModel(ALERT_HEADERS, self)
        self.fleet_table = _table(self.fleet_model, self)
        self.fleet_table.setObjectName("fleet_table")
        self.incident_table = _table(self.incident_model, self)
        self.dock_table = _table(self.dock_model, self)
        self.alert_table = _table(self.alert_model, self)
        for table, widths in (
            (self.fleet_table, [120, 80, 90, 110, 55, 75, 60, 165]),
            (self.incident_table, [165, 80, 34, 55, 110, 55]),
            (self.dock_table, [110, 75, 70, 120, 70, 70]),
            (self.alert_table, [70, 70, 380]),
        ):
            for col, w in enumerate(widths):
                table.setColumnWidth(col, w)
        self.ack_button = QPushButton("Acknowledge", self)
        self.ack_all_button = QPushButton("Acknowledge all", self)
        self.close_incident_button = QPushButton("Close incident", self)
        broker = config.broker
        self.video = VideoArea(
            self.model,
            self.commands,
            (broker.username, broker.password) if broker.username else None,
            self,
        )

        # Tracking: a row under the picture (reason, click to track, stop), the box in the
        # picture, the target's trail on the map.
        self.tracking = TrackingControl(self.commands, self)
        pane_layout = self.video.pane.layout()
        if isinstance(pane_layout, QVBoxLayout):
            pane_layout.insertWidget(1, self.tracking.widget)
        self.video.click_handler = self.tracking.clicked

        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.detail)
        rl.addWidget(self.follow)
        rl.addWidget(self.panel)
        rl.addStretch(1)
        # The grid scrolls: with 100 drones in the air its tiles (160 x 90 at least) would
        # otherwise widen the window past the screen and squeeze the map to a strip. Tiles
        # scrolled out of sight are neither painted nor streamed (VideoArea skips them).
        grid = QScrollArea(self)
        grid.setObjectName("video_grid_scroll")
        grid.setWidgetResizable(True)
        grid.setWidget(self.video.grid)
        video = QSplitter(Qt.Orientation.Vertical, self)
        video.addWidget(self.video.pane)
        video.addWidget(grid)
        video.setSizes([420, 280])
        top = QSplitter(Qt.Orientation.Horizontal, self)
        top.addWidget(self.map)
        top.addWidget(video)
        top.addWidget(right)
        top.setStretchFactor(0, 1)
        top.setSizes([640, 560, 400])

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
        self.tabs = QTabWidget(self)
        self.tabs.addTab(incidents, "Incidents")
        self.tabs.addTab(alerts, "Alerts")
        self.tabs.addTab(self.dock_table, "Docks")
        bottom = QSplitter(Qt.Orientation.Horizontal, self)
        bottom.addWidget(self.fleet_table)
        bottom.addWidget(self.tabs)
        bottom.setSizes([860, 740])
        main = QSplitter(Qt.Orientation.Vertical, self)
        main.addWidget(top)
        main.addWidget(bottom)
        main.setStretchFactor(0, 1)
        main.setSizes([700, 300])
        self.setCentralWidget(main)

        self.broker_label = QLabel("broker: connecting…", self)
        self.broker_label.setObjectName("broker_status")
        self.controller_label = QLabel("controller: not seen", self)
        self.controller_label.setObjectName("controller_status")
        self.alerts_label = QLabel("", self)
        self.rate_label = QLabel("", self)
        user_label = QLabel(f"{config.user} · {config.role}", self)
        user_label.setStyleSheet("font-weight: bold; padding: 0 8px;")
        status = self.statusBar()
        assert status is not None
        for label in (self.broker_label, self.controller_label, self.alerts_label):
            status.addWidget(label)
        status.addPermanentWidget(self.rate_label)
        status.addPermanentWidget(user_label)
        self._set_broker(False, "connecting…")

        if sites is not None:
            self._add_sites(sites)
        self.traffic = TrafficLayer(self.map)  # crewed aircraft (console/traffic.py)

        # --- wiring ---
        b = bridge
        b.traffic.connect(lambda picture: self.traffic.apply(picture, time.monotonic()))
        b.telemetry.connect(self.model.apply_telemetry)
        b.drone_state.connect(self.model.apply_drone_state)
        b.dock_osd.connect(self.model.apply_dock_osd)
        b.dock_state.connect(self.model.apply_dock_state)
        b.dock_presence.connect(self.model.apply_dock_presence)
        b.incident.connect(self.model.apply_incident)
        b.incident_removed.connect(self.model.remove_incident)
        b.alert.connect(self._on_alert)
        b.controller.connect(self.model.apply_controller)
        b.video.connect(self.video.apply_descriptor)
        b.video_removed.connect(self.video.remove_descriptor)
        b.tracking.connect(self.tracking.apply_status)
        b.tracking_removed.connect(self.tracking.clear_status)
        b.unit_position.connect(self.tracking.apply_unit)
        self.tracking.changed.connect(self._tracking_changed)
        self.video.drone_activated.connect(self.select_drone)
        b.connection.connect(self._set_broker)
        self.commands.finished.connect(self._on_outcome)
        self.commands.sent.connect(lambda _tid, text: self.panel.show_result(text, None))

        self.map.item_clicked.connect(self._on_map_item)
        self.map.clicked.connect(self._on_map_click)
        self.map.context_requested.connect(self._context_menu)
        self.fleet_table.clicked.connect(self._on_fleet_click)
        fleet_selection = self.fleet_table.selectionModel()
        assert fleet_selection is not None
        fleet_selection.currentRowChanged.connect(lambda cur, _prev: self._on_fleet_click(cur))
        self.follow.toggled.connect(lambda _on: self._follow_now())
        self.ack_button.clicked.connect(self._ack_selected)
        self.ack_all_button.clicked.connect(lambda: self.model.acknowledge(None))
        self.close_incident_button.clicked.connect(self._close_incident)

        p = self.panel
        p.take.clicked.connect(lambda: self._drone_cmd(M.AUTHORITY_GRAB))
        p.release.clicked.connect(lambda: self._drone_cmd(M.AUTHORITY_RELEASE))
        p.goto.clicked.connect(self._arm_goto)
        p.orbit.clicked.connect(self._orbit_current)
        p.hold.clicked.connect(lambda: self._drone_cmd(M.DRONE_HOLD))
        p.resume.clicked.connect(lambda: self._drone_cmd(M.SORTIE_RESUME))
        p.alt_up.clicked.connect(lambda: self._altitude_step(ALT_STEP_M))
        p.alt_down.clicked.connect(lambda: self._altitude_step(-ALT_STEP_M))
        p.alt_set.clicked.connect(lambda: self._altitude(p.alt_value.value()))
        p.rtl.clicked.connect(
            lambda: self._confirm(
                "Return to dock",
                "Abandon the current task and return {d} to its dock?",
                lambda: self._drone_cmd(M.DRONE_RETURN),
            )
        )
        p.land.clicked.connect(
            lambda: self._confirm(
                "Land now", "Land {d} where it is, NOW?", lambda: self._drone_cmd(M.DRONE_LAND)
            )
        )
        shortcuts = {
            "T": p.take,
            "Shift+T": p.release,
            "G": p.goto,
            "O": p.orbit,
            "H": p.hold,
            "S": p.resume,
            "PgUp": p.alt_up,
            "PgDown": p.alt_down,
            "A": p.alt_set,
            "R": p.rtl,
            "L": p.land,
        }
        for key, button in shortcuts.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(lambda btn=button: btn.click() if btn.isEnabled() else None)
        QShortcut(QKeySequence("Esc"), self).activated.connect(self._cancel_goto)
        QShortcut(QKeySequence("F"), self).activated.connect(self.follow.toggle)

        # --- timers ---
        self.frame_timer = QTimer(self)
        self.frame_timer.setInterval(max(10, int(1000 / config.frame_hz)))
        self.frame_timer.timeout.connect(self._frame)
        self.frame_timer.start()
        self.table_timer = QTimer(self)
        self.table_timer.setInterval(max(50, int(1000 / config.table_hz)))
        self.table_timer.timeout.connect(self._refresh_tables)
        self.table_timer.start()
        self.slow_timer = QTimer(self)
        self.slow_timer.setInterval(1000)
        self.slow_timer.timeout.connect(self._tick_1hz)
        self.slow_timer.start()
        self._rate_mark = (time.monotonic(), 0)
        self._tables_dirty = Dirty()
        self._update_command_state()

    # --- sites -------------------------------------------------------------------------------

    def _add_sites(self, sites: SiteSet) -> None:
        points = []
        for site in sites.sites:
            self.map.add_operating_area(
                site.lat_deg, site.lon_deg, sites.cruise_speed_m_s * RESPONSE_TARGET_S
            )
            self.map.add_site_label(site.lat_deg, site.lon_deg, site.name)
            points.append((site.lat_deg, site.lon_deg))
            for dock in site.docks:
                self.model.add_site_dock(dock.dock_id, dock.lat_deg, dock.lon_deg, site.site_id)
        self._fit_points = points
        QTimer.singleShot(0, lambda: self.map.fit(points, margin_m=1200))

    # --- status ------------------------------------------------------------------------------

    def _set_broker(self, up: bool, text: str) -> None:
        colour = "#15803d" if up else "#b91c1c"
        self.broker_label.setText(f"● broker: {text}")
        self.broker_label.setStyleSheet(f"color: {colour}; font-weight: bold; padding: 0 8px;")
        self._update_command_state()

    def _update_controller_label(self) -> None:
        ctrls = list(self.model.controllers.values())
        if self.config.controller_id:
            ctrls = [s for s in ctrls if s.controller_id == self.config.controller_id]
        online = [s for s in ctrls if s.status == "online"]
        if online:
            active = next((s for s in online if s.role == "active"), online[0])
            text = f"● controller {active.controller_id}: online, {active.drones} drones"
            if len(online) > 1:
                text += f" (+{len(online) - 1} standby)"
            colour = "#15803d"
        elif ctrls:
            text, colour = f"● controller {ctrls[0].controller_id}: OFFLINE", "#b91c1c"
        else:
            text, colour = "● controller: not seen", "#b45309"
        self.controller_label.setText(text)
        self.controller_label.setStyleSheet(f"color: {colour}; font-weight: bold; padding: 0 8px;")

    def _on_alert(self, controller_id: str, alert: c.Alert) -> None:
        self.model.apply_alert(alert, controller_id)

    # --- frames ------------------------------------------------------------------------------

    def _frame(self) -> None:
        t0 = time.thread_time()
        dirty = self.model.take_dirty()
        td = self._tables_dirty
        td.drones |= dirty.drones
        td.docks |= dirty.docks
        td.incidents |= dirty.incidents
        td.new_drones |= dirty.new_drones
        td.alerts |= dirty.alerts
        if dirty.controllers:
            self._update_controller_label()
        self._draw_drones(dirty)
        for dock_id in dirty.docks:
            self._draw_dock(dock_id)
        for inc_id in dirty.incidents:
            self._draw_incident(inc_id)
        if self.selected is not None and (
            self.selected in dirty.drones or self.selected in dirty.states
        ):
            self.detail.show_drone(self.model.drones.get(self.selected))
            if self.selected in dirty.states:
                self._update_command_state()
        self.frames += 1
        self.frame_time_s += time.thread_time() - t0

    def _draw_drones(self, dirty: Dirty) -> None:
        model, mp, me = self.model, self.map, self.user
        if self.selected is None and self.auto_select:
            # Nothing chosen yet: show the first drone in the air in the detail panel.
            first = next(
                (d for d in model.order if (v := model.drones[d]).tel is not None and v.tel.in_air),
                None,
            )
            if first is not None:
                self.auto_select = False
                self.select_drone(first)
        mp.apply_detail()
        for drone_id in dirty.drones:
            view = model.drones.get(drone_id)
            if view is None or view.tel is None:
                continue
            t = view.tel
            item = mp.drone_item(drone_id)
            phase = view.phase
            item.setPos(scene_point(t.lat_deg, t.lon_deg))
            item.set_values(
                t.heading_deg,
                phase,
                f"{t.alt_rel_m:.0f} m · {t.ground_speed_m_s:.0f} m/s",
                drone_id == self.selected,
                view.pilot == me,
            )
            item.setVisible(t.in_air or phase not in ("docked", "charging", "preflight"))
            st = view.state
            if st is not None and (st.target_lat_deg is not None or drone_id in mp.routes):
                target = (
                    (st.target_lat_deg, st.target_lon_deg)
                    if st.target_lat_deg is not None and st.target_lon_deg is not None
                    else None
                )
                mp.set_route(drone_id, (t.lat_deg, t.lon_deg), target, st.orbit_radius_m)
            if drone_id in dirty.trails:
                mp.set_trail(drone_id, [*view.trail, (t.lat_deg, t.lon_deg)], phase)
            if drone_id == self.selected and self.follow.isChecked():
                mp.follow(t.lat_deg, t.lon_deg)

    def _draw_dock(self, dock_id: str) -> None:
        view = self.model.docks[dock_id]
        if view.lat_deg is None or view.lon_deg is None:
            return
        item = self.map.dock_item(dock_id, view.lat_deg, view.lon_deg, self._dock_slot(view))
        item.set_values(dock_status(view), dock_cover_open(view), dock_charging(view))

    def _dock_slot(self, view: DockView) -> float:
        siblings = [d for d in self.model.dock_order if self.model.docks[d].site == view.site]
        if not view.site or len(siblings) < 2:
            return 0.0
        return siblings.index(view.dock_id) - (len(siblings) - 1) / 2

    def _draw_incident(self, incident_id: str) -> None:
        inc = self.model.incidents.get(incident_id)
        if inc is None or inc.status in (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED):
            self.map.remove_incident(incident_id)
            return
        item = self.map.incident_item(incident_id, inc.lat_deg, inc.lon_deg)
        age = fmt_duration((c.now_ms() - inc.created_ms) / 1000)
        line2 = str(inc.status)
        if inc.assigned_drone:
            line2 += f" · {inc.assigned_drone}"
            eta = incident_eta(self.model, inc)
            if eta is not None and inc.status == c.IncidentStatus.DISPATCHED:
                line2 += f" ETA {fmt_duration(eta)}"
        item.set_values(inc.priority, f"{inc.incident_id} · P{inc.priority} · {age}", line2)

    def _refresh_tables(self) -> None:
        td, self._tables_dirty = self._tables_dirty, Dirty()
        now = time.monotonic()
        if td.drones or td.new_drones:
            self._refresh_fleet(now)
        if td.incidents:
            self._refresh_incidents()
        if td.docks:
            keys = self.model.dock_order
            self.dock_model.set_rows(keys, [dock_row(self.model.docks[k]) for k in keys])
        if td.alerts:
            self.alert_model.set_rows(
                [str(id(a)) for a in self.model.alerts],
                [alert_row(a) for a in self.model.alerts],
            )
            n = self.model.unacked()
            self.alerts_label.setText(f"⚠ {n} unacknowledged alerts" if n else "")
            self.alerts_label.setStyleSheet("color: #b91c1c; font-weight: bold;" if n else "")

    def _refresh_fleet(self, now_mono: float) -> None:
        keys = self.model.order
        rows = [fleet_row(self.model.drones[k], self.user, now_mono) for k in keys]
        if self.fleet_model.set_rows(list(keys), rows):
            self._select_row()

    def _refresh_incidents(self) -> None:
        keys = list(reversed(self.model.incident_order))
        now = c.now_ms()
        self.incident_model.set_rows(
            keys, [incident_row(self.model, self.model.incidents[k], now) for k in keys]
        )

    def _tick_1hz(self) -> None:
        self.traffic.tick(time.monotonic())
        for inc in self.model.open_incidents():
            self._draw_incident(inc.incident_id)
        self._refresh_incidents()
        self._refresh_fleet(time.monotonic())
        if self.selected is not None:
            self.detail.show_drone(self.model.drones.get(self.selected))
        t0, n0 = self._rate_mark
        now, n = time.monotonic(), self.model.telemetry_count
        self.rate_label.setText(
            f"{(n - n0) / max(1e-3, now - t0):.0f} telemetry/s · {len(self.model.drones)} drones"
        )
        self._rate_mark = (now, n)

    # --- selection ---------------------------------------------------------------------------

    def select_drone(self, drone_id: str | None) -> None:
        old, self.selected = self.selected, drone_id
        for d in (old, drone_id):
            if d is not None:
                self.model._dirty.drones.add(d)  # redraw the highlight
        self.detail.show_drone(self.model.drones.get(drone_id) if drone_id else None)
        self._select_row()
        self._update_command_state()
        self._follow_now()
        self.video.select(drone_id)
        self.tracking.select(drone_id)
        self.video.pane.view.set_track(self.tracking.overlay(drone_id))

    def _tracking_changed(self, drone_id: str) -> None:
        self.map.set_target_trail(drone_id, self.tracking.trail(drone_id))
        if drone_id == self.selected:
            self.video.pane.view.set_track(self.tracking.overlay(drone_id))

    def _select_row(self) -> None:
        if self.selected in self.fleet_model.keys:
            row = self.fleet_model.keys.index(self.selected)
            if self.fleet_table.currentIndex().row() != row:
                self.fleet_table.selectRow(row)

    def _on_fleet_click(self, index: QModelIndex) -> None:
        if 0 <= index.row() < len(self.fleet_model.keys):
            drone_id = self.fleet_model.keys[index.row()]
            if drone_id != self.selected:
                self.select_drone(drone_id)

    def _on_map_item(self, kind: str, ident: str) -> None:
        if kind == "drone":
            self.select_drone(ident)
        elif kind == "incident" and ident in self.incident_model.keys:
            self.tabs.setCurrentIndex(0)
            self.incident_table.selectRow(self.incident_model.keys.index(ident))
        elif kind == "dock" and ident in self.dock_model.keys:
            self.tabs.setCurrentIndex(2)
            self.dock_table.selectRow(self.dock_model.keys.index(ident))

    def _follow_now(self) -> None:
        view = self.model.drones.get(self.selected) if self.selected else None
        if self.follow.isChecked() and view is not None and view.tel is not None:
            self.map.follow(view.tel.lat_deg, view.tel.lon_deg)

    # --- commands ----------------------------------------------------------------------------

    def has_control(self, drone_id: str | None = None) -> bool:
        drone_id = drone_id or self.selected
        view = self.model.drones.get(drone_id) if drone_id else None
        return view is not None and view.pilot == self.user

    def _update_command_state(self) -> None:
        allowed = self.commands.allowed
        up = self.bridge.connected
        selected = self.selected is not None
        mine = self.has_control()
        p = self.panel
        p.take.setEnabled(up and selected and allowed(M.AUTHORITY_GRAB) and not mine)
        p.release.setEnabled(up and mine and allowed(M.AUTHORITY_RELEASE))
        for b in (
            p.goto,
            p.orbit,
            p.hold,
            p.resume,
            p.alt_up,
            p.alt_down,
            p.alt_set,
            p.rtl,
            p.land,
        ):
            b.setEnabled(up and mine and allowed(M.DRONE_HOLD))
        p.alt_value.setEnabled(allowed(M.DRONE_ALTITUDE))
        p.radius.setEnabled(allowed(M.DRONE_ORBIT))
        self.close_incident_button.setEnabled(up and allowed(M.INCIDENT_CLOSE))
        if not mine:
            self._cancel_goto()

    def _drone_cmd(self, method: c.OperatorMethod) -> None:
        if self.selected is None:
            return
        self.commands.request(method, c.DroneRef(drone_id=self.selected))

    def _current_alt(self) -> float:
        view = self.model.drones.get(self.selected) if self.selected else None
        if view is not None and view.tel is not None and view.tel.in_air:
            return max(5.0, min(120.0, view.tel.alt_rel_m))
        return float(self.panel.alt_value.value())

    def _altitude(self, alt_m: float) -> None:
        if self.selected is not None:
            alt = max(5.0, min(120.0, alt_m))
            self.commands.request(
                M.DRONE_ALTITUDE, c.DroneAltitude(drone_id=self.selected, alt_rel_m=alt)
            )

    def _altitude_step(self, step_m: float) -> None:
        self._altitude(self._current_alt() + step_m)

    def goto(self, lat: float, lon: float) -> None:
        if self.selected is None:
            return
        self.commands.request(
            M.DRONE_GOTO,
            c.DroneGoto(
                drone_id=self.selected,
                lat_deg=round(lat, 7),
                lon_deg=round(lon, 7),
                alt_rel_m=self._current_alt(),
            ),
        )

    def orbit(self, lat: float, lon: float) -> None:
        if self.selected is None:
            return
        self.commands.request(
            M.DRONE_ORBIT,
            c.DroneOrbit(
                drone_id=self.selected,
                lat_deg=round(lat, 7),
                lon_deg=round(lon, 7),
                radius_m=float(self.panel.radius.value()),
            ),
        )

    def _orbit_current(self) -> None:
        view = self.model.drones.get(self.selected) if self.selected else None
        if view is not None and view.tel is not None:
            self.orbit(view.tel.lat_deg, view.tel.lon_deg)

    def create_incident(self, lat: float, lon: float, priority: int) -> None:
        self.commands.request(
            M.INCIDENT_CREATE,
            c.IncidentCreate(
                lat_deg=round(lat, 7),
                lon_deg=round(lon, 7),
                priority=priority,
                summary=f"created on the console by {self.user}",
            ),
        )

    def _close_incident(self) -> None:
        row = self.incident_table.currentIndex().row()
        if 0 <= row < len(self.incident_model.keys):
            inc_id = self.incident_model.keys[row]
            self._confirm(
                "Close incident",
                f"Close incident {inc_id}?",
                lambda: self.commands.request(M.INCIDENT_CLOSE, c.IncidentRef(incident_id=inc_id)),
            )

    def _arm_goto(self) -> None:
        self.map.goto_mode = True
        self.map.setCursor(Qt.CursorShape.CrossCursor)
        vp = self.map.viewport()
        if vp is not None:
            vp.update()

    def _cancel_goto(self) -> None:
        """Esc: cancels a goto being placed; else stops the selected drone's tracking."""
        if not self.map.goto_mode:
            if self.tracking.arm.isChecked():
                self.tracking.arm.setChecked(False)
            else:
                self.tracking.stop()
            return
        if self.map.goto_mode:
            self.map.goto_mode = False
            self.map.unsetCursor()
            vp = self.map.viewport()
            if vp is not None:
                vp.update()

    def _on_map_click(self, lat: float, lon: float) -> None:
        if self.map.goto_mode:
            self._cancel_goto()
            if self.has_control() and self.commands.allowed(M.DRONE_GOTO):
                self.goto(lat, lon)

    def _context_menu(self, lat: float, lon: float, gpos: QPoint) -> None:
        menu = QMenu(self)
        menu.setObjectName("map_menu")
        header = menu.addAction(f"{lat:.5f}, {lon:.5f}")
        if header is not None:
            header.setEnabled(False)
        can_create = self.commands.allowed(M.INCIDENT_CREATE) and self.bridge.connected
        for prio, name in ((1, "P1 emergency"), (2, "P2 urgent"), (3, "P3 routine")):
            action = menu.addAction(f"Create incident here — {name}")
            if action is not None:
                action.setObjectName(f"create_p{prio}")
                action.setEnabled(can_create)
                action.triggered.connect(lambda _c=False, p=prio: self.create_incident(lat, lon, p))
        menu.addSeparator()
        mine = self.has_control() and self.bridge.connected
        goto_ok = mine and self.commands.allowed(M.DRONE_GOTO)
        orbit_ok = mine and self.commands.allowed(M.DRONE_ORBIT)
        goto = menu.addAction(f"Go to here ({self.selected or 'no drone'})")
        if goto is not None:
            goto.setObjectName("goto_here")
            goto.setEnabled(goto_ok)
            goto.triggered.connect(lambda: self.goto(lat, lon))
        orbit = menu.addAction(f"Orbit here, radius {self.panel.radius.value():.0f} m")
        if orbit is not None:
            orbit.setObjectName("orbit_here")
            orbit.setEnabled(orbit_ok)
            orbit.triggered.connect(lambda: self.orbit(lat, lon))
        look = menu.addAction(f"Point camera here ({self.selected or 'no drone'})")
        if look is not None:
            look.setObjectName("camera_look_here")
            look.setEnabled(
                self.selected is not None
                and self.bridge.connected
                and self.commands.allowed(M.DRONE_CAMERA)
            )
            look.triggered.connect(lambda: self.video.look_at(lat, lon))
        # Once the menu is gone the keyboard belongs to the console again (T, G, O... work at
        # once); the offscreen and some X11 setups leave the closed popup the active window.
        menu.aboutToHide.connect(lambda: QTimer.singleShot(0, self.activateWindow))
        self.last_menu = menu
        menu.popup(gpos)

    def _confirm(self, title: str, text: str, action: object) -> None:
        """Ask before a dangerous command; never blocks (the box is window-modal and async)."""
        if self.selected is None and "{d}" in text:
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            title,
            text.format(d=self.selected),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def done(code: int) -> None:
            if code == QMessageBox.StandardButton.Yes.value and callable(action):
                action()
            box.deleteLater()
            if self.last_confirm is box:
                self.last_confirm = None

        box.finished.connect(done)
        self.last_confirm = box
        box.open()

    def _on_outcome(self, outcome: CommandOutcome) -> None:
        if outcome.ok and outcome.method == M.AUTHORITY_GRAB:
            self.model.set_pilot_hint(outcome.subject, self.user)
        elif outcome.ok and outcome.method == M.AUTHORITY_RELEASE:
            self.model.set_pilot_hint(outcome.subject, None)
        self.panel.show_result(outcome.text, outcome.ok)
        status = self.statusBar()
        if status is not None:
            status.showMessage(outcome.text, 8000)
        self._update_command_state()

    def _ack_selected(self) -> None:
        row = self.alert_table.currentIndex().row()
        if 0 <= row < len(self.model.alerts):
            self.model.acknowledge(row)

    # --- lifecycle ---------------------------------------------------------------------------

    def closeEvent(self, event: object) -> None:  # noqa: N802
        for t in (self.frame_timer, self.table_timer, self.slow_timer):
            t.stop()
        self.map.close_tiles()
        self.video.close()
        self.closed.emit()
        super().closeEvent(event)  # type: ignore[arg-type]
