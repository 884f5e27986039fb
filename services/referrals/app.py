"""Composition root of the referrals service: policy, desk, stage runner, webhooks, escalation, API.

The faust app is the worker, booted producer-only as in the alerts service: one StageRunner
consumes alerts.v1, children.v1 and children.links.v1 in batches; the desk applies each batch in
one store transaction, with its referral changes (and dead letters) in the outbox, before the
offsets are committed; the relay publishes the outbox to referrals.v1 (and dead-letters.v1).
Timers deliver webhooks and escalate overdue referrals; both are safe with
two replicas on PostgreSQL (claims), and SQLite runs one process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import faust
import httpx
from fastapi import FastAPI
from faust.contrib.asgi import faust_app_running

from schemas.topics import ALERTS, CHILD_LINKS, CHILDREN
from services.common import db, kafka, privacy_routes, secrets
from services.common.auth import Principal, TokenRegistry
from services.common.calendar import load_registry
from services.common.http import create_app, store_check
from services.common.outbox import OutboxLog
from services.common.relay import Relay
from services.common.retention import Schedule
from services.common.settings import Settings
from services.common.stream import StageRunner
from services.common.worker import exit_if_crashed, survives
from services.referrals import page_routes, routes, tables
from services.referrals import retention as referrals_retention
from services.referrals import subject_access as referrals_subject_access
from services.referrals.consumer import ReferralsStage
from services.referrals.desk import DeskResult, ReferralDesk
from services.referrals.metrics import ESCALATIONS, HELD, REFERRAL_CHANGES
from services.referrals.policy import PolicyHolder
from services.referrals.store import ReferralStore
from services.referrals.webhooks import WebhookSender

log = logging.getLogger(__name__)
DESCRIPTION = """Referrals to IAS, the LA exclusions officer, the Re-engagement Unit and NAS: routed by a
policy file, one open referral per child and agency, consent and need-to-know respected."""


def consumer_group(settings: Settings, generation: str) -> str:
    """`signpost rebuild referrals` starts a new generation, whose offsets are where its replay stopped."""
    return f"{settings.topic_prefix}referrals-g{generation}"


def build_app(settings: Settings, tokens: TokenRegistry | None = None) -> FastAPI:
    secrets.configure_pseudonyms(settings)  # refuses to start without a key in production
    engine = db.make_engine(settings.database_url_for("referrals"))
    store = ReferralStore(engine)
    policy = PolicyHolder(settings.routing_policy_file)  # a bad policy stops the service here, naming the line
    calendars = load_registry(settings.calendars_dir)
    desk = ReferralDesk(engine, lambda: policy.policy, calendars)
    worker = faust.App(
        f"{settings.topic_prefix}referrals",
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=kafka.faust_credentials(settings),
        web_enabled=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=str(settings.data_dir / "faust-referrals"),
    )
    worker.producer_only = True  # the stage consumes in batches; faust runs services, timers, lifecycle
    runners: list[StageRunner] = []
    # The outbox (referral changes, dead letters) reaches Kafka through the relay, in commit order,
    # and again if the broker lost it. On PostgreSQL one replica publishes (advisory lock).
    relay = Relay(settings, OutboxLog(engine, tables.outbox, tables.relay_state), service="referrals", engine=engine)

    def notify_relay() -> None:
        relay.notify()

    def on_outcome(result: DeskResult) -> None:
        for c in result.changes:
            REFERRAL_CHANGES.labels(c.agency, c.change).inc()
        for agency in result.held:
            HELD.labels(agency).inc()
        if result.messages:
            notify_relay()

    stage = ReferralsStage(desk, settings.topic_prefix, on_outcome)

    def make_runner(generation: str) -> StageRunner:
        return StageRunner(settings=settings, service="referrals", stage="desk", group_id=consumer_group(settings, generation),
                           topics=[ALERTS.name, CHILDREN.name, CHILD_LINKS.name], process=stage.process, commit=stage.commit,
                           reset=stage.reset, on_committed=stage.on_committed, max_records=500)

    def render(ref_id: str, agency: str) -> bytes:
        record = store.get(ref_id)
        if record is None:  # a delivery row outlived its referral (an erasure): nothing to send
            raise LookupError("the referral of this delivery no longer exists")
        principal = Principal(name="webhook", roles=frozenset({"agency"}), agency=agency)
        # a delivery discloses the child's data to the agency: audited like a read (issue 12)
        store.write_audit([{"at": datetime.now(UTC), "principal": f"webhook:{agency}", "action": "deliver_referral", "object_kind": "referral",
                            "object_id": ref_id, "child_id": record.row["child_id"], "detail": None}])
        fake_request = type("R", (), {"app": app})()
        return routes.view(fake_request, record, principal).model_dump_json(exclude_none=True).encode()  # type: ignore[arg-type]

    sender = WebhookSender(engine, lambda: policy.policy, render)

    @worker.timer(interval=1.0)
    @survives
    async def deliver_webhooks() -> None:
        async with httpx.AsyncClient() as client:
            await sender.run_once(client)

    @worker.timer(interval=settings.retention_interval_s)
    @survives
    async def apply_retention() -> None:  # docs/data-protection.md: what is past its period goes
        await asyncio.to_thread(referrals_retention.run, engine, Schedule.of(settings), datetime.now(UTC))

    @worker.timer(interval=30.0)
    @survives
    async def escalate_overdue() -> None:
        now = datetime.now(UTC)
        for row in await asyncio.to_thread(store.overdue_unescalated, now.date()):
            if await asyncio.to_thread(store.escalate, row["id"], now):
                ESCALATIONS.labels(row["agency"]).inc()
                log.info("referral escalated", extra={"referral_id": row["id"], "agency": row["agency"]})
                notify_relay()
        # signpost_referrals and signpost_referrals_overdue come from the exporter: once, however many replicas run.

    async def on_referral_changed(record, action: str) -> None:  # noqa: ANN001 - a ReferralRecord, already committed with its outbox row
        REFERRAL_CHANGES.labels(record.row["agency"], action).inc()
        notify_relay()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, engine, tables.metadata)
        generation = await asyncio.to_thread(store.meta, "consumer_generation") or "1"
        runners[:] = [make_runner(generation)]
        relay.start()
        try:
            async with faust_app_running(worker):
                watchdog = asyncio.create_task(exit_if_crashed(worker), name="exit-if-crashed")
                for runner in runners:
                    await worker.add_runtime_dependency(runner)
                try:
                    yield
                finally:
                    watchdog.cancel()
        finally:
            await relay.stop()
            engine.dispose()

    async def consuming() -> str | None:
        waiting = [r.stage for r in runners if not r.ready]
        return "the referrals stage is not consuming" if waiting or not runners else None

    async def publishing() -> str | None:
        return None if relay.broker_ok else f"outbox relay: broker unavailable ({relay.last_error or 'connecting'})"

    app = create_app("referrals", tokens=tokens or TokenRegistry(settings.tokens_file), readiness=[store_check(engine), consuming, publishing], lifespan=lifespan,
                     max_body_bytes=settings.max_body_bytes, description=DESCRIPTION, write_rate_limit=settings.write_rate_limit)
    app.state.settings, app.state.store, app.state.policy, app.state.desk = settings, store, policy, desk
    app.state.on_referral_changed, app.state.sender, app.state.worker = on_referral_changed, sender, worker
    app.state.on_desk_outcome = on_outcome  # a consent recorded over HTTP changes referrals as the stage does
    app.state.stage, app.state.runners, app.state.relay = stage, runners, relay
    app.include_router(page_routes.router)  # before routes: /v1/referrals/counts is not a referral id
    app.include_router(routes.router)
    app.include_router(privacy_routes.router("referrals", lambda state, child_id, _keys: (referrals_subject_access.export(state.store.engine, child_id), []),
                                              lambda state, child_id, _keys: referrals_subject_access.erase(state.store.engine, child_id)))
    return app
