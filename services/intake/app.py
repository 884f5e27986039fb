"""The intake service's app: what `bootstrap` built, started and stopped by the lifespan, and its routers.

The group committer batches submissions into the event log; the relay publishes the log to Kafka
(woken by each commit); the retention timer (timers.py) runs as a background task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from schemas.intake import Call, ExclusionCancellation, ExclusionNotice, LAReturn
from services.common import collector, db, privacy_routes, secrets
from services.common.auth import TokenRegistry
from services.common.http import create_app, include_lean
from services.common.readiness import ReadinessCheck, broker_check, store_check
from services.common.settings import Settings
from services.intake import proceedings, routes, tables
from services.intake import subject_access as intake_subject_access
from services.intake.bootstrap import Intake, bootstrap

DESCRIPTION = """Validated intake of exclusion notices, calls and LA returns.

A 202 means the event is in the intake's durable event log and will reach Kafka, even if
the broker loses it. The body's own id is the idempotency key."""


def lifespan(intake: Intake) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start what bootstrap built (migrations first), stop it in reverse."""

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, intake.engine, tables.metadata)
        intake.committer.start()
        intake.relay.start()
        intake.retention.start()
        collector.settle_after_startup()
        try:
            yield
        finally:
            collector.unsettle()
            await intake.retention.stop()
            await intake.relay.stop()
            await intake.committer.stop()
            intake.engine.dispose()

    return running


def readiness(intake: Intake) -> list[ReadinessCheck]:
    """The store answers, the relay reaches the broker."""
    return [store_check(intake.engine), broker_check(intake.relay, "")]


def build_app(settings: Settings, tokens: TokenRegistry | None = None) -> FastAPI:
    secrets.configure_pseudonyms(settings)  # refuses to start without a key in production
    intake = bootstrap(settings)
    app = create_app(
        "intake",
        tokens=tokens or TokenRegistry(settings.tokens_file),
        readiness=readiness(intake),
        lifespan=lifespan(intake),
        max_body_bytes=settings.max_body_bytes,
        body_limits={"/v1/la-returns/csv": settings.max_csv_bytes},  # streamed and parsed line by line, all or nothing
        description=DESCRIPTION,
        write_rate_limit=settings.write_rate_limit,
    )
    app.state.intake = intake  # the routes read it through deps.py
    include_lean(app, routes.router)  # its single-event POSTs are called without FastAPI's routing (LeanDispatch)
    app.include_router(proceedings.router)  # issue 11: board decisions, representations, IRP, day-six provision
    # the intake keeps no audit log of its own (None: no audit, no readers endpoint): the export is audited
    # by the alerts service's part
    engine = intake.engine
    app.include_router(privacy_routes.router("intake", lambda _child_id, keys: (intake_subject_access.export(engine, keys), keys),
                                              lambda _child_id, keys: intake_subject_access.erase(engine, keys), None))
    app.state.body_models.update({m.__name__: m for m in (ExclusionNotice, Call, LAReturn, ExclusionCancellation)})
    app.state.body_models.update({k.model.__name__: k.model for k in proceedings.KINDS})
    return app
