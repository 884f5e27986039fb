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
from services.common import db, generations, kafka
from services.common.settings import Settings
from services.common.stream_io import to_incoming
from services.referrals import tables
from services.referrals.bootstrap import bootstrap, consumer_group


@dataclass
class RebuildReport:
    generation: str
    messages: int
    referrals_changed: int
    seconds: float


async def rebuild(settings: Settings, *, progress: bool = True) -> RebuildReport:
    generations.refuse_while_answering(settings.host, "referrals", settings.referrals_port)
    started = datetime.now(UTC)
    # the service's own store, policy, desk and stage (its decoding, dead letters and transaction), with
    # delivery off; nothing else bootstrap builds (relay, timers, worker) is started
    referrals = bootstrap(settings, deliver=False)
    engine, store, stage = referrals.engine, referrals.store, referrals.stage
    await asyncio.to_thread(db.migrate, engine, tables.metadata)
    generation = await generations.following(store)
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
    await generations.switch(store, generation)
    engine.dispose()
    return RebuildReport(generation, applied, changed, (datetime.now(UTC) - started).total_seconds())
