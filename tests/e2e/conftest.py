"""End-to-end fixtures: real processes (the simulator, dock-sim, controller, the demo) started as
users start them, against a real mosquitto. Every process is stopped, even on failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]




class Proc:
    """A child process with its output captured to a file, for the failure message."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Proc:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=ROOT, env=env,
            start_new_session=True,
        )
        log.close()
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_for_output(self, text: str, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while text not in self.output():
            if self.proc is not None and self.proc.returncode is not None:
                pytest.fail(f"{self.name} exited {self.proc.returncode}:\n{self.output()[-3000:]}")
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"{self.name} never printed {text!r}:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.1)

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> int | None:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
        return self.proc.returncode


@pytest.fixture
async def procs(tmp_path: Path) -> AsyncIterator[Any]:
    started: list[Proc] = []

    async def start(name: str, *args: str) -> Proc:
        p = await Proc(name, [sys.executable, *args], tmp_path).start()
        started.append(p)
        return p

    start.started = started  # type: ignore[attr-defined]
    yield start
    for p in reversed(started):
        await p.stop()



