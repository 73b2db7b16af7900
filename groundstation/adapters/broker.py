"""Brokers the ground station can start itself.

- :class:`EmbeddedBroker`: the pure-Python ``amqtt`` broker, in-process, for the zero-setup demo
  only (it speaks MQTT 3.1.1, so clients of it use ``mqtt5=False``). This module is the only
  importer of amqtt.
- :class:`Mosquitto`: a real mosquitto process on a free loopback port with a generated
  configuration (TCP_NODELAY on), for tests, benchmarks and local runs. Stopped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from groundstation.adapters.bus import BrokerConfig, wait_for_port
from groundstation.errors import ConfigError

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now (bind to 0 and read it back)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for ports bound to 0 (Linux's default when it cannot be read)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_udp_range(count: int, host: str = "127.0.0.1") -> int:
    """A base port P such that P..P+count-1 are all free UDP ports right now, below the
    kernel's ephemeral range: a run inside it is taken from under the caller by any socket
    bound to port 0 meanwhile (the simulator binds one per vehicle before the ground station
    listens; with 144 vehicles one of the run's ports was taken that way in most runs)."""
    rng = random.Random()
    low, high = 20000, ephemeral_ports()[0]
    if high - count < low + 1000:  # an unusual kernel setting: the old range
        high = 60000
    for _ in range(200):
        base = rng.randrange(low, high - count)
        socks: list[socket.socket] = []
        try:
            for i in range(count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, base + i))
        except OSError:
            continue
        else:
            return base
        finally:
            for s in socks:
                s.close()
    raise ConfigError(f"no run of {count} free UDP ports")


class EmbeddedBroker:
    """amqtt running inside this process on 127.0.0.1 and a free (or given) port."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._broker: object | None = None

    @property
    def config(self) -> BrokerConfig:
        return BrokerConfig(host=self.host, port=self.port, mqtt5=False)

    async def __aenter__(self) -> Self:
        from amqtt.broker import Broker

        # amqtt logs every client that disconnects without DISCONNECT as an ERROR: noise here.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        cfg = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        broker = Broker(cfg)
        await broker.start()
        self._broker = broker
        await wait_for_port(self.host, self.port)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await self._broker.shutdown()  # type: ignore[attr-defined]
            self._broker = None


MOSQUITTO_BASE_CONF = """\
per_listener_settings false
persistence {persistence}
persistence_location {datadir}/
log_dest stderr
log_type error
log_type warning
set_tcp_nodelay true
max_queued_messages 10000
"""


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if path is None:
        raise ConfigError("mosquitto is not installed (scripts/setup installs it as root)")
    return path


class Mosquitto:
    """A mosquitto process on 127.0.0.1 and a free port, with a generated configuration.

    ``extra_conf`` is appended (listeners with TLS, password file, ACL: see
    ``groundstation.tools.security``). Without it the broker allows anonymous clients.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        extra_conf: str = "",
        workdir: Path | None = None,
        persistence: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.workdir = workdir
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> BrokerConfig:
        return BrokerConfig(host="127.0.0.1", port=self.port, mqtt5=True)

    def _write_conf(self) -> Path:
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dfr-mosquitto-")
            self.workdir = Path(self._tmp.name)
        wd = self.workdir
        wd.mkdir(parents=True, exist_ok=True)
        wd.chmod(0o777)  # started as root mosquitto drops to its own user: let it write here
        conf = MOSQUITTO_BASE_CONF.format(
            persistence="true" if self.persistence else "false", datadir=wd
        )
        if "listener" not in self.extra_conf:
            conf += f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        conf += self.extra_conf.replace("{port}", str(self.port))
        path = wd / "mosquitto.conf"
        path.write_text(conf, encoding="utf-8")
        path.chmod(0o644)
        return path

    def start(self) -> None:
        path = self._write_conf()
        self.proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def wait_ready(self, timeout_s: float = 10.0) -> None:
        try:
            await wait_for_port("127.0.0.1", self.port, timeout_s)
        except Exception:
            err = b""
            if self.proc is not None and self.proc.poll() is not None and self.proc.stderr:
                err = self.proc.stderr.read()
            raise ConfigError(f"mosquitto did not start: {err.decode(errors='replace')}") from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Self:
        self.start()
        try:
            await self.wait_ready()
        except BaseException:
            # A broker slow to open its port (a loaded machine) or a cancelled start must not be
            # left running with nobody to stop it.
            await asyncio.to_thread(self.cleanup)
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.cleanup)
