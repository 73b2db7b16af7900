"""What the map shows of the fleet model: drones (with route and trail), docks, incidents, sites.

The window calls these from its frame timer with the model's dirty sets; they only move and
restyle map items, so the cost follows the frame rate, not the message rate.
"""

from __future__ import annotations

from groundstation import contract as c
from groundstation.console.mapview import MapView, scene_point
from groundstation.console.model import DockView, FleetModel
from groundstation.console.qt import QTimer
from groundstation.console.tables import (
    dock_charging,
    dock_cover_open,
    dock_status,
    fmt_duration,
    incident_eta,
)
from missions.sites import SiteSet

RESPONSE_TARGET_S = 120.0
HIDDEN_ON_GROUND = ("docked", "charging", "preflight")


class MapPainter:
    """Draws the model on the map; holds no state of its own beyond the two it is given."""

    def __init__(self, model: FleetModel, map_view: MapView) -> None:
        self.model = model
        self.map = map_view

    def add_sites(self, sites: SiteSet) -> list[tuple[float, float]]:
        """Operating areas, site names and site docks; fits the map to the sites (next turn)."""
        points = []
        for site in sites.sites:
            self.map.add_operating_area(
                site.lat_deg, site.lon_deg, sites.cruise_speed_m_s * RESPONSE_TARGET_S
            )
            self.map.add_site_label(site.lat_deg, site.lon_deg, site.name)
            points.append((site.lat_deg, site.lon_deg))
            for dock in site.docks:
                self.model.add_site_dock(dock.dock_id, dock.lat_deg, dock.lon_deg, site.site_id)
        QTimer.singleShot(0, lambda: self.map.fit(points, margin_m=1200))
        return points

    def draw_drone(
        self, drone_id: str, *, selected: bool, mine: bool, trail: bool, follow: bool
    ) -> None:
        """Move and restyle one drone; its route, and its trail when ``trail``."""
        view = self.model.drones.get(drone_id)
        if view is None or view.tel is None:
            return
        mp, t, phase = self.map, view.tel, view.phase
        item = mp.drone_item(drone_id)
        item.setPos(scene_point(t.lat_deg, t.lon_deg))
        item.set_values(
            t.heading_deg,
            phase,
            f"{t.alt_rel_m:.0f} m · {t.ground_speed_m_s:.0f} m/s",
            selected,
            mine,
        )
        item.setVisible(t.in_air or phase not in HIDDEN_ON_GROUND)
        st = view.state
        if st is not None and (st.target_lat_deg is not None or drone_id in mp.routes):
            target = (
                (st.target_lat_deg, st.target_lon_deg)
                if st.target_lat_deg is not None and st.target_lon_deg is not None
                else None
            )
            mp.set_route(drone_id, (t.lat_deg, t.lon_deg), target, st.orbit_radius_m)
        if trail:
            mp.set_trail(drone_id, [*view.trail, (t.lat_deg, t.lon_deg)], phase)
        if selected and follow:
            mp.follow(t.lat_deg, t.lon_deg)

    def draw_dock(self, dock_id: str) -> None:
        view = self.model.docks[dock_id]
        if view.lat_deg is None or view.lon_deg is None:
            return
        item = self.map.dock_item(dock_id, view.lat_deg, view.lon_deg, self._dock_slot(view))
        item.set_values(dock_status(view), dock_cover_open(view), dock_charging(view))

    def _dock_slot(self, view: DockView) -> float:
        """Docks of one site stand side by side: this one's offset from the site's centre."""
        siblings = [d for d in self.model.dock_order if self.model.docks[d].site == view.site]
        if not view.site or len(siblings) < 2:
            return 0.0
        return siblings.index(view.dock_id) - (len(siblings) - 1) / 2

    def draw_incident(self, incident_id: str) -> None:
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
