"""The simulated docks on the wire: :class:`DockSimFleet` runs one :class:`DockSim` per dock of a
site set, each on its own :class:`~groundstation.adapters.bus.Bus`
(client id ``dock-{dock_id}``, Last
Will ``offline``). On a plain TCP broker each dock connects through a small local relay, so
``go_offline`` can cut the connection abruptly (the broker then publishes the Last Will), as a
real network outage would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from types import TracebackType
from typing import Any, Self

from groundstation import contract as c
from groundstation.adapters.bus import BrokerConfig, Bus, Will
from groundstation.docksim.core import DockSim, Out
from groundstation.errors import BusError, ConfigError
from groundstation.tasks import cancel_until_done
from missions.sites import SiteSet

log = logging.getLogger(__name__)


# --- IO: a relay to cut connections, a runner per dock, the fleet -----------------------------


class _Relay:
    """A loopback TCP relay to the broker that can drop its connections abruptly."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut = False
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def set_cut(self, cut: bool) -> None:
        """Cut: stop listening (connects are refused at once) and reset every connection."""
        if cut == self.cut:
            return
        self.cut = cut
        if not cut:
            await self.start()
            return
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()

    def is_cut(self) -> bool:
        return self.cut

    async def close(self) -> None:
        await self.set_cut(True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.cut:
                raise ConnectionRefusedError
            up_r, up_w = await asyncio.open_connection(*self._target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        if self.is_cut():  # cut while connecting upstream
            up_w.transport.abort()
            self._writers.discard(writer)
            writer.transport.abort()
            return
        for w in (writer, up_w):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writers.add(w)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_pipe(reader, up_w, writer), name="relay:up")
                tg.create_task(_pipe(up_r, writer, up_w), name="relay:down")
        except* OSError:
            pass
        finally:
            for w in (writer, up_w):
                self._writers.discard(w)
                w.transport.abort()


async def _pipe(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, other: asyncio.StreamWriter
) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    finally:
        other.transport.abort()
        dst.transport.abort()


class _DockRunner:
    def __init__(self, sim: DockSim, broker: BrokerConfig, tick_s: float) -> None:
        self.sim = sim
        self.broker = broker
        self.tick_s = tick_s
        self.relay: _Relay | None = None if broker.tls else _Relay(broker.host, broker.port)
        self.bus: Bus | None = None

    def _topic(self, leaf: str) -> str:
        return c.dock_topic(self.sim.dock_id, leaf)

    async def run(self, started: asyncio.Event) -> None:
        config = self.broker
        if self.relay is not None:
            await self.relay.start()
            config = BrokerConfig("127.0.0.1", self.relay.port, config.username,
                                  config.password, False, None, config.mqtt5)
        offline = c.encode(c.Presence(status="offline"))
        bus = Bus(config, f"dock-{self.sim.dock_id}",
                  will=Will(self._topic("status"), offline, retain=True), publish_timeout_s=2.0)
        bus.set_birth(self._topic("status"), c.encode(c.Presence(status="online",
                                                                  ts_ms=c.now_ms())))
        await bus.subscribe(self._topic("services"), 1)
        await bus.subscribe(self._topic("events_reply"), 1)
        await bus.subscribe(c.drone_telemetry(self.sim.dock.drone_id), 0)
        await bus.subscribe(self._topic("assignment"), 1)
        try:
            async with bus:
                self.bus = bus
                started.set()
                tasks = [
                    asyncio.create_task(self._read(bus), name=f"docksim:{self.sim.dock_id}:read"),
                    asyncio.create_task(self._tick(bus), name=f"docksim:{self.sim.dock_id}:tick"),
                ]
                try:
                    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                finally:
                    for task in tasks:
                        await cancel_until_done(task)
                    await self._goodbye(bus)
        finally:
            self.bus = None
            if self.relay is not None:
                await self.relay.close()

    async def _read(self, bus: Bus) -> None:
        async for msg in bus.messages():
            if self.sim.offline:
                continue
            leaf = msg.topic.rsplit("/", 1)[-1]
            if leaf == "services":
                await self._send(bus, self.sim.handle_service(msg.payload, time.monotonic()))
            elif leaf == "events_reply":
                self.sim.handle_events_reply(msg.payload)
            elif leaf == "telemetry":
                self.sim.on_telemetry(msg.payload)
            elif leaf == "assignment":
                drone_id = self.sim.on_assignment(msg.payload)
                if drone_id is not None:
                    await bus.subscribe(c.drone_telemetry(drone_id), 0)

    async def _goodbye(self, bus: Bus) -> None:
        """A graceful disconnect publishes ``offline`` itself (with its time, where the Last
        Will has none): the Last Will fires only when the connection is lost."""
        if self.sim.offline or not bus.connected:
            return
        offline = c.encode(c.Presence(status="offline", ts_ms=c.now_ms()))
        with contextlib.suppress(BusError, TimeoutError):
            await asyncio.wait_for(
                bus.publish(self._topic("status"), offline, qos=1, retain=True), 2.0
            )

    async def _tick(self, bus: Bus) -> None:
        was_offline = False
        while True:
            offline = self.sim.offline
            if offline != was_offline:
                was_offline = offline
                if self.relay is not None:
                    await self.relay.set_cut(offline)
                else:
                    log.warning("dock %s: offline faults need a plain TCP broker", self.sim.dock_id)
            outs = self.sim.step(time.monotonic())
            if not offline:
                await self._send(bus, outs)
            await asyncio.sleep(self.tick_s)

    async def _send(self, bus: Bus, outs: list[Out]) -> None:
        for out in outs:
            try:
                await bus.publish(self._topic(out.leaf), out.payload, qos=out.qos,
                                  retain=out.retain)
            except BusError as exc:
                log.warning("dock %s: %s not sent: %s", self.sim.dock_id, out.leaf, exc)


class DockSimFleet:
    """One simulated dock per dock of a site set, each with its own broker session.

    ``logins`` maps a dock id to its password: that dock then logs in as its dock id (a secured
    deployment); otherwise every dock uses the broker config's login, if any.
    """

    def __init__(
        self,
        broker: BrokerConfig,
        site_set: SiteSet,
        *,
        speedup: float = 1.0,
        seed: int = 0,
        logins: dict[str, str] | None = None,
        tick_s: float = 0.05,
    ) -> None:
        if speedup <= 0:
            raise ConfigError("speedup must be positive")
        self.docks: dict[str, DockSim] = {
            d.dock_id: DockSim(d, speedup=speedup, seed=seed) for d in site_set.docks
        }
        logins = logins or {}
        self._runners = [
            _DockRunner(
                sim,
                broker.with_login(sim.dock_id, logins[sim.dock_id])
                if sim.dock_id in logins else broker,
                tick_s,
            )
            for sim in self.docks.values()
        ]
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        events = [asyncio.Event() for _ in self._runners]
        self._tasks = [
            asyncio.create_task(r.run(e), name=f"docksim:{r.sim.dock_id}")
            for r, e in zip(self._runners, events, strict=True)
        ]
        waiter: asyncio.Future[Any] = asyncio.gather(*(e.wait() for e in events))
        done, _ = await asyncio.wait({waiter, *self._tasks}, timeout=15.0,
                                     return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
            errors = [t.exception() for t in self._tasks if t.done() and not t.cancelled()]
            await self._stop()
            raise BusError(f"dock simulators did not connect: {errors}")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        for task in self._tasks:
            await cancel_until_done(task)
        self._tasks = []

    async def wait(self) -> None:
        """Run until cancelled or a dock fails."""
        if self._tasks:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
