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
