"""What each drone's latest sample means for its sortie: the conditions the controller's tick
checks and turns into sortie events (at safe height, on scene, back at the dock, landed), the
failsafes it raises (battery low and critical, GPS lost, home dock gone) and the health gates a
dispatcher and a console read. Called from ``Controller._tick_drone``; every change goes through
``Controller.apply``.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from groundstation import contract as c
from groundstation import sortie as so
from groundstation.vehicle import VehicleSample
from missions.geo import distance_m

if TYPE_CHECKING:
    from groundstation.controller import Controller, DroneRuntime

DIVERT_AFTER_S = 6.0
"""How long a drone's home dock must stay unusable before the drone is sent to another."""


class Watch:
    """The condition checks of one controller's tick, per drone."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl

    def conditions(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample, now: float) -> None:
        """Sortie events and failsafes from a fresh sample of an adopted drone."""
        ctl = self.ctl
        s = rt.sortie
        cfg = ctl.config
        # Battery failsafes (once each per sortie).
        if s.airborne and math.isfinite(smp.battery_pct):
            if smp.battery_pct <= cfg.battery_critical_pct and not rt.battery_critical:
                rt.battery_critical = True
                ctl.apply(
                    drone_id,
                    so.FailsafeRaised(so.Failsafe.BATTERY_CRITICAL, f"{smp.battery_pct:.0f}%"),
                )
            elif smp.battery_pct <= cfg.battery_low_pct and not rt.battery_low:
                rt.battery_low = True
                ctl.apply(
                    drone_id, so.FailsafeRaised(so.Failsafe.BATTERY_LOW, f"{smp.battery_pct:.0f}%")
                )
        s = rt.sortie
        landed = s.phase == c.Phase.LANDING and not smp.in_air and not smp.armed
        if landed or has_come_down(s, smp):
            dock = ctl.dock_at(smp.lat_deg, smp.lon_deg)
            if dock is not None and dock.dock_id != s.dock_id:
                ctl.apply(
                    drone_id, so.AlternateDock(dock.dock_id, so.Target(dock.lat_deg, dock.lon_deg))
                )
            ctl.apply(drone_id, so.Landed(at_dock=dock is not None))
        elif (
            s.phase == c.Phase.LAUNCHING and smp.in_air and smp.alt_rel_m >= s.safe_alt_rel_m - 1.5
        ):
            ctl.apply(drone_id, so.Reached(so.Goal.SAFE_ALT, now))
        elif s.phase == c.Phase.TRANSIT and s.target is not None:
            d = distance_m(smp.lat_deg, smp.lon_deg, s.target.lat_deg, s.target.lon_deg)
            rt.eta_s = (
                d / max(1.0, smp.ground_speed_m_s) if smp.ground_speed_m_s > 0.5 else rt.eta_s
            )
            if d <= s.orbit_radius_m + 15.0:
                ctl.apply(drone_id, so.Reached(so.Goal.SCENE, now))
        elif s.phase == c.Phase.RETURNING:
            d = distance_m(smp.lat_deg, smp.lon_deg, s.dock.lat_deg, s.dock.lon_deg)
            if d <= 4.0 and smp.ground_speed_m_s < 2.0:
                ctl.apply(drone_id, so.Reached(so.Goal.DOCK, now))
        elif s.phase == c.Phase.ON_SCENE:
            ctl.apply(drone_id, so.Tick(now))
        elif s.phase == c.Phase.CHARGING and smp.battery_pct >= cfg.charged_pct:
            ctl.apply(drone_id, so.Charged())
        elif s.phase == c.Phase.FAULT and not smp.in_air and not smp.armed:
            # Landed away, then carried back onto a dock by the recovery crew.
            dock = ctl.dock_at(smp.lat_deg, smp.lon_deg)
            if dock is not None and dock.dock_id not in _claimed_docks(ctl, drone_id):
                ctl.apply(
                    drone_id, so.Recovered(dock.dock_id, so.Target(dock.lat_deg, dock.lon_deg))
                )
        self._gps(drone_id, rt, smp)
        self._home_dock(drone_id, rt, smp)
        s = rt.sortie
        if s.airborne and not s.command_ok and not rt.gps_lost:
            ctl.apply(drone_id, so.Tick(now))

    def _home_dock(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample) -> None:
        """The home dock went offline (or faulted) while the drone is out: divert it to the
        nearest vacant, working dock in range; with none, say so once and keep the plan."""
        ctl = self.ctl
        s = rt.sortie
        if ctl.docks is None or s.phase not in (
            c.Phase.TRANSIT,
            c.Phase.ON_SCENE,
            c.Phase.RETURNING,
        ):
            rt.no_alternate = False
            return
        if ctl.dock_usable(s.dock_id):
            rt.no_alternate = False
            rt.dock_bad_since = None
            return
        # A dock's Last Will also fires when the broker itself restarts: divert only once the
        # dock has stayed unusable for a few seconds (docks reconnect within about 4 s).
        now = time.monotonic()
        if rt.dock_bad_since is None:
            rt.dock_bad_since = now
        if now - rt.dock_bad_since < DIVERT_AFTER_S:
            return
        claimed = _claimed_docks(ctl, drone_id)
        best: tuple[float, Any] | None = None
        for dock in ctl.config.site_set.docks:
            if dock.dock_id == s.dock_id or dock.dock_id in claimed:
                continue
            if not ctl.dock_usable(dock.dock_id):
                continue
            d = distance_m(smp.lat_deg, smp.lon_deg, dock.lat_deg, dock.lon_deg)
            if d <= ctl.config.model.max_range_m and (best is None or d < best[0]):
                best = (d, dock)
        if best is None:
            if not rt.no_alternate:
                rt.no_alternate = True
                ctl.alert(
                    c.Severity.CRITICAL,
                    "no_alternate_dock",
                    f"{drone_id}: home dock {s.dock_id} is unusable and no other dock is free",
                    drone_id=drone_id,
                    dock_id=s.dock_id,
                )
            return
        dock = best[1]
        ctl.apply(drone_id, so.AlternateDock(dock.dock_id, so.Target(dock.lat_deg, dock.lon_deg)))

    def _gps(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample) -> None:
        """GPS lost in the air: the incident goes to another drone and this one comes home
        (its commands are refused until the fix is back; PX4 descends by itself if it stays
        lost). Raised once per loss, cleared when the fix returns."""
        ctl = self.ctl
        gps_ok = smp.global_position_ok and smp.satellites >= ctl.config.model.min_satellites
        if gps_ok:
            if rt.gps_lost:
                rt.gps_lost = False
                ctl.alert(
                    c.Severity.INFO, "gps_recovered", f"{drone_id}: GPS back", drone_id=drone_id
                )
                if rt.sortie.airborne and not rt.sortie.pilot:
                    # Commands sent without a fix were refused or ignored: send the plan again.
                    for action in so.flight_command(rt.sortie):
                        ctl.start_action(drone_id, action)
            return
        if rt.sortie.airborne and not rt.gps_lost and rt.sortie.phase != c.Phase.LAUNCHING:
            rt.gps_lost = True
            ctl.apply(
                drone_id,
                so.FailsafeRaised(so.Failsafe.GPS_LOST, f"{smp.satellites} satellites"),
            )

    def health(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample) -> None:
        """The pre-flight gates of a drone (published with its state when they change)."""
        ctl = self.ctl
        failed: list[str] = []
        gps_ok = smp.global_position_ok and smp.satellites >= ctl.config.model.min_satellites
        if not gps_ok:
            failed.append("gps")
        if not smp.armable:
            failed.append("armable")
        battery_ok = (
            math.isfinite(smp.battery_pct) and smp.battery_pct > ctl.config.battery_low_pct
        )
        if not battery_ok:
            failed.append("battery")
        dock_reason = ctl.dock_reason(rt.sortie.dock_id)
        if dock_reason:
            failed.append(f"dock: {dock_reason}")
        if not rt.link_ok:
            failed.append("link")
        health = c.HealthGates(
            gps_ok=gps_ok,
            armable=smp.armable,
            battery_ok=battery_ok,
            link_ok=rt.link_ok,
            dock_ok=dock_reason is None,
            failed=failed,
        )
        if health != rt.health:
            rt.health = health
            ctl.spawn(ctl.publish_state(drone_id), f"state:{drone_id}")


def has_come_down(s: so.Sortie, smp: VehicleSample) -> bool:
    """The sortie says airborne but the vehicle is on the ground and disarmed: its own failsafe
    (data-link loss RTL, battery, GPS) landed it while nobody was watching, or it was landed by
    hand. Not during launch: the machine handles a launch that never left the ground."""
    return (
        s.airborne
        and s.phase not in (c.Phase.LAUNCHING, c.Phase.LANDING)
        and not smp.in_air
        and not smp.armed
    )


def _claimed_docks(ctl: Controller, drone_id: str) -> set[str]:
    """The docks the other drones (those not in fault) call home."""
    return {
        rt.sortie.dock_id
        for other_id, rt in ctl.drones.items()
        if other_id != drone_id and rt.sortie.phase != c.Phase.FAULT
    }
