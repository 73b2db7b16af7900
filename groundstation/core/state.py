"""The controller's state: one object, one owner.

:class:`ControllerState` holds everything a controller knows and changes while it runs: each
drone's runtime (its sortie and the bookkeeping around it), the incidents, the dispatch queue, the
docks with a job in flight and the hot-standby role. Only the controller
(``groundstation.controller.Controller``) writes it; the rules read it and return decisions
(sortie events, refusals with their reasons, actions), which the controller applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from groundstation import contract as c
from groundstation.core import sortie as so


@dataclass(slots=True)
class DroneRuntime:
    """Per-drone bookkeeping the pure sortie does not hold (all I/O facing)."""

    sortie: so.Sortie
    seq: int = 0
    next_tel_s: float = 0.0
    last_tel_s: float = 0.0
    first_seen_s: float = 0.0
    dock_bad_since: float | None = None
    link_ok: bool = False
    last_seen_s: float = 0.0
    adopted: bool = False
    battery_low: bool = False
    battery_critical: bool = False
    last_state: bytes = b""
    health: c.HealthGates = field(default_factory=c.HealthGates)
    eta_s: float | None = None
    gps_lost: bool = False
    no_alternate: bool = False


@dataclass(slots=True)
class ControllerState:
    """Everything one controller knows and changes (see the module docstring)."""

    drones: dict[str, DroneRuntime] = field(default_factory=dict)
    incidents: dict[str, c.Incident] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)
    """Incidents waiting for a drone, in arrival order (the dispatcher sorts by priority)."""
    excluded: dict[str, set[str]] = field(default_factory=dict)
    """Drones an incident is not given to again (their sortie handed it back)."""
    dock_jobs: dict[str, c.DockMethod] = field(default_factory=dict)
    """Dock calls in flight, by dock: a dock still closing its cover cannot launch."""
    active: bool = True
    """False on a hot standby until it holds the lease: it commands and publishes nothing."""
    epoch: int | None = None
    """The lease epoch this controller holds (hot standby), None without one."""
    incident_seq: int = 0
    dispatch_due: bool = True

    def sortie_of(self, drone_id: str) -> so.Sortie | None:
        rt = self.drones.get(drone_id)
        return None if rt is None else rt.sortie

    def unqueue(self, incident_id: str) -> None:
        if incident_id in self.queue:
            self.queue.remove(incident_id)

    def claimed_docks(self, drone_id: str) -> set[str]:
        """The docks the other drones (those not in fault) call home."""
        return {
            rt.sortie.dock_id
            for other_id, rt in self.drones.items()
            if other_id != drone_id and rt.sortie.phase != c.Phase.FAULT
        }


def pending_incidents(
    incidents: Iterable[c.Incident], sorties: Mapping[str, so.Sortie]
) -> list[str]:
    """The queue rebuilt from incident records (after a restart or a take-over): new and queued
    ones, and assigned ones whose drone is not (or no longer) flying them."""
    queue: list[str] = []
    for inc in incidents:
        if inc.status in (c.IncidentStatus.NEW, c.IncidentStatus.QUEUED):
            queue.append(inc.incident_id)
        elif inc.status in (c.IncidentStatus.DISPATCHED, c.IncidentStatus.ON_SCENE):
            owner = sorties.get(inc.assigned_drone or "")
            if owner is None or owner.incident_id != inc.incident_id:
                queue.append(inc.incident_id)
    return queue
