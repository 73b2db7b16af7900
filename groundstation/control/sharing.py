"""Sharing incidents with partner services, and their requests for a drone (docs/partners.md).

Why a mirror: the broker, not the partners' clients, must decide what a partner sees. Mosquitto's
ACL grants topics, not payload fields, so what is shared has to live on topics of its own: the
controller copies it into a namespace per agency, ``dfr/v1/agencies/{agency}/...``, and the
ACL ``groundstation broker-config`` writes lets a partner's logins read their agency's namespace
and nothing else (``groundstation.tools.security``). The fleet's own topics stay closed to them, and
withdrawing a share is the controller clearing the retained copies and no longer publishing:
no ACL change, no broker reload, no reconnection. A partner's own broker can bridge in that one
namespace (:func:`bridge_config`). The video relay asks :meth:`Sharing.may_watch` on every
request and every second while a partner watches.

The rules (what an agency sees, refusals, the policy, rates) are pure, in
``groundstation.core.sharing_rules``; the M/ETHANE record's CAP form is
``groundstation.control.cap``; the audit trail is in the journal
(``groundstation.control.sharing_store``). This module is the I/O: operator methods, the mirror loop
and the telemetry fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from msgspec.structs import replace as sreplace

from groundstation import contract as c
from groundstation.control import cap
from groundstation.control.sharing_store import ShareStore
from groundstation.core import sharing_rules as rules
from groundstation.core.ports import Alerts
from groundstation.errors import GroundStationError, Refused
from groundstation.users import DEFAULT_AGENCY, PARTNER_ROLES, UserDirectory

if TYPE_CHECKING:
    from groundstation.adapters.journal import Journal
    from groundstation.core import sortie as so
    from groundstation.core.ports import Airspace, StreamPublisher

log = logging.getLogger(__name__)
R = c.Result
M = c.OperatorMethod

METHODS = frozenset(
    {M.INCIDENT_SHARE, M.INCIDENT_UNSHARE, M.INCIDENT_METHANE, M.INCIDENT_REQUEST,
     M.INCIDENT_REQUEST_DECIDE}
)
"""The operator methods this module answers (``OperatorServices`` hands them over)."""
POLICY = "policy"


@dataclass(frozen=True, slots=True)
class SharingConfig:
    """Partner services: the written policy, the request rate and the mirror's pace."""

    policy: tuple[rules.PolicyRule, ...] = ()
    request_limit: int = 5
    """At most this many requests from one agency in ``request_window_s``."""
    request_window_s: float = 600.0
    refresh_s: float = 0.25
    """How often the mirror follows incidents and drones (a share or unshare acts at once)."""
    cap_sender: str | None = None
    """CAP ``sender`` (default ``dfr.<force agency>``)."""
    cap_status: str = "Actual"


class Agencies(Protocol):
    """Which agency each login belongs to (``groundstation.users.UserDirectory``)."""

    @property
    def force_agency(self) -> str: ...

    def agency_of(self, username: str) -> str | None: ...

    def partner_agencies(self) -> frozenset[str]: ...


class ForceOnly:
    """The demo's built-in users: every login is the force's, there are no partners."""

    def __init__(self, roles: Mapping[str, c.Role], force: str = DEFAULT_AGENCY) -> None:
        self.roles = roles
        self._force = force

    @property
    def force_agency(self) -> str:
        return self._force

    def agency_of(self, username: str) -> str | None:
        return self._force if username in self.roles else None

    def partner_agencies(self) -> frozenset[str]:
        return frozenset()


def agencies_of(roles: Mapping[str, c.Role]) -> Agencies:
    """The controller's roles as agencies: a users file knows them, the demo's table does not."""
    if isinstance(roles, UserDirectory):
        return roles
    return ForceOnly(roles)


@dataclass(slots=True)
class _CapState:
    key: bytes
    body: bytes
    ref: cap.CapRef
    version: int


class VideoDescriptors(Protocol):
    def descriptor(self, drone_id: str) -> c.VideoDescriptor: ...


class Retention(Protocol):
    def expired(self, inc: c.Incident, now_ms: int | None = None) -> bool: ...


class RolesConfig(Protocol):
    @property
    def roles(self) -> Mapping[str, c.Role]: ...


class SharingHost(Alerts, Protocol):
    """What partner sharing needs of the controller: its incidents and sorties (read), the
    bus, the journal's database (the share store), airspace, and the controller's own way to
    add an incident (a partner's request)."""

    @property
    def config(self) -> RolesConfig: ...
    @property
    def journal(self) -> Journal: ...
    @property
    def bus(self) -> StreamPublisher: ...
    @property
    def airspace(self) -> Airspace | None: ...

    @property
    def active(self) -> bool: ...
    @property
    def incidents(self) -> Mapping[str, c.Incident]: ...
    @property
    def retention(self) -> Retention: ...
    @property
    def video(self) -> VideoDescriptors: ...
    def sorties(self) -> dict[str, so.Sortie]: ...
    def new_incident_id(self) -> str: ...
    def add_incident(self, inc: c.Incident) -> None: ...


class Sharing:
    """Shares, M/ETHANE records and partner requests of one controller; see the module doc."""

    def __init__(self, controller: SharingHost, config: SharingConfig) -> None:
        self.ctl = controller
        self.config = config
        self.agencies = agencies_of(controller.config.roles)
        self.store = ShareStore(controller.journal.db)
        self.shares: dict[str, dict[str, rules.Share]] = self.store.shares()
        self.methane: dict[str, c.Methane] = self.store.methane()
        self.requests: dict[str, c.PartnerRequest] = self.store.requests()
        self.view: dict[str, rules.AgencyView] = {}
        self._drone_agencies: dict[str, tuple[str, ...]] = {}
        self._published: dict[str, bytes] = {}
        self._cap: dict[str, _CapState] = {}
        self._request_times: dict[str, list[int]] = {}
        self._lock = asyncio.Lock()
        self.mirrored = 0

    # --- operator methods --------------------------------------------------------------------

    async def handle(self, username: str, method: c.OperatorMethod, data: Any) -> dict[str, Any]:
        """Answer one of :data:`METHODS` (role already checked, data already validated)."""
        match data:
            case c.IncidentShare() if method == M.INCIDENT_SHARE:
                return await self._share(username, data)
            case c.IncidentShare():
                return await self._unshare(username, data)
            case c.IncidentMethane():
                return await self._methane(username, data)
            case c.IncidentRequest():
                return await self._request(username, data)
            case c.IncidentRequestDecide():
                return await self._decide(username, data)
        raise Refused(R.UNKNOWN_METHOD, f"{method} is not a sharing method")

    async def _share(self, username: str, d: c.IncidentShare) -> dict[str, Any]:
        refusal = rules.share_refusal(
            self.ctl.incidents.get(d.incident_id),
            d.incident_id,
            d.agencies,
            known=self.agencies.partner_agencies(),
            force=self.agencies.force_agency,
        )
        if refusal is not None:
            raise Refused(*refusal)
        added = [a for a in d.agencies if a not in self.shares.get(d.incident_id, {})]
        for agency in added:
            self._add_share(rules.Share(d.incident_id, agency, username, d.reason, c.now_ms()))
        await self.refresh()
        return {"incident_id": d.incident_id, "shared_with": sorted(self.shares[d.incident_id]),
                "added": added}

    def _add_share(self, share: rules.Share) -> None:
        self.shares.setdefault(share.incident_id, {})[share.agency] = share
        self.store.shared(share)
        self.ctl.alert(
            c.Severity.INFO,
            "incident_shared",
            f"{share.by} shared {share.incident_id} with {share.agency}: {share.reason}",
            incident_id=share.incident_id,
        )

    async def _unshare(self, username: str, d: c.IncidentShare) -> dict[str, Any]:
        if self.ctl.incidents.get(d.incident_id) is None:
            raise Refused(R.UNKNOWN_INCIDENT, f"unknown incident {d.incident_id!r}")
        refusal = rules.unshare_refusal(self.shares, d.incident_id, d.agencies)
        if refusal is not None:
            raise Refused(*refusal)
        now = c.now_ms()
        current = self.shares[d.incident_id]
        for agency in d.agencies:
            del current[agency]
            self.store.unshared(now, d.incident_id, agency, username, d.reason)
            self.ctl.alert(
                c.Severity.INFO,
                "incident_unshared",
                f"{username} stopped sharing {d.incident_id} with {agency}: {d.reason}",
                incident_id=d.incident_id,
            )
        if not current:
            del self.shares[d.incident_id]
        await self.refresh()  # the partner is cut off before the reply goes
        return {"incident_id": d.incident_id, "shared_with": sorted(current)}

    async def _methane(self, username: str, d: c.IncidentMethane) -> dict[str, Any]:
        if self.ctl.incidents.get(d.incident_id) is None:
            raise Refused(R.UNKNOWN_INCIDENT, f"unknown incident {d.incident_id!r}")
        self.methane[d.incident_id] = d.methane
        self.store.save_methane(d.incident_id, d.methane, username, c.now_ms())
        await self.refresh()
        return {"incident_id": d.incident_id,
                "shared_with": sorted(self.shares.get(d.incident_id, {}))}

    # --- partner requests --------------------------------------------------------------------

    async def _request(self, username: str, d: c.IncidentRequest) -> dict[str, Any]:
        agency = self.agencies.agency_of(username)
        if agency is None or agency == self.agencies.force_agency:
            raise Refused(R.FORBIDDEN, "incident_request is for partner dispatchers")
        now = c.now_ms()
        times = self._request_times.setdefault(agency, [])
        over = rules.rate_refusal(
            times, now, limit=self.config.request_limit, window_s=self.config.request_window_s
        )
        if over is not None:
            raise Refused(R.RATE_LIMITED, f"{agency}: {over}")
        times.append(now)
        del times[: max(0, len(times) - self.config.request_limit)]
        request_id = f"req-{agency}-{now}-{len(self.requests) + 1:04d}"
        req = c.PartnerRequest(
            request_id=request_id,
            agency=agency,
            requested_by=username,
            ts_ms=now,
            status=c.RequestStatus.PENDING,
            lat_deg=d.lat_deg,
            lon_deg=d.lon_deg,
            priority=d.priority,
            incident_type=d.incident_type,
            location=d.location,
            reason=d.reason,
        )
        await self._save_request(req)
        rule = rules.policy_rule_for(self.config.policy, agency, d.priority)
        if rule is not None:
            req = await self._approve(req, POLICY, str(rule))
        else:
            self.ctl.alert(
                c.Severity.WARNING,
                "partner_request",
                f"{agency} asks for a drone (priority {d.priority}, {d.incident_type}): "
                f"{d.reason}; decide with incident_request_decide {request_id}",
            )
        return {"request_id": request_id, "status": str(req.status),
                "incident_id": req.incident_id, "decision_reason": req.decision_reason}

    async def _decide(self, username: str, d: c.IncidentRequestDecide) -> dict[str, Any]:
        req = self.requests.get(d.request_id)
        if req is None:
            raise Refused(R.UNKNOWN_REQUEST, f"unknown request {d.request_id!r}")
        if req.status != c.RequestStatus.PENDING:
            raise Refused(
                R.UNKNOWN_REQUEST,
                f"request {d.request_id} is already {req.status} by {req.decided_by}",
            )
        if d.decision == c.RequestDecision.APPROVE:
            req = await self._approve(req, username, d.reason)
        else:
            req = sreplace(req, status=c.RequestStatus.DECLINED, decided_by=username,
                           decision_reason=d.reason, decided_ms=c.now_ms())
            await self._save_request(req)
        return {"request_id": req.request_id, "status": str(req.status),
                "incident_id": req.incident_id}

    async def _approve(self, req: c.PartnerRequest, who: str, why: str) -> c.PartnerRequest:
        """Create the incident (as ``incident_create`` would) and share it with the agency."""
        ctl = self.ctl
        incident_id = ctl.new_incident_id()
        reason = None
        if ctl.airspace is not None:
            refusal = ctl.airspace.check_point(req.lat_deg, req.lon_deg)
            if refusal is not None:
                reason = refusal.reason
        now = c.now_ms()
        if reason is not None:
            req = sreplace(req, status=c.RequestStatus.REJECTED, decided_by=who,
                           decision_reason=f"approved ({why}) but not flyable: {reason}",
                           decided_ms=now)
            await self._save_request(req)
            return req
        summary = f"{req.agency} request: {req.incident_type}"
        if req.location:
            summary += f" at {req.location}"
        ctl.add_incident(
            c.Incident(
                incident_id=incident_id,
                status=c.IncidentStatus.NEW,
                lat_deg=req.lat_deg,
                lon_deg=req.lon_deg,
                priority=req.priority,
                summary=summary[:500],
                created_by=req.requested_by,
                created_ms=now,
            )
        )
        self._add_share(
            rules.Share(incident_id, req.agency, who, f"requested by {req.agency}: {why}", now,
                        req.request_id)
        )
        req = sreplace(req, status=c.RequestStatus.APPROVED, decided_by=who,
                       decision_reason=why, decided_ms=now, incident_id=incident_id)
        await self._save_request(req)
        await self.refresh()
        return req

    async def _save_request(self, req: c.PartnerRequest) -> None:
        self.requests[req.request_id] = req
        self.store.save_request(req)
        with contextlib.suppress(GroundStationError):
            await self.ctl.bus.publish(
                c.agency_request(req.agency, req.request_id), c.encode(req), qos=1, retain=True
            )

    # --- the mirror --------------------------------------------------------------------------

    def agencies_with_open_shares(self) -> frozenset[str]:
        """Agencies with at least one shared incident that is not closed or rejected."""
        done = (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED)
        out: set[str] = set()
        for incident_id, by_agency in self.shares.items():
            inc = self.ctl.incidents.get(incident_id)
            if inc is not None and inc.status not in done:
                out.update(by_agency)
        return frozenset(out)

    def may_watch(self, username: str, role: c.Role, drone_id: str) -> str | None:
        """The video relay's question for a login: None, or why it may not watch the drone."""
        if role not in PARTNER_ROLES:
            return None
        return rules.may_watch(self.agencies.agency_of(username), drone_id, self.view)

    def telemetry(self, drone_id: str, body: bytes) -> None:
        """A drone's telemetry message as the controller published it: copied to every agency
        that sees the drone now (QoS 0, as the original)."""
        for agency in self._drone_agencies.get(drone_id, ()):
            if self.ctl.bus.publish_nowait(c.agency_telemetry(agency, drone_id), body):
                self.mirrored += 1

    async def run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.config.refresh_s)

    def forget_published(self) -> None:
        """After a (re)connection: publish every retained copy again."""
        self._published.clear()

    async def refresh(self) -> None:
        """Follow incidents and drones: publish what changed, clear what is no longer shared."""
        async with self._lock:
            ctl = self.ctl
            if not ctl.active:
                return
            live = {
                i for i in self.shares
                if (inc := ctl.incidents.get(i)) is not None and not ctl.retention.expired(inc)
            }
            drone_incident = {d: s.incident_id for d, s in ctl.sorties().items()}
            self.view = rules.view(self.shares, live, drone_incident)
            drones: dict[str, list[str]] = {}
            wanted: dict[str, tuple[bytes, msgspec.Struct | bytes]] = {}
            for agency, seen in self.view.items():
                for incident_id, share in seen.incidents.items():
                    record = self._record(agency, incident_id, share, seen)
                    key = c.encode(sreplace(record, ts_ms=0))
                    wanted[c.agency_incident(agency, incident_id)] = (key, record)
                    topic = c.agency_incident_cap(agency, incident_id)
                    wanted[topic] = (key, self._cap_body(topic, key, record))
                for drone_id in seen.drones:
                    drones.setdefault(drone_id, []).append(agency)
                    desc = ctl.video.descriptor(drone_id)
                    wanted[c.agency_video(agency, drone_id)] = (
                        c.encode(sreplace(desc, ts_ms=0)), desc)
            self._drone_agencies = {d: tuple(a) for d, a in drones.items()}
            publish, clear = rules.mirror_diff(
                self._published, {t: key for t, (key, _) in wanted.items()}
            )
            for topic in clear:
                if await self._retain(topic, b""):
                    self._published.pop(topic, None)
                    self._cap.pop(topic, None)
            for topic, key in publish:
                body = wanted[topic][1]
                payload = body if isinstance(body, bytes) else c.encode(body)
                if await self._retain(topic, payload):
                    self._published[topic] = key

    async def _retain(self, topic: str, payload: bytes) -> bool:
        """Publish retained, QoS 1; False (retried on the next refresh) when the bus is down."""
        try:
            return bool(await self.ctl.bus.publish(topic, payload, qos=1, retain=True))
        except GroundStationError as exc:
            log.debug("%s not published: %s", topic, exc)
            return False

    def _record(
        self, agency: str, incident_id: str, share: rules.Share, seen: rules.AgencyView
    ) -> c.SharedIncident:
        inc = self.ctl.incidents[incident_id]
        drone = next((d for d, i in seen.drones.items() if i == incident_id), None)
        return c.SharedIncident(
            incident_id=incident_id,
            agency=agency,
            ts_ms=c.now_ms(),
            status=inc.status,
            lat_deg=inc.lat_deg,
            lon_deg=inc.lon_deg,
            priority=inc.priority,
            summary=inc.summary,
            drone_id=drone,
            eta_s=inc.eta_s if drone is not None else None,
            created_ms=inc.created_ms,
            on_scene_ms=inc.on_scene_ms,
            closed_ms=inc.closed_ms,
            shared_by=share.by,
            shared_ms=share.since_ms,
            reason=share.reason,
            methane=self.methane.get(incident_id),
            request_id=share.request_id,
        )

    def _cap_body(self, topic: str, key: bytes, record: c.SharedIncident) -> bytes:
        """The CAP alert of a record, a new version only when the record changed."""
        state = self._cap.get(topic)
        if state is not None and state.key == key:
            return state.body
        version = 1 if state is None else state.version + 1
        sender = self.config.cap_sender or f"dfr.{self.agencies.force_agency}"
        identifier = f"{sender}.{record.incident_id}.{record.agency}.{version}"
        now = c.now_ms()
        body = cap.to_cap(record, sender=sender, identifier=identifier, sent_ms=now,
                          previous=state.ref if state is not None else None,
                          status=self.config.cap_status)
        self._cap[topic] = _CapState(key, body, cap.CapRef(sender, identifier, cap.cap_time(now)),
                                     version)
        return body


# --- a partner's broker, bridged in ----------------------------------------------------------


def bridge_config(
    agency: str,
    *,
    address: str,
    username: str,
    password: str,
    local_prefix: str = "dfr/",
    cafile: str | None = None,
) -> str:
    """A mosquitto bridge section for a partner's own broker: it logs in to the force's broker as
    one of the agency's partner users and brings in ``dfr/v1/agencies/{agency}/#`` (read only,
    ``in``), under ``local_prefix`` on the partner's broker. The force's ACL is what limits it:
    the bridge can carry nothing the agency's login may not read."""
    remote = f"{c.agency_root(agency)}/"
    lines = [
        f"# generated by groundstation broker-config --bridge {agency}: what the force shares "
        f"with {agency}",
        f"connection dfr-{agency}",
        f"address {address}",
        "bridge_protocol_version mqttv50",
        f"remote_username {username}",
        f"remote_password {password}",
        f"remote_clientid dfr-bridge-{agency}-{username}",
        "cleansession true",
        "try_private false",
        "notifications false",
        f"topic # in 1 {local_prefix} {remote}",
    ]
    if cafile:
        lines += [f"bridge_cafile {cafile}", "bridge_insecure false"]
    return "\n".join(lines) + "\n"
