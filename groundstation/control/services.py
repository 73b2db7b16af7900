"""Operator and CAD services: ``operators/{username}/services`` -> ``services_reply``.

Every request is checked in the same order, and the first failure is the answer:
size and JSON shape -> known method -> not expired -> not a replayed tid -> the caller's role may
call the method -> the method's data validates -> the drone or incident exists -> authority ->
airspace and range. A refusal carries a :class:`~groundstation.contract.Result` code and a
reason, is journaled and logged, and changes nothing. A replayed tid gets the original reply again.
"""

from __future__ import annotations

import logging
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol

import msgspec

from groundstation import contract as c
from groundstation.control.dockops import DockOpsHost, start_dock_command
from groundstation.control.sharing import METHODS as SHARING_METHODS
from groundstation.core import sortie as so
from groundstation.core.dispatch import FlightModel
from groundstation.core.ports import Airspace, CommandLog, Publisher
from groundstation.core.vehicle import VehicleLink, VehicleSample
from groundstation.errors import Refused, VehicleError
from groundstation.users import no_role_reason
from groundstation.web.bridge import METHODS as LINK_METHODS
from missions.geo import distance_m
from missions.plan import MavlinkItem, PlanError, parse_plan, rebase, to_mavlink_items

log = logging.getLogger(__name__)
REPLAY_CACHE = 2048
NAV_FIRST, NAV_LAST = 16, 95  # MAV_CMD_NAV_* (waypoints, loiters, takeoff, land, RTL)
AMSL_FRAMES = frozenset({0, 5})  # MAV_FRAME_GLOBAL, MAV_FRAME_GLOBAL_INT
MAX_ALT_REL_M = 120.0
R = c.Result


class Deferred(Exception):
    """A handler whose answer waits on another party (a dock): ``answer`` gives the output or
    raises Refused; the request is answered when it completes."""

    def __init__(self, answer: Coroutine[Any, Any, dict[str, Any]]) -> None:
        super().__init__("answered later")
        self.answer = answer


class MethodService(Protocol):
    """A family of operator methods answered elsewhere (partner sharing, share links)."""

    async def handle(
        self, username: str, method: c.OperatorMethod, data: Any
    ) -> dict[str, Any]: ...


class CameraService(Protocol):
    async def command(self, username: str, d: c.DroneCamera) -> dict[str, Any]: ...


class TrackingService(Protocol):
    async def start(self, username: str, d: c.DroneTrack) -> dict[str, Any]: ...
    async def stop(self, username: str, d: c.DroneTrackStop) -> dict[str, Any]: ...


class DockRegistrar(Protocol):
    async def register(self, caller: str, role: c.Role, d: c.DockRegister) -> dict[str, Any]: ...


class ServicesHost(DockOpsHost, Protocol):
    """What the operator services need of the controller: its records and sorties (read), its
    vehicles and airspace, the journal and the bus, the services answered elsewhere, and the
    controller's own ways to change anything (``apply``, ``add_incident``, ``set_incident``,
    ``unqueue``)."""

    @property
    def airspace(self) -> Airspace | None: ...
    @property
    def bus(self) -> Publisher: ...
    @property
    def journal(self) -> CommandLog: ...

    @property
    def sharing(self) -> MethodService: ...
    @property
    def links(self) -> MethodService: ...
    @property
    def video(self) -> CameraService: ...
    @property
    def tracking(self) -> TrackingService: ...
    @property
    def registry(self) -> DockRegistrar | None: ...

    def incident(self, incident_id: str) -> c.Incident | None: ...
    def new_incident_id(self) -> str: ...
    def add_incident(self, inc: c.Incident) -> None: ...
    def set_incident(
        self, incident_id: str, status: c.IncidentStatus, reason: str | None = None
    ) -> None: ...
    def unqueue(self, incident_id: str) -> None: ...
    def sortie_of(self, drone_id: str) -> so.Sortie | None: ...
    def apply(self, drone_id: str, event: so.Event) -> None: ...
    def link(self, drone_id: str) -> VehicleLink | None: ...
    def sample(self, drone_id: str) -> VehicleSample: ...
    def amsl(self, drone_id: str, alt_rel_m: float) -> float: ...


# --- the rules ------------------------------------------------------------------------------------


def holder_refusal(s: so.Sortie, username: str) -> Refused | None:
    """Flight commands need authority: the refusal when ``username`` does not hold the drone."""
    if s.pilot == username:
        return None
    held = f"held by {s.pilot}" if s.pilot else "take authority first (authority_grab)"
    return Refused(R.NOT_AUTHORITY, f"{username} does not hold {s.drone_id}: {held}")


def target_refusal(
    s: so.Sortie,
    lat_deg: float,
    lon_deg: float,
    model: FlightModel,
    airspace: Airspace | None,
    position: tuple[float, float] | None,
) -> Refused | None:
    """A point a pilot sends a drone to: within range of its dock, allowed by the airspace, and
    (from ``position``, the drone's, when known) on an allowed straight route."""
    dist = distance_m(s.dock.lat_deg, s.dock.lon_deg, lat_deg, lon_deg)
    if dist > model.max_range_m:
        return Refused(
            R.OUT_OF_RANGE,
            f"{dist / 1000:.1f} km from the dock, beyond {model.max_range_m / 1000:.1f} km",
        )
    if airspace is None:
        return None
    refusal = airspace.check_point(lat_deg, lon_deg)
    if refusal is None and position is not None:
        refusal = airspace.check_route(position[0], position[1], lat_deg, lon_deg)
    return None if refusal is None else Refused(R.AIRSPACE, refusal.reason)


def mission_refusal(
    s: so.Sortie,
    items: list[MavlinkItem],
    home_alt_amsl_m: float,
    model: FlightModel,
    airspace: Airspace | None,
    position: tuple[float, float] | None,
) -> Refused | None:
    """A mission a pilot uploads: every navigation item under the 120 m ceiling and a
    :func:`target_refusal`-free point, every leg between them on an allowed route."""
    prev: tuple[float, float] | None = None
    for item in items:
        if not (NAV_FIRST <= item.command <= NAV_LAST) or (item.x == 0 and item.y == 0):
            continue
        lat, lon = item.x / 1e7, item.y / 1e7
        alt_rel = item.z - home_alt_amsl_m if item.frame in AMSL_FRAMES else item.z
        if math.isfinite(alt_rel) and alt_rel > MAX_ALT_REL_M:
            return Refused(
                R.OUT_OF_RANGE,
                f"item {item.seq}: {alt_rel:.0f} m above home, "
                f"over the {MAX_ALT_REL_M:.0f} m ceiling",
            )
        refused = target_refusal(s, lat, lon, model, airspace, position)
        if refused is not None:
            return Refused(refused.result, f"item {item.seq}: {refused.reason}")
        if prev is not None and airspace is not None:
            refusal = airspace.check_route(prev[0], prev[1], lat, lon)
            if refusal is not None:
                return Refused(R.AIRSPACE, f"leg to item {item.seq}: {refusal.reason}")
        prev = (lat, lon)
    return None


# --- answering --------------------------------------------------------------------------------


class OperatorServices:
    def __init__(self, controller: ServicesHost) -> None:
        self.ctl = controller
        self._replies: OrderedDict[str, c.Reply] = OrderedDict()

    async def handle(self, username: str, payload: bytes) -> None:
        reply_topic = c.operator_services_reply(username)
        tid, method, data = "", "", None
        decoded = False
        try:
            req = c.decode(payload, c.Request)
            tid, method, decoded = req.tid, req.method, True
            cached = self._replies.get(f"{username}/{tid}") or self._journaled(username, req)
            if cached is not None:
                await self._send(reply_topic, cached)
                return
            output = await self._call(username, req)
            reply = c.make_reply(tid, method, R.OK, output, bid=req.bid)
            data = req.data
        except c.ContractError as exc:
            if not tid:
                tid = _salvage_tid(payload)
            reply = c.refusal(tid, method, R.MALFORMED, exc.reason)
        except Refused as exc:
            reply = c.make_reply(tid, method, R(exc.result), {"reason": exc.reason, **exc.fields})
        except Deferred as exc:
            # Answered by a task, so that the bus reader is free for the dock's own answer.
            self.ctl.spawn(self._answer_later(username, req, exc.answer), f"answer:{tid}")
            return
        await self._finish(username, tid, method, data, reply, decoded=decoded)

    async def _answer_later(
        self, username: str, req: c.Request, answer: Coroutine[Any, Any, dict[str, Any]]
    ) -> None:
        data: dict[str, Any] | None = None
        try:
            reply = c.make_reply(req.tid, req.method, R.OK, await answer, bid=req.bid)
            data = req.data
        except Refused as exc:
            reply = c.make_reply(
                req.tid, req.method, R(exc.result), {"reason": exc.reason, **exc.fields}
            )
        await self._finish(username, req.tid, req.method, data, reply, decoded=True)

    async def _finish(
        self,
        username: str,
        tid: str,
        method: str,
        data: dict[str, Any] | None,
        reply: c.Reply,
        *,
        decoded: bool,
    ) -> None:
        """Log and journal the answer, remember it for a replayed tid, and send it."""
        reply_topic = c.operator_services_reply(username)
        if reply.data.result != R.OK:
            log.warning(
                "refused %s from %s: %s", method or "?", username, reply.data.output.get("reason")
            )
        self.ctl.journal.command(
            username,
            method or "?",
            tid or None,
            data,
            reply.data.result,
            reply.data.output.get("reason"),
        )
        if tid and decoded:  # a garbled request must not replace the answer to a good one
            self._replies[f"{username}/{tid}"] = reply
            if len(self._replies) > REPLAY_CACHE:
                self._replies.popitem(last=False)
        await self._send(reply_topic, reply)

    def _journaled(self, username: str, req: c.Request) -> c.Reply | None:
        """A tid this caller already sent before a restart (the broker redelivers QoS 1 requests
        queued for the controller's session): answer with the journaled result, act again never.
        """
        row = self.ctl.journal.seen_tid(req.tid)
        if row is None or row.who != username:
            return None
        output: dict[str, Any] = {"replayed": True}
        if row.reason:
            output["reason"] = row.reason
        return c.make_reply(req.tid, req.method, R(row.result), output, bid=req.bid)

    async def _send(self, topic: str, reply: c.Reply) -> None:
        await self.ctl.bus.publish(topic, c.encode(reply), qos=1)

    async def _call(self, username: str, req: c.Request) -> dict[str, Any]:
        try:
            method = c.OperatorMethod(req.method)
        except ValueError:
            raise Refused(R.UNKNOWN_METHOD, f"unknown method {req.method!r}") from None
        age_s = (c.now_ms() - req.timestamp) / 1000.0
        if age_s > c.COMMAND_TTL_S:
            raise Refused(R.EXPIRED, f"request is {age_s:.0f} s old (limit {c.COMMAND_TTL_S} s)")
        role = self.ctl.config.roles.get(username)
        if role is None:
            raise Refused(R.FORBIDDEN, no_role_reason(username, self.ctl.config.roles))
        if method not in c.ROLE_METHODS[role]:
            raise Refused(R.FORBIDDEN, f"role {role} may not call {method}")
        data = c.decode_data(req.data, c.OPERATOR_DATA[method])
        if method in SHARING_METHODS:  # partner services: groundstation.control.sharing
            return await self.ctl.sharing.handle(username, method, data)
        if method in LINK_METHODS:  # share links to the browser view: groundstation.web
            return await self.ctl.links.handle(username, method, data)
        handler = getattr(self, f"_{method}")
        result: dict[str, Any] = await handler(username, data)
        return result

    # --- incidents ------------------------------------------------------------------------------

    async def _incident_create(self, username: str, d: c.IncidentCreate) -> dict[str, Any]:
        ctl = self.ctl
        incident_id = d.incident_id or ctl.new_incident_id()
        if ctl.incident(incident_id) is not None:
            raise Refused(R.DUPLICATE, f"incident {incident_id} exists")
        status, reason = c.IncidentStatus.NEW, None
        if ctl.airspace is not None:
            refusal = ctl.airspace.check_point(d.lat_deg, d.lon_deg)
            if refusal is not None:
                status, reason = c.IncidentStatus.REJECTED, refusal.reason
        inc = c.Incident(
            incident_id=incident_id,
            status=status,
            lat_deg=d.lat_deg,
            lon_deg=d.lon_deg,
            priority=d.priority,
            summary=d.summary,
            created_by=username,
            reason=reason,
            created_ms=c.now_ms(),
            closed_ms=c.now_ms() if status == c.IncidentStatus.REJECTED else None,
        )
        ctl.add_incident(inc)
        if reason is not None:
            raise Refused(
                R.AIRSPACE,
                f"incident {incident_id} rejected: {reason}",
                incident_id=incident_id,
                status=str(c.IncidentStatus.REJECTED),
            )
        current = ctl.incident(incident_id) or inc
        return {
            "incident_id": incident_id,
            "status": str(current.status),
            "assigned_drone": current.assigned_drone,
            "eta_s": current.eta_s,
        }

    async def _incident_close(self, username: str, d: c.IncidentRef) -> dict[str, Any]:
        ctl = self.ctl
        inc = ctl.incident(d.incident_id)
        if inc is None:
            raise Refused(R.UNKNOWN_INCIDENT, f"unknown incident {d.incident_id!r}")
        if inc.status in (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED):
            raise Refused(R.INVALID_STATE, f"incident {d.incident_id} is already {inc.status}")
        ctl.set_incident(d.incident_id, c.IncidentStatus.CLOSED, f"closed by {username}")
        ctl.unqueue(d.incident_id)
        out: dict[str, Any] = {"incident_id": d.incident_id, "status": "closed"}
        for drone_id, s in ctl.sorties().items():
            if s.incident_id == d.incident_id:
                # Before take-off the launch is cancelled; after it the drone comes back.
                grounded = s.phase == c.Phase.PREFLIGHT
                ctl.apply(drone_id, so.Recall(f"incident closed by {username}"))
                out["drone_id"] = drone_id
                out["drone_action"] = "launch_cancelled" if grounded else "recalled"
        return out

    async def _incident_get(self, username: str, d: c.IncidentRef) -> dict[str, Any]:
        """An incident's record, also after its retained record left the broker (the history
        is the journal's: every incident this controller has known)."""
        inc = self.ctl.incident(d.incident_id)
        if inc is None:
            raise Refused(R.UNKNOWN_INCIDENT, f"unknown incident {d.incident_id!r}")
        return {"incident_id": d.incident_id, "incident": msgspec.to_builtins(inc)}

    # --- authority ------------------------------------------------------------------------------

    def _sortie(self, drone_id: str) -> so.Sortie:
        s = self.ctl.sortie_of(drone_id)
        if s is None:
            raise Refused(R.UNKNOWN_DRONE, f"unknown drone {drone_id!r}")
        return s

    def _holder(self, username: str, drone_id: str) -> so.Sortie:
        s = self._sortie(drone_id)
        refused = holder_refusal(s, username)
        if refused is not None:
            raise refused
        return s

    async def _authority_grab(self, username: str, d: c.DroneRef) -> dict[str, Any]:
        s = self._sortie(d.drone_id)
        if s.pilot and s.pilot != username:
            raise Refused(R.NOT_AUTHORITY, f"{d.drone_id} is held by {s.pilot}")
        self.ctl.apply(d.drone_id, so.PilotGrab(username))
        self.ctl.alert(
            c.Severity.INFO,
            "authority",
            f"{username} took control of {d.drone_id}",
            drone_id=d.drone_id,
        )
        return {"drone_id": d.drone_id, "pilot": username}

    async def _authority_release(self, username: str, d: c.DroneRef) -> dict[str, Any]:
        self._holder(username, d.drone_id)
        self.ctl.apply(d.drone_id, so.Resume())
        self.ctl.alert(
            c.Severity.INFO, "authority", f"{username} released {d.drone_id}", drone_id=d.drone_id
        )
        return {"drone_id": d.drone_id, "pilot": None}

    async def _sortie_resume(self, username: str, d: c.DroneRef) -> dict[str, Any]:
        self._holder(username, d.drone_id)
        self.ctl.apply(d.drone_id, so.Resume())
        return {"drone_id": d.drone_id, "phase": str(self._sortie(d.drone_id).phase)}

    # --- flight commands (need authority) ---------------------------------------------------------

    def _airborne(self, s: so.Sortie) -> None:
        if not s.airborne:
            raise Refused(R.INVALID_STATE, f"{s.drone_id} is {s.phase}, not in the air")

    def _position(self, drone_id: str) -> tuple[float, float] | None:
        smp = self.ctl.sample(drone_id)
        return (smp.lat_deg, smp.lon_deg) if smp.has_position else None

    def _check_target(self, s: so.Sortie, lat: float, lon: float) -> None:
        ctl = self.ctl
        refused = target_refusal(
            s, lat, lon, ctl.config.model, ctl.airspace, self._position(s.drone_id)
        )
        if refused is not None:
            raise refused

    async def _fly(self, what: str, coro: Awaitable[None]) -> None:
        """Await a vehicle command (from ``_vehicle``), mapping its failure to a refusal."""
        try:
            await coro
        except VehicleError as exc:
            raise Refused(R.VEHICLE_FAILED, f"{what}: {exc.result}") from exc

    def _vehicle(self, drone_id: str) -> VehicleLink:
        v = self.ctl.link(drone_id)
        if v is None:
            raise Refused(R.VEHICLE_FAILED, f"{drone_id} is not connected")
        return v

    async def _drone_goto(self, username: str, d: c.DroneGoto) -> dict[str, Any]:
        s = self._holder(username, d.drone_id)
        self._airborne(s)
        self._check_target(s, d.lat_deg, d.lon_deg)
        v = self._vehicle(d.drone_id)
        await self._fly(
            "goto", v.goto(d.lat_deg, d.lon_deg, self.ctl.amsl(d.drone_id, d.alt_rel_m))
        )
        return {"drone_id": d.drone_id}

    async def _drone_orbit(self, username: str, d: c.DroneOrbit) -> dict[str, Any]:
        s = self._holder(username, d.drone_id)
        self._airborne(s)
        self._check_target(s, d.lat_deg, d.lon_deg)
        v = self._vehicle(d.drone_id)
        alt = self.ctl.sample(d.drone_id).alt_rel_m
        alt_rel = alt if math.isfinite(alt) and alt > 10 else s.cruise_alt_rel_m
        await self._fly(
            "orbit",
            v.orbit(
                d.lat_deg, d.lon_deg, self.ctl.amsl(d.drone_id, alt_rel), d.radius_m, d.speed_m_s
            ),
        )
        return {"drone_id": d.drone_id}

    async def _drone_hold(self, username: str, d: c.DroneRef) -> dict[str, Any]:
        s = self._holder(username, d.drone_id)
        self._airborne(s)
        await self._fly("hold", self._vehicle(d.drone_id).hold())
        return {"drone_id": d.drone_id}

    async def _drone_altitude(self, username: str, d: c.DroneAltitude) -> dict[str, Any]:
        s = self._holder(username, d.drone_id)
        self._airborne(s)
        smp = self.ctl.sample(d.drone_id)
        if not smp.has_position:
            raise Refused(R.VEHICLE_FAILED, f"{d.drone_id} has no position")
        v = self._vehicle(d.drone_id)
        await self._fly(
            "altitude",
            v.goto(smp.lat_deg, smp.lon_deg, self.ctl.amsl(d.drone_id, d.alt_rel_m)),
        )
        return {"drone_id": d.drone_id, "alt_rel_m": d.alt_rel_m}

    async def _drone_return(self, username: str, d: c.DroneRef) -> dict[str, Any]:
        s = self._holder(username, d.drone_id)
        self._airborne(s)
        # Returning hands the drone back to the autonomy: it flies home, lands and docks.
        self.ctl.apply(d.drone_id, so.PilotRelease())
        if s.phase in (c.Phase.TRANSIT, c.Phase.ON_SCENE):
            self.ctl.apply(d.drone_id, so.Recall(f"{username} sent it home"))
        else:
            self.ctl.apply(d.drone_id, so.Resume())
        return {"drone_id": d.drone_id, "phase": str(self._sortie(d.drone_id).phase)}

    async def _drone_camera(self, username: str, d: c.DroneCamera) -> dict[str, Any]:
        """Point the camera, look at a map point or a point of the picture, back to the
        sortie's view, or a still (rules in groundstation.core.camera_rules)."""
        self._sortie(d.drone_id)  # unknown drones are refused as such
        return await self.ctl.video.command(username, d)

    async def _drone_track(self, username: str, d: c.DroneTrack) -> dict[str, Any]:
        """Track a moving target (rules in groundstation.core.tracking_rules)."""
        return await self.ctl.tracking.start(username, d)

    async def _drone_track_stop(self, username: str, d: c.DroneTrackStop) -> dict[str, Any]:
        return await self.ctl.tracking.stop(username, d)

    async def _dock_command(self, username: str, d: c.DockCommand) -> dict[str, Any]:
        raise Deferred(start_dock_command(self.ctl, username, d))

    async def _dock_register(self, username: str, d: c.DockRegister) -> dict[str, Any]:
        """Add a dock while running (groundstation.control.registration: the rules and why)."""
        registry = self.ctl.registry
        if registry is None:
            raise Refused(R.INVALID_STATE, "this controller takes no dock registrations")
        return await registry.register(username, self.ctl.config.roles[username], d)

    async def _drone_mission(self, username: str, d: c.DroneMission) -> dict[str, Any]:
        """Fly a QGroundControl plan: parsed, rebased to the drone when asked, every waypoint
        and leg checked (airspace, range, 120 m ceiling), uploaded and started. The drone stays
        under the pilot's authority; sortie_resume hands it back to its sortie."""
        s = self._holder(username, d.drone_id)
        self._airborne(s)
        smp = self.ctl.sample(d.drone_id)
        home_alt = self.ctl.amsl(d.drone_id, 0.0)
        try:
            plan = parse_plan(d.plan)
            if d.rebase:
                if not smp.has_position:
                    raise Refused(R.VEHICLE_FAILED, f"{d.drone_id} has no position to rebase to")
                plan = rebase(plan, smp.lat_deg, smp.lon_deg, home_alt)
            items = to_mavlink_items(plan, home_alt)
        except PlanError as exc:
            raise Refused(R.MALFORMED, f"plan: {exc}") from exc
        if not items:
            raise Refused(R.MALFORMED, "plan: no mission items")
        self._check_mission(s, items, home_alt)
        v = self._vehicle(d.drone_id)
        await self._fly("mission", v.fly_mission(items))
        return {"drone_id": d.drone_id, "items": len(items)}

    def _check_mission(self, s: so.Sortie, items: list[MavlinkItem], home_alt: float) -> None:
        ctl = self.ctl
        refused = mission_refusal(
            s, items, home_alt, ctl.config.model, ctl.airspace, self._position(s.drone_id)
        )
        if refused is not None:
            raise refused

    async def _drone_land(self, username: str, d: c.DroneRef) -> dict[str, Any]:
        s = self._holder(username, d.drone_id)
        self._airborne(s)
        self.ctl.apply(d.drone_id, so.LandNow(f"{username} ordered land now"))
        return {"drone_id": d.drone_id}


_TID = re.compile(rb'"tid"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')


def _salvage_tid(payload: bytes) -> str:
    """The tid of a request that failed validation, if its text still shows one, so that the
    caller can match the refusal even when the JSON is cut short."""
    m = _TID.search(payload[:4096])
    return m.group(1).decode() if m else ""
