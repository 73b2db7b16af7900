"""The controller: turns incidents into sorties, flies them, and keeps every drone safe.

Thin I/O around the pure cores: the sortie machine (``core.sortie``) and the dispatcher
(``core.dispatch``). Everything runs on one event loop in one TaskGroup:

- ``reader``: the single consumer of the bus; routes operator services, dock messages.
- ``ticker``: 10 Hz; reads each drone's latest sample, turns conditions into sortie events
  (reached, landed, link lost, battery: ``groundstation.control.watch``), publishes telemetry at its
  rate and state on change, and runs the dispatcher over queued incidents.
- action tasks: each vehicle or dock action the machine returns runs as its own task
  (``groundstation.control.commands``; vehicle commands sit in MAVSDK's thread pool); its result
  comes back as an event.

Every state change is applied by :meth:`Controller.apply`, synchronously: step the machine,
journal it, publish it, start its actions. No other code mutates a sortie.

The controller's state is one object it alone writes (``groundstation.core.state``); the parts
above are given the controller through narrow Protocols (``WatchHost``, ``CommandHost``,
``ServicesHost``, ``TelemetryHost``, ``PartitionHost``...) and change nothing but through its
methods. Its I/O comes in by the constructor, typed by ``groundstation.core.ports``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from msgspec.structs import replace as sreplace

from groundstation import contract as c
from groundstation.adapters.journal import Journal
from groundstation.control.commands import VehicleCommands
from groundstation.control.ha import Mirror, adopting_summary, takeover_sorties
from groundstation.control.retention import IncidentRetention
from groundstation.control.services import OperatorServices
from groundstation.control.sharing import Sharing
from groundstation.control.telemetry import TelemetryFanout
from groundstation.control.trackctl import TrackControl
from groundstation.control.trafficctl import TrafficControl
from groundstation.control.videoctl import StreamRelay, VideoControl
from groundstation.control.watch import Watch, dock_at, has_come_down
from groundstation.core import sortie as so
from groundstation.core.config import DEFAULT_ROLES, ControllerConfig
from groundstation.core.dispatch import Candidate, choose
from groundstation.core.ports import Airspace, BusPort, DockPort, LeaseHolder, PartitionPort
from groundstation.core.state import ControllerState, DroneRuntime, pending_incidents
from groundstation.core.vehicle import (
    CameraFleet,
    Fleet,
    FollowFleet,
    TrafficReceivers,
    VehicleLink,
    VehicleSample,
)
from groundstation.errors import GroundStationError
from groundstation.web.bridge import ShareLinks
from missions.sites import Dock, SiteSet

if TYPE_CHECKING:
    from groundstation.adapters.flightlog import FlightLogger
    from groundstation.control.registration import DockRegistry

__all__ = ["DEFAULT_ROLES", "Controller", "ControllerConfig", "DroneRuntime"]

log = logging.getLogger(__name__)

ADOPT_GRACE_S = 2.5
"""How long a drone is watched after the controller first hears it before anything is concluded
from its state (MAVSDK's first values are defaults, not the vehicle's)."""
IDLE_EVERY = 5
"""A docked, idle drone is checked on every fifth tick (2 Hz at the default 10 Hz tick)."""


class Controller:
    """See the module docstring. ``await controller.run()`` until cancelled."""

    def __init__(
        self,
        config: ControllerConfig,
        *,
        fleet: Fleet,
        bus: BusPort,
        journal: Journal,
        docks: DockPort | None = None,
        airspace: Airspace | None = None,
        ha: LeaseHolder | None = None,
        flightlog: FlightLogger | None = None,
        cameras: CameraFleet | None = None,
        relay: StreamRelay | None = None,
        receivers: TrafficReceivers | None = None,
        follow: FollowFleet | None = None,
    ) -> None:
        self.config = config
        self.cid = config.controller_id
        # What it is given: the vehicles, the bus, the journal, the docks, the airspace, and the
        # flight log writer (adapters.flightlog: one .tlog per sortie, fed from the tick).
        self.fleet, self.bus, self.journal = fleet, bus, journal
        self.docks, self.airspace, self.flightlog = docks, airspace, flightlog
        # What it owns: the state (one writer: this controller) and the tasks it starts. A hot
        # standby (control.ha.LeaseKeeper) starts inactive: until it holds the lease it issues no
        # command, answers no operator and publishes nothing about drones.
        self.state = ControllerState(active=ha is None)
        self._tasks: set[asyncio.Task[None]] = set()
        self._tg: asyncio.TaskGroup | None = None
        self._t0_wall = time.monotonic()
        # How it shares the work: the lease and the active controller's mirror (hot standby),
        # partitioned dispatch (control.partition: several controllers on one broker, each
        # owning its sites) and docks added while running (control.registration). The entry
        # point sets the last two; None: not used.
        self.ha = ha
        self.mirror = self._follow_lease(ha)
        self.partition: PartitionPort | None = None
        self.registry: DockRegistry | None = None
        # Its parts (groundstation/control/), each given this controller through its own host
        # Protocol.
        self.commands = VehicleCommands(self)
        self.watch = Watch(self)
        self.services = OperatorServices(self)
        self.telemetry = TelemetryFanout(self)
        self.video = self._video_control(cameras, relay)
        self.tracking = self._track_control(follow)
        self.retention = IncidentRetention(self)
        self.sharing = Sharing(self, config.sharing)
        self.traffic = self._traffic_control(receivers)
        self.links = ShareLinks(self)
        self._load()

    def _follow_lease(self, ha: LeaseHolder | None) -> Mirror | None:
        """Hot standby: hear of every change of the lease (:meth:`_on_role`) and mirror the
        active controller's retained states, to take over from; None without a lease."""
        if ha is None:
            return None
        ha.on_change = self._on_role
        return Mirror()

    def _video_control(self, cameras: CameraFleet | None, relay: StreamRelay | None,
                       ) -> VideoControl:
        """Live video (control.videoctl): cameras, the relay, descriptors, evidence."""
        return VideoControl(
            self.config.video,
            self.config.site_set,
            host=self,
            cameras=cameras,
            relay=relay,
            bus=self.bus,
            journal=self.journal,
        )

    def _track_control(self, follow: FollowFleet | None) -> TrackControl:
        """Tracking a moving target (control.trackctl): PX4 Follow Target, the camera's
        tracker, units' and CAD's positions."""
        config = self.config
        return TrackControl(
            replace(config.tracking, time_scale=config.speedup),
            config.model,
            host=self,
            follow=follow,
            bus=self.bus,
            journal=self.journal,
        )

    def _traffic_control(self, receivers: TrafficReceivers | None) -> TrafficControl:
        """Crewed traffic (control.trafficctl): picture, launch holds, alerts, NAV_TRAFF_*."""
        config = self.config
        return TrafficControl(config.traffic, config.controller_id, host=self, bus=self.bus,
                              receivers=receivers, speedup=config.speedup)

    # --- the state (one owner: this controller) and views of it --------------------------------

    @property
    def drones(self) -> dict[str, DroneRuntime]:
        return self.state.drones

    @property
    def incidents(self) -> dict[str, c.Incident]:
        return self.state.incidents

    @property
    def queue(self) -> list[str]:
        return self.state.queue

    @property
    def excluded(self) -> dict[str, set[str]]:
        return self.state.excluded

    @property
    def dock_jobs(self) -> dict[str, c.DockMethod]:
        return self.state.dock_jobs

    @property
    def active(self) -> bool:
        return self.state.active

    @active.setter
    def active(self, value: bool) -> None:
        self.state.active = value

    @property
    def epoch(self) -> int | None:
        return self.state.epoch

    def runtime(self, drone_id: str) -> DroneRuntime | None:
        return self.state.drones.get(drone_id)

    def has_drone(self, drone_id: str) -> bool:
        return drone_id in self.state.drones

    def sorties(self) -> dict[str, so.Sortie]:
        """Every drone's sortie, by drone (a copy: change one through :meth:`apply`)."""
        return {drone_id: rt.sortie for drone_id, rt in self.state.drones.items()}

    def incident(self, incident_id: str) -> c.Incident | None:
        return self.state.incidents.get(incident_id)

    def is_queued(self, incident_id: str) -> bool:
        return incident_id in self.state.queue

    def unqueue(self, incident_id: str) -> None:
        self.state.unqueue(incident_id)

    def claimed_docks(self, drone_id: str) -> set[str]:
        return self.state.claimed_docks(drone_id)

    def dock_job_method(self, dock_id: str) -> c.DockMethod | None:
        return self.state.dock_jobs.get(dock_id)

    def dock_job_started(self, dock_id: str, method: c.DockMethod) -> None:
        self.state.dock_jobs[dock_id] = method

    def dock_job_ended(self, dock_id: str) -> None:
        self.state.dock_jobs.pop(dock_id, None)

    def has_docks(self) -> bool:
        return self.docks is not None

    def share_telemetry(self, drone_id: str, body: bytes) -> None:
        self.sharing.telemetry(drone_id, body)

    # --- clock ------------------------------------------------------------------------------

    def now_s(self) -> float:
        """Mission time: wall time since start times the simulation speed-up."""
        return (time.monotonic() - self._t0_wall) * self.config.speedup

    def traffic_agencies(self) -> frozenset[str]:
        """Partner agencies shown the crewed-aircraft picture (groundstation.control.trafficctl)."""
        return self.sharing.agencies_with_open_shares()

    # --- startup ----------------------------------------------------------------------------

    def _new_sortie(self, drone_id: str) -> so.Sortie:
        dock = self.config.site_set.dock_of_drone(drone_id)
        assert dock is not None
        m = self.config.model
        return so.Sortie(
            drone_id=drone_id,
            dock_id=dock.dock_id,
            dock=so.Target(dock.lat_deg, dock.lon_deg),
            cruise_alt_rel_m=m.cruise_alt_rel_m,
            safe_alt_rel_m=m.safe_alt_rel_m,
            orbit_radius_m=self.config.orbit_radius_m,
            orbit_speed_m_s=self.config.orbit_speed_m_s,
            on_scene_s=m.on_scene_s,
        )

    def _load(self) -> None:
        """Build the fleet table, then overlay what the journal remembers (restart/takeover)."""
        for dock in self.config.site_set.docks:
            self.drones[dock.drone_id] = DroneRuntime(self._new_sortie(dock.drone_id))
        for s in self.journal.sorties():
            if s.drone_id in self.drones:
                # Mission time restarts at 0: keep the remaining on-scene time, not the old clock
                # (a climb's clock starts again too; adoption sends the take-off again anyway).
                restored = s if s.on_scene_since_s is None else replace(s, on_scene_since_s=0.0)
                if restored.climb_since_s is not None:
                    restored = replace(restored, climb_since_s=0.0)
                self.drones[s.drone_id].sortie = restored
        for inc in self.journal.incidents():
            self.incidents[inc.incident_id] = inc
            self.state.incident_seq += 1
        self.queue.extend(pending_incidents(self.incidents.values(), self.sorties()))
        if self.journal.sorties():
            self.journal.event("info", "controller_restart", f"{self.cid} reloaded the journal")

    def add_dock(self, site_set: SiteSet, dock: Dock) -> None:
        """A dock added while running (groundstation.control.registration): ``site_set`` has it; its
        drone joins the fleet table, docked, and is dispatched once it and its dock are ready."""
        self.config = replace(self.config, site_set=site_set)
        self.drones[dock.drone_id] = DroneRuntime(self._new_sortie(dock.drone_id))
        self.video.add_dock(dock)
        self.state.dispatch_due = True
        self.journal.event("info", "dock_added", f"dock {dock.dock_id} ({dock.site_id})",
                           drone_id=dock.drone_id)
        self.spawn(self._announce(), "announce")
        self.spawn(self.publish_state(dock.drone_id), f"state:{dock.drone_id}")

    # --- run --------------------------------------------------------------------------------

    async def run(self) -> None:
        bus = self.bus
        await self._announce()
        await bus.subscribe(c.ALL_OPERATOR_SERVICES, qos=1)
        await bus.subscribe(c.ALL_TRAFFIC_FEEDS, qos=0)
        for extra in (self.ha, self.partition):
            if extra is not None:
                for topic, qos in extra.subscriptions():
                    await bus.subscribe(topic, qos)
        if self.mirror is not None:
            await bus.subscribe(c.ALL_DRONE_STATE, 1)
            await bus.subscribe(c.ALL_INCIDENTS, 1)
        bus.on_connect(self._on_reconnect)
        for topic, qos in self.tracking.subscriptions():
            await bus.subscribe(topic, qos)
        if self.docks is not None:
            for topic, qos in self.docks.subscriptions():
                await bus.subscribe(topic, qos)
        for inc in self.incidents.values():
            await self._publish_incident(inc)
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tg.create_task(self._reader(), name="reader")
                tg.create_task(self._ticker(), name="ticker")
                if self.ha is not None:
                    tg.create_task(self.ha.run(), name="lease")
                if self.partition is not None:
                    tg.create_task(self.partition.run(), name="partition")
                tg.create_task(self.telemetry.run(), name="telemetry")
                tg.create_task(self.video.run(), name="video")
                tg.create_task(self.tracking.run(), name="tracking")
                tg.create_task(self.retention.run(), name="retention")
                tg.create_task(self.sharing.run(), name="sharing")
                tg.create_task(self.traffic.run(), name="traffic")
        finally:
            self._tg = None

    async def _on_reconnect(self) -> None:
        self.spawn(self._republish(), "republish")

    async def _republish(self) -> None:
        """After a (re)connection: every drone state and incident again, so that whatever
        failed to go out during a broker outage is current on the broker (retained)."""
        self.video.forget_published()
        self.sharing.forget_published()
        for drone_id, rt in self.drones.items():
            rt.last_state = b""
            await self.publish_state(drone_id)
        for inc in list(self.incidents.values()):
            await self._publish_incident(inc)

    async def _announce(self) -> None:
        """Presence (retained, re-sent on every connection) with the hot-standby role."""
        status = c.ControllerStatus(
            controller_id=self.cid,
            status="online",
            ts_ms=c.now_ms(),
            drones=len(self.drones),
            role="active" if self.active else "standby",
        )
        self.bus.set_birth(c.controller_status(self.cid), c.encode(status))
        if self.bus.connected:
            with contextlib.suppress(GroundStationError):
                await self.bus.publish(
                    c.controller_status(self.cid), c.encode(status), qos=1, retain=True
                )

    def _on_role(self, active: bool, epoch: int, reason: str) -> None:
        """The lease changed hands (groundstation.control.ha): take over, or step down at once."""
        if active:
            self.take_over(epoch, reason)
        else:
            self.step_down(reason)
        self.spawn(self._announce(), "announce")

    def take_over(self, epoch: int, reason: str) -> None:
        """Become the active controller: rebuild every sortie and incident from the mirror
        (``control.ha.takeover_sorties``), journal them, and let the first fresh sample of
        each drone adopt it (``so.Adopt`` re-issues the current phase's command). Nothing else
        is commanded."""
        st = self.state
        st.epoch = epoch
        mirror = self.mirror or Mirror()
        rebuilt = takeover_sorties(
            list(st.drones), mirror, self._new_sortie, self.config.site_set,
            now_s=self.now_s(), speedup=self.config.speedup,
        )
        for drone_id, rt in st.drones.items():
            rt.sortie = rebuilt.get(drone_id, rt.sortie)
            rt.adopted = rt.link_ok = False
            rt.last_seen_s = 0.0
            rt.last_state = b""
            rt.next_tel_s = 0.0
            self.journal.save_sortie(rt.sortie, phase_changed=rt.sortie.busy)
        st.incidents.update(mirror.incidents)
        st.queue[:] = pending_incidents(st.incidents.values(), self.sorties())
        for inc in st.incidents.values():
            self.journal.save_incident(inc)
        st.active = True
        st.dispatch_due = True
        self.alert(
            c.Severity.WARNING,
            "ha_takeover",
            f"{self.cid} active at epoch {epoch} ({reason}); "
            f"adopting: {adopting_summary(self.sorties())}",
        )

    def step_down(self, reason: str) -> None:
        """Stop at once: no command, no publication; in-flight actions are cancelled (a MAVSDK
        call already in its thread still completes, but nothing follows from it)."""
        st = self.state
        was = st.epoch
        st.active = False
        st.epoch = None
        for rt in st.drones.values():
            rt.next_tel_s = math.inf  # the telemetry fan-out publishes nothing
            rt.adopted = False
        for task in list(self._tasks):
            task.cancel()
        self.journal.event(
            "warning", "ha_step_down", f"{self.cid} standby (was epoch {was}): {reason}"
        )

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Start a named task in the controller's TaskGroup (kept referenced, errors logged)."""
        if self._tg is None:
            coro.close()
            return
        guarded = self._guard(coro, name)
        try:
            task = self._tg.create_task(guarded, name=name)
        except RuntimeError:  # the TaskGroup is shutting down
            guarded.close()
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Cancelled before it ever ran (the TaskGroup closing): close the wrapped coroutine
        # too, or it is reported as never awaited.
        task.add_done_callback(lambda _: coro.close())

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s failed", name)

    async def _reader(self) -> None:
        async for msg in self.bus.messages():
            try:
                if self.ha is not None and self.ha.handle(msg):
                    continue
                if self.mirror is not None and self.mirror.handle(msg):
                    continue
                if self.partition is not None and self.partition.handle(msg):
                    continue
                if self.traffic.handle(msg):
                    continue
                if not self.active and msg.topic.endswith("/events"):
                    continue  # dock job events are the active controller's to acknowledge
                if self.docks is not None and self.docks.handle(msg):
                    continue
                if self.tracking.handle(msg.topic, msg.payload):
                    continue
                ref = c.parse_topic(msg.topic)
                if not self.active:
                    continue  # a standby answers no operator
                if ref and ref.kind == "operator" and ref.leaf == "services":
                    await self.services.handle(ref.ident, msg.payload)
            except Exception:
                log.exception("error handling %s", msg.topic)

    async def _ticker(self) -> None:
        period = 1.0 / self.config.tick_hz
        next_dispatch = 0.0
        ticks = 0
        while True:
            started = time.monotonic()
            if not self.active:
                await asyncio.sleep(period)
                continue
            ticks += 1
            for n, (drone_id, rt) in enumerate(self.drones.items()):
                # A drone at rest in its dock is looked at twice a second (spread over the
                # ticks), one on a sortie every tick: the tick's cost follows what is flying.
                if rt.sortie.busy or not rt.adopted or (ticks + n) % IDLE_EVERY == 0:
                    self._tick_drone(drone_id, rt, started)
            if self.state.dispatch_due or started >= next_dispatch:
                self.state.dispatch_due = False
                next_dispatch = started + 1.0
                self.dispatch()
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    # --- per-drone conditions -> events --------------------------------------------------------

    def link(self, drone_id: str) -> VehicleLink | None:
        return self.fleet.get(drone_id)

    def sortie_of(self, drone_id: str) -> so.Sortie | None:
        rt = self.drones.get(drone_id)
        return None if rt is None else rt.sortie

    def sample(self, drone_id: str) -> VehicleSample:
        v = self.fleet.get(drone_id)
        return v.sample() if v is not None else VehicleSample()

    def _tick_drone(self, drone_id: str, rt: DroneRuntime, wall: float) -> None:
        v = self.fleet.get(drone_id)
        smp = v.sample() if v is not None else VehicleSample()
        now = self.now_s()
        fresh = (
            smp.connected
            and smp.state_known
            and smp.updated_s > 0
            and wall - smp.updated_s < self.config.link_timeout_s
        )
        self._tick_link(drone_id, rt, smp, wall, fresh)
        self.telemetry.tick(drone_id, rt, smp, wall)
        if self.flightlog is not None and rt.sortie.busy:
            # Logged before it is acted on: the sample that ends a sortie is in its log.
            self.flightlog.sample(drone_id, rt.sortie, smp)
        self.watch.health(drone_id, rt, smp)
        if fresh and rt.adopted:
            self.watch.conditions(drone_id, rt, smp, now)
        if v is not None:
            self.telemetry.attach(drone_id, v)

    def _tick_link(
        self, drone_id: str, rt: DroneRuntime, smp: VehicleSample, wall: float, fresh: bool
    ) -> None:
        """The link: adopt a drone first seen, notice a loss and a recovery."""
        if fresh:
            # The time of the newest sample, not of this tick: a loss is then shown 3 s after
            # the last telemetry, not 3 s after freshness ran out (which made it 6 s).
            rt.last_seen_s = smp.updated_s
            came_down = has_come_down(rt.sortie, smp)
            if rt.first_seen_s == 0.0:
                rt.first_seen_s = wall
            if not rt.adopted and wall - rt.first_seen_s < ADOPT_GRACE_S:
                # MAVSDK reports defaults (disarmed, on the ground, no GPS) until the vehicle's
                # own messages arrive: judge a drone only after a few of its heartbeats.
                pass
            elif not rt.adopted:
                self._adopt(drone_id, rt, smp, came_down)
            elif not rt.link_ok:
                rt.link_ok = True
                if came_down:
                    self.alert(
                        c.Severity.INFO,
                        "link_recovered",
                        f"{drone_id}: link back; it came down by itself",
                        drone_id=drone_id,
                    )
                else:
                    self.apply(drone_id, so.LinkRecovered())
        elif (
            rt.link_ok
            and rt.last_seen_s > 0
            and wall - rt.last_seen_s >= self.config.link_timeout_s
        ):
            rt.link_ok = False
            self.apply(drone_id, so.FailsafeRaised(so.Failsafe.LINK_LOST, "no telemetry for 3 s"))

    def _adopt(
        self, drone_id: str, rt: DroneRuntime, smp: VehicleSample, came_down: bool
    ) -> None:
        """First sight of this drone since start: carry on whatever the journal says it was
        doing (a restart or a takeover), before anything else. A drone that came down by itself
        meanwhile is resolved by _conditions (at a dock or not)."""
        rt.adopted = rt.link_ok = True
        self.commands.position_rate(drone_id, airborne=smp.in_air or rt.sortie.busy)
        # A landing that finished while nobody watched is resolved by _conditions too
        # (at a dock -> charging); Adopt would call it landed away.
        landed = rt.sortie.phase == c.Phase.LANDING and not smp.in_air and not smp.armed
        if rt.sortie.busy and not came_down and not landed:
            dock = None if smp.in_air else self.dock_at(smp.lat_deg, smp.lon_deg)
            if dock is not None and dock.dock_id != rt.sortie.dock_id:
                where = so.Target(dock.lat_deg, dock.lon_deg)
                self.apply(drone_id, so.AlternateDock(dock.dock_id, where))
            self.apply(drone_id, so.Adopt(in_air=smp.in_air, at_dock=dock is not None))

    def dock_usable(self, dock_id: str) -> bool:
        """Can a drone land there? Weather limits are for launching, not for coming home."""
        reason = self.dock_reason(dock_id)
        return reason is None or reason.startswith(("wind", "rainfall"))

    def dock_at(self, lat: float, lon: float) -> Dock | None:
        return dock_at(self.config.site_set.docks, lat, lon)

    def dock_job(self, dock_id: str) -> str | None:
        method = self.dock_jobs.get(dock_id)
        return None if method is None else f"dock busy: {method}"

    def dock_reason(self, dock_id: str) -> str | None:
        if self.docks is None:
            return None
        m = self.config.model
        return self.docks.ready_reason(
            dock_id, max_wind_m_s=m.max_wind_m_s, max_rainfall=m.max_rainfall
        )

    # --- applying events ----------------------------------------------------------------------

    def apply(self, drone_id: str, event: so.Event) -> None:
        rt = self.drones[drone_id]
        before = rt.sortie
        after, actions = so.step(before, event)
        if after == before and not actions:
            return
        rt.sortie = after
        if after.phase != before.phase:
            log.info("%s: %s -> %s (%s)", drone_id, before.phase, after.phase, type(event).__name__)
            if after.phase in (c.Phase.DOCKED, c.Phase.CHARGING, c.Phase.PREFLIGHT):
                rt.battery_low = rt.battery_critical = False
            if after.phase in (c.Phase.DOCKED, c.Phase.CHARGING) and before.busy:
                self.commands.position_rate(drone_id, airborne=False)  # back on a dock
            if after.phase != c.Phase.TRANSIT:
                rt.eta_s = None
            if self.flightlog is not None and self.active:
                self.flightlog.phase(drone_id, before, after)
        self.journal.save_sortie(after, phase_changed=after.phase != before.phase)
        if before.incident_id and after.incident_id is None:
            self._release_incident(before, after, actions)
        self.spawn(self.publish_state(drone_id), f"state:{drone_id}")
        for action in actions:
            self.start_action(drone_id, action)
        self.video.sortie_changed(drone_id, before, after)
        self.tracking.sortie_changed(drone_id, before, after)

    def _release_incident(
        self, before: so.Sortie, after: so.Sortie, actions: list[so.Action]
    ) -> None:
        """A sortie let go of its incident. Served (on scene, then home or down after its time
        there): close it. Not served (the drone came down or faulted on the way): hand it back
        to the dispatcher, so that no incident is left assigned to a drone that is not going."""
        inc = self.incidents.get(before.incident_id or "")
        if inc is None or inc.status not in (
            c.IncidentStatus.DISPATCHED,
            c.IncidentStatus.ON_SCENE,
        ):
            return
        if any(isinstance(a, so.Requeue) for a in actions):
            return  # the machine already handed it back
        served = inc.status == c.IncidentStatus.ON_SCENE and (
            before.phase in (c.Phase.RETURNING, c.Phase.LANDING)
            or after.phase in (c.Phase.CHARGING, c.Phase.DOCKED)
        )
        if served:
            if self.config.auto_close_incidents:
                reason = (
                    "sortie complete"
                    if after.phase in (c.Phase.CHARGING, c.Phase.DOCKED)
                    else f"sortie ended: {after.reason or after.phase}"
                )
                self.set_incident(inc.incident_id, c.IncidentStatus.CLOSED, reason)
            return
        self.requeue(
            inc.incident_id,
            f"{after.drone_id} {after.phase}: {after.reason or 'did not get there'}",
        )

    def start_action(self, drone_id: str, action: so.Action) -> None:
        """Carry out one action of a sortie: bookkeeping now, vehicle and dock work as a task."""
        match action:
            case so.Alert():
                inc = self.drones[drone_id].sortie.incident_id
                self.alert(
                    action.severity,
                    action.code,
                    action.message,
                    drone_id=drone_id,
                    incident_id=inc,
                    dock_id=action.dock_id,
                )
            case so.SetIncident():
                self.set_incident(action.incident_id, action.status, action.reason)
            case so.Requeue():
                self.excluded.setdefault(action.incident_id, set()).add(drone_id)
                self.requeue(action.incident_id, action.reason)
            case _:
                if self.epoch is not None:
                    text = f"epoch {self.epoch}: {action}"
                    self.journal.event("info", "vehicle_command", text, drone_id=drone_id)
                self.spawn(
                    self.commands.execute(drone_id, action), f"{type(action).__name__}:{drone_id}"
                )

    def amsl(self, drone_id: str, alt_rel_m: float) -> float:
        """A height above the drone's home (its dock) as an altitude above mean sea level."""
        smp = self.sample(drone_id)
        if math.isfinite(smp.home_alt_amsl_m):
            return smp.home_alt_amsl_m + alt_rel_m
        dock = self.config.site_set.dock_of_drone(drone_id)
        return (dock.alt_amsl_m if dock else 0.0) + alt_rel_m

    # --- incidents and dispatch -----------------------------------------------------------------

    def new_incident_id(self) -> str:
        self.state.incident_seq += 1
        return f"inc-{int(time.time())}-{self.state.incident_seq:04d}"

    def drop_incident(self, incident_id: str) -> None:
        """Forget a record another controller now owns (groundstation.control.partition)."""
        self.incidents.pop(incident_id, None)
        self.unqueue(incident_id)

    def own_incident(self, inc: c.Incident) -> None:
        """Keep, journal and publish a record this controller owns without dispatching it
        (groundstation.control.partition: rejected, or queued with no drone anywhere)."""
        self.incidents[inc.incident_id] = inc
        self.journal.save_incident(inc)
        self.spawn(self._publish_incident(inc), f"incident:{inc.incident_id}")

    def add_incident(self, inc: c.Incident) -> None:
        self.incidents[inc.incident_id] = inc
        self.journal.save_incident(inc)
        self.spawn(self._publish_incident(inc), f"incident:{inc.incident_id}")
        if inc.status in (c.IncidentStatus.NEW, c.IncidentStatus.QUEUED):
            self.queue.append(inc.incident_id)
            self.state.dispatch_due = True
            self.dispatch()

    def set_incident(
        self, incident_id: str, status: c.IncidentStatus, reason: str | None = None, **kw: Any
    ) -> None:
        inc = self.incidents.get(incident_id)
        if inc is None or (inc.status == status and not kw and reason == inc.reason):
            return
        if inc.status in (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED):
            return
        stamps: dict[str, Any] = {}
        if status == c.IncidentStatus.DISPATCHED and inc.dispatched_ms is None:
            stamps["dispatched_ms"] = c.now_ms()
        if status == c.IncidentStatus.ON_SCENE and inc.on_scene_ms is None:
            stamps["on_scene_ms"] = c.now_ms()
        if status in (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED):
            stamps["closed_ms"] = c.now_ms()
        inc = sreplace(inc, status=status, reason=reason, **stamps, **kw)
        self.incidents[incident_id] = inc
        self.journal.save_incident(inc)
        self.journal.event(
            "info",
            f"incident_{status}",
            reason or str(status),
            incident_id=incident_id,
            drone_id=inc.assigned_drone,
        )
        self.spawn(self._publish_incident(inc), f"incident:{incident_id}")

    def requeue(self, incident_id: str, reason: str) -> None:
        inc = self.incidents.get(incident_id)
        if inc is None or inc.status in (c.IncidentStatus.CLOSED, c.IncidentStatus.REJECTED):
            return
        self.set_incident(
            incident_id, c.IncidentStatus.QUEUED, reason, assigned_drone=None, eta_s=None
        )
        if incident_id not in self.queue:
            self.queue.append(incident_id)
        self.state.dispatch_due = True

    def candidates(self) -> list[Candidate]:
        out: list[Candidate] = []
        for drone_id, rt in self.drones.items():
            s = rt.sortie
            smp = self.sample(drone_id)
            dock = self.config.site_set.dock(s.dock_id)
            if dock is None:
                continue
            wind = 0.0
            if self.docks is not None:
                view = self.docks.view(s.dock_id)
                if view is not None and view.osd is not None:
                    wind = float(view.osd.wind_speed_m_s or 0.0)
            out.append(
                Candidate(
                    drone_id=drone_id,
                    dock_id=s.dock_id,
                    lat_deg=smp.lat_deg if smp.has_position else dock.lat_deg,
                    lon_deg=smp.lon_deg if smp.has_position else dock.lon_deg,
                    dock_lat_deg=dock.lat_deg,
                    dock_lon_deg=dock.lon_deg,
                    battery_pct=smp.battery_pct,
                    connected=rt.link_ok and smp.connected,
                    gps_ok=smp.global_position_ok,
                    satellites=smp.satellites,
                    armable=smp.armable,
                    dock_reason=self.dock_reason(s.dock_id) or self.dock_job(s.dock_id),
                    wind_m_s=wind,
                    busy=s.busy,
                    airborne=s.airborne,
                    sortie_priority=s.priority if s.incident_id else None,
                    pilot=s.pilot,
                )
            )
        return out

    def dispatch(self) -> None:
        """Give every queued incident (priority first, then oldest) its best drone, if any."""
        if not self.queue or not self.active:
            return
        order = sorted(
            self.queue, key=lambda i: (self.incidents[i].priority, self.incidents[i].created_ms)
        )
        cands = self.candidates()
        for incident_id in order:
            inc = self.incidents[incident_id]
            if inc.status not in (c.IncidentStatus.NEW, c.IncidentStatus.QUEUED):
                self.queue.remove(incident_id)
                continue
            excluded = self.excluded.get(incident_id, set())
            pool = [x for x in cands if x.drone_id not in excluded]
            decision = choose(
                inc.lat_deg, inc.lon_deg, inc.priority, pool, self.config.model,
                self.traffic.route_check(self.config.model, self.airspace),
            )
            if decision.choice is None:
                reason = f"no drone can go: {decision.summary()}"
                if inc.status != c.IncidentStatus.QUEUED or inc.reason != reason:
                    self.set_incident(incident_id, c.IncidentStatus.QUEUED, reason)
                continue
            choice = decision.choice
            self.queue.remove(incident_id)
            cands = [x for x in cands if x.drone_id != choice.drone_id]
            target = so.Target(inc.lat_deg, inc.lon_deg)
            self.set_incident(
                incident_id,
                c.IncidentStatus.DISPATCHED,
                f"{choice.drone_id} ETA {choice.eta_s:.0f} s",
                assigned_drone=choice.drone_id,
                eta_s=round(choice.eta_s, 1),
            )
            rt = self.drones[choice.drone_id]
            rt.eta_s = choice.eta_s
            if choice.redirect:
                self.apply(choice.drone_id, so.Redirect(incident_id, target, inc.priority))
            else:
                self.apply(
                    choice.drone_id, so.Launch(incident_id, target, inc.priority, self.now_s())
                )

    # --- publishing ---------------------------------------------------------------------------

    def drone_state(self, drone_id: str) -> c.DroneState:
        rt = self.drones[drone_id]
        s = rt.sortie
        return c.DroneState(
            drone_id=drone_id,
            ts_ms=c.now_ms(),
            phase=s.phase,
            dock_id=s.dock_id if s.phase in (c.Phase.DOCKED, c.Phase.CHARGING) else None,
            home_dock_id=s.dock_id,
            incident_id=s.incident_id,
            pilot=s.pilot,
            health=rt.health,
            last_failsafe=s.last_failsafe,
            target_lat_deg=s.target.lat_deg if s.target else None,
            target_lon_deg=s.target.lon_deg if s.target else None,
            orbit_radius_m=s.orbit_radius_m if s.phase == c.Phase.ON_SCENE else None,
            eta_s=round(rt.eta_s, 1) if rt.eta_s is not None else None,
            controller_id=self.cid,
        )

    async def publish_state(self, drone_id: str) -> None:
        if not self.active:
            return
        state = self.drone_state(drone_id)
        rt = self.drones[drone_id]
        body = c.encode(sreplace(state, ts_ms=0))
        if body == rt.last_state:
            return
        rt.last_state = body
        await self.bus.publish(c.drone_state(drone_id), c.encode(state), qos=1, retain=True)

    async def _publish_incident(self, inc: c.Incident) -> None:
        if not self.active or (self.partition is not None and not self.partition.owns(inc)):
            return
        if self.retention.expired(inc):
            return  # cleared from the broker (groundstation.control.retention); kept in the journal
        await self.bus.publish(c.incident(inc.incident_id), c.encode(inc), qos=1, retain=True)

    def alert(
        self,
        severity: c.Severity,
        code: str,
        message: str,
        *,
        drone_id: str | None = None,
        incident_id: str | None = None,
        dock_id: str | None = None,
    ) -> None:
        log.log(logging.WARNING if severity != c.Severity.INFO else logging.INFO, "%s", message)
        self.journal.event(str(severity), code, message, drone_id=drone_id, incident_id=incident_id)
        if not self.active:
            return
        a = c.Alert(
            ts_ms=c.now_ms(),
            severity=severity,
            code=code,
            message=message,
            drone_id=drone_id,
            incident_id=incident_id,
            dock_id=dock_id,
        )
        self.spawn(
            self.bus.publish(c.controller_events(self.cid), c.encode(a), qos=1), f"alert:{code}"
        )

    async def shutdown(self) -> None:
        """Announce going offline (the Last Will covers a crash)."""
        if self.ha is not None:
            await self.ha.release()
        with contextlib.suppress(Exception):
            status = c.ControllerStatus(controller_id=self.cid, status="offline", ts_ms=c.now_ms())
            await self.bus.publish(
                c.controller_status(self.cid), c.encode(status), qos=1, retain=True
            )
