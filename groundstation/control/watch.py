"""What each drone's latest sample means for its sortie: the conditions the controller's tick
checks and turns into sortie events (at safe height, on scene, back at the dock, landed), the
failsafes it raises (battery low and critical, GPS lost, home dock gone) and the health gates a
dispatcher and a console read.

The rules are functions of (sortie, sample, settings) that return sortie events
(:func:`phase_events`, :func:`battery_failsafe`, :func:`alternate_dock`, :func:`health_gates`);
:class:`Watch` runs them from ``Controller._tick_drone`` over a :class:`WatchHost` and applies
every event through the host's ``apply`` (``Controller.apply``: the one place a sortie changes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from groundstation import contract as c
from groundstation.core import sortie as so
from groundstation.core.config import ControllerConfig
from groundstation.core.ports import Alerts
from groundstation.core.state import DroneRuntime
from groundstation.core.vehicle import VehicleSample
from missions.geo import distance_m
from missions.sites import Dock

DIVERT_AFTER_S = 6.0
"""How long a drone's home dock must stay unusable before the drone is sent to another."""

CAME_DOWN_AFTER_WALL_S = 3.0
"""After its take-off was accepted, how long (wall seconds) a drone may still read disarmed on
the ground before it counts as come back down: MAVSDK's armed flag comes from PX4's 1 Hz
HEARTBEAT, so the samples of the first second after the arm may predate it."""

CLIMB_TIMEOUT_S = 60.0
"""Mission seconds from an accepted take-off to the safe height before the climb counts as
stalled (PX4 takes about 16 s to 20 m at MPC_TKO_SPEED, core.dispatch)."""

CLIMB_TIMEOUT_WALL_S = 10.0
"""And at least this many wall seconds: at a simulation speed-up the vehicle's clock may lag the
mission clock (wall time times the speed-up)."""


class WatchHost(Alerts, Protocol):
    """What the watch needs of the controller: its configuration, its docks, its sorties'
    one door (``apply``) and its alerts."""

    @property
    def config(self) -> ControllerConfig: ...

    def apply(self, drone_id: str, event: so.Event) -> None: ...
    def start_action(self, drone_id: str, action: so.Action) -> None: ...
    def has_docks(self) -> bool: ...
    def dock_usable(self, dock_id: str) -> bool: ...
    def dock_reason(self, dock_id: str) -> str | None: ...
    def claimed_docks(self, drone_id: str) -> set[str]: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...
    async def publish_state(self, drone_id: str) -> None: ...


# --- the rules: functions of (sortie, sample, settings) -> decisions ------------------------------


def dock_at(docks: Sequence[Dock], lat_deg: float, lon_deg: float) -> Dock | None:
    """The dock a drone stands on (within 5 m), if any."""
    for dock in docks:
        if distance_m(lat_deg, lon_deg, dock.lat_deg, dock.lon_deg) <= 5.0:
            return dock
    return None


def battery_failsafe(
    s: so.Sortie, rt: DroneRuntime, smp: VehicleSample, cfg: ControllerConfig
) -> so.FailsafeRaised | None:
    """Battery low or critical in the air, once each per sortie (``rt`` says which were raised)."""
    if not s.airborne or not math.isfinite(smp.battery_pct):
        return None
    if smp.battery_pct <= cfg.battery_critical_pct and not rt.battery_critical:
        return so.FailsafeRaised(so.Failsafe.BATTERY_CRITICAL, f"{smp.battery_pct:.0f}%")
    if smp.battery_pct <= cfg.battery_low_pct and not rt.battery_low:
        return so.FailsafeRaised(so.Failsafe.BATTERY_LOW, f"{smp.battery_pct:.0f}%")
    return None


def launch_limits(speedup: float) -> tuple[float, float]:
    """(came down after, climb timeout) in mission seconds at a simulation speed-up."""
    return (
        CAME_DOWN_AFTER_WALL_S * speedup,
        max(CLIMB_TIMEOUT_S, CLIMB_TIMEOUT_WALL_S * speedup),
    )


def phase_events(
    s: so.Sortie,
    smp: VehicleSample,
    now: float,
    docks: Sequence[Dock],
    claimed: set[str],
    charged_pct: float,
    *,
    came_down_after_s: float = CAME_DOWN_AFTER_WALL_S,
    climb_timeout_s: float = CLIMB_TIMEOUT_S,
) -> list[so.Event]:
    """What a fresh sample means for the sortie in its phase: landed (at a dock or away, perhaps
    another one), reached safe height, the scene or the dock, time on scene, charged, recovered
    onto a free dock after a fault. During take-off: back on the ground and disarmed
    ``came_down_after_s`` after the take-off was accepted (its own failsafe landed it), or not
    at the safe height ``climb_timeout_s`` after it (:func:`launch_limits`)."""
    landed = s.phase == c.Phase.LANDING and not smp.in_air and not smp.armed
    climbing_s = (
        now - s.climb_since_s
        if s.phase == c.Phase.LAUNCHING and s.climb_since_s is not None
        else None
    )
    came_down = (
        climbing_s is not None
        and climbing_s >= came_down_after_s
        and not smp.in_air
        and not smp.armed
    )
    if landed or came_down or has_come_down(s, smp):
        dock = dock_at(docks, smp.lat_deg, smp.lon_deg)
        events: list[so.Event] = []
        if dock is not None and dock.dock_id != s.dock_id:
            events.append(so.AlternateDock(dock.dock_id, so.Target(dock.lat_deg, dock.lon_deg)))
        events.append(so.Landed(at_dock=dock is not None))
        return events
    if s.phase == c.Phase.LAUNCHING and smp.in_air and smp.alt_rel_m >= s.safe_alt_rel_m - 1.5:
        return [so.Reached(so.Goal.SAFE_ALT, now)]
    if climbing_s is not None and climbing_s > climb_timeout_s and not s.pilot:
        return [so.ClimbStalled(
            f"not at the safe height ({s.safe_alt_rel_m:.0f} m) {climb_timeout_s:.0f} s after "
            f"take-off, at {smp.alt_rel_m:.0f} m"
        )]
    if s.phase == c.Phase.TRANSIT and s.target is not None:
        d = distance_m(smp.lat_deg, smp.lon_deg, s.target.lat_deg, s.target.lon_deg)
        return [so.Reached(so.Goal.SCENE, now)] if d <= s.orbit_radius_m + 15.0 else []
    if s.phase == c.Phase.RETURNING:
        d = distance_m(smp.lat_deg, smp.lon_deg, s.dock.lat_deg, s.dock.lon_deg)
        return [so.Reached(so.Goal.DOCK, now)] if d <= 4.0 and smp.ground_speed_m_s < 2.0 else []
    if s.phase == c.Phase.ON_SCENE:
        return [so.Tick(now)]
    if s.phase == c.Phase.CHARGING and smp.battery_pct >= charged_pct:
        return [so.Charged()]
    if s.phase == c.Phase.FAULT and not smp.in_air and not smp.armed:
        # Landed away, then carried back onto a dock by the recovery crew.
        dock = dock_at(docks, smp.lat_deg, smp.lon_deg)
        if dock is not None and dock.dock_id not in claimed:
            return [so.Recovered(dock.dock_id, so.Target(dock.lat_deg, dock.lon_deg))]
    return []


def transit_eta_s(s: so.Sortie, smp: VehicleSample, previous_s: float | None) -> float | None:
    """Time to the scene at the present ground speed (the previous estimate when hovering)."""
    if s.phase != c.Phase.TRANSIT or s.target is None or has_come_down(s, smp):
        return previous_s
    if smp.ground_speed_m_s <= 0.5:
        return previous_s
    d = distance_m(smp.lat_deg, smp.lon_deg, s.target.lat_deg, s.target.lon_deg)
    return d / max(1.0, smp.ground_speed_m_s)


def alternate_dock(
    s: so.Sortie,
    smp: VehicleSample,
    docks: Sequence[Dock],
    usable: set[str],
    claimed: set[str],
    max_range_m: float,
) -> Dock | None:
    """The nearest usable dock in range that no other drone calls home (None: there is none)."""
    best: tuple[float, Dock] | None = None
    for dock in docks:
        if dock.dock_id == s.dock_id or dock.dock_id in claimed or dock.dock_id not in usable:
            continue
        d = distance_m(smp.lat_deg, smp.lon_deg, dock.lat_deg, dock.lon_deg)
        if d <= max_range_m and (best is None or d < best[0]):
            best = (d, dock)
    return None if best is None else best[1]


def gps_ok(smp: VehicleSample, min_satellites: int) -> bool:
    return smp.global_position_ok and smp.satellites >= min_satellites


def health_gates(
    smp: VehicleSample, *, link_ok: bool, dock_reason: str | None, min_satellites: int,
    battery_low_pct: float,
) -> c.HealthGates:
    """The pre-flight gates of a drone, each with why it failed."""
    failed: list[str] = []
    gps = gps_ok(smp, min_satellites)
    if not gps:
        failed.append("gps")
    if not smp.armable:
        failed.append("armable")
    battery_ok = math.isfinite(smp.battery_pct) and smp.battery_pct > battery_low_pct
    if not battery_ok:
        failed.append("battery")
    if dock_reason:
        failed.append(f"dock: {dock_reason}")
    if not link_ok:
        failed.append("link")
    return c.HealthGates(
        gps_ok=gps,
        armable=smp.armable,
        battery_ok=battery_ok,
        link_ok=link_ok,
        dock_ok=dock_reason is None,
        failed=failed,
    )


def has_come_down(s: so.Sortie, smp: VehicleSample) -> bool:
    """The sortie says airborne but the vehicle is on the ground and disarmed: its own failsafe
    (data-link loss RTL, battery, GPS) landed it while nobody was watching, or it was landed by
    hand. Not during launch: a take-off is judged by :func:`phase_events`."""
    return (
        s.airborne
        and s.phase not in (c.Phase.LAUNCHING, c.Phase.LANDING)
        and not smp.in_air
        and not smp.armed
    )


# --- applying them --------------------------------------------------------------------------------


class Watch:
    """The condition checks of one controller's tick, per drone: the rules above, their
    events applied through the host's ``apply``."""

    def __init__(self, host: WatchHost) -> None:
        self.host = host

    def conditions(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample, now: float) -> None:
        """Sortie events and failsafes from a fresh sample of an adopted drone."""
        host = self.host
        cfg = host.config
        failsafe = battery_failsafe(rt.sortie, rt, smp, cfg)
        if failsafe is not None:
            if failsafe.kind == so.Failsafe.BATTERY_CRITICAL:
                rt.battery_critical = True
            else:
                rt.battery_low = True
            host.apply(drone_id, failsafe)
        s = rt.sortie
        rt.eta_s = transit_eta_s(s, smp, rt.eta_s)
        # Only a faulted drone's recovery asks which docks the others hold (a set built from
        # every drone: per drone and tick, the fleet squared).
        claimed = host.claimed_docks(drone_id) if s.phase == c.Phase.FAULT else set()
        came_down_after_s, climb_timeout_s = launch_limits(cfg.speedup)
        for event in phase_events(
            s, smp, now, cfg.site_set.docks, claimed, cfg.charged_pct,
            came_down_after_s=came_down_after_s, climb_timeout_s=climb_timeout_s,
        ):
            host.apply(drone_id, event)
        self._gps(drone_id, rt, smp)
        self._home_dock(drone_id, rt, smp)
        s = rt.sortie
        if s.airborne and not s.command_ok and not rt.gps_lost:
            host.apply(drone_id, so.Tick(now))

    def _home_dock(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample) -> None:
        """The home dock went offline (or faulted) while the drone is out: divert it to the
        nearest vacant, working dock in range; with none, say so once and keep the plan."""
        host = self.host
        s = rt.sortie
        if not host.has_docks() or s.phase not in (
            c.Phase.TRANSIT,
            c.Phase.ON_SCENE,
            c.Phase.RETURNING,
        ):
            rt.no_alternate = False
            return
        if host.dock_usable(s.dock_id):
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
        docks = host.config.site_set.docks
        usable = {d.dock_id for d in docks if host.dock_usable(d.dock_id)}
        dock = alternate_dock(
            s, smp, docks, usable, host.claimed_docks(drone_id), host.config.model.max_range_m
        )
        if dock is None:
            if not rt.no_alternate:
                rt.no_alternate = True
                host.alert(
                    c.Severity.CRITICAL,
                    "no_alternate_dock",
                    f"{drone_id}: home dock {s.dock_id} is unusable and no other dock is free",
                    drone_id=drone_id,
                    dock_id=s.dock_id,
                )
            return
        host.apply(drone_id, so.AlternateDock(dock.dock_id, so.Target(dock.lat_deg, dock.lon_deg)))

    def _gps(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample) -> None:
        """GPS lost in the air: the incident goes to another drone and this one comes home
        (its commands are refused until the fix is back; PX4 descends by itself if it stays
        lost). Raised once per loss, cleared when the fix returns."""
        host = self.host
        if gps_ok(smp, host.config.model.min_satellites):
            if rt.gps_lost:
                rt.gps_lost = False
                host.alert(
                    c.Severity.INFO, "gps_recovered", f"{drone_id}: GPS back", drone_id=drone_id
                )
                if rt.sortie.airborne and not rt.sortie.pilot:
                    # Commands sent without a fix were refused or ignored: send the plan again.
                    for action in so.flight_command(rt.sortie):
                        host.start_action(drone_id, action)
            return
        if rt.sortie.airborne and not rt.gps_lost and rt.sortie.phase != c.Phase.LAUNCHING:
            rt.gps_lost = True
            host.apply(
                drone_id,
                so.FailsafeRaised(so.Failsafe.GPS_LOST, f"{smp.satellites} satellites"),
            )

    def health(self, drone_id: str, rt: DroneRuntime, smp: VehicleSample) -> None:
        """The pre-flight gates of a drone (published with its state when they change)."""
        host = self.host
        health = health_gates(
            smp,
            link_ok=rt.link_ok,
            dock_reason=host.dock_reason(rt.sortie.dock_id),
            min_satellites=host.config.model.min_satellites,
            battery_low_pct=host.config.battery_low_pct,
        )
        if health != rt.health:
            rt.health = health
            host.spawn(host.publish_state(drone_id), f"state:{drone_id}")
