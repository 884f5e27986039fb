"""The faust worker each service hosts (its timers and stage runners): kept alive, or made to exit.

A faust timer that raises crashes the whole app, and with it every stage runner, while the HTTP
server keeps answering: a store outage once left the alerts and referrals services up but doing
nothing until someone restarted them. So timers survive their failures (they run again at their
next interval), and if the app crashes anyway the process stops, for `make run` (or the container
runtime) to start it again.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import faust
from faust.contrib.asgi import faust_app_running
from mode import Service

from services.common import collector, kafka, logs
from services.common.settings import Settings

log = logging.getLogger(__name__)


def survives(timer: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A timer body whose failure (a store or broker outage) is logged, not fatal."""

    @functools.wraps(timer)
    async def guarded() -> None:
        try:
            await timer()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - it runs again at its next interval; a crash would stop every stage
            log.warning("timer failed; it runs again at its next interval",
                        extra={"timer": timer.__name__, "error": type(exc).__name__, "where": logs.frames(exc)})  # fmt: skip

    return guarded


async def exit_if_crashed(worker: Service, every: float = 1.0) -> None:
    """Run beside the worker: if it crashed, stop this process (SIGTERM: a clean shutdown) so it is restarted."""
    while not worker.crashed:
        await asyncio.sleep(every)
    log.error("the faust worker crashed: stopping the process so it is restarted", extra={"error": type(worker.crash_reason).__name__})
    os.kill(os.getpid(), signal.SIGTERM)


@asynccontextmanager
async def stages_running(worker: faust.App, runners: Sequence[Service]) -> AsyncIterator[None]:
    """The faust worker running (on this loop) with the stage runners as its services, and
    `exit_if_crashed` beside it, until the block ends."""
    async with faust_app_running(worker):
        watchdog = asyncio.create_task(exit_if_crashed(worker), name="exit-if-crashed")
        for runner in runners:
            await worker.add_runtime_dependency(runner)
        try:
            yield
        finally:
            watchdog.cancel()


def tune_gc_for_stream_state() -> None:
    """A stage keeps hundreds of thousands of long-lived objects (children, aliases, alerts), and a
    batch holds its decoded events, messages and rows until it ends. With CPython's default thresholds
    (700, 10, 10) the cyclic collector re-scanned the long-lived ones every few thousand allocations
    (28% of the child stage's CPU); at 50,000 it still scanned each batch's objects while the batch
    held them, and promoted them to be scanned again (4.7 CPU-s of 100,000 events in the harness,
    pauses up to 680 ms). The young generation's count is allocations less deallocations, so at
    1,000,000 a batch's objects are mostly freed by reference counting before anything scans them:
    0.3-0.5 CPU-s, pauses up to ~170 ms, the same peak RSS (docs/benchmarks.md, eighth session).
    Cyclic garbage, rare here, waits until a million containers more are alive."""
    gc.set_threshold(collector.STREAM_YOUNG, 20, 100)


def stage_worker(settings: Settings, service: str) -> faust.App:
    """The faust app a service's stages run in: lifecycle, timers and services only. Its stages consume
    in batches with aiokafka (services/common/stream.py), so faust itself only produces."""
    worker = faust.App(
        f"{settings.topic_prefix}{service}",
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=kafka.faust_credentials(settings),
        web_enabled=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=str(settings.data_dir / f"faust-{service}"),
    )
    worker.producer_only = True
    return worker
