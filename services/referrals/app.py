"""Composition root of the referrals service: policy, desk, faust agents, webhooks, API.

Alert changes and resolved child events are few (hundreds a day in a big LA), so plain
faust agents consume them, in small batches, each batch one store transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import faust
import httpx
import orjson
from fastapi import FastAPI
from faust.contrib.asgi import faust_app_running

from schemas.referrals import ReferralChanged
from schemas.topics import ALERTS, CHILDREN, REFERRALS
from services.common import db, kafka
from services.common.auth import Principal, TokenRegistry
from services.common.calendar import load_registry
from services.common.http import create_app, store_check
from services.common.messages import outgoing
from services.common.metrics import (
    BROKER_UP,
    CONSUMER_LAG,
    CONSUMER_LAG_SECONDS,
    EVENT_AGE,
    EVENTS_CONSUMED,
    PROCESSING_LATENCY,
    Counter,
    Gauge,
)
from services.common.settings import Settings
from services.common.stream import produce_all
from services.referrals import routes, tables
from services.referrals.desk import ReferralDesk
from services.referrals.policy import PolicyHolder
from services.referrals.store import ReferralStore
from services.referrals.webhooks import WebhookSender

log = logging.getLogger(__name__)
SOURCE = "/signpost/referrals"
REFERRAL_CHANGES = Counter("signpost_referral_changes_total", "Referrals created or changed", ["agency", "change"])
REFERRALS_BY_STATUS = Gauge("signpost_referrals", "Referrals in the store", ["agency", "status"])
OVERDUE = Gauge("signpost_referrals_overdue", "New referrals past their due date", ["agency"])
ESCALATIONS = Counter("signpost_referral_escalations_total", "Referrals escalated because nobody acted in time", ["agency"])
HELD = Counter("signpost_referral_reasons_held_total", "Reasons held until a consent is recorded", ["agency"])
DESCRIPTION = """Referrals to IAS, the LA exclusions officer, the Re-engagement Unit and NAS: routed by a
policy file, one open referral per child and agency, consent and need-to-know respected."""


def consumer_group(settings: Settings, generation: str) -> str:
    """`signpost rebuild referrals` starts a new generation, whose offsets are where its replay stopped."""
    return f"{settings.topic_prefix}referrals-g{generation}"


def build_app(settings: Settings, tokens: TokenRegistry | None = None) -> FastAPI:
    engine = db.make_engine(settings.database_url_for("referrals"))
    store = ReferralStore(engine)
    policy = PolicyHolder(settings.routing_policy_file)  # a bad policy stops the service here, naming the line
    calendars = load_registry(settings.calendars_dir)
    desk = ReferralDesk(engine, lambda: policy.policy, calendars)
    state: dict = {"producer": None, "consuming": False, "generation": "1"}
    db.migrate(engine, tables.metadata)  # before the worker: its consumer group carries the state's generation
    worker = faust.App(
        consumer_group(settings, store.meta("consumer_generation") or "1"),
        broker=f"kafka://{settings.bootstrap_servers}",
        web_enabled=False,
        topic_disable_leader=True,
        store="memory://",
        value_serializer="raw",
        key_serializer="raw",
        datadir=str(settings.data_dir / "faust-referrals"),
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0 if settings.embedded else 60.0,
        broker_heartbeat_interval=1.0 if settings.embedded else 3.0,
        stream_wait_empty=False,
    )
    alerts_topic = worker.topic(settings.topic(ALERTS.name), value_type=bytes, key_type=bytes)
    children_topic = worker.topic(settings.topic(CHILDREN.name), value_type=bytes, key_type=bytes)

    async def publish_changes(result) -> None:  # noqa: ANN001 - a DeskResult
        now = datetime.now(timezone.utc)
        messages = []
        for c in result.changes:
            REFERRAL_CHANGES.labels(c.agency, c.change).inc()
            payload = ReferralChanged(referral_id=c.referral_id, agency=c.agency, child_id=c.child_id, status=c.status, change=c.change, at=now)
            messages.append(outgoing(REFERRALS, c.child_id, f"{c.referral_id}:{c.change}:{now.timestamp()}", payload, SOURCE))
        if messages and state["producer"] is not None:
            try:
                await produce_all(state["producer"], settings.topic_prefix, messages, "referrals")
            except Exception as exc:  # noqa: BLE001 - the referral is stored; the notification topic copy is best effort
                log.warning("could not publish referral changes", extra={"error": type(exc).__name__})

    async def handle(kind: str, events: list) -> None:
        items = []
        for event in events:
            try:
                items.append((kind, orjson.loads(event.value)))
            except orjson.JSONDecodeError:
                log.warning("undecodable message skipped", extra={"topic": event.message.topic, "offset": event.message.offset})
        started = time.perf_counter()
        result = await asyncio.to_thread(desk.handle, items, datetime.now(timezone.utc))
        PROCESSING_LATENCY.labels("referrals", kind).observe(time.perf_counter() - started)
        EVENTS_CONSUMED.labels("referrals", settings.topic(ALERTS.name if kind == "alert" else CHILDREN.name)).inc(len(events))
        for agency in result.held:
            HELD.labels(agency).inc()
        BROKER_UP.labels("referrals").set(1)
        observe_lag(events)
        await publish_changes(result)

    def observe_lag(events: list) -> None:
        """Lag per partition after a batch: the partition's end minus what we have read."""
        last: dict = {}
        for event in events:
            last[event.message.tp] = event.message
        now = time.time()
        for tp, message in last.items():
            high = worker.consumer.highwater(tp) if worker.consumer else None
            if high is not None:
                CONSUMER_LAG.labels("referrals", tp.topic, str(tp.partition)).set(max(0, high - message.offset - 1))
            sent = dict(message.headers or ()).get("ce_time")
            if sent:
                age = now - datetime.fromisoformat(sent.decode().replace("Z", "+00:00")).timestamp()
                CONSUMER_LAG_SECONDS.labels("referrals", tp.topic, str(tp.partition)).set(max(0.0, age))
                EVENT_AGE.labels("referrals", tp.topic).observe(max(0.0, age))

    @worker.agent(alerts_topic)
    async def on_alert_changes(stream) -> None:  # noqa: ANN001
        state["consuming"] = True
        async for events in stream.take_events(500, within=0.05):
            await handle("alert", events)

    @worker.agent(children_topic)
    async def on_child_events(stream) -> None:  # noqa: ANN001
        state["consuming"] = True
        async for events in stream.take_events(500, within=0.05):
            await handle("child", events)

    def render(ref_id: str, agency: str) -> bytes:
        record = store.get(ref_id)
        principal = Principal(name="webhook", roles=frozenset({"agency"}), agency=agency)
        fake_request = type("R", (), {"app": app})()
        return routes.view(fake_request, record, principal).model_dump_json(exclude_none=True).encode()  # type: ignore[arg-type]

    sender = WebhookSender(engine, lambda: policy.policy, render)

    @worker.timer(interval=1.0)
    async def deliver_webhooks() -> None:
        async with httpx.AsyncClient() as client:
            await sender.run_once(client)

    @worker.timer(interval=30.0)
    async def escalate_overdue() -> None:
        now = datetime.now(timezone.utc)
        for row in await asyncio.to_thread(store.overdue_unescalated, now.date()):
            await asyncio.to_thread(store.escalate, row["id"], now)
            ESCALATIONS.labels(row["agency"]).inc()
            log.info("referral escalated", extra={"referral_id": row["id"], "agency": row["agency"]})
        counts = await asyncio.to_thread(store.counts)
        REFERRALS_BY_STATUS.clear()
        for agency, status, n in counts:
            REFERRALS_BY_STATUS.labels(agency, status).set(n)
        overdue, _ = await asyncio.to_thread(store.list, agency=None, status=None, upn=None, overdue=True, la_codes=None, today=now.date(), limit=500, cursor=None)
        OVERDUE.clear()
        for agency in {r.row["agency"] for r in overdue}:
            OVERDUE.labels(agency).set(sum(1 for r in overdue if r.row["agency"] == agency))

    async def on_referral_changed(record, action: str) -> None:  # noqa: ANN001
        REFERRAL_CHANGES.labels(record.row["agency"], action).inc()
        from services.referrals.desk import Change, DeskResult

        await publish_changes(DeskResult(changes=[Change(record.row["id"], record.row["agency"], record.row["child_id"], record.row["status"], action)]))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, engine, tables.metadata)
        await kafka.ensure_topics(settings)
        producer = kafka.producer(settings)
        async with faust_app_running(worker):
            try:
                await producer.start()
                state["producer"] = producer
            except Exception as exc:  # noqa: BLE001
                log.warning("referrals producer not started", extra={"error": type(exc).__name__})
            try:
                yield
            finally:
                if state["producer"] is not None:
                    await producer.stop()
        engine.dispose()

    async def consuming() -> str | None:
        assigned = worker.consumer.assignment() if worker.consumer else set()
        BROKER_UP.labels("referrals").set(1 if assigned else 0)
        return None if assigned else "waiting for partition assignment"

    app = create_app("referrals", tokens=tokens or TokenRegistry(settings.tokens_file), readiness=[store_check(engine), consuming], lifespan=lifespan,
                     max_body_bytes=settings.max_body_bytes, description=DESCRIPTION)
    app.state.settings, app.state.store, app.state.policy, app.state.desk = settings, store, policy, desk
    app.state.on_referral_changed, app.state.sender, app.state.worker = on_referral_changed, sender, worker
    app.include_router(routes.router)
    return app
