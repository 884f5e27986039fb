"""The alerts service's app: what `bootstrap` built, started and stopped by the lifespan, and its routers.

The faust app is the worker (bootstrap.py): it owns the stages (mode services), the timers (snooze
expiry, audit flush, retention: timers.py) and their lifecycle, and runs on uvicorn's loop (faust's
ASGI integration). It boots producer-only: the stages consume in batches themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.alerts import child_routes, overview_routes, routes, tables
from services.alerts import subject_access as alerts_subject_access
from services.alerts.bootstrap import Alerts, bootstrap, stage_runners
from services.alerts.school_process import SchoolProcess
from services.common import collector, db, generations, privacy_routes, secrets
from services.common.auth import TokenRegistry
from services.common.http import create_app
from services.common.readiness import ReadinessCheck, broker_check, store_check
from services.common.settings import Settings
from services.common.worker import stages_running, tune_gc_for_stream_state

DESCRIPTION = """Alerts an LA inclusion team acts on: the 45-day limit, repeated informal exclusions,
end-of-term spikes. One alert per rule, subject and period, updated as evidence grows."""


def lifespan(alerts: Alerts) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start what bootstrap built (migrations first), stop it in reverse."""

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        tune_gc_for_stream_state()
        await asyncio.to_thread(db.migrate, alerts.engine, tables.metadata)
        alerts.runners[:] = stage_runners(alerts, await generations.current(alerts.store))
        alerts.broadcaster.bind(asyncio.get_running_loop())
        alerts.live_feed.start()
        alerts.relay.start()
        collector.settle_after_startup(collector.STREAM_YOUNG)  # start-up's objects out of the collector's sight
        async with stages_running(alerts.worker, alerts.runners):
            try:
                yield
            finally:
                collector.unsettle()
                await alerts.live_feed.stop()
                await alerts.relay.stop()
        alerts.engine.dispose()

    return running


def readiness(alerts: Alerts) -> list[ReadinessCheck]:
    """The store answers, both stages consume, the live feed follows, the relay reaches the broker."""

    async def consuming() -> str | None:
        waiting = [r.stage for r in alerts.runners if not r.ready]
        if waiting or not alerts.runners:
            return f"stage(s) not consuming: {', '.join(waiting)}"
        return None if alerts.live_feed.following else "live feed: not following the alerts topic yet"

    return [store_check(alerts.engine), consuming, broker_check(alerts.relay, "outbox relay: ")]


def health_details(alerts: Alerts) -> Callable[[], dict]:
    """GET /health's details: the school stage's process, when it runs in one."""

    def details() -> dict:
        process = next((r for r in alerts.runners if isinstance(r, SchoolProcess)), None)
        if process is None:
            return {}
        return {"school_stage": {"process": True, "ready": process.ready, "metrics_port": process.metrics_port, "restarts": process.restarts}}

    return details


def build_app(settings: Settings, tokens: TokenRegistry | None = None) -> FastAPI:
    secrets.configure_pseudonyms(settings)  # refuses to start without a key in production
    alerts = bootstrap(settings)
    app = create_app("alerts", tokens=tokens or TokenRegistry(settings.tokens_file), readiness=readiness(alerts), lifespan=lifespan(alerts),
                     max_body_bytes=settings.max_body_bytes, description=DESCRIPTION, write_rate_limit=settings.write_rate_limit)
    app.state.alerts = alerts  # the routes read it through deps.py
    app.state.worker = alerts.worker  # the Kafka security tests read it
    app.state.health_details = health_details(alerts)  # services.common.http's GET /health
    app.include_router(child_routes.router)  # before routes: /v1/alerts/counts is not an alert id
    app.include_router(overview_routes.router)
    app.include_router(routes.router)
    engine = alerts.engine
    app.include_router(privacy_routes.router("alerts", lambda child_id, _keys: alerts_subject_access.export(engine, child_id),
                                              alerts.handlers.erase, alerts.store.audit))
    return app
