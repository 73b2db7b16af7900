"""The one QObject between the bus and the widgets: bus messages in, typed Qt signals out.

:meth:`Bridge.run` is a coroutine for the qasync loop. It connects (retrying until the broker is
up: the demo starts its embedded broker in the same loop), subscribes to everything the console
shows, decodes each payload against the contract and emits one signal per kind. Payloads that do
not fit the contract are counted and reported, never raised into Qt. Outgoing requests are queued
by :meth:`send` (callable from any slot) and published by a task of the same session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from typing import Any, TypeVar

import msgspec

from groundstation import contract as c
from groundstation.adapters.bus import BrokerConfig, Bus, Message
from groundstation.console.qt import QObject, pyqtSignal
from groundstation.errors import BusError

log = logging.getLogger(__name__)

OUT_QUEUE_LIMIT = 256
STALE_REQUEST_S = 10.0
T = TypeVar("T")

_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t)
    for t in (
        c.Telemetry,
        c.DroneState,
        c.Incident,
        c.DockOsd,
        c.DockState,
        c.Presence,
        c.ControllerStatus,
        c.Alert,
        c.Reply,
        c.VideoDescriptor,
        c.TrafficPicture,
        c.TrackingStatus,
        c.TargetPosition,
    )
}


def _decode(payload: bytes, kind: type[T]) -> T:
    if len(payload) > c.MAX_PAYLOAD_BYTES:
        raise c.ContractError(f"payload of {len(payload)} bytes")
    try:
        result: T = _DECODERS[kind].decode(payload)
    except msgspec.DecodeError as exc:
        raise c.ContractError(str(exc)) from exc
    return result


TRAFFIC_PICTURE_PREFIX = c.traffic_picture("")


class Bridge(QObject):
    """Owns the console's bus session. Signals carry contract structs (see each comment)."""

    telemetry = pyqtSignal(object)  # Telemetry
    drone_state = pyqtSignal(object)  # DroneState
    dock_osd = pyqtSignal(object)  # DockOsd
    dock_state = pyqtSignal(object)  # DockState
    dock_presence = pyqtSignal(str, object)  # dock_id, Presence
    incident = pyqtSignal(object)  # Incident
    incident_removed = pyqtSignal(str)  # incident_id (retained record cleared)
    alert = pyqtSignal(str, object)  # controller_id, Alert
    controller = pyqtSignal(object)  # ControllerStatus
    reply = pyqtSignal(object)  # Reply on our operator reply topic
    video = pyqtSignal(object)  # VideoDescriptor
    video_removed = pyqtSignal(str)  # drone_id (retained descriptor cleared)
    traffic = pyqtSignal(object)  # TrafficPicture (crewed aircraft)
    tracking = pyqtSignal(object)  # TrackingStatus
    tracking_removed = pyqtSignal(str)  # drone_id (retained status cleared)
    unit_position = pyqtSignal(object)  # TargetPosition (a ground unit's AVL)
    connection = pyqtSignal(bool, str)  # connected, human-readable status
    send_failed = pyqtSignal(str, str)  # tag, reason
    bad_message = pyqtSignal(str, str)  # topic, reason

    def __init__(self, config: BrokerConfig, user: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.user = user
        self.client_id = f"console-{user}-{uuid.uuid4().hex[:8]}"
        self.connected = False
        self.bad_messages = 0
        self._out: asyncio.Queue[tuple[str, bytes, int | None, str, float]] = asyncio.Queue(
            OUT_QUEUE_LIMIT
        )

    # --- outgoing ----------------------------------------------------------------------------

    def send(
        self, topic: str, payload: bytes, *, expiry_s: int | None = None, tag: str = ""
    ) -> None:
        """Queue a QoS 1 publish. Never blocks; a full queue or dead broker emits send_failed."""
        try:
            self._out.put_nowait((topic, payload, expiry_s, tag, time.monotonic()))
        except asyncio.QueueFull:
            self.send_failed.emit(tag, "too many requests waiting for the broker")

    async def _sender(self, bus: Bus) -> None:
        while True:
            topic, payload, expiry_s, tag, queued = await self._out.get()
            if expiry_s is not None and time.monotonic() - queued > STALE_REQUEST_S:
                # Queued while the broker was away: the pilot was already told it timed out.
                self.send_failed.emit(tag, "expired while the broker was unreachable")
                continue
            try:
                await bus.publish(topic, payload, qos=1, expiry_s=expiry_s)
            except BusError as exc:
                self.send_failed.emit(tag, str(exc))

    # --- session -----------------------------------------------------------------------------

    def topics(self) -> list[tuple[str, int]]:
        return [
            (c.ALL_TELEMETRY, 0),
            (c.ALL_DRONE_STATE, 1),
            (c.ALL_DRONE_VIDEO, 1),
            (c.ALL_DRONE_TRACKING, 1),
            (c.ALL_UNIT_POSITIONS, 0),
            (c.ALL_INCIDENTS, 1),
            (c.all_dock("osd"), 0),
            (c.all_dock("state"), 1),
            (c.all_dock("status"), 1),
            (c.ALL_CONTROLLER_STATUS, 1),
            (c.ALL_CONTROLLER_EVENTS, 1),
            (c.ALL_TRAFFIC_PICTURES, 0),
            (c.operator_services_reply(self.user), 1),
        ]

    def _set_connected(self, up: bool, text: str) -> None:
        if up != self.connected or not up:
            self.connected = up
            self.connection.emit(up, text)

    async def run(self) -> None:
        """Connect, retrying until the broker answers; then serve until cancelled."""
        attempt = 0
        while True:
            try:
                async with Bus(self.config, self.client_id, max_backoff_s=1.0) as bus:
                    attempt = 0
                    for topic, qos in self.topics():
                        await bus.subscribe(topic, qos)
                    self._set_connected(True, f"connected to {self.config.url()}")
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._reader(bus), name="console:reader")
                        tg.create_task(self._sender(bus), name="console:sender")
                        tg.create_task(self._watch(bus), name="console:watch")
            except BusError as exc:
                self._set_connected(False, f"broker {self.config.url()}: {exc}")
            attempt += 1
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))

    async def _watch(self, bus: Bus) -> None:
        while True:
            await asyncio.sleep(0.5)
            up = bus.connected
            if up != self.connected:
                text = f"connected to {self.config.url()}" if up else "broker connection lost"
                self._set_connected(up, text)

    async def _reader(self, bus: Bus) -> None:
        async for msg in bus.messages():
            try:
                self.dispatch(msg)
            except c.ContractError as exc:
                self.bad_messages += 1
                self.bad_message.emit(msg.topic, exc.reason)

    def dispatch(self, msg: Message) -> None:
        """Decode one message and emit its signal (telemetry first: it is 99 % of the traffic)."""
        topic, payload = msg.topic, msg.payload
        if topic.endswith("/telemetry"):
            self.telemetry.emit(_decode(payload, c.Telemetry))
            return
        if topic.startswith(TRAFFIC_PICTURE_PREFIX):
            self.traffic.emit(_decode(payload, c.TrafficPicture))
            return
        ref = c.parse_topic(topic)
        if ref is None:
            return
        kind, leaf = ref.kind, ref.leaf
        if kind == "drone" and leaf == "video":
            if not payload:
                self.video_removed.emit(ref.ident)
            else:
                self.video.emit(_decode(payload, c.VideoDescriptor))
        elif kind == "drone" and leaf == "tracking":
            if not payload:
                self.tracking_removed.emit(ref.ident)
            else:
                self.tracking.emit(_decode(payload, c.TrackingStatus))
        elif kind == "incident":
            if not payload:
                self.incident_removed.emit(ref.ident)
            else:
                self.incident.emit(_decode(payload, c.Incident))
        elif not payload:
            return  # a cleared retained record of another kind
        elif kind == "drone" and leaf == "state":
            self.drone_state.emit(_decode(payload, c.DroneState))
        elif kind == "dock" and leaf == "osd":
            self.dock_osd.emit(_decode(payload, c.DockOsd))
        elif kind == "dock" and leaf == "state":
            self.dock_state.emit(_decode(payload, c.DockState))
        elif kind == "dock" and leaf == "status":
            self.dock_presence.emit(ref.ident, _decode(payload, c.Presence))
        elif kind == "unit" and leaf == "position":
            self.unit_position.emit(_decode(payload, c.TargetPosition))
        elif kind == "controller" and leaf == "status":
            self.controller.emit(_decode(payload, c.ControllerStatus))
        elif kind == "controller" and leaf == "events":
            with contextlib.suppress(c.ContractError):
                # Controller events also carry non-alert records; only alerts are shown.
                self.alert.emit(ref.ident, _decode(payload, c.Alert))
        elif kind == "operator" and leaf == "services_reply" and ref.ident == self.user:
            self.reply.emit(_decode(payload, c.Reply))
