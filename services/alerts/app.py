"""Composition root of the alerts service: store, stages, faust worker, API, live feed.

The faust app is the worker: it owns the stages (mode services), the timers (snooze
expiry, audit flush, gauges) and their lifecycle, and runs on uvicorn's loop (faust's
ASGI integration). It boots producer-only: the stages consume in batches themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import faust
from fastapi import FastAPI
from faust.contrib.asgi import faust_app_running

from schemas.alerts import Alert
from schemas.topics import INTAKE_TOPICS, SCHOOL_SUSPENSIONS
from services.alerts import child_clocks, child_routes, overview_routes, routes, tables
from services.alerts import retention as alerts_retention
from services.alerts import subject_access as alerts_subject_access
from services.alerts.alerting import change_message
from services.alerts.child_stage import ChildStage
from services.alerts.domain import lifecycle
from services.alerts.domain.rules import load_rules
from services.alerts.live import Broadcaster
from services.alerts.live_feed import LiveFeed
from services.alerts.school_process import SchoolProcess
from services.alerts.school_stage import SchoolStage
from services.alerts.store import AlertsStore
from services.common import db, kafka, privacy_routes, secrets
from services.common.auth import TokenRegistry
from services.common.calendar import load_registry
from services.common.http import create_app, store_check
from services.common.metrics import ALERT_CHANGES, SSE_SUBSCRIBERS
from services.common.problems import ProblemError
from services.common.relay import Relay
from services.common.retention import Schedule
from services.common.settings import Settings
from services.common.stream import StageRunner, StaleWrite
from services.common.worker import exit_if_crashed, survives, tune_gc_for_stream_state

log = logging.getLogger(__name__)
DESCRIPTION = """Alerts an LA inclusion team acts on: the 45-day limit, repeated informal exclusions,
end-of-term spikes. One alert per rule, subject and period, updated as evidence grows."""


def consumer_groups(settings: Settings, generation: str) -> tuple[str, str]:
    """Group ids carry the state's generation: a rebuild starts a new generation, which reads from the start."""
    return f"{settings.topic_prefix}alerts-child-g{generation}", f"{settings.topic_prefix}alerts-school-g{generation}"


def build_app(settings: Settings, tokens: TokenRegistry | None = None) -> FastAPI:
    secrets.configure_pseudonyms(settings)  # refuses to start without a key in production
    engine = db.make_engine(settings.database_url_for("alerts"))
    store = AlertsStore(engine)
    calendars = load_registry(settings.calendars_dir)
    rules = load_rules(settings.rules_file)
    child = ChildStage(store, calendars, rules, clock=child_clocks.clock_of(settings), tick_s=settings.deadline_tick_s)
    school = SchoolStage(store, calendars, rules)
    broadcaster = Broadcaster()
    # The SSE feed is fed from the alerts topic, not from this process's commits, so every replica's
    # clients see every replica's changes (issue 13). A minute's grace covers clock skew between hosts.
    live_feed = LiveFeed(settings, broadcaster, since=datetime.now(UTC) - timedelta(minutes=1))
    audit_buffer: list[dict] = []
    worker = faust.App(
        f"{settings.topic_prefix}alerts",
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=kafka.faust_credentials(settings),
        web_enabled=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=str(settings.data_dir / "faust-alerts"),
    )
    worker.producer_only = True  # the stages consume in batches; faust runs services, timers, lifecycle

    relay = Relay(settings, store.outbox, service="alerts", engine=engine)

    def alerts_committed(changed: list[Alert]) -> None:
        """A stage (or the school stage's process) committed: count its changes and wake the relay; the
        live feed follows alerts.v1, where the relay publishes them."""
        for alert in changed:
            ALERT_CHANGES.labels(alert.rule, alert.severity, "raised" if alert.version == 1 else "updated").inc()
        relay.notify()

    def on_committed(result) -> None:  # noqa: ANN001 - a StageResult
        alerts_committed(result.changed_alerts)

    async def save_alert_change(alert: Alert, school_urn: str | None, expected_version: int, audit: list[dict], by: str) -> bool:
        """A person's (or the snooze timer's) change: stored only on the version it was made on, with its
        history, audit and alerts-topic message (the outbox); then the live feed and the stages hear of it."""
        message = change_message(alert, "status", None)
        if not await asyncio.to_thread(store.save_alert, alert, school_urn, expected_version, audit, by, [message]):
            return False
        for stage in (child, school):
            stage.book.changed_elsewhere(alert.id)
        for runner in runners:
            if isinstance(runner, SchoolProcess):
                runner.changed_elsewhere(alert.id)
        ALERT_CHANGES.labels(alert.rule, alert.severity, "status").inc()
        relay.notify()
        return True

    async def identity_decision(candidate_id: str, decision: str, by: str, note: str | None) -> str:
        """Recorded (audited) by the store; the child stage applies it to the link in its next batch."""
        candidate = await asyncio.to_thread(store.candidate, candidate_id)
        if candidate is None:
            raise ProblemError(404, "Not Found", "no such candidate")
        try:
            status = await asyncio.to_thread(store.decide_candidate, candidate, decision, by, note, datetime.now(UTC))
        except StaleWrite as exc:
            raise ProblemError(409, "Conflict", "the candidate changed meanwhile; look again") from exc
        child.request_recompute()
        return status

    @worker.timer(interval=1.0)
    @survives
    async def wake_snoozed() -> None:
        now = datetime.now(UTC)
        for alert, urn in await asyncio.to_thread(store.due_snoozes, now):
            woken = lifecycle.wake(alert, now)
            if woken:
                await save_alert_change(woken, urn, alert.version, [], "signpost")

    @worker.timer(interval=1.0)
    @survives
    async def flush_audit() -> None:
        if audit_buffer:
            entries = audit_buffer[:]
            del audit_buffer[: len(entries)]
            await asyncio.to_thread(store.write_audit, entries)
        SSE_SUBSCRIBERS.set(broadcaster.subscribers)

    @worker.timer(interval=settings.retention_interval_s)
    @survives
    async def apply_retention() -> None:  # docs/data-protection.md: what is past its period goes
        await asyncio.to_thread(alerts_retention.run, engine, Schedule.of(settings), datetime.now(UTC))

    # signpost_alerts (alerts by status) comes from the exporter: once, however many replicas run (issue 13).

    runners: list[StageRunner | SchoolProcess] = []
    rebuild_state: dict = {"status": "idle"}

    def make_runners(generation: str) -> list[StageRunner | SchoolProcess]:
        child_group, school_group = consumer_groups(settings, generation)
        school_runner = (
            SchoolProcess(settings, school_group, alerts_committed)
            if settings.alerts_school_process
            else StageRunner(settings=settings, service="alerts", stage="school", group_id=school_group, topics=[SCHOOL_SUSPENSIONS.name],
                             process=school.process, commit=store.commit, reset=school.reset, on_committed=on_committed)
        )  # fmt: skip
        return [
            StageRunner(settings=settings, service="alerts", stage="child", group_id=child_group, topics=[t.name for t in INTAKE_TOPICS],
                        process=child.process, commit=store.commit, reset=child.reset, on_committed=on_committed, has_pending=child.has_pending,
                        on_assigned=child.assigned),
            school_runner,
        ]  # fmt: skip

    async def run_rebuild() -> None:
        """Pause the stages, replay into fresh state (same code as `signpost rebuild alerts`), resume on the new generation."""
        from services.alerts.rebuild import rebuild

        rebuild_state.update(status="running", started_at=datetime.now(UTC).isoformat(), progress={})
        try:
            for runner in runners:
                await runner.stop()
            report = await rebuild(settings, progress=False, in_service=True, on_progress=lambda label, n: rebuild_state["progress"].__setitem__(label, n))
            child.reset()
            school.reset()
            relay.notify()
            rebuild_state.update(status="done", events=report.events, suspensions=report.suspensions, alerts_changed=report.alerts_changed, generation=report.generation)
            runners[:] = make_runners(report.generation)
        except Exception as exc:  # noqa: BLE001 - reported on GET /v1/admin/rebuild; the stages resume on the old generation
            log.exception("rebuild failed")
            rebuild_state.update(status="failed", error=type(exc).__name__)
            current: str | None = await asyncio.to_thread(store.meta, "consumer_generation")
            runners[:] = make_runners(current or "1")
        for runner in runners:
            await worker.add_runtime_dependency(runner)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_gc_for_stream_state()
        await asyncio.to_thread(db.migrate, engine, tables.metadata)
        generation = await asyncio.to_thread(store.meta, "consumer_generation") or "1"
        runners[:] = make_runners(generation)
        broadcaster.bind(asyncio.get_running_loop())
        live_feed.start()
        relay.start()
        async with faust_app_running(worker):
            watchdog = asyncio.create_task(exit_if_crashed(worker), name="exit-if-crashed")
            for runner in runners:
                await worker.add_runtime_dependency(runner)
            try:
                yield
            finally:
                watchdog.cancel()
                await live_feed.stop()
                await relay.stop()
        engine.dispose()

    async def consuming() -> str | None:
        waiting = [r.stage for r in runners if not r.ready]
        if waiting or not runners:
            return f"stage(s) not consuming: {', '.join(waiting)}"
        if not live_feed.following:
            return "live feed: not following the alerts topic yet"
        return None if relay.broker_ok else f"outbox relay: broker unavailable ({relay.last_error or 'connecting'})"

    app = create_app("alerts", tokens=tokens or TokenRegistry(settings.tokens_file), readiness=[store_check(engine), consuming], lifespan=lifespan,
                     max_body_bytes=settings.max_body_bytes, description=DESCRIPTION, write_rate_limit=settings.write_rate_limit)
    app.state.settings, app.state.store, app.state.broadcaster, app.state.live_feed = settings, store, broadcaster, live_feed
    app.state.audit_buffer, app.state.save_alert_change, app.state.identity_decision = audit_buffer, save_alert_change, identity_decision
    app.state.relay, app.state.worker = relay, worker
    app.state.child_stage, app.state.school_stage, app.state.runners = child, school, runners
    app.state.rebuild_state, app.state.run_rebuild = rebuild_state, run_rebuild

    def health_details() -> dict:
        process = next((r for r in runners if isinstance(r, SchoolProcess)), None)
        if process is None:
            return {}
        return {"school_stage": {"process": True, "ready": process.ready, "metrics_port": process.metrics_port, "restarts": process.restarts}}

    app.state.health_details = health_details
    app.include_router(child_routes.router)  # before routes: /v1/alerts/counts is not an alert id
    app.include_router(overview_routes.router)
    app.include_router(routes.router)
    def erase(state: object, child_id: str, _keys: object) -> dict[str, int]:
        deleted = alerts_subject_access.erase(engine, child_id)
        child.erasures.due()  # the stage drops its caches and skips the child's old events from its next batch
        return deleted

    app.include_router(privacy_routes.router("alerts", lambda state, child_id, _keys: alerts_subject_access.export(state.store.engine, child_id), erase))

    return app
