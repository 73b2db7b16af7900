"""Small asyncio helpers shared by the I/O shells."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_until_done(task: asyncio.Task[Any], every_s: float = 0.2) -> None:
    """Cancel a task and wait for it, cancelling again if a cancellation was swallowed.

    On Python 3.11 ``asyncio.wait_for`` (used by aiomqtt's publish and subscribe) can swallow a
    cancellation that races with the completion of what it waits for; one ``cancel()`` followed
    by ``await task`` then waits forever, and a shutdown hangs.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every_s)
    if not task.cancelled() and task.exception() is not None:
        log.debug("task %s ended with %r", task.get_name(), task.exception())
