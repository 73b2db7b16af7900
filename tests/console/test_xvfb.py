"""The console as a real X11 program: ``groundstation console`` under Xvfb saves a screenshot."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from groundstation.adapters.broker import Mosquitto
from groundstation.adapters.bus import Bus
from tests.console import scenario as sc

pytestmark = pytest.mark.console

EXIT_AFTER_S = 6.0


def _free_display() -> int:
    for n in range(90, 400):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture
def xvfb() -> Iterator[str]:
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed")
    n = _free_display()
    proc = subprocess.Popen(
        [binary, f":{n}", "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{n}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Xvfb :{n} did not start")
            time.sleep(0.05)
        yield f":{n}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_console_under_xvfb_saves_screenshot(xvfb: str, tmp_path: Path) -> None:
    shot = tmp_path / "console.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=xvfb)
    async with Mosquitto() as mq, Bus(mq.config, "test-scene") as bus:
        scene = asyncio.create_task(sc.demo_scene(bus, EXIT_AFTER_S + 4))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "groundstation",
            "console",
            "--broker",
            f"mqtt://127.0.0.1:{mq.port}",
            "--tiles",
            "none",
            "--screenshot",
            str(shot),
            "--exit-after",
            str(EXIT_AFTER_S),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        scene.cancel()
        await asyncio.gather(scene, return_exceptions=True)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert shot.exists(), err.decode(errors="replace")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1600, 1000)
    assert len(data) > 50_000  # a drawn window, not a blank one
    keep = os.environ.get("CONSOLE_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
