"""Rebuild the referrals store from the alerts and children topics, without re-delivering anything.

Offline: stop the referrals service first. Replays the alerts, children and child-links topics from the start through the same
desk with delivery off (webhook deliveries are recorded as skipped), then switches the service to
a new consumer generation whose offsets are where the replay stopped. Reasons are keyed, so
referrals that survived in the store are not duplicated either. Needs the topics' history: Apache
Kafka keeps it (retention.ms=-1); the embedded broker keeps nothing across a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from tqdm import tqdm

from schemas.topics import ALERTS, CHILD_LINKS, CHILDREN
from services.common import db, kafka
from services.common.broker import port_open
from services.common.settings import Settings
from services.common.stream_io import to_incoming
from services.referrals import tables
from services.referrals.bootstrap import bootstrap, consumer_group


class ServiceRunning(RuntimeError):
    pass


@dataclass
class RebuildReport:
    generation: str
    messages: int
    referrals_changed: int
    seconds: float


def referrals_service_answers(settings: Settings) -> bool:
    return port_open(settings.host, settings.referrals_port)


async def rebuild(settings: Settings, *, progress: bool = True) -> RebuildReport:
    if referrals_service_answers(settings):
        raise ServiceRunning(f"the referrals service answers on port {settings.referrals_port}: stop it first")
    started = datetime.now(UTC)
    # the service's own store, policy, desk and stage (its decoding, dead letters and transaction), with
    # delivery off; nothing else bootstrap builds (relay, timers, worker) is started
    referrals = bootstrap(settings, deliver=False)
    engine, store, stage = referrals.engine, referrals.store, referrals.stage
    await asyncio.to_thread(db.migrate, engine, tables.metadata)
    current: str | None = await asyncio.to_thread(store.meta, "consumer_generation")
    generation = str(int(current or "1") + 1)
    topics = [settings.topic(spec.name) for spec in (ALERTS, CHILDREN, CHILD_LINKS)]
    consumer = kafka.consumer(settings, *topics, group_id=consumer_group(settings, generation))
    await consumer.start()
    applied = changed = idle = 0
    bar = tqdm(desc="alerts and child events", unit=" messages", disable=not progress)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            if batches:
                idle = 0
                records = sorted((r for recs in batches.values() for r in recs), key=lambda r: r.timestamp)
                result = stage.process([to_incoming(r, settings.topic_prefix) for r in records], datetime.now(UTC))
                await asyncio.to_thread(stage.commit, result.writes)
                await consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
                applied += len(records)
                changed += len(result.writes.outcome.changes) if result.writes.outcome else 0
                bar.update(len(records))
            else:
                idle += 1
            assigned = consumer.assignment()
            caught_up = bool(assigned)
            for tp in assigned:
                high = consumer.highwater(tp)
                caught_up = caught_up and high is not None and await consumer.position(tp) >= high
            if caught_up or idle >= 20:
                break
    finally:
        bar.close()
        await consumer.stop()
    await asyncio.to_thread(store.set_meta, "consumer_generation", generation)
    engine.dispose()
    return RebuildReport(generation, applied, changed, (datetime.now(UTC) - started).total_seconds())
