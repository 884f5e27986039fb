"""The referrals service's app: what `bootstrap` built, started and stopped by the lifespan, and its routers.

The faust app is the worker, booted producer-only as in the alerts service: one StageRunner
consumes alerts.v1, children.v1 and children.links.v1 in batches; the desk applies each batch in
one store transaction, with its referral changes (and dead letters) in the outbox, before the
offsets are committed; the relay publishes the outbox to referrals.v1 (and dead-letters.v1).
Timers (`timers.py`) deliver webhooks and escalate overdue referrals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.common import collector, db, generations, privacy_routes, secrets
from services.common.auth import TokenRegistry
from services.common.http import create_app
from services.common.readiness import ReadinessCheck, broker_check, store_check
from services.common.settings import Settings
from services.common.worker import stages_running
from services.referrals import page_routes, routes, tables
from services.referrals import subject_access as referrals_subject_access
from services.referrals.bootstrap import Referrals, bootstrap, stage_runner

DESCRIPTION = """Referrals to IAS, the LA exclusions officer, the Re-engagement Unit and NAS: routed by a
policy file, one open referral per child and agency, consent and need-to-know respected."""


def lifespan(referrals: Referrals) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start what bootstrap built (migrations first), stop it in reverse."""

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, referrals.engine, tables.metadata)
        referrals.runners[:] = [stage_runner(referrals, await generations.current(referrals.store))]
        referrals.relay.start()
        collector.settle_after_startup(collector.STREAM_YOUNG)  # its desk is a stream stage (collector.py)
        try:
            async with stages_running(referrals.worker, referrals.runners):
                yield
        finally:
            collector.unsettle()
            await referrals.relay.stop()
            await referrals.timers.close()
            referrals.engine.dispose()

    return running


def readiness(referrals: Referrals) -> list[ReadinessCheck]:
    """The store answers, the stage consumes, the relay reaches the broker."""

    async def consuming() -> str | None:
        waiting = [r.stage for r in referrals.runners if not r.ready]
        return "the referrals stage is not consuming" if waiting or not referrals.runners else None

    return [store_check(referrals.engine), consuming, broker_check(referrals.relay, "outbox relay: ")]


def build_app(settings: Settings, tokens: TokenRegistry | None = None) -> FastAPI:
    secrets.configure_pseudonyms(settings)  # refuses to start without a key in production
    referrals = bootstrap(settings)
    app = create_app("referrals", tokens=tokens or TokenRegistry(settings.tokens_file), readiness=readiness(referrals), lifespan=lifespan(referrals),
                     max_body_bytes=settings.max_body_bytes, description=DESCRIPTION, write_rate_limit=settings.write_rate_limit)
    app.state.referrals = referrals  # the routes read it through deps.py
    app.state.worker = referrals.worker  # as the alerts app has it (the Kafka security tests read both)
    app.include_router(page_routes.router)  # before routes: /v1/referrals/counts is not a referral id
    app.include_router(routes.router)
    engine = referrals.engine
    app.include_router(privacy_routes.router("referrals", lambda child_id, _keys: (referrals_subject_access.export(engine, child_id), []),
                                              lambda child_id, _keys: referrals_subject_access.erase(engine, child_id), referrals.store.audit))
    return app
