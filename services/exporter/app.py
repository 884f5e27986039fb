"""The exporter's app: what `bootstrap` built, started and stopped by the lifespan.

Every `exporter_interval` seconds it reads the broker (groups, committed and end offsets) and the
stores (alerts and referrals by status, overdue referrals) (collector.py, timers.py), and serves the
result on /metrics with /healthz and /readyz. It consumes nothing and writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.common.auth import TokenRegistry
from services.common.http import create_app
from services.common.readiness import ReadinessCheck
from services.common.settings import Settings
from services.exporter.bootstrap import Exporter, bootstrap


def lifespan(exporter: Exporter) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start collecting; stop it, then close the broker's clients and the stores' engines."""

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        exporter.collecting.start()
        try:
            yield
        finally:
            await exporter.collecting.stop()
            await asyncio.to_thread(exporter.reader.close)
            exporter.dispose()

    return running


def readiness(exporter: Exporter) -> list[ReadinessCheck]:
    """The last read of the broker succeeded."""

    async def broker_read() -> str | None:
        return None if exporter.collector.kafka_ok else "broker not read yet, or the last read failed"

    return [broker_read]


def build_app(settings: Settings) -> FastAPI:
    exporter = bootstrap(settings)
    app = create_app("exporter", tokens=TokenRegistry(None), readiness=readiness(exporter), lifespan=lifespan(exporter),
                     description="Consumer-group lag at the broker and the gauges derived from the stores, exported once.")
    app.state.exporter = exporter  # the Kafka security tests read its reader
    return app
