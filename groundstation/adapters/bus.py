"""The MQTT adapter: the only module that imports aiomqtt (and paho beneath it).

A :class:`Bus` is an async context manager holding one broker session that it keeps alive: when
the broker goes away it reconnects in one explicit loop with capped, jittered backoff, subscribes
again and re-sends its *birth* messages (retained presence), so callers never see a dead client.

- Incoming messages land in a bounded queue and are read with ``async for msg in bus.messages()``.
  When the queue is full the oldest QoS 0 telemetry is the first thing dropped (counted).
- ``publish`` never blocks the caller for long: QoS 0 while disconnected is dropped (counted);
  QoS 1 waits up to ``publish_timeout_s`` for the connection, then raises :class:`BusError`.
- ``publish_nowait`` queues a QoS 0 message without waiting for it to be written: the messages
  of one event-loop step are encoded into one buffer and written with one ``send`` when the
  socket is writable (one wake-up, no per-message writer registration or paho bookkeeping),
  bounded by ``OUT_LIMIT`` messages waiting.
- Every socket gets TCP_NODELAY (without it loopback p99 latency is ~40 ms instead of ~3 ms).
- MQTT 5 message expiry is set on commands when the broker speaks MQTT 5; receivers also check
  the envelope timestamp so a stale command never acts late on an MQTT 3.1.1 broker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import random
import socket
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt import client as mqtt
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from groundstation.errors import BusError, ConfigError
from groundstation.tasks import cancel_until_done

if TYPE_CHECKING:
    from paho.mqtt.client import MQTTMessage
    from paho.mqtt.client import _OutPacket as OutPacket

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000
OUT_LIMIT = 2_000
"""QoS 0 messages queued by :meth:`Bus.publish_nowait` and not yet written to the socket; beyond
this (a broker that stops reading) further ones are dropped and counted."""


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where the broker is and how to log in. Built once from a URL at the edge."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    mqtt5: bool = True
    alternates: tuple[tuple[str, int], ...] = ()
    """Other nodes of a broker cluster, tried in turn when the current one is lost."""

    @classmethod
    def from_url(cls, url: str, *, ca_file: str | None = None, mqtt5: bool = True) -> BrokerConfig:
        """``mqtt://[user:pass@]host[:port]`` or ``mqtts://...`` (TLS, verified with ca_file).

        Several comma-separated URLs name the nodes of a cluster: the first is tried first, the
        others in turn whenever the connection is lost (same scheme and login for all)."""
        first, *others = [u.strip() for u in url.split(",") if u.strip()] or [url]
        primary = cls._from_one(first, ca_file=ca_file, mqtt5=mqtt5)
        alternates = []
        for other in others:
            alt = cls._from_one(other, ca_file=ca_file, mqtt5=mqtt5)
            if alt.tls != primary.tls:
                raise ConfigError(f"broker URLs {url!r}: mix of mqtt:// and mqtts://")
            alternates.append((alt.host, alt.port))
        return dataclasses.replace(primary, alternates=tuple(alternates))

    def endpoints(self) -> list[tuple[str, int]]:
        return [(self.host, self.port), *self.alternates]

    @classmethod
    def _from_one(cls, url: str, *, ca_file: str | None, mqtt5: bool) -> BrokerConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ConfigError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
        tls = parts.scheme in ("mqtts", "ssl")
        if not parts.hostname:
            raise ConfigError(f"broker URL {url!r} names no host")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigError(f"broker URL {url!r}: bad port") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
            ca_file=ca_file,
            mqtt5=mqtt5,
        )

    def url(self) -> str:
        """The URL without the password, for logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def with_login(self, username: str | None, password: str | None) -> BrokerConfig:
        return dataclasses.replace(self, username=username, password=password)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(slots=True)
class BusStats:
    published: int = 0
    received: int = 0
    dropped_out: int = 0
    dropped_in: int = 0
    connects: int = 0


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


@dataclass(slots=True)
class _Birth:
    topic: str
    payload: bytes
    retain: bool = True
    qos: int = 1


@dataclass
class _Subscription:
    topic: str
    qos: int = 0


@dataclass
class Bus:
    """One broker session, kept alive. Use ``async with Bus(...) as bus``."""

    config: BrokerConfig
    client_id: str
    will: Will | None = None
    keepalive_s: int = 10
    publish_timeout_s: float = 5.0
    max_backoff_s: float = 2.0
    queue_limit: int = QUEUE_LIMIT
    session_expiry_s: int = 0
    """Above 0: a persistent session (MQTT 5 clean start off + session expiry; 3.1.1 clean
    session off). The broker queues QoS 1 messages for our subscriptions while we are away, so
    a request sent during an outage is delivered when we come back instead of dropped."""
    stats: BusStats = field(default_factory=BusStats)

    def __post_init__(self) -> None:
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._first = asyncio.Event()
        self._subs: list[_Subscription] = []
        self._births: dict[str, _Birth] = {}
        self._queue: asyncio.Queue[Message] = asyncio.Queue(self.queue_limit)
        self._task: asyncio.Task[None] | None = None
        self._last_error: BaseException | None = None
        self._on_connect: list[Callable[[], Awaitable[None]]] = []
        self._node = 0
        # publish_nowait: this step's messages, and the packets handed to paho not yet written.
        self._prefixes: dict[str, bytes] = {}
        self._batch = bytearray()
        self._batch_count = 0
        self._batch_client: aiomqtt.Client | None = None
        self._batches: collections.deque[tuple[OutPacket, int, aiomqtt.Client]] = (
            collections.deque()
        )
        self._batches_count = 0

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=f"bus:{self.client_id}")
        first = asyncio.create_task(self._first.wait())
        done, _ = await asyncio.wait(
            {first, self._task}, timeout=10.0, return_when=asyncio.FIRST_COMPLETED
        )
        if first not in done:
            first.cancel()
            await self._stop()
            err = self._last_error
            raise BusError(f"cannot reach broker {self.config.url()}: {err}") from err
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        self._flush()  # messages queued just before closing go out before the DISCONNECT
        if self._task is not None:
            await cancel_until_done(self._task)
            self._task = None

    def node(self) -> str:
        """The broker node in use (or tried next), for logs and status lines."""
        host, port = self.config.endpoints()[self._node % len(self.config.endpoints())]
        return f"{'mqtts' if self.config.tls else 'mqtt'}://{host}:{port}"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        return self.connected

    def on_connect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` after every (re)connection, once subscriptions are restored."""
        self._on_connect.append(callback)

    def _make_client(self) -> aiomqtt.Client:
        client = self._new_client()
        client.pending_calls_threshold = 1000  # aiomqtt warns past 10 in-flight publishes
        return client

    def _new_client(self) -> aiomqtt.Client:
        cfg = self.config
        tls_context = None
        if cfg.tls:
            tls_context = ssl.create_default_context(cafile=cfg.ca_file)
        will = None
        if self.will is not None:
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=1, retain=self.will.retain)
        session: dict[str, Any] = {}
        if self.session_expiry_s > 0:
            if cfg.mqtt5:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = self.session_expiry_s
                session = {"clean_start": False, "properties": props}
            else:
                session = {"clean_session": False}
        host, port = cfg.endpoints()[self._node % len(cfg.endpoints())]
        return aiomqtt.Client(
            host,
            port,
            username=cfg.username,
            password=cfg.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if cfg.mqtt5 else aiomqtt.ProtocolVersion.V311,
            will=will,
            keepalive=self.keepalive_s,
            timeout=5.0,
            tls_context=tls_context,
            max_queued_incoming_messages=self.queue_limit,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            **session,
        )

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._make_client() as client:
                    self._client = client
                    reader = _Reader(
                        client,
                        mqtt5=self.config.mqtt5,
                        on_message=self._deliver,
                        on_paho_message=self._on_paho_message,
                    )
                    for sub in self._subs:
                        await client.subscribe(sub.topic, qos=sub.qos)
                    for birth in list(self._births.values()):
                        await client.publish(birth.topic, birth.payload, birth.qos, birth.retain)
                    self.stats.connects += 1
                    attempt = 0
                    self._connected.set()
                    self._first.set()
                    log.info("connected to %s as %s", self.node(), self.client_id)
                    for cb in self._on_connect:
                        await cb()
                    await reader.until_disconnected()
            except aiomqtt.MqttError as exc:
                self._last_error = exc
                if self._connected.is_set():
                    log.warning("lost broker %s: %s", self.node(), exc)
                # Next time, the next node of the cluster (when there is more than one).
                self._node += 1
                if _is_auth_error(exc) and not self._first.is_set():
                    raise BusError(f"broker refused login: {exc}") from exc
            finally:
                self._connected.clear()
                self._client = None
            attempt += 1
            delay = min(self.max_backoff_s, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
            await asyncio.sleep(delay)

    def _on_paho_message(self, _client: object, _userdata: object, m: MQTTMessage) -> None:
        self._deliver(Message(m.topic, _payload_bytes(m.payload), m.retain))

    def _deliver(self, msg: Message) -> None:
        self.stats.received += 1
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.stats.dropped_in += 1
        self._queue.put_nowait(msg)

    # --- use ---------------------------------------------------------------------------------

    async def subscribe(self, topic: str, qos: int = 0) -> None:
        self._subs.append(_Subscription(topic, qos))
        if self._client is not None and self.connected:
            await self._client.subscribe(topic, qos=qos)

    async def messages(self) -> AsyncGenerator[Message, None]:
        while True:
            yield await self._queue.get()

    def pending(self) -> int:
        return self._queue.qsize()

    def set_birth(self, topic: str, payload: bytes, *, retain: bool = True) -> None:
        """A message (re)published on every connection, e.g. retained presence ``online``."""
        self._births[topic] = _Birth(topic, payload, retain)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        expiry_s: int | None = None,
    ) -> bool:
        """Publish; returns False when a QoS 0 message was dropped for want of a connection."""
        client = self._client
        if client is None or not self.connected:
            if qos == 0:
                self.stats.dropped_out += 1
                return False
            if not await self.wait_connected(self.publish_timeout_s):
                raise BusError(f"broker {self.config.url()} unreachable; {topic} not sent")
            client = self._client
            assert client is not None
        props = None
        if expiry_s is not None and self.config.mqtt5:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.MessageExpiryInterval = expiry_s
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        except aiomqtt.MqttError as exc:
            if qos == 0:
                self.stats.dropped_out += 1
                return False
            raise BusError(f"publish to {topic} failed: {exc}") from exc
        self.stats.published += 1
        return True

    def publish_nowait(self, topic: str, payload: bytes) -> bool:
        """Queue a QoS 0 message for the next write; False when it was dropped (no connection,
        or ``OUT_LIMIT`` messages already waiting for a socket the broker does not drain).

        aiomqtt's ``publish`` waits for each message's write before returning, which costs an
        event-loop round and two epoll registrations per message; telemetry needs no such
        confirmation. Nor does it need paho's per-message bookkeeping (a message-info object, a
        ``send`` system call and an ``on_publish`` callback each): the messages queued in one
        event-loop step are encoded here (:func:`publish_packet`) into one buffer, handed to paho
        (``Client._client``) as one packet at the end of the step and written with one ``send``
        when the socket is writable."""
        client = self._client
        if client is None or not self.connected:
            self.stats.dropped_out += 1
            return False
        if self._waiting() >= OUT_LIMIT:
            self.stats.dropped_out += 1
            return False
        prefix = self._prefixes.get(topic)
        if prefix is None:
            prefix = self._prefixes[topic] = topic_prefix(topic, mqtt5=self.config.mqtt5)
        if not self._batch_count:
            self._batch_client = client
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch += publish_packet(prefix, payload)
        self._batch_count += 1
        self.stats.published += 1
        return True

    def _waiting(self) -> int:
        """Messages queued by ``publish_nowait`` and not yet written to the socket."""
        batches = self._batches
        while batches and (batches[0][0]["to_process"] == 0 or batches[0][2] is not self._client):
            self._batches_count -= batches.popleft()[1]
        return self._batch_count + self._batches_count

    def _flush(self) -> None:
        """The step's messages to paho, as one packet (written in order with paho's own)."""
        count, data, client = self._batch_count, bytes(self._batch), self._batch_client
        self._batch.clear()
        self._batch_count = 0
        self._batch_client = None
        if not count or client is None or client is not self._client:
            return  # the connection they were meant for is gone: QoS 0, lost
        paho = client._client
        # command 0: not a PUBLISH to paho, so no on_publish and no message info for it.
        packet: OutPacket = {
            "command": 0,
            "mid": 0,
            "qos": 0,
            "pos": 0,
            "to_process": len(data),
            "packet": data,
            "info": None,
        }
        paho._out_packet.append(packet)
        paho._call_socket_register_write()
        self._batches.append((packet, count, client))
        self._batches_count += count


class _Reader:
    """Reads the socket in large chunks and parses QoS 0 PUBLISH packets itself.

    aiomqtt wakes paho once per packet (``loop_read`` reads one); paho reads each packet with
    three or more ``recv`` calls (the command byte, each byte of the length, the rest), builds an
    MQTT 5 ``Properties`` object and a message object per PUBLISH, and aiomqtt then passes each
    message through a queue of its own whose iterator makes a task and an ``asyncio.wait`` per
    message. At 1,000 telemetry messages a second that was most of a console's CPU
    (``python -m bench.bench_receive``, docs/performance.md). Here one wake-up reads what the
    socket holds (64 KiB a ``recv``), frames every complete packet in it (:func:`split_packets`),
    and a QoS 0 PUBLISH (all telemetry) goes straight onto the bus's queue. Every other packet
    (CONNACK, SUBACK, PINGRESP, QoS 1 and 2 messages with their acknowledgements) is handed to
    paho's own packet handler, so paho still does the protocol and aiomqtt the connection,
    subscriptions and publishing."""

    RECV_BYTES = 65_536
    RECVS = 4
    """``recv`` calls per wake-up at most; a TLS socket may hold more than it signals, so
    after that many the rest is read on the next event-loop step."""

    def __init__(
        self,
        client: aiomqtt.Client,
        *,
        mqtt5: bool,
        on_message: Callable[[Message], None],
        on_paho_message: Callable[[object, object, MQTTMessage], None],
    ) -> None:
        self._client = client
        self._paho = client._client
        self._mqtt5 = mqtt5
        self._on_message = on_message
        self._rest = b""
        self._loop = asyncio.get_running_loop()
        self._paho.on_message = on_paho_message
        sock = self._paho.socket()
        if sock is not None:
            self._loop.remove_reader(sock.fileno())  # aiomqtt's: one packet per wake-up
            self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            for _ in range(self.RECVS):
                sock = self._paho._sock
                if sock is None:
                    return
                try:
                    data = sock.recv(self.RECV_BYTES)
                except (BlockingIOError, ssl.SSLWantReadError):
                    return
                except ssl.SSLWantWriteError:
                    self._paho._call_socket_register_write()
                    return
                if not data:  # the broker closed the connection
                    self._paho._loop_rc_handle(mqtt.MQTT_ERR_CONN_LOST)
                    return
                self._paho._last_bytes_received = time.monotonic()
                packets, self._rest = split_packets(self._rest + data if self._rest else data)
                for command, body in packets:
                    if command & 0xF6 == 0x30:  # PUBLISH, QoS 0
                        msg = publish_message(command, body, mqtt5=self._mqtt5)
                        if msg is not None:
                            self._on_message(msg)
                            continue
                    if self._paho_handles(command, body):
                        return
            self._loop.call_soon(self._readable)
        except Exception as exc:  # as aiomqtt's reader: a broken socket ends the session
            disconnected = self._client._disconnected
            if not disconnected.done():
                disconnected.set_exception(exc)

    def _paho_handles(self, command: int, body: bytes) -> bool:
        """paho's handler for one packet; True when the connection is to end."""
        paho = self._paho
        paho._in_packet = {
            "command": command,
            "have_remaining": 1,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": len(body),
            "packet": bytearray(body),
            "to_process": 0,
            "pos": 0,
        }
        try:
            rc = paho._packet_handle()
        except MalformedPacket as exc:
            raise BusError(f"malformed packet from the broker: {exc}") from exc
        if rc > 0:
            paho._loop_rc_handle(rc)
            return True
        return False

    async def until_disconnected(self) -> None:
        """Wait for the session to end; raises ``aiomqtt.MqttError`` like aiomqtt's iterator."""
        disconnected = self._client._disconnected
        try:
            await asyncio.shield(disconnected)
        except aiomqtt.MqttError:
            raise
        except Exception as exc:
            raise aiomqtt.MqttError(f"disconnected: {exc}") from exc
        raise aiomqtt.MqttError("disconnected")


def read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """The MQTT variable byte integer at ``pos`` and the position after it, or None when
    ``data`` ends inside it."""
    value, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise BusError("malformed packet from the broker: length over 4 bytes")
    return None


def split_packets(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete MQTT packets at the start of ``data`` as (first byte, rest after the
    length), and the bytes of an incomplete last packet, kept for the next read."""
    packets: list[tuple[int, bytes]] = []
    pos, n = 0, len(data)
    while pos + 1 < n:
        got = read_varint(data, pos + 1)
        if got is None:
            break
        length, start = got
        end = start + length
        if end > n:
            break
        packets.append((data[pos], data[start:end]))
        pos = end
    return packets, data[pos:]


def publish_message(command: int, body: bytes, *, mqtt5: bool) -> Message | None:
    """A QoS 0 PUBLISH's message, or None for one this reader leaves to paho (an MQTT 5 topic
    alias, which this client never allows the broker to use)."""
    size = int.from_bytes(body[:2], "big")
    if size == 0:
        return None
    topic = body[2 : 2 + size].decode()
    pos = 2 + size
    if mqtt5:
        got = read_varint(body, pos)
        if got is None:
            raise BusError("malformed PUBLISH from the broker: its properties are cut short")
        length, pos = got
        pos += length
    return Message(topic, body[pos:], bool(command & 1))


def topic_prefix(topic: str, *, mqtt5: bool) -> bytes:
    """What follows a QoS 0 PUBLISH's fixed header up to its payload: the topic (length-
    prefixed UTF-8) and, in MQTT 5, an empty property list."""
    raw = topic.encode()
    if not raw or len(raw) > 0xFFFF:
        raise BusError(f"topic of {len(raw)} bytes cannot be published")
    return len(raw).to_bytes(2, "big") + raw + (b"\x00" if mqtt5 else b"")


def publish_packet(prefix: bytes, payload: bytes) -> bytes:
    """One QoS 0, not retained, PUBLISH packet (MQTT 3.1.1 and 5: fixed header 0x30, the
    remaining length as a variable byte integer, ``prefix`` from :func:`topic_prefix`, payload)."""
    n = len(prefix) + len(payload)
    if n > 268_435_455:
        raise BusError(f"message of {n} bytes is over MQTT's limit")
    length = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        if n:
            length.append(digit | 0x80)
        else:
            length.append(digit)
            break
    return b"\x30" + bytes(length) + prefix + payload


def _payload_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


def _is_auth_error(exc: aiomqtt.MqttError) -> bool:
    text = str(exc).lower()
    return "not authori" in text or "bad user name" in text or "code:5" in text or "code:4" in text


async def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    """Wait until a TCP port accepts connections (a broker starting up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise BusError(f"nothing listens on {host}:{port}") from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
