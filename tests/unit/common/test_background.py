"""services/common/background.py: a service's background task, started and stopped with its lifespan."""

from __future__ import annotations

import asyncio

from services.common.background import Background


async def test_stop_cancels_the_task_and_waits_for_it_to_end() -> None:
    ended = asyncio.Event()

    async def run() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    task = Background("test-background", run)
    task.start()
    await asyncio.sleep(0)
    await task.stop()
    assert ended.is_set()


async def test_stopping_one_never_started_or_that_failed_raises_nothing() -> None:
    await Background("never-started", asyncio.sleep).stop()

    async def fail() -> None:
        raise RuntimeError("boom")

    task = Background("failed", fail)
    task.start()
    await asyncio.sleep(0)
    await task.stop()


async def test_a_loop_that_swallows_a_cancel_is_cancelled_again_until_it_ends() -> None:
    """On Python 3.11 `asyncio.wait_for` swallows a cancel that lands as its inner future completes
    (gh-86296): a relay's idle wait for its wakeup could do so, and `stop()` then waited for ever."""
    cancels = 0

    async def run() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancels += 1
                if cancels > 1:
                    raise
                # swallowed, as wait_for does: the loop carries on

    task = Background("stubborn", run)
    task.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(task.stop(), timeout=30)  # a hang fails here, not at the suite's timeout
    assert cancels == 2
