"""Partitioned dispatch: several controllers on one broker, each owning a set of sites.

The protocol (``docs/high-availability.md`` has the failure cases):

1. Every partitioned controller receives ``incident_create`` (they all subscribe to
   ``operators/+/services``). The incident id is the caller's or derived from the request's
   ``tid``, so every controller names it alike.
2. Each computes its best drone with the ordinary dispatcher over its own fleet and publishes an
   :class:`~groundstation.contract.Offer` (``eta_s``, or None with the reason) on
   ``incidents/{id}/offers``; a controller that sees an offer for a round it has not answered
   answers it. A drone with an open offer is not offered again until that round is decided.
3. ``window_s`` after its own offer each controller decides the same award from the same offers:
   the least ``eta_s``, ties to the least ``controller_id``. The winner alone writes the incident
   record, launches and replies to the caller. With no ETA at all, the lowest offering controller
   owns the record (``queued``) and re-runs a round every ``retry_s``; a round may move the
   incident to another controller, which then owns the record.
4. A controller that is down makes no offer, so it only takes its own drones out of the awards.
   Queued incidents owned by a controller that went offline are adopted by the lowest live one.

Requests about one drone are answered by the controller that owns the drone; about one incident,
by the record owner; malformed or unknown ones by the lowest live controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from msgspec.structs import replace

from groundstation import contract as c
from groundstation.adapters.bus import Message
from groundstation.core.config import ControllerConfig
from groundstation.core.dispatch import Candidate, choose
from groundstation.core.ports import Airspace, CommandLog, Publisher
from groundstation.errors import GroundStationError

log = logging.getLogger(__name__)
R = c.Result


@dataclass(frozen=True, slots=True)
class PartitionConfig:
    window_s: float = 0.3
    retry_s: float = 1.0


@dataclass(slots=True)
class Round:
    incident: c.Incident
    number: int
    deadline_s: float = 0.0
    offers: dict[str, c.Offer] = field(default_factory=dict)
    offered: bool = False
    decided: bool = False
    request: tuple[str, str, str] | None = None  # username, tid, bid


def award(offers: list[c.Offer]) -> c.Offer | None:
    """The winning offer: least ETA, ties to the least controller id (None: nobody can go)."""
    able = [o for o in offers if o.eta_s is not None]
    if not able:
        return None
    return min(able, key=lambda o: (o.eta_s, o.controller_id))


def incident_id_for(tid: str) -> str:
    return "inc-" + hashlib.sha256(tid.encode()).hexdigest()[:12]


def responder(peers: dict[str, bool], me: str) -> str:
    """The controller that answers requests nobody owns: the lowest live one."""
    return min([*(p for p, up in peers.items() if up), me])


class PartitionHost(Protocol):
    """What the partition needs of its controller: its id, drones, incident records and
    dispatch candidates, and the controller's own ways to take, drop or write a record."""

    @property
    def cid(self) -> str: ...
    @property
    def config(self) -> ControllerConfig: ...
    @property
    def airspace(self) -> Airspace | None: ...
    @property
    def bus(self) -> Publisher: ...
    @property
    def journal(self) -> CommandLog: ...

    @property
    def active(self) -> bool: ...
    def has_drone(self, drone_id: str) -> bool: ...
    def incident(self, incident_id: str) -> c.Incident | None: ...
    def is_queued(self, incident_id: str) -> bool: ...
    def unqueue(self, incident_id: str) -> None: ...
    def candidates(self) -> list[Candidate]: ...
    def add_incident(self, inc: c.Incident) -> None: ...
    def drop_incident(self, incident_id: str) -> None: ...
    def own_incident(self, inc: c.Incident) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None: ...


class Partition:
    """Hooks into the controller's reader (``handle``), its publishing (``owns``) and its
    TaskGroup (``run``)."""

    def __init__(self, controller: PartitionHost, config: PartitionConfig) -> None:
        self.ctl = controller
        self.config = config
        self.rounds: dict[tuple[str, int], Round] = {}
        self.owner: dict[str, str] = {}  # incident id -> controller owning its record
        self.records: dict[str, c.Incident] = {}  # every incident record seen on the broker
        self.peers: dict[str, bool] = {}  # controller id -> online
        self.drones_elsewhere: set[str] = set()
        self.reserved: dict[str, str] = {}  # drone id -> incident id with an open offer
        self.last_round_s: dict[str, float] = {}
        self.awards: list[tuple[str, int, str | None]] = []  # (incident, round, winner)

    @property
    def me(self) -> str:
        return self.ctl.cid

    def subscriptions(self) -> list[tuple[str, int]]:
        return [
            (c.ALL_INCIDENT_OFFERS, 1),
            (c.ALL_INCIDENTS, 1),
            (c.ALL_CONTROLLER_STATUS, 1),
            (c.ALL_DRONE_STATE, 1),
        ]

    def owns(self, inc: c.Incident) -> bool:
        return self.owner.get(inc.incident_id) == self.me

    def _responder(self) -> str:
        return responder(self.peers, self.me)

    # --- messages ----------------------------------------------------------------------------

    def handle(self, msg: Message) -> bool:
        """True when the message was the partition's alone (the controller must not see it)."""
        parts = msg.topic.split("/")
        if len(parts) == 5 and parts[2] == "incidents" and parts[4] == "offers":
            self._on_offer(msg.payload)
            return True
        ref = c.parse_topic(msg.topic)
        if ref is None:
            return False
        try:
            if ref.kind == "incident":
                if msg.payload:
                    self.records[ref.ident] = c.decode(msg.payload, c.Incident)
                return True
            if ref.kind == "controller" and ref.leaf == "status":
                if msg.payload and ref.ident != self.me:
                    st = c.decode(msg.payload, c.ControllerStatus)
                    self.peers[ref.ident] = st.status == "online" and st.role == "active"
                return False
            if ref.kind == "drone" and ref.leaf == "state":
                if not self.ctl.has_drone(ref.ident):
                    self.drones_elsewhere.add(ref.ident)
                return True
        except c.ContractError as exc:
            log.warning("partition: %s dropped: %s", msg.topic, exc.reason)
            return True
        if ref.kind == "operator" and ref.leaf == "services":
            return self._on_request(ref.ident, msg.payload)
        return False

    def _on_request(self, username: str, payload: bytes) -> bool:
        """True (swallowed) unless this controller is the one to answer through the services."""
        try:
            req = c.decode(payload, c.Request)
        except c.ContractError:
            return self._responder() != self.me
        if req.method != c.OperatorMethod.INCIDENT_CREATE:
            drone_id = req.data.get("drone_id")
            if isinstance(drone_id, str):
                if self.ctl.has_drone(drone_id):
                    return False
                return drone_id in self.drones_elsewhere or self._responder() != self.me
            incident_id = req.data.get("incident_id")
            if isinstance(incident_id, str):
                if self.owner.get(incident_id) == self.me:
                    return False
                return incident_id in self.owner or self._responder() != self.me
            return self._responder() != self.me
        self._incident_create(username, req)
        return True

    def _incident_create(self, username: str, req: c.Request) -> None:
        ctl = self.ctl
        role = ctl.config.roles.get(username)
        if role is None or c.OperatorMethod.INCIDENT_CREATE not in c.ROLE_METHODS[role]:
            self._reply_if_responder(username, req, R.FORBIDDEN, f"{username!r} may not do that")
            return
        if (c.now_ms() - req.timestamp) / 1000.0 > c.COMMAND_TTL_S:
            self._reply_if_responder(username, req, R.EXPIRED, "request expired")
            return
        try:
            d = c.decode_data(req.data, c.IncidentCreate)
        except c.ContractError as exc:
            self._reply_if_responder(username, req, R.MALFORMED, exc.reason)
            return
        incident_id = d.incident_id or incident_id_for(req.tid)
        if incident_id in self.records or incident_id in self.owner:
            self._reply_if_responder(username, req, R.DUPLICATE, f"incident {incident_id} exists")
            return
        inc = c.Incident(
            incident_id=incident_id,
            status=c.IncidentStatus.NEW,
            lat_deg=d.lat_deg,
            lon_deg=d.lon_deg,
            priority=d.priority,
            summary=d.summary,
            created_by=username,
            created_ms=req.timestamp,
        )
        if ctl.airspace is not None:
            refusal = ctl.airspace.check_point(d.lat_deg, d.lon_deg)
            if refusal is not None:
                if self._responder() == self.me:
                    reason = refusal.reason
                    self._own(inc, c.IncidentStatus.REJECTED, reason)
                    self._reply(username, req.tid, req.method, req.bid, R.AIRSPACE, reason)
                return
        rnd = self._join(inc, 0)
        rnd.request = (username, req.tid, req.bid)

    # --- rounds ------------------------------------------------------------------------------

    def _join(self, inc: c.Incident, number: int) -> Round:
        key = (inc.incident_id, number)
        rnd = self.rounds.get(key)
        if rnd is None:
            rnd = self.rounds[key] = Round(inc, number)
        if not rnd.offered:
            rnd.offered = True
            rnd.deadline_s = time.monotonic() + self.config.window_s
            offer = self._my_offer(inc, number)
            rnd.offers[self.me] = offer
            if offer.drone_id is not None:
                self.reserved[offer.drone_id] = inc.incident_id
            self.ctl.spawn(self._publish(offer), f"offer:{inc.incident_id}")
        return rnd

    def _my_offer(self, inc: c.Incident, number: int) -> c.Offer:
        ctl = self.ctl
        pool = [x for x in ctl.candidates() if x.drone_id not in self.reserved]
        decision = choose(
            inc.lat_deg, inc.lon_deg, inc.priority, pool, ctl.config.model, ctl.airspace
        )
        choice = decision.choice
        return c.Offer(
            incident_id=inc.incident_id,
            controller_id=self.me,
            round=number,
            eta_s=round(choice.eta_s, 3) if choice else None,
            drone_id=choice.drone_id if choice else None,
            reason=None if choice else decision.summary(),
            lat_deg=inc.lat_deg,
            lon_deg=inc.lon_deg,
            priority=inc.priority,
            summary=inc.summary,
            created_by=inc.created_by,
            created_ms=inc.created_ms,
            ts_ms=c.now_ms(),
        )

    async def _publish(self, offer: c.Offer) -> None:
        await self.ctl.bus.publish(c.incident_offers(offer.incident_id), c.encode(offer), qos=1)

    def _on_offer(self, payload: bytes) -> None:
        try:
            offer = c.decode(payload, c.Offer)
        except c.ContractError as exc:
            log.warning("partition: malformed offer dropped: %s", exc.reason)
            return
        if offer.controller_id == self.me:
            return
        key = (offer.incident_id, offer.round)
        rnd = self.rounds.get(key)
        if rnd is not None and rnd.decided:
            return
        inc = _new_incident(offer)
        if rnd is None:
            rnd = self.rounds[key] = Round(inc, offer.round)
        rnd.offers[offer.controller_id] = offer
        if not rnd.offered and self.ctl.active:
            self._join(inc, offer.round)

    def _decide(self, rnd: Round) -> None:
        rnd.decided = True
        inc = rnd.incident
        for drone_id, incident_id in list(self.reserved.items()):
            if incident_id == inc.incident_id:
                del self.reserved[drone_id]
        win = award(list(rnd.offers.values()))
        previous = self.owner.get(inc.incident_id)
        winner = win.controller_id if win else (previous or min(rnd.offers))
        self.owner[inc.incident_id] = winner
        self.awards.append((inc.incident_id, rnd.number, win.controller_id if win else None))
        self.last_round_s[inc.incident_id] = time.monotonic()
        if winner != self.me:
            if previous == self.me:  # the record moves to the winner
                self.ctl.drop_incident(inc.incident_id)
            return
        ctl = self.ctl
        record = self.records.get(inc.incident_id) or ctl.incident(inc.incident_id) or inc
        if win is not None:
            fresh = _new_incident(record)
            ctl.drop_incident(inc.incident_id)
            ctl.add_incident(fresh)
        elif previous != self.me:
            reasons = "; ".join(
                f"{o.controller_id}: {o.reason}" for o in sorted(rnd.offers.values(),
                                                                  key=lambda o: o.controller_id)
            )
            self._own(record, c.IncidentStatus.QUEUED, f"no drone can go: {reasons}")
        if rnd.request is not None:
            username, tid, bid = rnd.request
            now = ctl.incident(inc.incident_id) or record
            output = {
                "incident_id": now.incident_id,
                "status": str(now.status),
                "assigned_drone": now.assigned_drone,
                "eta_s": now.eta_s,
            }
            self._send(username, c.make_reply(tid, "incident_create", R.OK, output, bid=bid))
            ctl.journal.command(username, "incident_create", tid, output, 0, None)

    def _own(self, inc: c.Incident, status: c.IncidentStatus, reason: str) -> None:
        """Write a record this controller owns without dispatching it locally."""
        record = replace(inc, status=status, reason=reason)
        if status == c.IncidentStatus.REJECTED:
            record = replace(record, closed_ms=c.now_ms())
        self.owner[inc.incident_id] = self.me
        self.ctl.own_incident(record)

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            for key, rnd in list(self.rounds.items()):
                if rnd.offered and not rnd.decided and now >= rnd.deadline_s:
                    self._decide(rnd)
                if rnd.decided and now - rnd.deadline_s > 30.0:
                    del self.rounds[key]
            self._retry(now)
            await asyncio.sleep(0.02)

    def _retry(self, now: float) -> None:
        """Queued incidents: their owner (or, if it is offline, the lowest live controller)
        runs a new round every retry_s; the local dispatcher never takes them on its own."""
        if not self.ctl.active:
            return
        for incident_id, owner in list(self.owner.items()):
            inc = self.ctl.incident(incident_id) if owner == self.me else None
            if inc is None and owner != self.me and not self.peers.get(owner, False):
                inc = self.records.get(incident_id)
                if inc is None or self._responder() != self.me:
                    continue
            if inc is None or inc.status not in (c.IncidentStatus.NEW, c.IncidentStatus.QUEUED):
                continue
            if self.ctl.is_queued(incident_id) and owner == self.me:
                if inc.status == c.IncidentStatus.NEW:
                    continue  # add_incident's own dispatch is still deciding
                self.ctl.unqueue(incident_id)
            if now - self.last_round_s.get(incident_id, 0.0) < self.config.retry_s:
                continue
            if any(k[0] == incident_id and not r.decided for k, r in self.rounds.items()):
                continue
            number = 1 + max((k[1] for k in self.rounds if k[0] == incident_id), default=0)
            self.last_round_s[incident_id] = now
            self._join(inc, number)

    # --- replies -----------------------------------------------------------------------------

    def _reply_if_responder(self, username: str, req: c.Request, result: R, reason: str) -> None:
        if self._responder() == self.me:
            self._reply(username, req.tid, req.method, req.bid, result, reason)

    def _reply(
        self, username: str, tid: str, method: str, bid: str, result: R, reason: str
    ) -> None:
        self.ctl.journal.command(username, method, tid, None, int(result), reason)
        self._send(username, c.refusal(tid, method, result, reason, bid=bid))

    def _send(self, username: str, reply: c.Reply) -> None:
        async def send() -> None:
            with contextlib.suppress(GroundStationError):
                await self.ctl.bus.publish(
                    c.operator_services_reply(username), c.encode(reply), qos=1
                )

        self.ctl.spawn(send(), f"reply:{reply.tid}")


def _new_incident(src: c.Incident | c.Offer) -> c.Incident:
    """The incident as the caller filed it (status NEW), from an offer or an earlier record."""
    return c.Incident(
        incident_id=src.incident_id,
        status=c.IncidentStatus.NEW,
        lat_deg=src.lat_deg,
        lon_deg=src.lon_deg,
        priority=src.priority,
        summary=src.summary,
        created_by=src.created_by,
        created_ms=src.created_ms,
    )
