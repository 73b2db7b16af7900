"""The fleet picture the console draws, kept without Qt so it is cheap to test.

Bus messages update it as they arrive (many per second); the window reads it on a timer and asks
only for what changed since the last frame (:meth:`FleetModel.take_dirty`). Everything is bounded:
trails keep :data:`TRAIL_POINTS` points, the alert list :data:`ALERT_LIMIT` entries.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from dataclasses import dataclass, field

from groundstation.contract import (
    Alert,
    ControllerStatus,
    DockOsd,
    DockState,
    DroneState,
    Incident,
    IncidentStatus,
    Presence,
    Telemetry,
)

TRAIL_POINTS = 240
TRAIL_INTERVAL_MS = 500
"""A trail point at most every half second: 2 minutes of track, cheap to redraw. Each drone
has its own phase of the half second (``DroneView.trail_phase_ms``): the controller publishes
the whole fleet in one round every 100 ms, and with one phase every trail gained its point in
the same round, so one frame in five re-drew all 250 trails (30-40 ms holding the console's
thread, against 6-10 ms for the others)."""
ALERT_LIMIT = 200
LINK_STALE_S = 3.0
BATTERY_WINDOW_MS = 60_000


@dataclass(slots=True)
class DroneView:
    """One drone as the console knows it: latest telemetry, latest state, trail."""

    drone_id: str
    tel: Telemetry | None = None
    state: DroneState | None = None
    trail: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=TRAIL_POINTS))
    last_trail_ms: int = 0
    trail_phase_ms: int = 0
    last_rx_mono: float = 0.0
    pilot_hint: str | None = None
    """Pilot learned from our own authority reply, until the controller's state says otherwise."""
    _battery: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=32))

    @property
    def pilot(self) -> str | None:
        if self.pilot_hint is not None:
            return self.pilot_hint or None
        return self.state.pilot if self.state is not None else None

    @property
    def phase(self) -> str:
        if self.state is not None:
            return str(self.state.phase)
        if self.tel is not None and self.tel.phase is not None:
            return str(self.tel.phase)
        return "?"

    def link_age_s(self, now_mono: float | None = None) -> float:
        now = time.monotonic() if now_mono is None else now_mono
        return now - self.last_rx_mono if self.last_rx_mono else float("inf")

    def link_text(self, now_mono: float | None = None) -> str:
        age = self.link_age_s(now_mono)
        if self.tel is None or age > LINK_STALE_S:
            return "lost" if self.tel is not None else "-"
        return "ok" if self.tel.link_ok else "degraded"

    def battery_time_left_s(self) -> float | None:
        """Seconds to an empty battery at the discharge rate of the last minute, if draining."""
        if len(self._battery) < 2 or self.tel is None:
            return None
        t0, p0 = self._battery[0]
        t1, p1 = self._battery[-1]
        if t1 - t0 < 5_000 or p0 <= p1:
            return None
        rate_per_s = (p0 - p1) / ((t1 - t0) / 1000.0)
        return p1 / rate_per_s

    def _note_battery(self, ts_ms: int, pct: float) -> None:
        if self._battery and ts_ms - self._battery[-1][0] < 2_000:
            return
        self._battery.append((ts_ms, pct))
        while self._battery and ts_ms - self._battery[0][0] > BATTERY_WINDOW_MS:
            self._battery.popleft()


@dataclass(slots=True)
class DockView:
    dock_id: str
    lat_deg: float | None = None
    lon_deg: float | None = None
    site: str = ""
    osd: DockOsd | None = None
    state: DockState | None = None
    presence: Presence | None = None


@dataclass(slots=True)
class AlertView:
    alert: Alert
    controller_id: str
    acked: bool = False


@dataclass(slots=True)
class Dirty:
    """What changed since the last frame."""

    drones: set[str] = field(default_factory=set)
    trails: set[str] = field(default_factory=set)
    states: set[str] = field(default_factory=set)
    docks: set[str] = field(default_factory=set)
    incidents: set[str] = field(default_factory=set)
    new_drones: bool = False
    alerts: bool = False
    controllers: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.drones
            or self.trails
            or self.states
            or self.docks
            or self.incidents
            or self.new_drones
            or self.alerts
            or self.controllers
        )


class FleetModel:
    """Drones, docks, incidents, alerts and controllers, updated per message, read per frame."""

    def __init__(self) -> None:
        self.drones: dict[str, DroneView] = {}
        self.order: list[str] = []
        self.docks: dict[str, DockView] = {}
        self.dock_order: list[str] = []
        self.incidents: dict[str, Incident] = {}
        self.incident_order: list[str] = []
        self.alerts: deque[AlertView] = deque(maxlen=ALERT_LIMIT)
        self.controllers: dict[str, ControllerStatus] = {}
        self.telemetry_count = 0
        self._dirty = Dirty()

    # --- updates (per message) --------------------------------------------------------------

    def _drone(self, drone_id: str) -> DroneView:
        view = self.drones.get(drone_id)
        if view is None:
            phase = zlib.crc32(drone_id.encode()) % TRAIL_INTERVAL_MS
            view = self.drones[drone_id] = DroneView(drone_id, trail_phase_ms=phase)
            self.order = sorted(self.drones)
            self._dirty.new_drones = True
        return view

    def apply_telemetry(self, tel: Telemetry, now_mono: float | None = None) -> None:
        view = self._drone(tel.drone_id)
        prev, view.tel = view.tel, tel
        view.last_rx_mono = time.monotonic() if now_mono is None else now_mono
        self.telemetry_count += 1
        self._dirty.drones.add(tel.drone_id)
        if tel.in_air:
            if prev is not None and not prev.in_air:
                view.trail.clear()  # a new take-off: the last sortie's trail goes
            if tel.ts_ms - view.last_trail_ms >= TRAIL_INTERVAL_MS:
                view.trail.append((tel.lat_deg, tel.lon_deg))
                # The first point at once, the next after this drone's phase of the interval.
                first = len(view.trail) == 1
                view.last_trail_ms = tel.ts_ms - (view.trail_phase_ms if first else 0)
                self._dirty.trails.add(tel.drone_id)
        view._note_battery(tel.ts_ms, tel.battery_pct)

    def apply_drone_state(self, state: DroneState) -> None:
        view = self._drone(state.drone_id)
        view.state = state
        view.pilot_hint = None
        self._dirty.states.add(state.drone_id)
        self._dirty.drones.add(state.drone_id)

    def set_pilot_hint(self, drone_id: str, pilot: str | None) -> None:
        """Our own authority request succeeded: show it before the controller's state arrives."""
        view = self._drone(drone_id)
        view.pilot_hint = pilot if pilot is not None else ""
        self._dirty.states.add(drone_id)
        self._dirty.drones.add(drone_id)

    def _dock(self, dock_id: str) -> DockView:
        view = self.docks.get(dock_id)
        if view is None:
            view = self.docks[dock_id] = DockView(dock_id)
            self.dock_order = sorted(self.docks)
        return view

    def add_site_dock(self, dock_id: str, lat_deg: float, lon_deg: float, site: str) -> None:
        view = self._dock(dock_id)
        view.lat_deg, view.lon_deg, view.site = lat_deg, lon_deg, site
        self._dirty.docks.add(dock_id)

    def apply_dock_osd(self, osd: DockOsd) -> None:
        view = self._dock(osd.dock_id)
        view.osd = osd
        if osd.lat_deg is not None and osd.lon_deg is not None:
            view.lat_deg, view.lon_deg = osd.lat_deg, osd.lon_deg
        self._dirty.docks.add(osd.dock_id)

    def apply_dock_state(self, state: DockState) -> None:
        self._dock(state.dock_id).state = state
        self._dirty.docks.add(state.dock_id)

    def apply_dock_presence(self, dock_id: str, presence: Presence) -> None:
        self._dock(dock_id).presence = presence
        self._dirty.docks.add(dock_id)

    def apply_incident(self, inc: Incident) -> None:
        if inc.incident_id not in self.incidents:
            self.incident_order.append(inc.incident_id)
        self.incidents[inc.incident_id] = inc
        self._dirty.incidents.add(inc.incident_id)

    def remove_incident(self, incident_id: str) -> None:
        if self.incidents.pop(incident_id, None) is not None:
            self.incident_order.remove(incident_id)
            self._dirty.incidents.add(incident_id)

    def open_incidents(self) -> list[Incident]:
        done = (IncidentStatus.CLOSED, IncidentStatus.REJECTED)
        return [i for k in self.incident_order if (i := self.incidents[k]).status not in done]

    def apply_alert(self, alert: Alert, controller_id: str) -> None:
        self.alerts.appendleft(AlertView(alert, controller_id))
        self._dirty.alerts = True

    def acknowledge(self, index: int | None = None) -> None:
        """Acknowledge one alert (by row) or all of them."""
        targets = list(self.alerts) if index is None else [self.alerts[index]]
        for a in targets:
            a.acked = True
        self._dirty.alerts = True

    def unacked(self) -> int:
        return sum(1 for a in self.alerts if not a.acked)

    def apply_controller(self, status: ControllerStatus) -> None:
        self.controllers[status.controller_id] = status
        self._dirty.controllers = True

    # --- reads (per frame) -------------------------------------------------------------------

    def take_dirty(self) -> Dirty:
        dirty, self._dirty = self._dirty, Dirty()
        return dirty

    def incident_of_drone(self, drone_id: str) -> Incident | None:
        view = self.drones.get(drone_id)
        inc_id = view.state.incident_id if view is not None and view.state is not None else None
        return self.incidents.get(inc_id) if inc_id else None
