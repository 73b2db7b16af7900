"""Hot standby: two controllers for one fleet, one active, elected through the broker.

The protocol (``docs/high-availability.md`` has the failure cases):

- Lease: retained QoS 1 ``controllers/{cluster_id}/lease`` = :class:`~groundstation.contract.Lease`
  ``{holder, epoch, ttl_ms}``. The active renews it every ``renew_s`` (1 s) and promises validity
  ``ttl_s`` (3 s). Receivers time the validity on their own monotonic clock from receipt.
- Claim: a standby that saw no renewal for ``ttl_s`` (or saw the holder's Last Will, its
  ``controllers/{holder}/status`` going ``offline``, or a released lease) publishes a claim with
  epoch = greatest epoch seen + 1, waits ``claim_window_s`` and, unless it saw a greater
  ``(epoch, holder)`` meanwhile and provided the broker acknowledged its claim, becomes active.
- Fencing: the active steps down when it sees a greater ``(epoch, holder)`` (after a partition
  heals, the lower epoch gives way at once), and fences itself when no renewal was acknowledged by
  the broker for ``ttl_s - renew_s``: one second before any standby may claim.
- Every vehicle or dock command the active issues is journaled with its epoch.

:class:`LeaseCore` is the pure state machine (``tick``/``on_lease``/``on_offline`` return what to
do); :class:`LeaseKeeper` is the thin asyncio driver over the
:class:`~groundstation.adapters.bus.Bus`, and
:class:`Mirror` keeps the standby's warm copy: the retained drone states and incident records,
from which :func:`sortie_from_state` rebuilds the sorties at takeover (:func:`takeover_sorties`,
applied by ``Controller.take_over``; stepping down is ``Controller.step_down``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from groundstation import contract as c
from groundstation.adapters.bus import Bus, Message
from groundstation.core import sortie as so
from groundstation.errors import BusError
from missions.sites import SiteSet

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HaConfig:
    """Hot-standby settings, built once at the edge (``--ha-cluster``)."""

    cluster_id: str
    renew_s: float = 1.0
    ttl_s: float = 3.0
    claim_window_s: float = 0.5
    startup_wait_s: float = 1.0

    @property
    def fence_s(self) -> float:
        """The active stops commanding when no renewal was acknowledged for this long."""
        return self.ttl_s - self.renew_s


class Role(enum.StrEnum):
    STANDBY = "standby"
    CLAIMING = "claiming"
    ACTIVE = "active"


# --- outputs of the core -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publish:
    lease: c.Lease


@dataclass(frozen=True, slots=True)
class BecomeActive:
    epoch: int


@dataclass(frozen=True, slots=True)
class StepDown:
    reason: str


Output = Publish | BecomeActive | StepDown


@dataclass(slots=True)
class LeaseCore:
    """The election as a pure machine over (messages, time). ``now`` is monotonic seconds."""

    config: HaConfig
    me: str
    started_s: float
    role: Role = Role.STANDBY
    epoch: int = 0  # mine, while claiming or active
    max_epoch: int = 0
    holder: str | None = None  # the other controller believed to hold the lease
    holder_epoch: int = 0
    holder_seen_s: float = -1e9
    claim_started_s: float = 0.0
    acked_s: float = -1e9  # last renewal (or claim) the broker acknowledged
    next_renew_s: float = 0.0

    def _key(self) -> tuple[int, str]:
        return (self.epoch, self.me)

    def on_lease(self, lease: c.Lease, now: float) -> list[Output]:
        self.max_epoch = max(self.max_epoch, lease.epoch)
        if lease.holder is None:
            if lease.epoch >= self.holder_epoch:
                self.holder = None
            return []
        if lease.holder == self.me:
            return []  # our own renewal, or a previous incarnation's retained lease
        key = (lease.epoch, lease.holder)
        if self.role != Role.STANDBY:
            if key > self._key():
                was = self.role
                self.role = Role.STANDBY
                self._believe(lease, now)
                if was == Role.ACTIVE:
                    return [StepDown(f"{lease.holder} holds epoch {lease.epoch}")]
            return []
        if self.holder is None or key >= (self.holder_epoch, self.holder) or self._expired(now):
            self._believe(lease, now)
        return []

    def _believe(self, lease: c.Lease, now: float) -> None:
        self.holder = lease.holder
        self.holder_epoch = lease.epoch
        self.holder_seen_s = now

    def on_offline(self, controller_id: str) -> None:
        """The holder's Last Will (or clean stop): the lease is free now."""
        if self.role == Role.STANDBY and controller_id == self.holder:
            self.holder = None

    def acked(self, now: float) -> None:
        self.acked_s = now

    def _expired(self, now: float) -> bool:
        return self.holder is None or now - self.holder_seen_s > self.config.ttl_s

    def _lease(self) -> c.Lease:
        return c.Lease(
            cluster_id=self.config.cluster_id,
            holder=self.me,
            epoch=self.epoch,
            ttl_ms=round(self.config.ttl_s * 1000),
            ts_ms=c.now_ms(),
        )

    def tick(self, now: float, connected: bool) -> list[Output]:
        cfg = self.config
        if self.role == Role.ACTIVE:
            if now - self.acked_s > cfg.fence_s:
                self.role = Role.STANDBY
                self.holder = None
                return [StepDown(f"no renewal acknowledged for {now - self.acked_s:.1f} s")]
            if now >= self.next_renew_s:
                self.next_renew_s = now + cfg.renew_s
                return [Publish(self._lease())]
            return []
        if self.role == Role.CLAIMING:
            if now - self.claim_started_s < cfg.claim_window_s:
                return []
            if self.acked_s < self.claim_started_s:
                self.role = Role.STANDBY  # the broker never confirmed our claim
                return []
            self.role = Role.ACTIVE
            self.next_renew_s = now + cfg.renew_s
            return [BecomeActive(self.epoch)]
        if not connected or now - self.started_s < cfg.startup_wait_s or not self._expired(now):
            return []
        self.role = Role.CLAIMING
        self.epoch = self.max_epoch + 1
        self.max_epoch = self.epoch
        self.claim_started_s = now
        return [Publish(self._lease())]

    def release(self) -> c.Lease | None:
        """The lease to publish on a clean stop (None unless active)."""
        if self.role != Role.ACTIVE:
            return None
        self.role = Role.STANDBY
        return c.Lease(
            cluster_id=self.config.cluster_id, holder=None, epoch=self.epoch, ts_ms=c.now_ms()
        )


# --- the standby's warm copy ----------------------------------------------------------------------


@dataclass(slots=True)
class Mirror:
    """The retained drone states and incident records, as the standby last saw them."""

    states: dict[str, c.DroneState] = field(default_factory=dict)
    incidents: dict[str, c.Incident] = field(default_factory=dict)
    received_ms: dict[str, int] = field(default_factory=dict)

    def handle(self, msg: Message) -> bool:
        ref = c.parse_topic(msg.topic)
        if ref is None:
            return False
        try:
            if ref.kind == "drone" and ref.leaf == "state":
                if msg.payload:
                    self.states[ref.ident] = c.decode(msg.payload, c.DroneState)
                return True
            if ref.kind == "incident":
                if msg.payload:
                    self.incidents[ref.ident] = c.decode(msg.payload, c.Incident)
                return True
        except c.ContractError as exc:
            log.warning("mirror: %s dropped: %s", msg.topic, exc.reason)
            return True
        return False


def sortie_from_state(
    base: so.Sortie,
    st: c.DroneState,
    inc: c.Incident | None,
    *,
    dock: so.Target,
    now_s: float,
    speedup: float,
) -> so.Sortie:
    """The sortie the active was flying, from its retained drone state and incident record.

    ``base`` is a fresh docked sortie (the fleet defaults); ``dock`` is the position of the
    state's home dock. Time on scene carries on from the incident's ``on_scene_ms``."""
    target = (
        so.Target(st.target_lat_deg, st.target_lon_deg)
        if st.target_lat_deg is not None and st.target_lon_deg is not None
        else None
    )
    since: float | None = None
    if st.phase == c.Phase.ON_SCENE:
        on_ms = inc.on_scene_ms if inc is not None and inc.on_scene_ms else c.now_ms()
        since = now_s - max(0.0, (c.now_ms() - on_ms) / 1000.0) * speedup
    return replace(
        base,
        dock_id=st.home_dock_id or base.dock_id,
        dock=dock,
        phase=st.phase,
        incident_id=st.incident_id,
        priority=inc.priority if inc is not None else base.priority,
        target=target,
        pilot=st.pilot,
        last_failsafe=st.last_failsafe,
        on_scene_since_s=since,
        command_ok=True,
    )


# --- takeover (applied by Controller.take_over) --------------------------------------------------


def takeover_sorties(
    drone_ids: list[str],
    mirror: Mirror,
    new_sortie: Callable[[str], so.Sortie],
    site_set: SiteSet,
    *,
    now_s: float,
    speedup: float,
) -> dict[str, so.Sortie]:
    """The sorties a new active controller carries on: each drone's, rebuilt from the mirrored
    retained state of the old active (drones it never published are left out)."""
    out: dict[str, so.Sortie] = {}
    for drone_id in drone_ids:
        st = mirror.states.get(drone_id)
        if st is None:
            continue
        home = site_set.dock(st.home_dock_id or "") or site_set.dock_of_drone(drone_id)
        assert home is not None
        inc = mirror.incidents.get(st.incident_id) if st.incident_id else None
        out[drone_id] = sortie_from_state(
            new_sortie(drone_id),
            st,
            inc,
            dock=so.Target(home.lat_deg, home.lon_deg),
            now_s=now_s,
            speedup=speedup,
        )
    return out


def adopting_summary(sorties: Mapping[str, so.Sortie]) -> str:
    """The busy sorties a take-over adopts, for its alert (``none`` when all are at rest)."""
    busy = [
        f"{drone_id} {s.phase} {s.incident_id or ''}".strip()
        for drone_id, s in sorties.items()
        if s.busy
    ]
    return ", ".join(busy) or "none"


# --- the driver ----------------------------------------------------------------------------------


class LeaseKeeper:
    """Runs a :class:`LeaseCore` on the bus; tells ``on_change(active, epoch)`` on every flip."""

    def __init__(
        self,
        config: HaConfig,
        controller_id: str,
        bus: Bus,
        on_change: Callable[[bool, int, str], None] | None = None,
        *,
        tick_s: float = 0.1,
    ) -> None:
        self.config = config
        self.bus = bus
        self.core = LeaseCore(config, controller_id, started_s=time.monotonic())
        self.on_change = on_change or (lambda active, epoch, reason: None)
        self.tick_s = tick_s
        self.topic = c.controller_lease(config.cluster_id)

    @property
    def active(self) -> bool:
        return self.core.role == Role.ACTIVE

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(self.topic, 1), (c.ALL_CONTROLLER_STATUS, 1)]

    def handle(self, msg: Message) -> bool:
        """Take a message from the controller's reader. True if it was ours alone."""
        if msg.topic == self.topic:
            if msg.payload:
                try:
                    lease = c.decode(msg.payload, c.Lease)
                except c.ContractError as exc:
                    log.warning("malformed lease dropped: %s", exc.reason)
                    return True
                self._apply(self.core.on_lease(lease, time.monotonic()))
            return True
        ref = c.parse_topic(msg.topic)
        if ref is not None and ref.kind == "controller" and ref.leaf == "status" and msg.payload:
            with contextlib.suppress(c.ContractError):
                if c.decode(msg.payload, c.ControllerStatus).status == "offline":
                    self.core.on_offline(ref.ident)
        return False

    def _apply(self, outputs: list[Output]) -> list[c.Lease]:
        leases: list[c.Lease] = []
        for out in outputs:
            match out:
                case Publish():
                    leases.append(out.lease)
                case BecomeActive():
                    log.warning("%s: active (epoch %d)", self.core.me, out.epoch)
                    self.on_change(True, out.epoch, f"lease acquired, epoch {out.epoch}")
                case StepDown():
                    log.warning("%s: standby: %s", self.core.me, out.reason)
                    self.on_change(False, self.core.epoch, out.reason)
        return leases

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            for lease in self._apply(self.core.tick(now, self.bus.connected)):
                await self._publish(lease)
            await asyncio.sleep(self.tick_s)

    async def _publish(self, lease: c.Lease) -> None:
        try:
            await asyncio.wait_for(
                self.bus.publish(self.topic, c.encode(lease), qos=1, retain=True),
                self.config.renew_s,
            )
        except (TimeoutError, BusError) as exc:
            log.warning("lease renewal not acknowledged: %s", exc or "timeout")
            return
        self.core.acked(time.monotonic())

    async def release(self) -> None:
        """On a clean stop: free the lease so the standby takes over at once."""
        lease = self.core.release()
        if lease is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.bus.publish(self.topic, c.encode(lease), qos=1, retain=True), 2.0
                )
