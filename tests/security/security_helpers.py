"""Helpers shared by the security tests (uniquely named: every test folder has a conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from groundstation.adapters.broker import mosquitto_binary
from groundstation.adapters.bus import wait_for_port
from groundstation.contract import Role
from groundstation.tools.security import UserSpec

USERS = [
    UserSpec("ctl", Role.CONTROLLER, "ctl-pw"),
    UserSpec("alice", Role.OPERATOR, "alice-pw"),
    UserSpec("bob", Role.OPERATOR, "bob-pw"),
    UserSpec("view", Role.VIEWER, "view-pw"),
    UserSpec("alpha-1", Role.DOCK, "dock1-pw"),
    UserSpec("alpha-2", Role.DOCK, "dock2-pw"),
    UserSpec("cad1", Role.CAD, "cad-pw:with:colons"),
]
PASSWORDS = {u.username: u.password for u in USERS}



@asynccontextmanager
async def run_mosquitto(conf: Path, port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        mosquitto_binary(), "-c", str(conf),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        try:
            await wait_for_port("127.0.0.1", port, 10.0)
        except Exception:
            proc.kill()
            _, err = await proc.communicate()
            raise AssertionError(f"mosquitto did not start: {err.decode()}") from None
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.communicate(), 5)
            except TimeoutError:
                proc.kill()
                await proc.communicate()


async def until(pred: Callable[[], bool], timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
