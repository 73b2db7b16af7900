"""The I/O a controller is given, as narrow typed Protocols (passed in by its constructor).

The real things: ``missions.airspace.Airspace`` (:class:`Airspace`),
``groundstation.adapters.docks.DockLink`` (:class:`DockPort`), ``groundstation.adapters.bus.Bus``
(:class:`Publisher`, :class:`StreamPublisher`), ``adapters.journal.Journal`` (:class:`EventLog`,
:class:`CommandLog`), ``groundstation.control.ha.LeaseKeeper`` (:class:`LeaseHolder`) and
``groundstation.control.partition.Partition`` (:class:`PartitionPort`). Unit tests give fakes that
implement these (tests/unit/fakes.py), checked by mypy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from groundstation import contract as c
from groundstation.core.dispatch import AirspaceCheck

if TYPE_CHECKING:
    from groundstation.adapters.bus import Message
    from groundstation.adapters.docks import DockView
    from groundstation.adapters.journal import CommandRow
    from missions.geo import LatLon
    from missions.plan import Geofence


class Alerts(Protocol):
    """Raising an operator alert (``Controller.alert``): logged, journalled, published."""

    def alert(
        self,
        severity: c.Severity,
        code: str,
        message: str,
        *,
        drone_id: str | None = None,
        incident_id: str | None = None,
        dock_id: str | None = None,
    ) -> None: ...


class Airspace(AirspaceCheck, Protocol):
    """Static airspace (``missions.airspace.Airspace``): points and routes (a refusal has its
    code and a reason that names the zone), and the no-fly zones near a dock as a geofence."""

    def geofence(
        self, centre: LatLon | None = None, radius_m: float | None = None, *, max_vertices: int = 40
    ) -> Geofence: ...


class DockPort(Protocol):
    """The dock controllers, over the bus (``groundstation.adapters.docks.DockLink``)."""

    def subscriptions(self) -> list[tuple[str, int]]: ...
    def handle(self, msg: Message) -> bool: ...
    def view(self, dock_id: str) -> DockView | None: ...
    def ready_reason(
        self, dock_id: str, *, max_wind_m_s: float, max_rainfall: int
    ) -> str | None: ...
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
    ) -> None: ...


class Publisher(Protocol):
    """Publishing on the bus (``groundstation.adapters.bus.Bus``)."""

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        expiry_s: int | None = None,
    ) -> bool: ...


class StreamPublisher(Publisher, Protocol):
    """Publishing telemetry streams too: queued without waiting, written in one pass
    (``Bus.publish_nowait``)."""

    def publish_nowait(self, topic: str, payload: bytes) -> bool: ...


class BusPort(StreamPublisher, Protocol):
    """The whole bus as the controller uses it (``adapters.bus.Bus``): its subscriptions,
    its one stream of messages, presence on every connection."""

    @property
    def connected(self) -> bool: ...
    async def subscribe(self, topic: str, qos: int = 0) -> None: ...
    def messages(self) -> AsyncIterator[Message]: ...
    def on_connect(self, callback: Callable[[], Awaitable[None]]) -> None: ...
    def set_birth(self, topic: str, payload: bytes, *, retain: bool = True) -> None: ...


class EventLog(Protocol):
    """The journal's event log (``groundstation.adapters.journal.Journal``)."""

    def event(
        self,
        severity: str,
        code: str,
        message: str,
        *,
        drone_id: str | None = None,
        incident_id: str | None = None,
    ) -> None: ...


class CommandLog(EventLog, Protocol):
    """The journal's record of operator requests and their answers (who, what, result, why)."""

    def command(
        self,
        who: str,
        method: str,
        tid: str | None,
        data: object,
        result: int,
        reason: str | None,
    ) -> None: ...

    def seen_tid(self, tid: str) -> CommandRow | None: ...
    def save_incident(self, inc: c.Incident) -> None: ...


class LeaseHolder(Protocol):
    """Hot standby's lease keeper (``groundstation.control.ha.LeaseKeeper``): tells
    ``on_change(active, epoch, reason)`` when this controller becomes active or must stand down."""

    on_change: Callable[[bool, int, str], None]

    def subscriptions(self) -> list[tuple[str, int]]: ...
    def handle(self, msg: Message) -> bool: ...
    async def run(self) -> None: ...
    async def release(self) -> None: ...


class PartitionPort(Protocol):
    """Partitioned dispatch (``groundstation.control.partition.Partition``)."""

    def subscriptions(self) -> list[tuple[str, int]]: ...
    def handle(self, msg: Message) -> bool: ...
    def owns(self, inc: c.Incident) -> bool: ...
    async def run(self) -> None: ...
