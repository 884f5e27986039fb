"""Rebuild the alerts service's state from the intake topics (after a rule change, or a lost store).

Offline: stop the alerts service first. The rebuild forgets the facts (children, confirmed
links and alerts stay), replays the intake topics from the start through the same stages,
then applies each alert's final finding once: alerts keep their ids and statuses, an alert
whose rule no longer holds is resolved, and only real changes reach the alerts topic (through the
outbox: the service's relay publishes them when it runs), so nobody is notified twice. It ends by switching the service to a new consumer generation
whose committed offsets are where the replay stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from aiokafka import AIOKafkaConsumer, TopicPartition
from tqdm import tqdm

from schemas.topics import INTAKE_TOPICS, SCHOOL_SUSPENSIONS
from services.alerts import child_clocks, tables
from services.alerts.bootstrap import Alerts, consumer_groups, stage_runners
from services.alerts.child_stage import ChildStage, StageResult
from services.alerts.domain.rules import load_rules
from services.alerts.school_stage import SchoolStage
from services.alerts.store import AlertsStore
from services.common import db, kafka, secrets
from services.common.broker import port_open
from services.common.calendar import load_registry
from services.common.settings import Settings
from services.common.stream_io import produce_all, to_incoming
from services.common.worker import tune_gc_for_stream_state

log = logging.getLogger(__name__)


class ServiceRunning(RuntimeError):
    pass


@dataclass
class RebuildReport:
    generation: str
    events: int
    suspensions: int
    alerts_changed: int
    seconds: float


def alerts_service_answers(settings: Settings) -> bool:
    return port_open(settings.host, settings.alerts_port)


async def _replay(settings: Settings, topics: list[str], group: str, process: Callable, commit: Callable, label: str, progress: bool,
                  on_progress: Callable[[str, int], None] | None = None) -> int:
    """Consume `topics` from the start to their current end through `process`; commit offsets for `group`."""
    consumer: AIOKafkaConsumer = kafka.consumer(settings, *[settings.topic(t) for t in topics], group_id=group)
    producer = kafka.producer(settings)
    await consumer.start()
    await producer.start()
    applied = 0
    bar = tqdm(desc=label, unit=" events", disable=not progress)
    try:
        idle = 0
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            if batches:
                idle = 0
                records = [r for tp in sorted(batches, key=lambda tp: (tp.topic, tp.partition)) for r in batches[tp]]
                result: StageResult = await asyncio.to_thread(process, [to_incoming(r, settings.topic_prefix) for r in records], datetime.now(timezone.utc))
                # The replay's own messages (suspensions re-keyed by school, child events) go straight to the
                # broker: the school replay reads them next, and the facts they carry are stored by then anyway.
                await produce_all(producer, settings.topic_prefix, [*result.messages, *result.writes.outbox], "alerts")
                result.writes.outbox = []
                await asyncio.to_thread(commit, result.writes)
                await consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
                applied += len(records)
                bar.update(len(records))
                if on_progress:
                    on_progress(label, applied)
            else:
                idle += 1
            if await _caught_up(consumer) or idle >= 20:
                return applied
    finally:
        bar.close()
        await consumer.stop()
        await producer.stop()


async def _caught_up(consumer: AIOKafkaConsumer) -> bool:
    # The high watermark from fetch responses is exact (Tansu's ListOffsets is not).
    assigned: set[TopicPartition] = consumer.assignment()
    if not assigned:
        return False
    for tp in assigned:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return True


async def rebuild(settings: Settings, *, progress: bool = True, in_service: bool = False,
                  on_progress: Callable[[str, int], None] | None = None) -> RebuildReport:
    """`in_service`: called by the running service (POST /v1/admin/rebuild), which paused its stages."""
    if not in_service and alerts_service_answers(settings):
        raise ServiceRunning(f"the alerts service answers on port {settings.alerts_port}: stop it first")
    started = datetime.now(timezone.utc)
    if not in_service:
        secrets.configure_pseudonyms(settings)  # the CLI's process derives child ids as the service does
    tune_gc_for_stream_state()
    engine = db.make_engine(settings.database_url_for("alerts"))
    store = AlertsStore(engine)
    await asyncio.to_thread(db.migrate, engine, tables.metadata)
    current: str | None = await asyncio.to_thread(store.meta, "consumer_generation")
    generation = str(int(current or "1") + 1)
    child_group, school_group = consumer_groups(settings, generation)
    calendars, rules = load_registry(settings.calendars_dir), load_rules(settings.rules_file)
    child, school = ChildStage(store, calendars, rules, clock=child_clocks.clock_of(settings)), SchoolStage(store, calendars, rules)
    child.sole_owner = not in_service  # the CLI's replay is the only writer (the service is stopped); in the service, other replicas may run
    child.book.defer()
    school.book.defer()
    await kafka.ensure_topics(settings)
    await asyncio.to_thread(store.clear_derived_state)
    events = await _replay(settings, [t.name for t in INTAKE_TOPICS], child_group, child.process, store.commit, "intake events", progress, on_progress)
    suspensions = await _replay(settings, [SCHOOL_SUSPENSIONS.name], school_group, school.process, store.commit, "school suspensions", progress, on_progress)
    final = StageResult()
    now = datetime.now(timezone.utc)
    await asyncio.to_thread(child.book.finalize, final, now, child.profile_of)
    await asyncio.to_thread(school.book.finalize, final, now, lambda _: None)
    await asyncio.to_thread(store.commit, final.writes)  # the final changes go out through the outbox (the service's relay)
    await asyncio.to_thread(store.set_meta, "consumer_generation", generation)
    if not in_service:
        engine.dispose()
    seconds = (datetime.now(timezone.utc) - started).total_seconds()
    return RebuildReport(generation, events, suspensions, len(final.changed_alerts), seconds)


async def rebuild_in_service(alerts: Alerts) -> None:
    """POST /v1/admin/rebuild: pause the stages, replay into fresh state (same code as `signpost rebuild
    alerts`), resume on the new generation (on the old one if the rebuild failed)."""
    state, runners = alerts.rebuild_state, alerts.runners
    state.update(status="running", started_at=datetime.now(timezone.utc).isoformat(), progress={})
    try:
        for runner in runners:
            await runner.stop()
        report = await rebuild(alerts.settings, progress=False, in_service=True, on_progress=lambda label, n: state["progress"].__setitem__(label, n))
        alerts.child.reset()
        alerts.school.reset()
        alerts.relay.notify()
        state.update(status="done", events=report.events, suspensions=report.suspensions, alerts_changed=report.alerts_changed, generation=report.generation)
        runners[:] = stage_runners(alerts, report.generation)
    except Exception as exc:  # noqa: BLE001 - reported on GET /v1/admin/rebuild; the stages resume on the old generation
        log.exception("rebuild failed")
        state.update(status="failed", error=type(exc).__name__)
        current: str | None = await asyncio.to_thread(alerts.store.meta, "consumer_generation")
        runners[:] = stage_runners(alerts, current or "1")
    for runner in runners:
        await alerts.worker.add_runtime_dependency(runner)
