"""A batch's store commit overlapping the next batch's processing (issue 9, item 2).

Behind the log (a catch-up batch: at least `max_records` fetched), the stage runner starts batch
N's store commit in a worker thread and goes on to fetch and process batch N+1 beside it; SQLite
and PostgreSQL drivers release the GIL while the database works, so the commit costs the stage
little of its core. The order of effects is kept per batch (outputs, then writes, then offsets),
and across batches for the writes and the offsets: N's offsets are committed after N's writes and
before N+1's writes start (`StageRunner._settle`). N+1's outputs may reach the broker before N's
writes commit: they carry deterministic ids and their consumers count each once.

A stage opts in by handing the runner its `CommitGate`. While a commit is in flight the gate is
busy, and the stage must not read from the store what that commit may change: it calls `wait()`
first (the child stage does before evicting cached records, applying identity decisions,
ticking the clocks or reading identity candidates: services/alerts/child_stage.py). Live batches
(fewer than `max_records`) are committed before the next fetch, as before: no added latency.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from services.common.messages import Incoming


class CommitGate:
    """Idle, or busy while a batch's store commit runs in the background. Thread-safe."""

    def __init__(self) -> None:
        self._idle = threading.Event()
        self._idle.set()

    def busy(self) -> None:
        self._idle.clear()

    def idle(self) -> None:
        self._idle.set()

    def is_idle(self) -> bool:
        return self._idle.is_set()

    def wait(self) -> None:
        """Block (the stage's worker thread) until no commit is in flight."""
        self._idle.wait()


@dataclass
class InFlight:
    """A batch whose outputs are acknowledged and whose store commit runs; its offsets wait for it."""

    batches: dict[Any, list]  # TopicPartition -> records, for the offsets
    messages: list[Incoming]
    result: Any
    started: float
    commit: asyncio.Future[None]


def commit_in_background(gate: CommitGate, commit: Any, writes: Any) -> asyncio.Future[None]:
    """Start `commit(writes)` in a worker thread; the gate is busy until it returns or raises."""
    gate.busy()

    def run() -> None:
        try:
            commit(writes)
        finally:
            gate.idle()

    return asyncio.ensure_future(asyncio.to_thread(run))


async def finished(flight: InFlight) -> None:
    """Wait for a commit whose outcome no longer matters (a failure or a rebalance replays the batch)."""
    try:
        await flight.commit
    except Exception:  # noqa: BLE001,S110 - the batch is read again from the committed offsets
        pass
