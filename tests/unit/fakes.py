"""Fakes of the controller's Protocols for the unit tests of its rules (checked by mypy against
the real Protocols: ``WatchHost``, ``CommandHost``, ``TelemetryHost``, ``ServicesHost``,
``PartitionHost`` and the ports of ``groundstation.core.ports``).

:class:`FakeHost` is a controller without I/O: a real :class:`ControllerState`, the real sortie
machine behind ``apply`` (every event and action recorded), recording bus, journal, vehicles and
docks. Nothing here opens a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from msgspec.structs import replace as sreplace

from groundstation import contract as c
from groundstation.adapters.bus import Message
from groundstation.adapters.docks import DockView
from groundstation.adapters.journal import CommandRow
from groundstation.control.commands import CommandHost
from groundstation.control.partition import PartitionHost
from groundstation.control.services import (
    CameraService,
    DockRegistrar,
    MethodService,
    ServicesHost,
    TrackingService,
)
from groundstation.control.telemetry import TelemetryHost
from groundstation.control.watch import WatchHost
from groundstation.core import sortie as so
from groundstation.core.config import ControllerConfig
from groundstation.core.dispatch import Candidate
from groundstation.core.ports import Airspace, BusPort, CommandLog, DockPort, StreamPublisher
from groundstation.core.state import ControllerState, DroneRuntime
from groundstation.core.vehicle import FlightMode, GeofencePolygon, VehicleLink, VehicleSample
from groundstation.errors import DockError, VehicleError
from missions.airspace import Refusal, RefusalCode
from missions.geo import LatLon
from missions.plan import FencePolygon, Geofence, MavlinkItem
from missions.sites import Dock, load_sites

SITES = load_sites("met-trial")


def at(dock: Dock, **kw: Any) -> VehicleSample:
    """A healthy, disarmed vehicle standing on ``dock`` (override any field)."""
    base = VehicleSample(
        lat_deg=dock.lat_deg, lon_deg=dock.lon_deg, alt_rel_m=0.0, alt_amsl_m=dock.alt_amsl_m,
        battery_pct=95.0, battery_v=16.0, flight_mode=FlightMode.HOLD, gps_fix=3, satellites=14,
        global_position_ok=True, home_position_ok=True, armable=True, home_lat_deg=dock.lat_deg,
        home_lon_deg=dock.lon_deg, home_alt_amsl_m=dock.alt_amsl_m, connected=True,
        state_known=True, updated_s=1.0,
    )
    return replace(base, **kw)


# --- ports ----------------------------------------------------------------------------------------


@dataclass
class FakeBus:
    published: list[tuple[str, bytes, int, bool]] = field(default_factory=list)
    nowait: list[tuple[str, bytes]] = field(default_factory=list)
    accept_nowait: bool = True
    subscribed: list[str] = field(default_factory=list)
    births: dict[str, bytes] = field(default_factory=dict)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        expiry_s: int | None = None,
    ) -> bool:
        self.published.append((topic, payload, qos, retain))
        return True

    def publish_nowait(self, topic: str, payload: bytes) -> bool:
        self.nowait.append((topic, payload))
        return self.accept_nowait

    # The rest of groundstation.core.ports.BusPort: no broker, no message ever arrives.

    @property
    def connected(self) -> bool:
        return True

    async def subscribe(self, topic: str, qos: int = 0) -> None:
        self.subscribed.append(topic)

    async def messages(self) -> AsyncIterator[Message]:
        return
        yield  # an async generator that ends at once

    def on_connect(self, callback: Callable[[], Awaitable[None]]) -> None:
        pass

    def set_birth(self, topic: str, payload: bytes, *, retain: bool = True) -> None:
        self.births[topic] = payload


@dataclass
class FakeJournal:
    commands: list[CommandRow] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    incidents: list[c.Incident] = field(default_factory=list)

    def event(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        drone_id: str | None = None,
        incident_id: str | None = None,
    ) -> None:
        self.events.append((severity, code, message))

    def command(
        self, who: str, method: str, tid: str | None, data: object, result: int, reason: str | None
    ) -> None:
        self.commands.append(CommandRow(c.now_ms(), who, method, tid, result, reason))

    def seen_tid(self, tid: str) -> CommandRow | None:
        return next((r for r in reversed(self.commands) if r.tid == tid), None)

    def save_incident(self, inc: c.Incident) -> None:
        self.incidents.append(inc)


@dataclass(frozen=True)
class Box:
    """A no-fly box in degrees."""

    name: str
    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


@dataclass
class FakeAirspace:
    """No-fly boxes; a route is checked at 50 points along it."""

    zones: list[Box] = field(default_factory=list)

    def check_point(
        self, lat_deg: float, lon_deg: float, alt_rel_m: float | None = None
    ) -> Refusal | None:
        for z in self.zones:
            if z.contains(lat_deg, lon_deg):
                return Refusal(RefusalCode.NOFLY, f"inside {z.name}")
        return None

    def check_route(self, a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> Refusal | None:
        for i in range(51):
            t = i / 50
            refusal = self.check_point(a_lat + (b_lat - a_lat) * t, a_lon + (b_lon - a_lon) * t)
            if refusal is not None:
                return Refusal(RefusalCode.NO_ROUTE, f"route crosses {refusal.reason[7:]}")
        return None

    def geofence(
        self, centre: LatLon | None = None, radius_m: float | None = None, *, max_vertices: int = 40
    ) -> Geofence:
        return Geofence(
            polygons=tuple(
                FencePolygon(
                    (
                        LatLon(z.south, z.west),
                        LatLon(z.north, z.west),
                        LatLon(z.north, z.east),
                        LatLon(z.south, z.east),
                    ),
                    inclusion=False,
                )
                for z in self.zones
            )
        )


@dataclass
class FakeVehicle:
    """Records every command; ``fail`` names the calls that raise VehicleError."""

    drone_id: str
    system_id: int = 1
    state: VehicleSample = field(default_factory=VehicleSample)
    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    listener: Callable[[], None] | None = None

    def sample(self) -> VehicleSample:
        return self.state

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        self.listener = listener

    async def _do(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise VehicleError(self.drone_id, name, "COMMAND_DENIED")

    async def set_position_rate(self, rate_hz: float) -> None:
        await self._do("set_position_rate", rate_hz)

    async def arm(self) -> None:
        await self._do("arm")

    async def takeoff(self, alt_rel_m: float) -> None:
        await self._do("takeoff", alt_rel_m)

    async def goto(self, lat_deg: float, lon_deg: float, alt_amsl_m: float) -> None:
        await self._do("goto", lat_deg, lon_deg, alt_amsl_m)

    async def orbit(
        self, lat_deg: float, lon_deg: float, alt_amsl_m: float, radius_m: float, speed_m_s: float
    ) -> None:
        await self._do("orbit", lat_deg, lon_deg, alt_amsl_m, radius_m, speed_m_s)

    async def hold(self) -> None:
        await self._do("hold")

    async def land(self) -> None:
        await self._do("land")

    async def return_to_launch(self) -> None:
        await self._do("return_to_launch")

    async def set_speed(self, speed_m_s: float) -> None:
        await self._do("set_speed", speed_m_s)

    async def set_params(self, params: Mapping[str, float | int]) -> None:
        await self._do("set_params", dict(params))

    async def upload_geofence(self, polygons: list[GeofencePolygon]) -> None:
        await self._do("upload_geofence", polygons)

    async def fly_mission(self, items: list[MavlinkItem]) -> None:
        await self._do("fly_mission", len(items))


@dataclass
class FakeDocks:
    """Dock controllers: ``unusable`` docks give a reason; ``fail`` methods raise DockError."""

    unusable: dict[str, str] = field(default_factory=dict)
    fail: set[c.DockMethod] = field(default_factory=set)
    calls: list[tuple[str, c.DockMethod]] = field(default_factory=list)

    def subscriptions(self) -> list[tuple[str, int]]:
        return []

    def handle(self, msg: Message) -> bool:
        return False

    def view(self, dock_id: str) -> DockView | None:
        return None

    def ready_reason(
        self, dock_id: str, *, max_wind_m_s: float, max_rainfall: int
    ) -> str | None:
        return self.unusable.get(dock_id)

    async def call(
        self,
        dock_id: str,
        method: c.DockMethod,
        *,
        timeout_s: float = 30.0,
        attempts: int = 3,
        on_progress: Callable[[c.JobEventOutput], None] | None = None,
        bid: str | None = None,
        wait_turn: bool = True,
    ) -> None:
        self.calls.append((dock_id, method))
        if method in self.fail:
            raise DockError(dock_id, str(method), "cover stuck", result=c.Result.DOCK_FAULT)


@dataclass
class Answered:
    """Operator methods answered elsewhere (sharing, links, camera, tracking, registrations)."""

    calls: list[str] = field(default_factory=list)

    async def handle(self, username: str, method: c.OperatorMethod, data: Any) -> dict[str, Any]:
        self.calls.append(str(method))
        return {"answered_by": "fake"}

    async def command(self, username: str, d: c.DroneCamera) -> dict[str, Any]:
        self.calls.append("camera")
        return {"drone_id": d.drone_id}

    async def start(self, username: str, d: c.DroneTrack) -> dict[str, Any]:
        self.calls.append("track")
        return {"drone_id": d.drone_id}

    async def stop(self, username: str, d: c.DroneTrackStop) -> dict[str, Any]:
        self.calls.append("track_stop")
        return {"drone_id": d.drone_id}

    async def register(self, caller: str, role: c.Role, d: c.DockRegister) -> dict[str, Any]:
        self.calls.append("register")
        return {}


@dataclass
class FakeFleet:
    vehicles: dict[str, FakeVehicle] = field(default_factory=dict)

    def get(self, drone_id: str) -> VehicleLink | None:
        return self.vehicles.get(drone_id)

    def links(self) -> list[VehicleLink]:
        return list(self.vehicles.values())


# --- the host -------------------------------------------------------------------------------------


@dataclass
class Alerted:
    severity: c.Severity
    code: str
    message: str
    drone_id: str | None
    dock_id: str | None


class FakeHost:
    """A controller without I/O (see the module docstring)."""

    def __init__(
        self,
        config: ControllerConfig | None = None,
        *,
        airspace: FakeAirspace | None = None,
        docks: FakeDocks | None = None,
        active: bool = True,
    ) -> None:
        self.config = config or ControllerConfig(site_set=SITES)
        self.cid = self.config.controller_id
        self._airspace = airspace
        self._docks = docks
        self.state = ControllerState(active=active)
        self.fake_bus = FakeBus()
        self.fake_journal = FakeJournal()
        self.vehicles: dict[str, FakeVehicle] = {}
        self.samples: dict[str, VehicleSample] = {}
        self.events: list[tuple[str, so.Event]] = []
        self.actions: list[tuple[str, so.Action]] = []
        self.started: list[tuple[str, so.Action]] = []
        self.alerts: list[Alerted] = []
        self.spawned: list[str] = []
        self.shared: list[tuple[str, bytes]] = []
        self.dropped: list[str] = []
        self.owned: list[c.Incident] = []
        self.answered = Answered()
        self.cands: list[Candidate] = []
        self._seq = 0
        self.clock_s = 0.0  # mission time, moved by the tests
        for dock in self.config.site_set.docks:
            self.state.drones[dock.drone_id] = DroneRuntime(self.new_sortie(dock))

    def new_sortie(self, dock: Dock) -> so.Sortie:
        m = self.config.model
        return so.Sortie(
            drone_id=dock.drone_id,
            dock_id=dock.dock_id,
            dock=so.Target(dock.lat_deg, dock.lon_deg),
            cruise_alt_rel_m=m.cruise_alt_rel_m,
            safe_alt_rel_m=m.safe_alt_rel_m,
            orbit_radius_m=self.config.orbit_radius_m,
            orbit_speed_m_s=self.config.orbit_speed_m_s,
            on_scene_s=m.on_scene_s,
        )

    def put(self, drone_id: str, sortie: so.Sortie) -> None:
        self.state.drones[drone_id].sortie = sortie

    def vehicle(self, drone_id: str) -> FakeVehicle:
        v = self.vehicles.get(drone_id)
        if v is None:
            v = self.vehicles[drone_id] = FakeVehicle(drone_id)
        return v

    # --- ports as the Protocols name them ----------------------------------------------------

    @property
    def airspace(self) -> Airspace | None:
        return self._airspace

    @property
    def docks(self) -> DockPort | None:
        return self._docks

    @property
    def bus(self) -> StreamPublisher:
        return self.fake_bus

    @property
    def journal(self) -> CommandLog:
        return self.fake_journal

    @property
    def active(self) -> bool:
        return self.state.active

    @property
    def sharing(self) -> MethodService:
        return self.answered

    @property
    def links(self) -> MethodService:
        return self.answered

    @property
    def video(self) -> CameraService:
        return self.answered

    @property
    def tracking(self) -> TrackingService:
        return self.answered

    @property
    def registry(self) -> DockRegistrar | None:
        return self.answered

    # --- reads ---------------------------------------------------------------------------------

    def runtime(self, drone_id: str) -> DroneRuntime | None:
        return self.state.drones.get(drone_id)

    def has_drone(self, drone_id: str) -> bool:
        return drone_id in self.state.drones

    def sorties(self) -> dict[str, so.Sortie]:
        return {d: rt.sortie for d, rt in self.state.drones.items()}

    def sortie_of(self, drone_id: str) -> so.Sortie | None:
        return self.state.sortie_of(drone_id)

    def incident(self, incident_id: str) -> c.Incident | None:
        return self.state.incidents.get(incident_id)

    def is_queued(self, incident_id: str) -> bool:
        return incident_id in self.state.queue

    def sample(self, drone_id: str) -> VehicleSample:
        v = self.vehicles.get(drone_id)
        return v.state if v is not None else self.samples.get(drone_id, VehicleSample())

    def link(self, drone_id: str) -> VehicleLink | None:
        return self.vehicles.get(drone_id)

    def amsl(self, drone_id: str, alt_rel_m: float) -> float:
        dock = self.config.site_set.dock_of_drone(drone_id)
        return (dock.alt_amsl_m if dock else 0.0) + alt_rel_m

    def now_s(self) -> float:
        return self.clock_s

    def candidates(self) -> list[Candidate]:
        return list(self.cands)

    def claimed_docks(self, drone_id: str) -> set[str]:
        return self.state.claimed_docks(drone_id)

    def has_docks(self) -> bool:
        return self._docks is not None

    def dock_reason(self, dock_id: str) -> str | None:
        return None if self._docks is None else self._docks.unusable.get(dock_id)

    def dock_usable(self, dock_id: str) -> bool:
        reason = self.dock_reason(dock_id)
        return reason is None or reason.startswith(("wind", "rainfall"))

    def dock_job_method(self, dock_id: str) -> c.DockMethod | None:
        return self.state.dock_jobs.get(dock_id)

    # --- the controller's one door, and its records -------------------------------------------

    def apply(self, drone_id: str, event: so.Event) -> None:
        self.events.append((drone_id, event))
        rt = self.state.drones[drone_id]
        rt.sortie, actions = so.step(rt.sortie, event)
        self.actions += [(drone_id, a) for a in actions]

    def start_action(self, drone_id: str, action: so.Action) -> None:
        self.started.append((drone_id, action))

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
        self.alerts.append(Alerted(severity, code, message, drone_id, dock_id))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Recorded, not run (a unit test runs what it needs itself)."""
        self.spawned.append(name)
        coro.close()

    async def publish_state(self, drone_id: str) -> None:
        self.spawned.append(f"published:{drone_id}")

    def share_telemetry(self, drone_id: str, body: bytes) -> None:
        self.shared.append((drone_id, body))

    def dock_job_started(self, dock_id: str, method: c.DockMethod) -> None:
        self.state.dock_jobs[dock_id] = method

    def dock_job_ended(self, dock_id: str) -> None:
        self.state.dock_jobs.pop(dock_id, None)

    def new_incident_id(self) -> str:
        self._seq += 1
        return f"inc-test-{self._seq:04d}"

    def add_incident(self, inc: c.Incident) -> None:
        self.state.incidents[inc.incident_id] = inc
        if inc.status in (c.IncidentStatus.NEW, c.IncidentStatus.QUEUED):
            self.state.queue.append(inc.incident_id)

    def set_incident(
        self, incident_id: str, status: c.IncidentStatus, reason: str | None = None
    ) -> None:
        inc = self.state.incidents[incident_id]
        self.state.incidents[incident_id] = sreplace(inc, status=status, reason=reason)

    def unqueue(self, incident_id: str) -> None:
        self.state.unqueue(incident_id)

    def drop_incident(self, incident_id: str) -> None:
        self.dropped.append(incident_id)
        self.state.incidents.pop(incident_id, None)
        self.state.unqueue(incident_id)

    def own_incident(self, inc: c.Incident) -> None:
        self.owned.append(inc)
        self.state.incidents[inc.incident_id] = inc


# The fake is each of the controller's host Protocols (mypy checks these five).


def as_bus(b: FakeBus) -> BusPort:
    return b


def as_watch_host(h: FakeHost) -> WatchHost:
    return h


def as_command_host(h: FakeHost) -> CommandHost:
    return h


def as_telemetry_host(h: FakeHost) -> TelemetryHost:
    return h


def as_services_host(h: FakeHost) -> ServicesHost:
    return h


def as_partition_host(h: FakeHost) -> PartitionHost:
    return h
