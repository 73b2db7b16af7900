"""The main window: layout and wiring of the panels, the frame and table timers, selection.

Bus signals only update the :class:`FleetModel`; a frame timer (``frame_hz``) moves map symbols
for whatever changed, a slower timer refreshes the tables, and a 1 Hz timer ages incidents and
links. So the UI cost follows the frame rate, not the message rate.

The panels live in their own modules: ``mapdraw`` (what the map shows), ``lists`` (fleet table,
incidents/alerts/docks tabs), ``panels`` (detail and command panels), ``pilot`` (map menu and
confirmation box), ``statusline``, ``tracking``, ``traffic`` and ``video``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from groundstation import contract as c
from groundstation.console.bridge import Bridge
from groundstation.console.commands import CommandOutcome, Commands
from groundstation.console.config import ConsoleConfig
from groundstation.console.lists import FleetList, ListTabs, select_key
from groundstation.console.mapdraw import MapPainter
from groundstation.console.mapview import MapView
from groundstation.console.model import Dirty, FleetModel
from groundstation.console.panels import CommandPanel, DetailPanel
from groundstation.console.pilot import MapMenuActions, confirm_box, map_menu
from groundstation.console.qt import (
    QCheckBox,
    QKeySequence,
    QMainWindow,
    QMenu,
    QMessageBox,
    QModelIndex,
    QPoint,
    QScrollArea,
    QShortcut,
    QSplitter,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    pyqtSignal,
)
from groundstation.console.statusline import StatusLine
from groundstation.console.tiles import default_cache_dir
from groundstation.console.tracking import TrackingControl
from groundstation.console.traffic import TrafficLayer
from groundstation.console.video import VideoArea
from missions.sites import SiteSet

log = logging.getLogger(__name__)

M = c.OperatorMethod
ALT_STEP_M = 10.0


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
        self._build_panels(config)
        self._lay_out()
        status = self.statusBar()
        assert status is not None
        self.status_line = StatusLine(status, config.user, config.role, self)
        self.alerts_label = self.status_line.alerts
        self._set_broker(False, "connecting…")
        self.painter = MapPainter(self.model, self.map)
        if sites is not None:
            self._fit_points = self.painter.add_sites(sites)
        self.traffic = TrafficLayer(self.map)  # crewed aircraft (console/traffic.py)
        self._wire_bus(bridge)
        self._wire_widgets()
        self._wire_commands()
        self._start_timers(config)
        self._rate_mark = (time.monotonic(), 0)
        self._tables_dirty = Dirty()
        self._update_command_state()

    # --- construction ------------------------------------------------------------------------

    def _build_panels(self, config: ConsoleConfig) -> None:
        self.map = MapView(
            tiles_url=config.tiles_url,
            tile_cache=config.tile_cache or default_cache_dir(),
            parent=self,
        )
        self.detail = DetailPanel(self)
        self.panel = CommandPanel(self)
        self.follow = QCheckBox("Follow selected drone [F]", self)
        self.follow.setObjectName("follow")
        self.fleet = FleetList(self)
        self.fleet_model, self.fleet_table = self.fleet.model, self.fleet.table
        self.tabs = ListTabs(self)
        self.incident_model = self.tabs.incident_model
        self.alert_model = self.tabs.alert_model
        self.ack_all_button = self.tabs.ack_all_button
        self.close_incident_button = self.tabs.close_incident_button
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

    def _lay_out(self) -> None:
        """Map | video | detail and commands above; fleet table | tabs below."""
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

    def _wire_bus(self, b: Bridge) -> None:
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
        b.connection.connect(self._set_broker)

    def _wire_widgets(self) -> None:
        self.tracking.changed.connect(self._tracking_changed)
        self.video.drone_activated.connect(self.select_drone)
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
        self.tabs.ack_button.clicked.connect(self._ack_selected)
        self.ack_all_button.clicked.connect(lambda: self.model.acknowledge(None))
        self.close_incident_button.clicked.connect(self._close_incident)

    def _wire_commands(self) -> None:
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
        for key, button in p.shortcuts().items():
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(lambda btn=button: btn.click() if btn.isEnabled() else None)
        QShortcut(QKeySequence("Esc"), self).activated.connect(self._cancel_goto)
        QShortcut(QKeySequence("F"), self).activated.connect(self.follow.toggle)

    def _start_timers(self, config: ConsoleConfig) -> None:
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

    # --- status ------------------------------------------------------------------------------

    def _set_broker(self, up: bool, text: str) -> None:
        self.status_line.set_broker(up, text)
        self._update_command_state()

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
            self.status_line.set_controller(self.model, self.config.controller_id)
        self._draw_drones(dirty)
        for dock_id in dirty.docks:
            self.painter.draw_dock(dock_id)
        for inc_id in dirty.incidents:
            self.painter.draw_incident(inc_id)
        if self.selected is not None and (
            self.selected in dirty.drones or self.selected in dirty.states
        ):
            self.detail.show_drone(self.model.drones.get(self.selected))
            if self.selected in dirty.states:
                self._update_command_state()
        self.frames += 1
        self.frame_time_s += time.thread_time() - t0

    def _draw_drones(self, dirty: Dirty) -> None:
        model = self.model
        if self.selected is None and self.auto_select:
            # Nothing chosen yet: show the first drone in the air in the detail panel.
            first = next(
                (d for d in model.order if (v := model.drones[d]).tel is not None and v.tel.in_air),
                None,
            )
            if first is not None:
                self.auto_select = False
                self.select_drone(first)
        self.map.apply_detail()
        follow = self.follow.isChecked()
        for drone_id in dirty.drones:
            view = model.drones.get(drone_id)
            self.painter.draw_drone(
                drone_id,
                selected=drone_id == self.selected,
                mine=view is not None and view.pilot == self.user,
                trail=drone_id in dirty.trails,
                follow=follow,
            )

    def _refresh_tables(self) -> None:
        td, self._tables_dirty = self._tables_dirty, Dirty()
        now = time.monotonic()
        if td.drones or td.new_drones:
            self._refresh_fleet(now)
        if td.incidents:
            self.tabs.refresh_incidents(self.model, c.now_ms())
        if td.docks:
            self.tabs.refresh_docks(self.model)
        if td.alerts:
            self.tabs.refresh_alerts(self.model)
            self.status_line.set_alerts(self.model.unacked())

    def _refresh_fleet(self, now_mono: float) -> None:
        if self.fleet.refresh(self.model, self.user, now_mono):
            self._select_row()

    def _tick_1hz(self) -> None:
        self.traffic.tick(time.monotonic())
        for inc in self.model.open_incidents():
            self.painter.draw_incident(inc.incident_id)
        self.tabs.refresh_incidents(self.model, c.now_ms())
        self._refresh_fleet(time.monotonic())
        if self.selected is not None:
            self.detail.show_drone(self.model.drones.get(self.selected))
        t0, n0 = self._rate_mark
        now, n = time.monotonic(), self.model.telemetry_count
        self.status_line.set_rate((n - n0) / max(1e-3, now - t0), len(self.model.drones))
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
        select_key(self.fleet_model, self.fleet_table, self.selected)

    def _on_fleet_click(self, index: QModelIndex) -> None:
        drone_id = self.fleet.key_at(index.row())
        if drone_id is not None and drone_id != self.selected:
            self.select_drone(drone_id)

    def _on_map_item(self, kind: str, ident: str) -> None:
        if kind == "drone":
            self.select_drone(ident)
        elif kind == "incident":
            self.tabs.show_incident(ident)
        elif kind == "dock":
            self.tabs.show_dock(ident)

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
        mine = self.has_control()
        self.panel.set_allowed(
            take=up and self.selected is not None and allowed(M.AUTHORITY_GRAB) and not mine,
            release=up and mine and allowed(M.AUTHORITY_RELEASE),
            fly=up and mine and allowed(M.DRONE_HOLD),
            altitude_value=allowed(M.DRONE_ALTITUDE),
            radius_value=allowed(M.DRONE_ORBIT),
        )
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
        inc_id = self.tabs.selected_incident()
        if inc_id is not None:
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
        connected = self.bridge.connected
        allowed = self.commands.allowed
        mine = self.has_control() and connected
        acts = MapMenuActions(
            drone_id=self.selected,
            radius_m=self.panel.radius.value(),
            can_create=allowed(M.INCIDENT_CREATE) and connected,
            can_goto=mine and allowed(M.DRONE_GOTO),
            can_orbit=mine and allowed(M.DRONE_ORBIT),
            can_look=self.selected is not None and connected and allowed(M.DRONE_CAMERA),
            create_incident=lambda prio: self.create_incident(lat, lon, prio),
            goto=lambda: self.goto(lat, lon),
            orbit=lambda: self.orbit(lat, lon),
            look_at=lambda: self.video.look_at(lat, lon),
        )
        menu = map_menu(self, lat, lon, acts)
        self.last_menu = menu
        menu.popup(gpos)

    def _confirm(self, title: str, text: str, action: Callable[[], object]) -> None:
        """Ask before a dangerous command; never blocks (the box is window-modal and async)."""
        if self.selected is None and "{d}" in text:
            return

        def closed(box: QMessageBox) -> None:
            if self.last_confirm is box:
                self.last_confirm = None

        box = confirm_box(self, title, text.format(d=self.selected), action, closed)
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
        row = self.tabs.selected_alert_row(len(self.model.alerts))
        if row is not None:
            self.model.acknowledge(row)

    # --- lifecycle ---------------------------------------------------------------------------

    def closeEvent(self, event: object) -> None:  # noqa: N802
        for t in (self.frame_timer, self.table_timer, self.slow_timer):
            t.stop()
        self.map.close_tiles()
        self.video.close()
        self.closed.emit()
        super().closeEvent(event)  # type: ignore[arg-type]
