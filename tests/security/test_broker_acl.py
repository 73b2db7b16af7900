"""The generated mosquitto configuration, enforced by a real mosquitto."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.bus import BrokerConfig, Bus, Message
from groundstation.errors import BusError
from groundstation.tools.security import TlsFiles, write_mosquitto_config
from tests.security.security_helpers import PASSWORDS, USERS, run_mosquitto

pytestmark = pytest.mark.integration

SETTLE_S = 0.4  # a denied publish is dropped silently: wait this long for it not to arrive


def login(port: int, user: str, password: str | None = None, **kw: object) -> BrokerConfig:
    return BrokerConfig("127.0.0.1", port, user, password or PASSWORDS[user], **kw)  # type: ignore[arg-type]


@pytest.fixture
async def secured(deploy_dir: Path, port: int) -> AsyncIterator[int]:
    conf = write_mosquitto_config(deploy_dir, USERS, port=port)
    async with run_mosquitto(conf, port):
        yield port


async def received(bus: Bus, within_s: float = SETTLE_S) -> list[Message]:
    """Everything that arrives within ``within_s`` (0: what has arrived already)."""
    await asyncio.sleep(within_s)
    out: list[Message] = []
    stream = bus.messages()
    while bus.pending():
        out.append(await anext(stream))
    await stream.aclose()
    return out


async def test_wrong_password_unknown_user_and_anonymous_are_refused(secured: int) -> None:
    for cfg in (login(secured, "alice", "wrong"), login(secured, "mallory", "x"),
                BrokerConfig("127.0.0.1", secured)):
        with pytest.raises(BusError):
            async with Bus(cfg, "intruder", max_backoff_s=0.2):
                pass
    async with Bus(login(secured, "alice"), "alice-ok") as bus:
        assert bus.connected


async def test_viewer_reads_telemetry_but_cannot_command(secured: int) -> None:
    async with (Bus(login(secured, "ctl"), "ctl") as ctl,
                Bus(login(secured, "view"), "viewer") as viewer,
                Bus(login(secured, "alpha-1"), "dock-alpha-1") as dock):
        await ctl.subscribe(c.ALL_OPERATOR_SERVICES, 1)
        await ctl.subscribe(c.all_dock("osd"), 0)
        await dock.subscribe(c.dock_topic("alpha-1", "services"), 1)
        await viewer.subscribe(c.ALL_TELEMETRY, 0)
        await viewer.publish(c.operator_services("view"), b'{"tid":"v"}', qos=1)
        await viewer.publish(c.operator_services("alice"), b'{"tid":"v"}', qos=1)
        await viewer.publish(c.dock_topic("alpha-1", "services"), b'{"tid":"v"}', qos=1)
        await viewer.publish(c.dock_topic("alpha-1", "osd"), b"{}", qos=1)
        await ctl.publish(c.drone_telemetry("uav-1"), b"{}", qos=1)
        got = await received(viewer)
        assert [m.topic for m in got] == [c.drone_telemetry("uav-1")]
        assert await received(ctl, 0.0) == []
        assert await received(dock, 0.0) == []


async def test_dock_cannot_write_another_docks_topics(secured: int) -> None:
    async with (Bus(login(secured, "ctl"), "ctl") as ctl,
                Bus(login(secured, "alpha-1"), "dock-alpha-1") as dock1,
                Bus(login(secured, "alpha-2"), "dock-alpha-2") as dock2):
        await ctl.subscribe(f"{c.PREFIX}/docks/#", 1)
        await dock2.subscribe(f"{c.PREFIX}/docks/#", 1)  # only its own services/events_reply
        for leaf in ("osd", "state", "status", "services_reply", "events"):
            await dock1.publish(c.dock_topic("alpha-2", leaf), b"{}", qos=1)
        await dock1.publish(c.dock_topic("alpha-2", "services"), b"{}", qos=1)
        await dock1.publish(c.dock_topic("alpha-1", "osd"), b"own", qos=1)
        got = await received(ctl)
        assert [(m.topic, m.payload) for m in got] == [(c.dock_topic("alpha-1", "osd"), b"own")]
        assert await received(dock2, 0.0) == []


async def test_operator_cannot_ask_or_answer_as_another_operator(secured: int) -> None:
    async with (Bus(login(secured, "ctl"), "ctl") as ctl,
                Bus(login(secured, "alice"), "alice") as alice,
                Bus(login(secured, "bob"), "bob") as bob):
        await ctl.subscribe(c.ALL_OPERATOR_SERVICES, 1)
        await bob.subscribe(c.operator_services_reply("bob"), 1)
        await alice.subscribe(c.operator_services_reply("bob"), 1)  # denied: not hers
        await alice.publish(c.operator_services_reply("bob"), b"forged", qos=1)
        await alice.publish(c.operator_services("bob"), b"forged", qos=1)
        await alice.publish(c.operator_services_reply("alice"), b"forged", qos=1)
        await alice.publish(c.operator_services("alice"), b"mine", qos=1)
        await ctl.publish(c.operator_services_reply("bob"), b"real", qos=1)
        got = await received(ctl)
        assert [(m.topic, m.payload) for m in got] == [(c.operator_services("alice"), b"mine")]
        assert [m.payload for m in await received(bob, 0.0)] == [b"real"]
        assert await received(alice, 0.0) == []


async def test_cad_writes_only_its_own_services(secured: int) -> None:
    async with (Bus(login(secured, "ctl"), "ctl") as ctl,
                Bus(login(secured, "cad1"), "cad") as cad):
        await ctl.subscribe(f"{c.PREFIX}/#", 1)
        await cad.subscribe(c.ALL_INCIDENTS, 1)
        await cad.publish(c.dock_topic("alpha-1", "services"), b"x", qos=1)
        await cad.publish(c.incident("i1"), b"x", qos=1)
        await cad.publish(c.operator_services("alice"), b"x", qos=1)
        await cad.publish(c.operator_services("cad1"), b"ok", qos=1)
        await ctl.publish(c.incident("i2"), b"inc", qos=1)
        got = await received(ctl)
        assert (c.operator_services("cad1"), b"ok") in [(m.topic, m.payload) for m in got]
        assert {m.topic for m in got} == {c.operator_services("cad1"), c.incident("i2")}
        assert [m.payload for m in await received(cad, 0.0)] == [b"inc"]


async def test_tls_listener_works_with_the_ca_and_refuses_without(
    deploy_dir: Path, port: int, certs: Path
) -> None:
    tls = TlsFiles(certs / "server.crt", certs / "server.key", certs / "ca.crt")
    conf = write_mosquitto_config(deploy_dir, USERS, port=port, tls=tls)
    async with run_mosquitto(conf, port):
        url = f"mqtts://alice:alice-pw@localhost:{port}"
        cfg = BrokerConfig.from_url(url, ca_file=str(certs / "ca.crt"))
        assert cfg.tls
        async with (Bus(cfg, "alice-tls") as alice,
                    Bus(BrokerConfig.from_url(f"mqtts://ctl:ctl-pw@127.0.0.1:{port}",
                                              ca_file=str(deploy_dir / "ca.crt")), "ctl") as ctl):
            await ctl.subscribe(c.ALL_OPERATOR_SERVICES, 1)
            await alice.publish(c.operator_services("alice"), b"over tls", qos=1)
            got = await received(ctl, 2.0)
            assert [m.payload for m in got[:1]] == [b"over tls"]
        # Without the CA the broker's certificate is not trusted. (Checked on a raw socket: a
        # Bus would retry until its connect timeout.)
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("127.0.0.1", port, ssl=ssl.create_default_context(),
                                          server_hostname="localhost")
        trusted = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trusted,
                                                  server_hostname="localhost")
        writer.close()
        await writer.wait_closed()
