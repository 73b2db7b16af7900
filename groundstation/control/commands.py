"""Sortie actions carried out on the vehicles and the docks: the I/O half of ``Controller.apply``.

The sortie machine (``core.sortie``) returns actions; the controller runs each vehicle or
dock action as its own task through :meth:`VehicleCommands.execute`, which talks to the vehicle
(``VehicleLink``) and the dock (``DockLink``) and reports the outcome back to the sortie as an
event. Before a launch it also sets the vehicle's own failsafes and uploads its geofence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from groundstation import contract as c
from groundstation.core import sortie as so
from groundstation.core.config import ControllerConfig
from groundstation.core.ports import Airspace, Alerts, DockPort
from groundstation.core.vehicle import GeofencePolygon, VehicleLink
from groundstation.errors import DockError, GroundStationError, Refused, Superseded, VehicleError
from missions.geo import LatLon, offset
from missions.sites import Dock

log = logging.getLogger(__name__)

GROUND_POSITION_HZ = 2.0
"""Positions a second at least from a drone on the ground outside a sortie (more when its
telemetry goes out faster, ``telemetry_hz_ground``; 1 Hz by default): its link is judged lost
after 3 s, so two a second are plenty; the air rate (10) from every docked drone of a large
network (144 for 80 % of every London borough) cost the controller 1,440 MAVSDK callbacks a
second for drones that do not move."""


class CommandHost(Alerts, Protocol):
    """What the commands need of the controller: its vehicles, docks and airspace, heights,
    its sorties' one door (``apply``), alerts, and the record of dock jobs in flight."""

    @property
    def config(self) -> ControllerConfig: ...
    @property
    def docks(self) -> DockPort | None: ...
    @property
    def airspace(self) -> Airspace | None: ...

    @property
    def active(self) -> bool: ...
    def link(self, drone_id: str) -> VehicleLink | None: ...
    def amsl(self, drone_id: str, alt_rel_m: float) -> float: ...
    def now_s(self) -> float: ...
    def sortie_of(self, drone_id: str) -> so.Sortie | None: ...
    def apply(self, drone_id: str, event: so.Event) -> None: ...
    def dock_job_started(self, dock_id: str, method: c.DockMethod) -> None: ...
    def dock_job_ended(self, dock_id: str) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


# --- the rules ------------------------------------------------------------------------------------


def failure_event(action: so.Action, reason: str) -> so.Event | None:
    """The event a failed action reports to its sortie (None: a dock call, alerted instead)."""
    match action:
        case so.Prepare():
            return so.Prepared(ok=False, reason=reason)
        case so.ArmTakeoff():
            return so.LaunchDone(ok=False, reason=reason)
        case so.DockCall():
            return None
        case _:
            return so.CommandDone(ok=False, reason=reason)


def error_reason(exc: Exception) -> str:
    """The human reason of a failure (the dock's or our refusal's own text when it has one)."""
    if isinstance(exc, (DockError, Refused)):
        return exc.reason or str(exc)
    return str(exc)


def launch_params(cfg: ControllerConfig) -> dict[str, float | int]:
    """The vehicle's own failsafes and speeds, set before every launch."""
    params: dict[str, float | int] = dict(cfg.failsafe_params)
    params["RTL_RETURN_ALT"] = float(cfg.model.cruise_alt_rel_m)
    params["MPC_XY_CRUISE"] = float(cfg.model.cruise_speed_m_s)
    params["MPC_XY_VEL_MAX"] = float(max(12.0, cfg.model.cruise_speed_m_s))
    params.update(cfg.traffic.vehicle_params())  # NAV_TRAFF_* (also set at connection)
    return params


def launch_geofence(
    dock: Dock, max_range_m: float, airspace: Airspace | None
) -> list[GeofencePolygon]:
    """A square around the dock (range plus 1 km) to stay in, and the no-fly zones within it
    (from the same airspace data the dispatcher and the pilot's commands are checked against)
    as exclusion polygons."""
    r = max_range_m + 1000.0
    corners = [
        offset(dock.lat_deg, dock.lon_deg, n, e) for n, e in ((r, -r), (r, r), (-r, r), (-r, -r))
    ]
    fence = [GeofencePolygon(tuple((p.lat_deg, p.lon_deg) for p in corners), True)]
    if airspace is not None:
        near = airspace.geofence(LatLon(dock.lat_deg, dock.lon_deg), r)
        fence += [
            GeofencePolygon(tuple((q.lat_deg, q.lon_deg) for q in poly.vertices), False)
            for poly in near.polygons
            if not poly.inclusion
        ]
    return fence


# --- carrying them out ----------------------------------------------------------------------------


class VehicleCommands:
    """Runs the vehicle and dock actions of every sortie of one controller."""

    def __init__(self, host: CommandHost) -> None:
        self.ctl = host

    def position_rate(self, drone_id: str, airborne: bool) -> None:
        """Ask the drone for positions at the air rate (from preflight until it is back on a
        dock) or at the ground rate (``GROUND_POSITION_HZ`` at least); in the background (a
        failure is logged: the drone then keeps its own rate)."""
        v = self.ctl.link(drone_id)
        if v is None:
            return
        cfg = self.ctl.config
        hz = cfg.telemetry_hz_air if airborne else max(GROUND_POSITION_HZ, cfg.telemetry_hz_ground)
        self.ctl.spawn(v.set_position_rate(hz), f"rate:{drone_id}")

    async def execute(self, drone_id: str, action: so.Action) -> None:
        """Run one action of a sortie on the vehicle or its dock; its result goes back to the
        sortie as an event (a failure as a failed event with the reason, never an exception)."""
        ctl = self.ctl
        if not ctl.active:
            log.warning("%s: standby, %s not sent", drone_id, type(action).__name__)
            return
        v = ctl.link(drone_id)
        try:
            match action:
                case so.Prepare():
                    await self._prepare(drone_id, action.dock_id)
                    ctl.apply(drone_id, so.Prepared(ok=True))
                case so.ArmTakeoff():
                    if v is None:
                        raise VehicleError(drone_id, "arm", "not connected")
                    # The sortie may have left its take-off while this waited (the drone came
                    # back down, the launch was aborted): then nothing flies.
                    if not self._launching(drone_id):
                        return
                    await v.arm()
                    if not self._launching(drone_id):
                        return  # armed on its dock: PX4 disarms it (COM_DISARM_PRFLT)
                    await v.takeoff(action.alt_rel_m)
                    ctl.apply(drone_id, so.LaunchDone(ok=True, now_s=ctl.now_s()))
                case so.Goto():
                    if v is None:
                        raise VehicleError(drone_id, "goto", "not connected")
                    await v.goto(
                        action.lat_deg, action.lon_deg, ctl.amsl(drone_id, action.alt_rel_m)
                    )
                    ctl.apply(drone_id, so.CommandDone(ok=True))
                case so.Orbit():
                    if v is None:
                        raise VehicleError(drone_id, "orbit", "not connected")
                    await v.orbit(
                        action.lat_deg,
                        action.lon_deg,
                        ctl.amsl(drone_id, action.alt_rel_m),
                        action.radius_m,
                        action.speed_m_s,
                    )
                    ctl.apply(drone_id, so.CommandDone(ok=True))
                case so.Land():
                    if v is None:
                        raise VehicleError(drone_id, "land", "not connected")
                    await v.land()
                    ctl.apply(drone_id, so.CommandDone(ok=True))
                case so.DockCall():
                    await self._dock_call(drone_id, action)
        except Superseded as exc:
            # A newer command for this drone went out instead: its result is the one that counts.
            log.info("%s: %s not sent: %s", drone_id, type(action).__name__, exc.result)
        except (GroundStationError, OSError) as exc:
            reason = error_reason(exc)
            log.warning("%s: %s failed: %s", drone_id, type(action).__name__, reason)
            event = failure_event(action, reason)
            if event is not None:
                ctl.apply(drone_id, event)
            elif isinstance(action, so.DockCall):
                ctl.alert(
                    c.Severity.WARNING,
                    "dock_failed",
                    f"{action.dock_id}: {reason}",
                    drone_id=drone_id,
                    dock_id=action.dock_id,
                )

    def _launching(self, drone_id: str) -> bool:
        s = self.ctl.sortie_of(drone_id)
        if s is not None and s.phase == c.Phase.LAUNCHING:
            return True
        log.warning("%s: take-off not sent: the sortie is no longer launching", drone_id)
        return False

    async def _prepare(self, drone_id: str, dock_id: str) -> None:
        ctl = self.ctl
        v = ctl.link(drone_id)
        if v is None:
            raise VehicleError(drone_id, "preflight", "not connected")
        self.position_rate(drone_id, airborne=True)
        jobs: list[Coroutine[Any, Any, None]] = [self._configure(v, dock_id)]
        if ctl.docks is not None:
            jobs.append(
                ctl.docks.call(
                    dock_id, c.DockMethod.COVER_OPEN, timeout_s=ctl.config.dock_timeout_s
                )
            )
        try:
            async with asyncio.TaskGroup() as tg:
                for job in jobs:
                    tg.create_task(job)
        except ExceptionGroup as group:
            # A stuck cover or a refused parameter: surface the first one as itself, so the
            # launch is aborted with its reason (an ExceptionGroup would leave it in preflight).
            match = group.subgroup((GroundStationError, OSError))
            if match is None:
                raise
            first: BaseException = match
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from group

    async def _configure(self, v: VehicleLink, dock_id: str) -> None:
        """Before every launch: the vehicle's own failsafes and a geofence around the area."""
        cfg = self.ctl.config
        await v.set_params(launch_params(cfg))
        dock = cfg.site_set.dock(dock_id)
        if dock is not None:
            await v.upload_geofence(
                launch_geofence(dock, cfg.model.max_range_m, self.ctl.airspace)
            )

    async def _dock_call(self, drone_id: str, action: so.DockCall) -> None:
        ctl = self.ctl
        if ctl.docks is None:
            if action.method == c.DockMethod.COVER_CLOSE:
                ctl.apply(drone_id, so.DockClosed(ok=True))
            return
        ctl.dock_job_started(action.dock_id, action.method)
        try:
            await ctl.docks.call(
                action.dock_id, action.method, timeout_s=ctl.config.dock_timeout_s
            )
        except DockError as exc:
            if action.method == c.DockMethod.COVER_CLOSE:
                ctl.apply(drone_id, so.DockClosed(ok=False, reason=exc.reason))
            raise
        finally:
            ctl.dock_job_ended(action.dock_id)
        if action.method == c.DockMethod.COVER_CLOSE:
            ctl.apply(drone_id, so.DockClosed(ok=True))
