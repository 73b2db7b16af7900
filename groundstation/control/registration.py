"""Adding a dock to a running controller: the ``dock_register`` request, and SIGHUP.

Why this way. DJI FlightHub 2 binds a dock from the dock's side: the dock, already holding its own
device login, asks the cloud to join an organisation (``airport_organization_bind`` on its
``requests`` topic) and is answered with a result code. Skydio Cloud has an administrator add a
dock by serial and place it on the map. Both keep the deployment in charge of *who* may join (the
login is issued by its operator) and let the dock bring its own facts (its position, its drone).
So here:

1. the deployment's operator gives the dock a login: a user ``{"username": DOCK_ID, "role":
   "dock"}`` in ``users.json`` (the controller reloads it by itself; mosquitto on SIGHUP after
   ``groundstation broker-config``);
2. the dock (or an operator on its behalf) calls ``dock_register`` on
   ``operators/{login}/services`` with its site, position, roof altitude and its drone's MAVLink
   address; a dock may register only itself;
3. the controller checks it (:func:`check`: the site exists, the ids and system id are free, the
   position is on the site and outside the no-fly zones), connects MAVSDK to the drone, tells the
   dock its drone (``assignment``), dispatches from it once it is ready, and appends it to the
   site-set file (``registered_docks``), so that a restart keeps it. The same registration again
   is answered OK and changes nothing; anything else is refused with a code and a reason, logged
   and journaled, and every drone keeps flying.

The site-set file is the other way in: add a dock to it by hand and send the controller SIGHUP
(:meth:`DockRegistry.reload`): new docks are registered live exactly as above. A removed or
changed dock is not applied live (its drone may be in the air, its sortie refers to it): the
reason is logged and a restart applies it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from groundstation import contract as c
from groundstation.core.dispatch import AirspaceCheck
from groundstation.core.ports import Alerts
from groundstation.errors import GroundStationError, Refused
from missions.geo import distance_m
from missions.sites import Dock, SiteSet, SiteSetError, load_sites, with_dock

if TYPE_CHECKING:
    from groundstation.adapters.flightlog import FlightLogger
    from groundstation.core import sortie as so
    from groundstation.core.config import ControllerConfig

log = logging.getLogger(__name__)
R = c.Result

MAX_FROM_SITE_M = 300.0
"""A dock stands on its site's roof: at most this far from the site's position."""
URL_SCHEMES = ("udpin://", "udpout://", "tcpin://", "tcpout://", "serial://")
MAX_DOCKS = 250


@dataclass(frozen=True, slots=True)
class Registration:
    dock: Dock
    site_set: SiteSet
    """The site set with the dock in it."""
    new: bool
    """False: this very registration was made before; nothing changes."""


def _same(dock: Dock, d: c.DockRegister) -> bool:
    return (
        dock.site_id == d.site_id
        and abs(dock.lat_deg - d.lat_deg) < 1e-7
        and abs(dock.lon_deg - d.lon_deg) < 1e-7
        and abs(dock.alt_amsl_m - d.alt_amsl_m) < 1e-3
        and d.drone_id in (None, dock.drone_id)
        and d.system_id in (None, dock.system_id)
        and d.mavlink_url in (None, dock.mavlink_url)
    )


def check(
    site_set: SiteSet,
    d: c.DockRegister,
    *,
    caller: str,
    role: c.Role,
    airspace: AirspaceCheck | None,
) -> Registration:
    """The dock a registration adds, or :class:`Refused` with the first reason it may not."""
    if role == c.Role.DOCK and caller != d.dock_id:
        raise Refused(
            R.FORBIDDEN, f"a dock registers itself only: login {caller!r} is not dock {d.dock_id!r}"
        )
    site = next((s for s in site_set.sites if s.site_id == d.site_id), None)
    if site is None:
        known = ", ".join(s.site_id for s in site_set.sites)
        raise Refused(R.MALFORMED, f"unknown site {d.site_id!r} (the sites here: {known})")
    existing = site_set.dock(d.dock_id)
    if existing is not None:
        if _same(existing, d):
            return Registration(existing, site_set, new=False)
        raise Refused(
            R.DUPLICATE,
            f"dock {d.dock_id} is registered already (site {existing.site_id}, drone "
            f"{existing.drone_id}, system id {existing.system_id}) with other values",
        )
    drone_id = d.drone_id or f"uav-{d.dock_id}"
    if site_set.dock_of_drone(drone_id) is not None:
        raise Refused(R.DUPLICATE, f"drone {drone_id} already lives in another dock")
    taken = {x.system_id for x in site_set.docks}
    index = len(site_set.docks)
    if index >= MAX_DOCKS:
        raise Refused(R.INVALID_STATE, f"{index} docks already: the most MAVLink allows")
    system_id = d.system_id
    if system_id is None:
        system_id = index + 1 if index + 1 not in taken else min(set(range(1, 251)) - taken)
    elif system_id in taken:
        raise Refused(R.DUPLICATE, f"MAVLink system id {system_id} is taken by another drone")
    if d.mavlink_url is not None and (
        not d.mavlink_url.startswith(URL_SCHEMES) or d.mavlink_url.endswith("//")
    ):
        raise Refused(
            R.MALFORMED,
            f"mavlink_url {d.mavlink_url!r}: expected one of {', '.join(URL_SCHEMES)} and an "
            "address (udpin://0.0.0.0:14547)",
        )
    away_m = distance_m(site.lat_deg, site.lon_deg, d.lat_deg, d.lon_deg)
    if away_m > MAX_FROM_SITE_M:
        raise Refused(
            R.OUT_OF_RANGE,
            f"the dock is {away_m:.0f} m from site {site.site_id}; a dock stands on its site "
            f"(within {MAX_FROM_SITE_M:.0f} m)",
        )
    if airspace is not None:
        refusal = airspace.check_point(d.lat_deg, d.lon_deg)
        if refusal is not None:
            reason = refusal.reason
            raise Refused(R.AIRSPACE, f"the dock stands in restricted airspace: {reason}")
    dock = Dock(
        dock_id=d.dock_id,
        site_id=site.site_id,
        lat_deg=d.lat_deg,
        lon_deg=d.lon_deg,
        alt_amsl_m=d.alt_amsl_m,
        drone_id=drone_id,
        system_id=system_id,
        fleet_index=index,
        mavlink_url=d.mavlink_url,
    )
    return Registration(dock, with_dock(site_set, dock), new=True)


def file_entry(dock: Dock) -> dict[str, Any]:
    """The dock as the site-set file keeps it (``registered_docks``)."""
    out: dict[str, Any] = {
        "site_id": dock.site_id,
        "dock_id": dock.dock_id,
        "drone_id": dock.drone_id,
        "system_id": dock.system_id,
        "lat_deg": dock.lat_deg,
        "lon_deg": dock.lon_deg,
        "alt_amsl_m": dock.alt_amsl_m,
    }
    if dock.mavlink_url:
        out["mavlink_url"] = dock.mavlink_url
    return out


def append_to_file(path: Path, dock: Dock) -> None:
    """Add the dock to the file's ``registered_docks`` (written whole, then renamed)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw.setdefault("registered_docks", []).append(file_entry(dock))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class FleetGrowth(Protocol):
    """The vehicle side of a registration (``MavsdkFleet.add_drone``)."""

    async def add_drone(self, drone_id: str, system_id: int, url: str) -> None: ...


class DockAnnouncer(Protocol):
    """The dock side (``DockLink.add``): hear the dock, and tell it its drone."""

    def add(self, dock: Dock) -> None: ...


OnAdded = Callable[[Dock, str], Awaitable[None]]
"""Called with the dock and its drone's MAVLink URL once added (the lab starts a simulated
vehicle there)."""


class RegistryHost(Alerts, Protocol):
    """What registrations need of the controller: its configuration and airspace, its sorties
    (read), and adding a dock (``Controller.add_dock``: the one place the fleet grows)."""

    @property
    def config(self) -> ControllerConfig: ...
    @property
    def airspace(self) -> AirspaceCheck | None: ...

    def sortie_of(self, drone_id: str) -> so.Sortie | None: ...
    def add_dock(self, site_set: SiteSet, dock: Dock) -> None: ...


class DockRegistry:
    """Registrations and SIGHUP reloads for one controller (see the module docstring)."""

    def __init__(
        self,
        controller: RegistryHost,
        *,
        fleet: FleetGrowth,
        docks: DockAnnouncer | None,
        base_port: int,
        sites_path: Path | None,
        flightlog: FlightLogger | None = None,
        on_added: OnAdded | None = None,
    ) -> None:
        self.ctl = controller
        self.fleet = fleet
        self.docks = docks
        self.base_port = base_port
        self.sites_path = sites_path
        self.flightlog = flightlog
        self.on_added = on_added
        self._lock = asyncio.Lock()

    async def register(self, caller: str, role: c.Role, d: c.DockRegister) -> dict[str, Any]:
        """Answer a ``dock_register`` (raises :class:`Refused`)."""
        async with self._lock:
            reg = check(
                self.ctl.config.site_set, d, caller=caller, role=role, airspace=self.ctl.airspace
            )
            dock = reg.dock
            out: dict[str, Any] = {
                "dock_id": dock.dock_id,
                "drone_id": dock.drone_id,
                "site_id": dock.site_id,
                "system_id": dock.system_id,
                "mavlink_url": dock.drone_url(self.base_port),
                "registered": reg.new,
            }
            if not reg.new:
                return out
            await self._apply(dock, reg.site_set, f"registered by {caller}")
            out["persisted"] = await self._persist(dock)
            return out

    async def _apply(self, dock: Dock, site_set: SiteSet, why: str) -> None:
        url = dock.drone_url(self.base_port)
        try:
            await self.fleet.add_drone(dock.drone_id, dock.system_id, url)
        except GroundStationError as exc:
            raise Refused(R.VEHICLE_FAILED, f"cannot listen for the drone on {url}: {exc}") from exc
        if self.flightlog is not None:
            self.flightlog.system_ids[dock.drone_id] = dock.system_id
        self.ctl.add_dock(site_set, dock)
        if self.docks is not None:
            self.docks.add(dock)
        self.ctl.alert(
            c.Severity.INFO,
            "dock_registered",
            f"dock {dock.dock_id} added at site {dock.site_id} ({why}): drone {dock.drone_id}, "
            f"system id {dock.system_id}, on {url}",
            drone_id=dock.drone_id,
            dock_id=dock.dock_id,
        )
        if self.on_added is not None:
            try:
                await self.on_added(dock, url)
            except (GroundStationError, OSError) as exc:  # the dock stays added
                log.warning("dock %s added, but its on_added hook failed: %s", dock.dock_id, exc)

    async def _persist(self, dock: Dock) -> bool:
        if self.sites_path is None:
            log.warning("dock %s registered in memory only: the site set is not a file; a "
                        "restart forgets it", dock.dock_id)
            return False
        try:
            await asyncio.to_thread(append_to_file, self.sites_path, dock)
        except (OSError, ValueError) as exc:
            log.warning("dock %s registered, but %s was not written (a restart forgets it): %s",
                        dock.dock_id, self.sites_path, exc)
            return False
        return True

    async def reload(self) -> list[str]:
        """Re-read the site-set file (SIGHUP): add its new docks live; report, and leave, what
        was removed or changed. Returns the reasons of what was not applied."""
        if self.sites_path is None:
            return []
        async with self._lock:
            try:
                fresh = await asyncio.to_thread(load_sites, str(self.sites_path))
            except (OSError, SiteSetError) as exc:
                log.warning("site set not reloaded, the docks stay as they are: %s", exc)
                return [str(exc)]
            notes: list[str] = []
            current = self.ctl.config.site_set
            for old in current.docks:
                new = fresh.dock(old.dock_id)
                if new is None:
                    s = self.ctl.sortie_of(old.drone_id)
                    busy = s is not None and s.busy
                    notes.append(
                        f"dock {old.dock_id} is gone from {self.sites_path.name} but stays until "
                        "a restart" + (f": its drone {old.drone_id} is on a sortie" if busy else "")
                    )
                elif replace(new, fleet_index=old.fleet_index) != old:
                    notes.append(f"dock {old.dock_id} changed in {self.sites_path.name}: "
                                 "a restart applies it")
            for dock in fresh.docks:
                if current.dock(dock.dock_id) is not None:
                    continue
                reason = self._clash(current, dock)
                if reason is not None:
                    notes.append(f"dock {dock.dock_id} not added: {reason}")
                    continue
                added = replace(dock, fleet_index=len(current.docks))
                try:
                    await self._apply(added, with_dock(current, added), "site-set file reloaded")
                except Refused as exc:
                    notes.append(f"dock {dock.dock_id} not added: {exc.reason}")
                    continue
                current = self.ctl.config.site_set
            for note in notes:
                log.warning("site set reload: %s", note)
            return notes

    @staticmethod
    def _clash(current: SiteSet, dock: Dock) -> str | None:
        if all(s.site_id != dock.site_id for s in current.sites):
            return f"its site {dock.site_id} is new: a restart applies new sites"
        if current.dock_of_drone(dock.drone_id) is not None:
            return f"drone {dock.drone_id} already lives in another dock"
        if any(x.system_id == dock.system_id for x in current.docks):
            return f"MAVLink system id {dock.system_id} is taken by another drone"
        return None
