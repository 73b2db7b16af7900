"""The sortie state machine: a pure function ``step(sortie, event) -> (sortie, actions)``.

No I/O, no clock: the controller feeds it events (telemetry conditions, action results, operator
requests, failsafes, ticks carrying the time) and carries out the actions it returns. Phases::

    docked --Launch--> preflight --Prepared--> launching --Reached(safe)--> transit
      --Reached(scene)--> on_scene --(time up | incident closed)--> returning
      --Reached(dock)--> landing --Landed--> charging --Charged--> docked

Closing the incident (``Recall``) before take-off (``preflight``) cancels the launch: once the
dock and vehicle are prepared the cover closes again and the drone stays docked, never armed.
During take-off (``launching``) the drone finishes its climb to the safe height and comes
straight back (``returning``, then lands on its dock); in transit or on scene it returns at once.

A take-off that does not end at the safe height does not hold the incident: a drone that comes
back down during its climb (its own failsafe landed it, or it disarmed) hands the incident back
and charges on its dock (``fault`` anywhere else); one that stops climbing (``ClimbStalled``) hands
it back and lands on its dock.

Fault exits: a launch that fails before take-off goes back to ``docked`` and hands the incident back
to the dispatcher (:class:`Requeue`); battery low returns, battery critical lands where it is;
a landing away from a dock ends in ``fault`` until the drone is carried back onto a dock
(``Recovered``: charging, then docked). While a pilot holds authority the machine issues no
flight command; ``Resume`` hands the drone back and re-issues the command of the current phase.
Tracking a moving target (``TrackStart``, from transit or on scene) keeps the drone on scene with
no command of the machine's own until ``TrackStop``, which orbits where the tracking ended; every
failsafe, recall, redirect or landing ends the tracking.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from groundstation.contract import DockMethod, IncidentStatus, Phase, Severity

AIRBORNE = frozenset(
    {Phase.LAUNCHING, Phase.TRANSIT, Phase.ON_SCENE, Phase.RETURNING, Phase.LANDING}
)


# --- the state --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True, slots=True)
class Sortie:
    """One drone's current job. ``dock`` is where it lives and lands (an alternate dock may
    replace it while it is out); ``target`` is the incident position."""

    drone_id: str
    dock_id: str
    dock: Target
    phase: Phase = Phase.DOCKED
    incident_id: str | None = None
    priority: int = 3
    target: Target | None = None
    cruise_alt_rel_m: float = 60.0
    safe_alt_rel_m: float = 20.0
    orbit_radius_m: float = 40.0
    orbit_speed_m_s: float = 5.0
    on_scene_s: float = 120.0
    on_scene_since_s: float | None = None
    pilot: str | None = None
    last_failsafe: str | None = None
    reason: str | None = None
    command_ok: bool = True
    launched_s: float | None = None
    climb_since_s: float | None = None
    """When the vehicle accepted the take-off (mission time); None until then."""
    tracking: bool = False
    """On scene and following a moving target (``groundstation.control.trackctl`` flies it): the
    machine issues no flight command of its own and the time on scene does not run out; its
    failsafes still apply (they end the tracking)."""

    @property
    def airborne(self) -> bool:
        return self.phase in AIRBORNE

    @property
    def busy(self) -> bool:
        return self.phase not in (Phase.DOCKED, Phase.CHARGING)


# --- events -----------------------------------------------------------------------------------


class Goal(enum.StrEnum):
    SAFE_ALT = "safe_alt"
    SCENE = "scene"
    DOCK = "dock"


class Failsafe(enum.StrEnum):
    LINK_LOST = "link_lost"
    BATTERY_LOW = "battery_low"
    BATTERY_CRITICAL = "battery_critical"
    GEOFENCE = "geofence"
    DOCK_OFFLINE = "dock_offline"
    GPS_LOST = "gps_lost"


@dataclass(frozen=True, slots=True)
class Launch:
    incident_id: str
    target: Target
    priority: int
    now_s: float


@dataclass(frozen=True, slots=True)
class Prepared:
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LaunchDone:
    """The vehicle answered arm and take-off (``now_s``: when, mission time)."""

    ok: bool
    reason: str = ""
    now_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ClimbStalled:
    """In the air after its take-off was accepted, but not at the safe height in time."""

    reason: str


@dataclass(frozen=True, slots=True)
class CommandDone:
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reached:
    goal: Goal
    now_s: float


@dataclass(frozen=True, slots=True)
class Landed:
    at_dock: bool


@dataclass(frozen=True, slots=True)
class DockClosed:
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Charged:
    pass


@dataclass(frozen=True, slots=True)
class Tick:
    now_s: float


@dataclass(frozen=True, slots=True)
class Recall:
    """Go home: incident closed, or an operator asked."""

    reason: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """A priority-1 incident takes this drone from a lower-priority sortie."""

    incident_id: str
    target: Target
    priority: int


@dataclass(frozen=True, slots=True)
class FailsafeRaised:
    kind: Failsafe
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LinkRecovered:
    pass


@dataclass(frozen=True, slots=True)
class PilotGrab:
    pilot: str


@dataclass(frozen=True, slots=True)
class PilotRelease:
    pass


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class TrackStart:
    """An operator started tracking a moving target (in transit or on scene)."""

    now_s: float


@dataclass(frozen=True, slots=True)
class TrackStop:
    """Tracking ended: the drone orbits ``at`` (where the target was last seen, or where the
    drone stopped) with its full time on scene from ``now_s``."""

    reason: str
    at: Target
    now_s: float


@dataclass(frozen=True, slots=True)
class Adopt:
    """The controller restarted (or a standby took over) and found this sortie in the journal.
    ``at_dock``: the drone is on the ground on a dock (it came home by itself meanwhile)."""

    in_air: bool
    at_dock: bool = False


@dataclass(frozen=True, slots=True)
class LandNow:
    """A pilot or a failsafe lands the drone where it is."""

    reason: str


@dataclass(frozen=True, slots=True)
class AlternateDock:
    dock_id: str
    dock: Target


@dataclass(frozen=True, slots=True)
class Recovered:
    """A drone in ``fault`` (landed away) is back on a dock, on the ground and disarmed: the
    recovery crew carried it there."""

    dock_id: str
    dock: Target


Event = (
    Launch
    | Prepared
    | LaunchDone
    | ClimbStalled
    | CommandDone
    | Reached
    | Landed
    | DockClosed
    | Charged
    | Tick
    | Recall
    | Redirect
    | FailsafeRaised
    | LinkRecovered
    | PilotGrab
    | PilotRelease
    | Resume
    | Adopt
    | AlternateDock
    | LandNow
    | Recovered
    | TrackStart
    | TrackStop
)


# --- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepare:
    """Open the dock and configure the vehicle (failsafe params, geofence) in parallel."""

    dock_id: str


@dataclass(frozen=True, slots=True)
class ArmTakeoff:
    alt_rel_m: float


@dataclass(frozen=True, slots=True)
class Goto:
    lat_deg: float
    lon_deg: float
    alt_rel_m: float


@dataclass(frozen=True, slots=True)
class Orbit:
    lat_deg: float
    lon_deg: float
    alt_rel_m: float
    radius_m: float
    speed_m_s: float


@dataclass(frozen=True, slots=True)
class Land:
    pass


@dataclass(frozen=True, slots=True)
class DockCall:
    dock_id: str
    method: DockMethod


@dataclass(frozen=True, slots=True)
class SetIncident:
    incident_id: str
    status: IncidentStatus
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Requeue:
    incident_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Alert:
    severity: Severity
    code: str
    message: str
    dock_id: str | None = None
    """The dock the alert is about (a launch aborted by its dock, a diversion, a recovery)."""


Action = Prepare | ArmTakeoff | Goto | Orbit | Land | DockCall | SetIncident | Requeue | Alert
Result = tuple[Sortie, list[Action]]


# --- the machine ------------------------------------------------------------------------------


def flight_command(s: Sortie) -> list[Action]:
    """The command that puts the drone on the current phase's plan (re-issued on resume)."""
    if s.phase == Phase.TRANSIT and s.target is not None:
        return [Goto(s.target.lat_deg, s.target.lon_deg, s.cruise_alt_rel_m)]
    if s.phase == Phase.ON_SCENE and s.tracking:
        return []  # the tracker flies it
    if s.phase == Phase.ON_SCENE and s.target is not None:
        return [
            Orbit(
                s.target.lat_deg,
                s.target.lon_deg,
                s.cruise_alt_rel_m,
                s.orbit_radius_m,
                s.orbit_speed_m_s,
            )
        ]
    if s.phase == Phase.RETURNING:
        return [Goto(s.dock.lat_deg, s.dock.lon_deg, s.cruise_alt_rel_m)]
    if s.phase == Phase.LANDING:
        return [Land()]
    if s.phase == Phase.LAUNCHING:
        return [ArmTakeoff(s.safe_alt_rel_m)]
    return []


def _return(s: Sortie, reason: str) -> Result:
    s = replace(s, phase=Phase.RETURNING, on_scene_since_s=None, command_ok=True, tracking=False)
    actions: list[Action] = [] if s.pilot else flight_command(s)
    actions.append(DockCall(s.dock_id, DockMethod.COVER_OPEN))
    actions.append(Alert(Severity.INFO, "returning", f"{s.drone_id} returning: {reason}"))
    return s, actions


def _abort_launch(s: Sortie, reason: str, *, cover_open: bool) -> Result:
    actions: list[Action] = []
    if s.incident_id:
        actions.append(Requeue(s.incident_id, f"{s.drone_id}: {reason}"))
    if cover_open:
        actions.append(DockCall(s.dock_id, DockMethod.COVER_CLOSE))
    actions.append(
        Alert(
            Severity.WARNING,
            "launch_aborted",
            f"{s.drone_id}: launch aborted: {reason}",
            s.dock_id,
        )
    )
    s = replace(
        s, phase=Phase.DOCKED, incident_id=None, target=None, reason=reason, launched_s=None
    )
    return s, actions


def _landed_away(s: Sortie) -> Alert:
    text = f"{s.drone_id} landed away from a dock: recover it by hand"
    return Alert(Severity.CRITICAL, "landed_away", text)


def _down_during_take_off(s: Sortie, *, at_dock: bool) -> Result:
    """Back on the ground, disarmed, before the safe height: the incident goes back to the
    dispatcher; on a dock the drone charges, anywhere else it waits to be recovered."""
    reason = "came down during take-off"
    actions: list[Action] = []
    if s.incident_id:
        actions.append(Requeue(s.incident_id, f"{s.drone_id} {reason}"))
    s = replace(s, incident_id=None, target=None, climb_since_s=None, tracking=False)
    if not at_dock:
        s = replace(s, phase=Phase.FAULT, reason="landed away from a dock")
        return s, [*actions, _landed_away(s)]
    s = replace(s, phase=Phase.CHARGING, reason=reason, pilot=None)
    return s, [
        *actions,
        DockCall(s.dock_id, DockMethod.COVER_CLOSE),
        Alert(Severity.WARNING, "launch_failed", f"{s.drone_id}: {reason}", s.dock_id),
    ]


def _stalled_take_off(s: Sortie, reason: str) -> Result:
    """Still above its dock below the safe height: the incident goes back to the dispatcher
    and the drone lands where it took off."""
    actions: list[Action] = []
    if s.incident_id:
        actions.append(Requeue(s.incident_id, f"{s.drone_id}: {reason}"))
    s = replace(
        s, phase=Phase.LANDING, incident_id=None, target=None, reason=reason, tracking=False
    )
    return s, [
        *actions,
        Land(),
        Alert(Severity.WARNING, "launch_failed", f"{s.drone_id}: {reason}; landing", s.dock_id),
    ]


def _cancel_launch(s: Sortie) -> Result:
    """The incident was closed before take-off: close the cover, the drone stays docked."""
    reason = s.reason or "launch cancelled"
    s = replace(s, phase=Phase.DOCKED, target=None, launched_s=None)
    return s, [
        DockCall(s.dock_id, DockMethod.COVER_CLOSE),
        Alert(Severity.INFO, "launch_cancelled", f"{s.drone_id}: launch {reason}", s.dock_id),
    ]


def step(s: Sortie, ev: Event) -> Result:
    """Advance the sortie by one event."""
    match ev:
        case Launch() if s.phase in (Phase.DOCKED, Phase.CHARGING):
            s = replace(
                s,
                phase=Phase.PREFLIGHT,
                incident_id=ev.incident_id,
                target=ev.target,
                priority=ev.priority,
                reason=None,
                last_failsafe=None,
                launched_s=ev.now_s,
                climb_since_s=None,
                on_scene_since_s=None,
                command_ok=True,
            )
            return s, [Prepare(s.dock_id)]
        case Prepared() if s.phase == Phase.PREFLIGHT:
            if not ev.ok:
                return _abort_launch(s, ev.reason, cover_open=True)
            if s.incident_id is None:
                return _cancel_launch(s)
            s = replace(s, phase=Phase.LAUNCHING)
            return s, [ArmTakeoff(s.safe_alt_rel_m)]
        case LaunchDone() if s.phase == Phase.LAUNCHING:
            if not ev.ok:
                return _abort_launch(s, ev.reason, cover_open=True)
            return replace(s, climb_since_s=ev.now_s), []
        case Landed() if s.phase == Phase.LAUNCHING and s.climb_since_s is not None:
            return _down_during_take_off(s, at_dock=ev.at_dock)
        case ClimbStalled() if s.phase == Phase.LAUNCHING and not s.pilot:
            return _stalled_take_off(s, ev.reason)
        case Reached(goal=Goal.SAFE_ALT) if s.phase == Phase.LAUNCHING and s.incident_id is None:
            # Recalled while climbing out: straight back down onto the dock (cover still open).
            return _return(s, s.reason or "recalled during take-off")
        case Reached(goal=Goal.SAFE_ALT) if s.phase == Phase.LAUNCHING:
            s = replace(s, phase=Phase.TRANSIT)
            actions: list[Action] = [] if s.pilot else flight_command(s)
            actions.append(DockCall(s.dock_id, DockMethod.COVER_CLOSE))
            if s.incident_id:
                actions.append(SetIncident(s.incident_id, IncidentStatus.DISPATCHED))
            return s, actions
        case Reached(goal=Goal.SCENE) if s.phase == Phase.TRANSIT and not s.pilot:
            s = replace(s, phase=Phase.ON_SCENE, on_scene_since_s=ev.now_s)
            actions = flight_command(s)
            if s.incident_id:
                actions.append(SetIncident(s.incident_id, IncidentStatus.ON_SCENE))
            return s, actions
        case Reached(goal=Goal.DOCK) if s.phase == Phase.RETURNING and not s.pilot:
            s = replace(s, phase=Phase.LANDING)
            return s, flight_command(s)
        case Tick() if s.airborne and not s.pilot and not s.command_ok:
            return replace(s, command_ok=True), flight_command(s)
        case Tick() if s.phase == Phase.ON_SCENE and not s.pilot and not s.tracking:
            if s.on_scene_since_s is not None and ev.now_s - s.on_scene_since_s >= s.on_scene_s:
                return _return(s, "time on scene done")
            return s, []
        case CommandDone() if s.airborne:
            if ev.ok:
                return replace(s, command_ok=True), []
            return replace(s, command_ok=False), [
                Alert(Severity.WARNING, "command_failed", f"{s.drone_id}: {ev.reason}; retrying")
            ]
        case Landed() if s.airborne and s.phase != Phase.LAUNCHING:
            incident = s.incident_id
            if not ev.at_dock:
                s = replace(
                    s,
                    phase=Phase.FAULT,
                    reason="landed away from a dock",
                    incident_id=None,
                    target=None,
                    tracking=False,
                )
                return s, [_landed_away(s)]
            s = replace(
                s, phase=Phase.CHARGING, incident_id=None, target=None, pilot=None, tracking=False
            )
            actions = [DockCall(s.dock_id, DockMethod.COVER_CLOSE)]
            if incident:
                actions.append(
                    Alert(
                        Severity.INFO,
                        "sortie_complete",
                        f"{s.drone_id} back in {s.dock_id} from {incident}",
                        s.dock_id,
                    )
                )
            return s, actions
        case Charged() if s.phase == Phase.CHARGING:
            return replace(s, phase=Phase.DOCKED), []
        case Recall() if s.phase in (Phase.TRANSIT, Phase.ON_SCENE):
            s, actions = _return(s, ev.reason)
            return s, actions
        case Recall() if s.phase == Phase.PREFLIGHT and s.incident_id:
            # Not off the ground: the launch is cancelled once the dock and the vehicle are
            # prepared (Prepared closes the cover again; the drone never arms).
            return replace(s, incident_id=None, target=None, reason=f"cancelled: {ev.reason}"), []
        case Recall() if s.phase == Phase.LAUNCHING and s.incident_id:
            # Taking off: finish the climb to the safe height, then come straight back.
            return replace(s, incident_id=None, target=None, reason=f"recalled: {ev.reason}"), []
        case Redirect() if s.phase in (Phase.TRANSIT, Phase.ON_SCENE, Phase.RETURNING):
            actions = []
            if s.incident_id and s.incident_id != ev.incident_id:
                actions.append(
                    Requeue(s.incident_id, f"{s.drone_id} redirected to {ev.incident_id}")
                )
            s = replace(
                s,
                phase=Phase.TRANSIT,
                incident_id=ev.incident_id,
                target=ev.target,
                priority=ev.priority,
                on_scene_since_s=None,
                tracking=False,
            )
            actions = actions + ([] if s.pilot else flight_command(s))
            return s, actions
        case FailsafeRaised():
            return _failsafe(s, ev)
        case LinkRecovered() if s.airborne:
            s = replace(
                s, last_failsafe=None if s.last_failsafe == Failsafe.LINK_LOST else s.last_failsafe
            )
            # Not the take-off again: the vehicle carried on with it, or its own link-loss action
            # took over (and may have landed it); the climb's rules judge which.
            resend = not s.pilot and s.phase != Phase.LAUNCHING
            return s, (flight_command(s) if resend else []) + [
                Alert(Severity.INFO, "link_recovered", f"{s.drone_id}: link back, sortie resumed")
            ]
        case PilotGrab():
            return replace(s, pilot=ev.pilot), []
        case PilotRelease():
            return replace(s, pilot=None), []
        case Resume():
            s = replace(s, pilot=None, command_ok=True)
            return s, flight_command(s)
        case TrackStart() if s.phase in (Phase.TRANSIT, Phase.ON_SCENE):
            arrived = s.phase == Phase.TRANSIT
            s = replace(s, phase=Phase.ON_SCENE, tracking=True, on_scene_since_s=ev.now_s)
            if arrived and s.incident_id:
                return s, [SetIncident(s.incident_id, IncidentStatus.ON_SCENE)]
            return s, []
        case TrackStop() if s.tracking:
            s = replace(s, tracking=False, target=ev.at, on_scene_since_s=ev.now_s, command_ok=True)
            actions = [] if s.pilot else flight_command(s)
            ended = Alert(Severity.INFO, "tracking_ended", f"{s.drone_id}: {ev.reason}")
            return s, [*actions, ended]
        case Adopt():
            # A restarted controller has no tracker running: the drone goes back to the scene.
            s = replace(s, tracking=False)
            if s.phase == Phase.PREFLIGHT or (s.phase == Phase.LAUNCHING and not ev.in_air):
                return _abort_launch(s, "controller restarted before take-off", cover_open=True)
            if s.airborne and not ev.in_air:
                # It came down while nobody was watching (its own failsafe, or the landing it
                # was on): at a dock it is home, anywhere else it needs recovering.
                return step(s, Landed(at_dock=ev.at_dock))
            return replace(s, command_ok=True), ([] if s.pilot else flight_command(s))
        case LandNow() if s.airborne:
            s = replace(s, phase=Phase.LANDING, tracking=False)
            return s, [
                Land(),
                Alert(Severity.WARNING, "landing", f"{s.drone_id} landing: {ev.reason}"),
            ]
        case Recovered() if s.phase == Phase.FAULT:
            s = replace(
                s, phase=Phase.CHARGING, dock_id=ev.dock_id, dock=ev.dock, reason=None, pilot=None
            )
            return s, [
                DockCall(ev.dock_id, DockMethod.COVER_CLOSE),
                Alert(
                    Severity.INFO,
                    "recovered",
                    f"{s.drone_id} recovered onto {ev.dock_id}",
                    ev.dock_id,
                ),
            ]
        case AlternateDock():
            s = replace(s, dock_id=ev.dock_id, dock=ev.dock)
            actions = [] if (s.pilot or s.phase != Phase.RETURNING) else flight_command(s)
            return s, [
                *actions,
                DockCall(ev.dock_id, DockMethod.COVER_OPEN),
                Alert(
                    Severity.WARNING,
                    "alternate_dock",
                    f"{s.drone_id} diverted to {ev.dock_id}",
                    ev.dock_id,
                ),
            ]
    return s, []


def _failsafe(s: Sortie, ev: FailsafeRaised) -> Result:
    detail = f": {ev.detail}" if ev.detail else ""
    s = replace(s, last_failsafe=str(ev.kind))
    alert = Alert(
        Severity.CRITICAL if ev.kind != Failsafe.LINK_LOST else Severity.WARNING,
        f"failsafe_{ev.kind}",
        f"{s.drone_id}: {ev.kind}{detail}",
        s.dock_id if ev.kind == Failsafe.DOCK_OFFLINE else None,
    )
    if not s.airborne:
        return s, [alert]
    if ev.kind == Failsafe.BATTERY_CRITICAL and s.phase != Phase.LANDING:
        # It lands where it is: the incident goes back to the dispatcher at once.
        actions: list[Action] = [Land(), alert]
        if s.incident_id:
            actions.insert(0, Requeue(s.incident_id, f"{s.drone_id} {ev.kind}"))
        s = replace(s, phase=Phase.LANDING, incident_id=None, target=None, tracking=False)
        return s, actions
    if ev.kind in (Failsafe.BATTERY_LOW, Failsafe.GEOFENCE, Failsafe.GPS_LOST) and s.phase in (
        Phase.TRANSIT,
        Phase.ON_SCENE,
    ):
        s, actions = _return(s, str(ev.kind))
        if s.incident_id:
            actions.insert(0, Requeue(s.incident_id, f"{s.drone_id} {ev.kind}"))
            s = replace(s, incident_id=None)
        return s, [*actions, alert]
    # Link lost: the vehicle flies its own data-link-loss action (configured before launch).
    return s, [alert]
