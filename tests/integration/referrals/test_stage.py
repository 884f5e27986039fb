"""The referrals service's StageRunner on the real broker: nothing acknowledged before it is stored.

A store error during a batch (the engine raising mid-transaction, as a locked SQLite file or a
PostgreSQL restart would) fails the batch: no offset is committed, nothing of it is stored, and
the runner replays it; once the store answers, every referral appears once. A message that can't
be read is dead-lettered into the outbox, the rest of its batch is applied; the relay publishes
the outbox."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from conftest import consume_all, serve_app
from sqlalchemy import event, select

from schemas.topics import CHILDREN, DEAD_LETTERS, REFERRALS
from services.common import kafka
from services.referrals import tables
from services.referrals.app import build_app
from services.referrals.bootstrap import consumer_group
from services.referrals.inputs import Message

from . import builders as b

pytestmark = pytest.mark.integration
async def publish(settings, items: list[Message | tuple[str, bytes]]) -> dict[TopicPartition, int]:
    """Send and return, per partition, the offset after the last message sent."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    ends: dict[TopicPartition, int] = {}
    try:
        for item in items:
            if isinstance(item, tuple):  # (topic, raw bytes): a message no schema reads
                topic, value, key = *item, b"x"
            else:
                topic, value, key = b.topic_of(item), item.model_dump_json().encode(), b.key_of(item)
            meta = await producer.send_and_wait(settings.topic(topic), value, key=key)
            tp = TopicPartition(meta.topic, meta.partition)
            ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends


async def committed(settings, group: str, partitions) -> dict[TopicPartition, int]:  # noqa: ANN001
    """The group's committed offsets (OffsetFetch, without joining the group)."""
    consumer = kafka.consumer(settings, group_id=group)
    await consumer.start()
    try:
        out = {tp: await consumer.committed(tp) for tp in partitions}
    finally:
        await consumer.stop()
    return {tp: offset for tp, offset in out.items() if offset is not None and offset >= 0}


async def until(check, what: str, timeout: float = 60.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check() if asyncio.iscoroutinefunction(check) else check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows(engine, table) -> list[dict]:  # noqa: ANN001
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(table))]


async def test_a_store_error_fails_the_batch_which_is_replayed_once_the_store_answers(settings_factory) -> None:
    settings = settings_factory()
    await kafka.ensure_topics(settings)
    app = build_app(settings)
    engine = app.state.referrals.engine
    failures = {"on": True, "count": 0}

    @event.listens_for(engine, "before_cursor_execute")
    def locked(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        # mid-transaction: the batch's profiles and triggers are written before its first referral
        if failures["on"] and statement.lstrip().upper().startswith("INSERT INTO REFERRALS_REFERRALS "):
            failures["count"] += 1
            raise sqlite3.OperationalError("database is locked")

    send_kid, other = b.profile(**b.SEND), b.profile(**b.NON_SEND)
    items = [b.alert(send_kid, "suspension_days_nearing_limit"), b.notice(other), b.call(send_kid)]
    async with serve_app(app):
        ends = await publish(settings, items)
        await until(lambda: failures["count"] >= 2, "the batch to fail twice")
        group = consumer_group(settings, "1")
        runner = app.state.referrals.runners[0]
        assert runner.last_error is not None
        assert await committed(settings, group, ends) == {}, "no offset is committed before the batch is stored"
        assert rows(engine, tables.referrals) == [] and rows(engine, tables.triggers) == [] and rows(engine, tables.outbox) == []

        failures["on"] = False
        more = await publish(settings, [(CHILDREN.name, b"{not json")])  # a content error: dead-lettered, the rest applied
        ends = {tp: max(ends.get(tp, 0), more.get(tp, 0)) for tp in {*ends, *more}}
        await until(lambda: len(rows(engine, tables.referrals)) >= 3 and len(rows(engine, tables.reasons)) >= 4, "the referrals")
        async def all_committed() -> bool:
            return await committed(settings, group, ends) == ends

        await until(all_committed, "the offsets")
        # the relay publishes the outbox: each referral change once on referrals.v1, the dead letter on dead-letters.v1
        published = await consume_all(settings, REFERRALS.name, expected=4, timeout=30)
        letters_sent = await consume_all(settings, DEAD_LETTERS, expected=1, timeout=30)

    referrals = rows(engine, tables.referrals)
    by_agency = {(r["child_id"], r["agency"]): r for r in referrals}
    assert set(by_agency) == {(send_kid["child_id"], "reu"), (send_kid["child_id"], "ias"), (other["child_id"], "exclusions_officer")}
    assert len(referrals) == 3, "every referral once"
    reasons = rows(engine, tables.reasons)
    assert len(reasons) == len({(r["referral_id"], r["reason_key"]) for r in reasons}) == 4  # reu: alert; ias: alert + call; eo: notice
    outbox = rows(engine, tables.outbox)
    letters = [o for o in outbox if o["topic"] == DEAD_LETTERS]
    assert len(letters) == 1 and letters[0]["value"] == b"{not json"
    assert dict(orjson.loads(letters[0]["headers"]))["dlq_reason"].startswith("invalid_payload")
    changes = [o["event_id"] for o in outbox if o["topic"] != DEAD_LETTERS]
    assert len(changes) == len(set(changes)) == 4  # created ×3, reason_added ×1: each once
    assert sorted(m.headers["ce_id"] for m in published) == sorted(changes)
    assert [m.headers["dlq_reason"].split(":")[0] for m in letters_sent] == ["invalid_payload"]
