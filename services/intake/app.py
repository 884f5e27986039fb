"""Composition root of the intake service: store, group commit, relay, HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from schemas.intake import Call, ExclusionCancellation, ExclusionNotice, LAReturn
from services.common import db, privacy_routes, secrets
from services.common.auth import TokenRegistry
from services.common.calendar import load_registry
from services.common.http import create_app, store_check
from services.common.relay import Relay
from services.common.retention import Schedule
from services.common.settings import Settings
from services.intake import proceedings, routes, tables
from services.intake import retention as intake_retention
from services.intake import subject_access as intake_subject_access
from services.intake.eventlog import EventLog, GroupCommitter

DESCRIPTION = """Validated intake of exclusion notices, calls and LA returns.

A 202 means the event is in the intake's durable event log and will reach Kafka, even if
the broker loses it. The body's own id is the idempotency key."""


async def _retention_loop(settings: Settings, engine) -> None:  # noqa: ANN001 - an Engine
    """docs/data-protection.md: events past their period go (a failure is logged; it runs again)."""
    import logging
    from datetime import UTC, datetime

    while True:
        await asyncio.sleep(settings.retention_interval_s)
        try:
            await asyncio.to_thread(intake_retention.run, engine, Schedule.of(settings), datetime.now(UTC))
        except Exception as exc:  # noqa: BLE001 - the store may be down; the next run catches up
            logging.getLogger(__name__).warning("retention run failed", extra={"error": type(exc).__name__})


def build_app(settings: Settings, tokens: TokenRegistry | None = None) -> FastAPI:
    secrets.configure_pseudonyms(settings)  # refuses to start without a key in production
    engine = db.make_engine(settings.database_url_for("intake"), synchronous="FULL")
    eventlog = EventLog(engine)
    committer = GroupCommitter(eventlog)
    # batches of 20,000: an LA return of 100,000 records in five reads and five rounds of acknowledgements
    relay = Relay(settings, eventlog, service="intake", engine=engine, batch_size=20_000)
    committer.on_commit.append(relay.notify)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, engine, tables.metadata)
        committer.start()
        relay.start()
        retention = asyncio.create_task(_retention_loop(settings, engine), name="intake-retention")
        try:
            yield
        finally:
            retention.cancel()
            await relay.stop()
            await committer.stop()
            engine.dispose()

    async def broker_ready() -> str | None:
        return None if relay.broker_ok else f"broker unavailable ({relay.last_error or 'connecting'})"

    app = create_app(
        "intake",
        tokens=tokens or TokenRegistry(settings.tokens_file),
        readiness=[store_check(engine), broker_ready],
        lifespan=lifespan,
        max_body_bytes=settings.max_body_bytes,
        body_limits={"/v1/la-returns/csv": settings.max_csv_bytes},  # streamed and parsed line by line, all or nothing
        description=DESCRIPTION,
        write_rate_limit=settings.write_rate_limit,
    )
    app.state.settings, app.state.eventlog, app.state.committer, app.state.relay = settings, eventlog, committer, relay
    app.state.calendars = load_registry(settings.calendars_dir)  # R-CANCEL: the school year of a cancelled suspension
    app.include_router(routes.router)
    app.include_router(proceedings.router)  # issue 11: board decisions, representations, IRP, day-six provision
    # the intake keeps no audit trail of its own: the export is audited by the alerts service's part
    app.include_router(privacy_routes.router("intake", lambda state, _child_id, keys: (intake_subject_access.export(state.eventlog.engine, keys), keys),
                                              lambda state, _child_id, keys: intake_subject_access.erase(state.eventlog.engine, keys), audited=False))
    app.state.body_models.update({m.__name__: m for m in (ExclusionNotice, Call, LAReturn, ExclusionCancellation)})
    app.state.body_models.update({k.model.__name__: k.model for k in proceedings.KINDS})
    return app
