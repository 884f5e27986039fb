"""A service's background task: started in its lifespan, stopped (cancelled and awaited) on the way out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class Background:
    """One long-running coroutine of a service (a live feed, a collector, a purge loop).

    `start()` runs it as a named task on the running loop; `stop()` cancels it and waits until it has
    ended, so what it uses (a connection, an engine) can be closed after. Stopping one never started,
    or stopped already, does nothing; whatever it ended with is not raised again."""

    def __init__(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name, self.run = name, run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        task = self._task
        if task is None:
            return
        # Cancelled again until it ends: on Python 3.11 a cancel that lands just as an awaited
        # `asyncio.wait_for` completes is swallowed (gh-86296), and the loop would carry on for ever.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        await asyncio.gather(task, return_exceptions=True)
