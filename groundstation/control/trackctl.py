"""Tracking a moving target on the controller: the I/O half of ``core.tracking_rules``.

:class:`TrackControl`

- keeps the latest position of every ground unit (``units/{id}/position``, a police car's AVL)
  and CAD target (``targets/{id}/position``) it hears, bounded;
- answers ``drone_track`` and ``drone_track_stop`` (:meth:`start`, :meth:`stop`): the rules
  check the request, the camera's tracker is locked on the clicked point (video), PX4's Follow
  Target is configured and entered, the sortie is told (``TrackStart``), and who, when, why and
  what go to the journal;
- every ``1 / update_hz`` s feeds each tracking drone its target's predicted position and
  velocity, or, as the rules decide, orbits at the edge of airspace the target went into,
  orbits the last known point of a lost target, or ends the tracking (battery, the sortie moved
  on, a pilot took over, the vehicle left the mode);
- publishes each drone's :class:`~groundstation.contract.TrackingStatus` retained on
  ``drones/{id}/tracking``.

Everything outside is reached through Protocols passed in: the vehicles' Follow Target and
camera trackers (``groundstation.core.vehicle.FollowFleet``), the bus (:class:`Publisher`), the
journal (:class:`EventLog`) and the controller (:class:`TrackHost`). A vehicle error is a
reason (in a reply, an alert, the journal), never an exception that stops a sortie.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from groundstation import contract as c
from groundstation.control.videoctl import EventLog
from groundstation.core import sortie as so
from groundstation.core import tracking_rules as rules
from groundstation.core.dispatch import AirspaceCheck, FlightModel
from groundstation.core.ports import Alerts, Publisher
from groundstation.core.vehicle import (
    FlightMode,
    FollowFleet,
    FollowTarget,
    VehicleLink,
    VehicleSample,
)
from groundstation.errors import GroundStationError, Refused
from missions.geo import distance_m

log = logging.getLogger(__name__)

MAX_KNOWN_TARGETS = 2000
"""Units and CAD targets remembered (the oldest heard is forgotten first)."""
MODE_GRACE_S = 4.0
"""After entering Follow Target, how long before a vehicle out of the mode counts as taken over."""
TRACK_RADIUS = 0.05
"""The camera tracker's search radius around a clicked point (fraction of the picture)."""
PUBLISH_EVERY_S = 1.0
VEHICLE_FAILSAFE_MODES = frozenset({FlightMode.RETURN_TO_LAUNCH, FlightMode.LAND})


class TrackHost(Alerts, Protocol):
    """What tracking needs of the controller."""

    active: bool

    @property
    def airspace(self) -> AirspaceCheck | None: ...
    def sortie_of(self, drone_id: str) -> so.Sortie | None: ...
    def sample(self, drone_id: str) -> VehicleSample: ...
    def link(self, drone_id: str) -> VehicleLink | None: ...
    def amsl(self, drone_id: str, alt_rel_m: float) -> float: ...
    def apply(self, drone_id: str, event: so.Event) -> None: ...
    def now_s(self) -> float: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


class Mode:
    NONE = 0
    FOLLOW = 1
    ORBIT = 2


@dataclass(slots=True)
class Tracking:
    """One drone's tracking (the rules' ``Run`` plus what the I/O needs)."""

    drone_id: str
    source: c.TrackSource
    target: str
    reason: str
    started_by: str
    started_ms: int
    pilot: str | None
    run: rules.Run
    since_ms: int
    mode: int = Mode.NONE
    mode_since_s: float = 0.0
    out_of_mode_since_s: float | None = None
    busy: bool = False
    camera_seen_active: bool = False
    last_fix: rules.Fix | None = None
    last_body: bytes = b""
    last_publish_s: float = 0.0
    ended: bool = False
    stopped_by: str | None = None
    stop_reason: str | None = None
    seen_mode: FlightMode = FlightMode.UNKNOWN


@dataclass(slots=True)
class Known:
    last: rules.Fix
    previous: rules.Fix | None = None


@dataclass(slots=True)
class Targets:
    """The latest fixes of units and CAD targets, bounded (oldest heard forgotten first)."""

    fixes: OrderedDict[tuple[c.TrackSource, str], Known] = field(default_factory=OrderedDict)

    def put(self, key: tuple[c.TrackSource, str], fix: rules.Fix, time_scale: float) -> None:
        old = self.fixes.pop(key, None)
        prev = old.last if old is not None else None
        self.fixes[key] = Known(rules.with_velocity(fix, prev, time_scale), prev)
        while len(self.fixes) > MAX_KNOWN_TARGETS:
            self.fixes.popitem(last=False)

    def get(self, key: tuple[c.TrackSource, str]) -> rules.Fix | None:
        known = self.fixes.get(key)
        return None if known is None else known.last


class TrackControl:
    """See the module docstring. ``await tracking.run()`` in the controller's TaskGroup."""

    def __init__(
        self,
        config: rules.TrackConfig,
        model: FlightModel,
        *,
        host: TrackHost,
        follow: FollowFleet | None,
        bus: Publisher,
        journal: EventLog,
    ) -> None:
        problems = config.problems()
        if problems:
            raise ValueError("tracking config: " + "; ".join(problems))
        self.config = config
        self.model = model
        self.host = host
        self.follow = follow
        self.bus = bus
        self.journal = journal
        self.targets = Targets()
        self.runs: dict[str, Tracking] = {}
        self._bad_inputs = 0

    # --- inputs -------------------------------------------------------------------------------

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(c.ALL_UNIT_POSITIONS, 0), (c.ALL_TARGET_POSITIONS, 0)]

    def handle(self, topic: str, payload: bytes) -> bool:
        """A unit's or CAD target's position; True when the topic was one of those."""
        ref = c.parse_topic(topic)
        if ref is None or ref.kind not in ("unit", "target") or ref.leaf != "position":
            return False
        source = c.TrackSource.UNIT if ref.kind == "unit" else c.TrackSource.CAD
        try:
            pos = c.decode(payload, c.TargetPosition)
            problem = "" if pos.id == ref.ident else f"id {pos.id!r} is not the topic's"
        except c.ContractError as exc:
            problem = exc.reason
        if problem:
            self._bad_inputs += 1
            if self._bad_inputs <= 10 or self._bad_inputs % 100 == 0:
                log.warning("ignored %s (%d so far): %s", topic, self._bad_inputs, problem)
            return True
        self.targets.put(
            (source, ref.ident),
            rules.fix_from_position(pos, time.monotonic()),
            self.config.time_scale,
        )
        return True

    def sortie_changed(self, drone_id: str, before: so.Sortie, after: so.Sortie) -> None:
        """Called by ``Controller.apply``: a sortie that moved on (a failsafe, a recall, a
        landing, a redirect) ends its tracking; the sortie flies the drone from then on."""
        t = self.runs.get(drone_id)
        if t is None or t.ended or not before.tracking or after.tracking:
            return
        reason = f"the sortie moved on: {after.phase}"
        if after.last_failsafe and after.last_failsafe != before.last_failsafe:
            reason += f" ({after.last_failsafe})"
        self._ended(t, reason, by="controller")

    # --- the operator -------------------------------------------------------------------------

    def view(self, drone_id: str) -> rules.DroneView:
        s = self.host.sortie_of(drone_id)
        if s is None:
            raise Refused(c.Result.UNKNOWN_DRONE, f"unknown drone {drone_id!r}")
        smp = self.host.sample(drone_id)
        return rules.DroneView(
            drone_id=drone_id,
            phase=s.phase,
            pilot=s.pilot,
            connected=smp.connected and self.host.link(drone_id) is not None,
            lat_deg=smp.lat_deg,
            lon_deg=smp.lon_deg,
            battery_pct=smp.battery_pct,
            dock_lat_deg=s.dock.lat_deg,
            dock_lon_deg=s.dock.lon_deg,
        )

    def _admit(
        self, username: str, d: c.DroneTrack, view: rules.DroneView, now: float
    ) -> tuple[rules.Fix | None, str]:
        """The target's last fix and name ("video" for the camera's); raises Refused."""
        refusal = rules.request_problem(username, d, view)
        fix: rules.Fix | None = None
        target = "video"
        if refusal is None and d.source != c.TrackSource.VIDEO:
            target = (d.unit_id if d.source == c.TrackSource.UNIT else d.target_id) or ""
            fix = self.targets.get((d.source, target))
            what = f"unit {target}" if d.source == c.TrackSource.UNIT else f"CAD target {target}"
            refusal = rules.target_problem(
                fix, what, view, now, self.config, self.model, self.host.airspace
            )
        elif refusal is None:
            refusal = rules.battery_problem(None, view, self.config, self.model)
        if refusal is not None:
            raise Refused(refusal.result, refusal.reason)
        return fix, target

    async def start(self, username: str, d: c.DroneTrack) -> dict[str, Any]:
        """Start (or retarget) a drone's tracking; raises Refused with the reason."""
        view = self.view(d.drone_id)
        now = time.monotonic()
        fix, target = self._admit(username, d, view, now)
        follow = self.follow.follow(d.drone_id) if self.follow is not None else None
        if follow is None:
            raise Refused(c.Result.VEHICLE_FAILED, f"{d.drone_id} has no Follow Target link")
        old = self.runs.get(d.drone_id)
        if old is not None and old.source == c.TrackSource.VIDEO:
            await self._camera_stop(old)
        if d.source == c.TrackSource.VIDEO:
            tracker = self.follow.tracker(d.drone_id) if self.follow is not None else None
            if tracker is None:
                raise Refused(c.Result.INVALID_STATE, f"{d.drone_id} has no camera tracker")
            assert d.x is not None and d.y is not None
            await self._vehicle("camera track_point", tracker.track_point(d.x, d.y, TRACK_RADIUS))
        # Not awaited: a vehicle slow to answer a parameter must not delay the following.
        self.host.spawn(
            self._speed_limits(d.drone_id, self.config.speed_params), f"track-speeds:{d.drone_id}"
        )
        await self._vehicle("follow target", follow.follow_start(self.config.follow_config()))
        s = self.host.sortie_of(d.drone_id)
        t = Tracking(
            drone_id=d.drone_id,
            source=d.source,
            target=target,
            reason=d.reason.strip(),
            started_by=username,
            started_ms=c.now_ms(),
            pilot=s.pilot if s is not None else None,
            run=rules.Run(c.TrackState.ACQUIRING, now),
            since_ms=c.now_ms(),
            mode=Mode.FOLLOW,
            mode_since_s=now,
        )
        if old is not None and not old.ended:
            old.ended = True
            self.journal.event(
                "info",
                "tracking_stopped",
                f"{d.drone_id}: tracking of {old.source} {old.target} replaced by {username}",
                drone_id=d.drone_id,
            )
        self.runs[d.drone_id] = t
        if s is not None and not s.tracking:
            self.host.apply(d.drone_id, so.TrackStart(self.host.now_s()))
        self._audit_start(t, username, s.incident_id if s is not None else None)
        await self._publish(t, force=True)
        out: dict[str, Any] = {"drone_id": d.drone_id, "state": str(t.run.state)}
        if fix is not None:
            out["distance_m"] = round(
                distance_m(view.lat_deg, view.lon_deg, fix.lat_deg, fix.lon_deg), 1
            )
        return out

    def _audit_start(self, t: Tracking, username: str, incident: str | None) -> None:
        """Journal who started tracking what and why; tell the consoles."""
        what = "the camera's target" if t.target == "video" else f"{t.source} {t.target}"
        self.journal.event(
            "info",
            "tracking_started",
            f"{t.drone_id}: tracking {what} started by {username}; reason: {t.reason}",
            drone_id=t.drone_id,
            incident_id=incident,
        )
        self.host.alert(  # for the consoles (the audit record is the event above)
            c.Severity.INFO,
            "tracking",
            f"{t.drone_id}: {username} started tracking {what}",
            drone_id=t.drone_id,
            incident_id=incident,
        )

    async def stop(self, username: str, d: c.DroneTrackStop) -> dict[str, Any]:
        view = self.view(d.drone_id)
        t = self.runs.get(d.drone_id)
        if t is None or t.ended:
            raise Refused(c.Result.INVALID_STATE, f"{d.drone_id} is not tracking")
        if view.pilot is not None and view.pilot != username:
            raise Refused(c.Result.NOT_AUTHORITY, f"{d.drone_id} is held by {view.pilot}")
        why = d.reason.strip() or "no reason given"
        reason = f"tracking stopped by {username}: {why}"
        at = self._stop_point(t, view)
        await self._finish(t, reason, at, by=username)
        return {"drone_id": d.drone_id, "state": str(c.TrackState.STOPPED)}

    @staticmethod
    def _stop_point(t: Tracking, view: rules.DroneView) -> rules.OrbitAt:
        if t.run.hold is not None:
            return t.run.hold
        if t.last_fix is not None and t.run.state == c.TrackState.FOLLOWING:
            return rules.OrbitAt(t.last_fix.lat_deg, t.last_fix.lon_deg)
        return rules.OrbitAt(view.lat_deg, view.lon_deg)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        # update_hz of the vehicle's time (a simulation at 10x gets ten times as many).
        period = 1.0 / (self.config.update_hz * max(1.0, self.config.time_scale))
        while True:
            started = time.monotonic()
            if self.host.active:
                for t in list(self.runs.values()):
                    if t.ended:
                        await self._publish(t)
                        continue
                    if not t.busy:
                        self._update(t, started)
                    await self._publish(t)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    def _fix(self, t: Tracking, now: float) -> tuple[rules.Fix | None, bool]:
        """The target's latest fix, and whether the camera says it lost it."""
        if t.source != c.TrackSource.VIDEO:
            return self.targets.get((t.source, t.target)), False
        tracker = self.follow.tracker(t.drone_id) if self.follow is not None else None
        st = tracker.track_status() if tracker is not None else None
        if st is None:
            return None, False
        if st.active:
            t.camera_seen_active = True
        lost = t.camera_seen_active and not st.active
        if st.geo_updated_s <= 0 or not (math.isfinite(st.lat_deg) and math.isfinite(st.lon_deg)):
            return None, lost
        fix = rules.Fix(
            lat_deg=st.lat_deg,
            lon_deg=st.lon_deg,
            received_s=st.geo_updated_s,
            alt_amsl_m=st.alt_amsl_m if math.isfinite(st.alt_amsl_m) else None,
            vel_n_m_s=st.vel_n_m_s if math.isfinite(st.vel_n_m_s) else None,
            vel_e_m_s=st.vel_e_m_s if math.isfinite(st.vel_e_m_s) else None,
            vel_d_m_s=st.vel_d_m_s if math.isfinite(st.vel_d_m_s) else None,
        )
        return fix, lost

    def _update(self, t: Tracking, now: float) -> None:
        view = self.view(t.drone_id)
        if view.pilot is not None and view.pilot != t.pilot:
            # A pilot took the drone: the pilot flies it from now on (the sortie sends nothing).
            reason = f"{view.pilot} took control of {t.drone_id}"
            self._ended(t, reason, by=view.pilot)
            at = self._target(self._stop_point(t, view))
            self.host.apply(t.drone_id, so.TrackStop(reason, at, self.host.now_s()))
            return
        t.pilot = view.pilot  # a pilot who released the drone leaves the tracking running
        mode = self.host.sample(t.drone_id).flight_mode
        if mode != t.seen_mode:
            log.info("%s: tracking, the vehicle is in %s", t.drone_id, mode)
            t.seen_mode = mode
        if mode in VEHICLE_FAILSAFE_MODES:
            # The vehicle's own failsafe (geofence, data link, battery) took it: the sortie
            # goes home with it rather than fight it.
            reason = f"the vehicle's own failsafe took it ({mode}): tracking ended"
            self.host.spawn(
                self._finish(t, reason, self._stop_point(t, view), by="vehicle", go_home=True,
                             command=False),
                f"track-end:{t.drone_id}",
            )
            return
        taken = self._taken_over(t, now)
        if taken is not None:
            self.host.spawn(
                self._finish(t, taken, self._stop_point(t, view), by="vehicle", command=False),
                f"track-end:{t.drone_id}",
            )
            return
        fix, camera_lost = self._fix(t, now)
        if fix is not None:
            t.last_fix = fix
        before = t.run.state
        t.run, commands = rules.step(
            t.run,
            fix,
            view,
            now,
            self.config,
            self.model,
            self.host.airspace,
            camera_lost=camera_lost,
            ground_amsl_m=self.host.amsl(t.drone_id, 0.0),
        )
        if t.run.state != before:
            t.since_ms = c.now_ms()
        if commands:
            t.busy = True
            self.host.spawn(self._carry_out(t, commands), f"track:{t.drone_id}")

    def _taken_over(self, t: Tracking, now: float) -> str | None:
        """The vehicle left Follow Target by itself or by someone else's hand (a failsafe, an
        RC pilot): the tracking ends with the mode it is in as the reason."""
        if t.mode != Mode.FOLLOW or now - t.mode_since_s < MODE_GRACE_S:
            t.out_of_mode_since_s = None
            return None
        mode = self.host.sample(t.drone_id).flight_mode
        if mode in (FlightMode.FOLLOW_ME, FlightMode.UNKNOWN):
            t.out_of_mode_since_s = None
            return None
        if t.out_of_mode_since_s is None:
            t.out_of_mode_since_s = now
            return None
        if now - t.out_of_mode_since_s < 2.0:
            return None
        return f"the vehicle left Follow Target (now {mode}): tracking ended"

    async def _carry_out(self, t: Tracking, commands: list[rules.Command]) -> None:
        try:
            for cmd in commands:
                if t.ended:
                    return
                match cmd:
                    case FollowTarget():
                        await self._feed(t, cmd)
                    case rules.OrbitAt():
                        await self._orbit(t, cmd)
                    case rules.Notice():
                        s = self.host.sortie_of(t.drone_id)
                        self.host.alert(
                            cmd.severity,
                            cmd.code,
                            cmd.message,
                            drone_id=t.drone_id,
                            incident_id=s.incident_id if s is not None else None,
                        )
                    case rules.Finish():
                        await self._finish(t, cmd.reason, cmd.at, by="controller",
                                           go_home=cmd.go_home)
        except GroundStationError as exc:
            log.warning("%s: tracking: %s", t.drone_id, exc)
        finally:
            t.busy = False

    async def _feed(self, t: Tracking, target: FollowTarget) -> None:
        follow = self.follow.follow(t.drone_id) if self.follow is not None else None
        if follow is None:
            return
        if t.mode != Mode.FOLLOW:
            await follow.follow_start(self.config.follow_config())
            t.mode, t.mode_since_s = Mode.FOLLOW, time.monotonic()
        await follow.follow_target(target)

    async def _orbit(self, t: Tracking, at: rules.OrbitAt) -> None:
        v = self.host.link(t.drone_id)
        if v is None:
            return
        if t.mode == Mode.FOLLOW:
            await self._follow_stop(t)
        t.mode, t.mode_since_s = Mode.ORBIT, time.monotonic()
        cfg = self.config
        alt = self.host.amsl(t.drone_id, cfg.follow_height_m)
        await v.orbit(at.lat_deg, at.lon_deg, alt, cfg.orbit_radius_m, cfg.orbit_speed_m_s)

    async def _follow_stop(self, t: Tracking) -> None:
        follow = self.follow.follow(t.drone_id) if self.follow is not None else None
        if follow is not None:
            try:
                await follow.follow_stop()
            except GroundStationError as exc:
                log.info("%s: follow stop: %s", t.drone_id, exc)

    async def _camera_stop(self, t: Tracking) -> None:
        tracker = self.follow.tracker(t.drone_id) if self.follow is not None else None
        if tracker is None:
            return
        try:
            await tracker.track_stop()
        except GroundStationError as exc:
            log.info("%s: camera track stop: %s", t.drone_id, exc)

    async def _speed_limits(self, drone_id: str, params: Mapping[str, float]) -> None:
        """The vehicle's speed limits for tracking, or back to the sortie's (best effort: a
        vehicle that refuses keeps its limits, and says so in the log)."""
        v = self.host.link(drone_id)
        if v is None or not params:
            return
        try:
            await v.set_params(params)
        except GroundStationError as exc:
            log.warning("%s: speed limits %s not set: %s", drone_id, dict(params), exc)

    def _sortie_speeds(self) -> dict[str, float]:
        """The limits the sortie flies with (as ``commands._configure`` sets them at launch)."""
        cruise = self.model.cruise_speed_m_s
        sortie = {"MPC_XY_CRUISE": cruise, "MPC_XY_VEL_MAX": max(12.0, cruise)}
        restore = {**sortie, **self.config.restore_params}
        return {name: restore[name] for name in self.config.speed_params if name in restore}

    @staticmethod
    def _target(at: rules.OrbitAt) -> so.Target:
        return so.Target(at.lat_deg, at.lon_deg)

    async def _finish(
        self,
        t: Tracking,
        reason: str,
        at: rules.OrbitAt,
        *,
        by: str,
        go_home: bool = False,
        command: bool = True,
    ) -> None:
        """End a tracking: out of Follow Target first (its HOLD must not land after the new
        command), then the sortie takes the drone back: an orbit at ``at`` on scene, or home."""
        if t.ended:
            return
        self._ended(t, reason, by=by)
        if t.source == c.TrackSource.VIDEO:
            await self._camera_stop(t)
        if command and t.mode == Mode.FOLLOW:
            await self._follow_stop(t)
        if go_home:
            self.host.apply(t.drone_id, so.Recall(reason))
        else:
            self.host.apply(t.drone_id, so.TrackStop(reason, self._target(at), self.host.now_s()))
        s = self.host.sortie_of(t.drone_id)
        if command and not go_home and s is not None and s.pilot is not None:
            # The pilot holds the drone, so the sortie sends nothing: never leave it without a
            # plan, orbit there until the pilot says otherwise.
            await self._orbit(t, at)

    def _ended(self, t: Tracking, reason: str, *, by: str) -> None:
        """Bookkeeping of an ended tracking: state, journal, retained status (by the loop)."""
        t.ended = True
        t.run = rules.Run(c.TrackState.STOPPED, time.monotonic(), detail=reason)
        t.since_ms = c.now_ms()
        t.stopped_by, t.stop_reason = by, reason
        self.host.spawn(
            self._speed_limits(t.drone_id, self._sortie_speeds()), f"track-speeds:{t.drone_id}"
        )
        s = self.host.sortie_of(t.drone_id)
        self.journal.event(
            "info",
            "tracking_stopped",
            f"{t.drone_id}: tracking of {t.source} {t.target} (started by {t.started_by}) "
            f"stopped by {by}: {reason}",
            drone_id=t.drone_id,
            incident_id=s.incident_id if s is not None else None,
        )
        self.host.spawn(self._publish(t, force=True), f"track-status:{t.drone_id}")

    # --- the status ---------------------------------------------------------------------------

    def status(self, t: Tracking) -> c.TrackingStatus:
        smp = self.host.sample(t.drone_id)
        fix = t.last_fix
        now = time.monotonic()
        dist = None
        if fix is not None and smp.has_position:
            dist = round(distance_m(smp.lat_deg, smp.lon_deg, fix.lat_deg, fix.lon_deg), 1)
        speed = None
        if fix is not None and fix.has_velocity:
            assert fix.vel_n_m_s is not None and fix.vel_e_m_s is not None
            speed = round(math.hypot(fix.vel_n_m_s, fix.vel_e_m_s), 1)
        box = None
        if t.source == c.TrackSource.VIDEO and not t.ended:
            tracker = self.follow.tracker(t.drone_id) if self.follow is not None else None
            st = tracker.track_status() if tracker is not None else None
            if st is not None and st.active and st.box is not None:
                box = c.ImageBox(left=st.box[0], top=st.box[1], right=st.box[2], bottom=st.box[3])
        return c.TrackingStatus(
            drone_id=t.drone_id,
            ts_ms=c.now_ms(),
            state=t.run.state,
            source=t.source,
            target=t.target,
            reason=t.reason,
            started_by=t.started_by,
            started_ms=t.started_ms,
            since_ms=t.since_ms,
            detail=t.run.detail,
            target_lat_deg=round(fix.lat_deg, 7) if fix is not None else None,
            target_lon_deg=round(fix.lon_deg, 7) if fix is not None else None,
            target_speed_m_s=speed,
            target_age_s=round(now - fix.received_s, 1) if fix is not None else None,
            distance_m=dist,
            box=box,
            stopped_by=t.stopped_by,
            stop_reason=t.stop_reason,
        )

    async def _publish(self, t: Tracking, *, force: bool = False) -> None:
        now = time.monotonic()
        st = self.status(t)
        body = msgspec.json.encode(
            msgspec.structs.replace(st, ts_ms=0, target_age_s=None, distance_m=None)
        )
        changed = body != t.last_body
        if not (force or changed or now - t.last_publish_s >= PUBLISH_EVERY_S):
            return
        if t.ended and not changed and not force:
            return
        try:
            ok = await self.bus.publish(
                c.drone_tracking(t.drone_id), c.encode(st), qos=1, retain=True
            )
        except GroundStationError as exc:
            log.debug("%s: tracking status not published: %s", t.drone_id, exc)
            return
        if ok:
            t.last_body, t.last_publish_s = body, now
        if t.ended and self.runs.get(t.drone_id) is t:
            del self.runs[t.drone_id]

    @staticmethod
    async def _vehicle(what: str, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except Refused:
            raise
        except GroundStationError as exc:
            raise Refused(c.Result.VEHICLE_FAILED, f"{what}: {exc}") from exc
