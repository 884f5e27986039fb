"""The live feed: every new or changed alert, to every open SSE stream, as it commits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from schemas.alerts import Alert


class Broadcaster:
    """Fan-out to subscribers. A subscriber that can't keep up loses its oldest messages, never blocks the pipeline."""

    def __init__(self, queue_size: int = 1000):
        self.queue_size = queue_size
        self._subscribers: set[asyncio.Queue[Alert]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> asyncio.Queue[Alert]:
        queue: asyncio.Queue[Alert] = asyncio.Queue(self.queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Alert]) -> None:
        self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, alerts: Iterable[Alert]) -> None:
        """Call from the event loop's thread."""
        for alert in alerts:
            for queue in list(self._subscribers):
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(alert)
