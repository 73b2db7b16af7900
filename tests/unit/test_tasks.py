"""cancel_until_done: a task that swallows cancellation is cancelled again; one that never
stops is left behind after the bound, with an error naming where it waits."""

from __future__ import annotations

import asyncio
import logging

import pytest

from groundstation.tasks import cancel_until_done


async def test_a_swallowed_cancellation_is_repeated_until_the_task_ends() -> None:
    swallowed = 0

    async def stubborn_once() -> None:
        nonlocal swallowed
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed += 1  # swallowed once, as asyncio.wait_for can on 3.11
        await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn_once())
    await asyncio.sleep(0)
    await cancel_until_done(task, every_s=0.01)
    assert task.cancelled() and swallowed == 1


async def test_a_task_that_never_stops_is_left_behind_with_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def never_stops() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(never_stops(), name="stuck-upload")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="groundstation.tasks"):
        await cancel_until_done(task, every_s=0.01, give_up_s=0.1)
    assert not task.done()
    assert "stuck-upload did not stop" in caplog.text and "never_stops" in caplog.text
    task.get_coro().close()
