"""Helpers shared by the dock tests (a uniquely named module: every folder has a conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

SPEEDUP = 20.0  # a cover takes 12 s / 20 = 0.6 s


async def until(pred: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait until ``pred()`` is true, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
