"""Small asyncio helpers shared by the I/O shells."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

log = logging.getLogger(__name__)


def freeze_heap(*, collect: bool = True) -> None:
    """Put every object alive now out of the cyclic garbage collector's reach (``gc.freeze``).

    A long-running process (the controller, the console) builds most of its heap at start-up and
    keeps it: site sets, airspace, MAVSDK's plugins, Qt's objects. CPython's full collection
    walks all of it under the GIL, and nothing else runs meanwhile: 40-85 ms pauses in a
    100-drone controller (docs/performance.md). Frozen objects are still freed by reference
    counting; only cycles among them are never collected, which for a start-up heap is what one
    wants. ``collect=False`` skips the collection first (a full one is itself such a pause)."""
    if collect:
        gc.collect()
    gc.freeze()


async def cancel_until_done(
    task: asyncio.Task[Any], every_s: float = 0.2, give_up_s: float = 20.0
) -> None:
    """Cancel a task and wait for it, cancelling again if a cancellation was swallowed.

    On Python 3.11 ``asyncio.wait_for`` (used by aiomqtt's publish and subscribe) can swallow a
    cancellation that races with the completion of what it waits for; one ``cancel()`` followed
    by ``await task`` then waits forever, and a shutdown hangs. A task that still has not ended
    after ``give_up_s`` is left behind with an error naming where it waits (its stack), so that
    a shutdown is bounded: a process that cannot stop cleanly says why and stops anyway.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_s
    while not task.done():
        if loop.time() >= deadline:
            where = "; ".join(
                f"{fr.f_code.co_filename}:{fr.f_lineno} {fr.f_code.co_name}"
                for fr in task.get_stack()
            )
            log.error("task %s did not stop within %.0f s of being cancelled; left behind (it "
                      "waits at %s)", task.get_name(), give_up_s, where or "?")
            return
        task.cancel()
        await asyncio.wait({task}, timeout=every_s)
    if not task.cancelled() and task.exception() is not None:
        log.debug("task %s ended with %r", task.get_name(), task.exception())
