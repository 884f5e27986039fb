"""The relay against the real broker: everything in the log reaches the broker, again after a loss.

The restart tests kill the session's embedded broker (it comes back empty on the same port);
other tests use their own topic prefixes and create their topics again, so they don't mind.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from conftest import KafkaEndpoint, read_topic
from sqlalchemy import Engine, MetaData, text

from schemas.topics import CALLS, EXCLUSION_NOTICES
from services.common import db, kafka, outbox
from services.common.messages import Outgoing
from services.common.metrics import RELAY_REPUBLISHED
from services.common.outbox import StoredRecord
from services.common.relay import Relay
from services.common.relay_state import Committed
from services.common.settings import Settings
from services.intake import tables as intake_tables
from services.intake.eventlog import EventLog, LogRecord, Submission

pytestmark = pytest.mark.integration


class Outbox:
    """An outbox of a test service on a real store, and what was appended to it."""

    def __init__(self, engine: Engine, service: str):
        metadata = MetaData()
        self.engine, self.service = engine, service
        self.table = outbox.outbox_table(metadata, service)
        state = outbox.relay_state_table(metadata, service)
        metadata.create_all(engine)
        self.log = outbox.OutboxLog(engine, self.table, state)
        self.ids: dict[str, list[str]] = {}  # topic -> event ids appended

    def add(self, n: int, topic: str = EXCLUSION_NOTICES.name, key: str | None = None) -> list[str]:
        ids = [f"{topic}:{uuid.uuid4().hex}" for _ in range(n)]
        messages = [Outgoing(topic, key or uuid.uuid4().hex[:12], b"{}", [("ce_id", i.encode())]) for i in ids]
        with db.write(self.engine) as conn:
            outbox.append(conn, self.table, messages)
        self.ids.setdefault(topic, []).extend(ids)
        return ids


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'relay.sqlite3'}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_schema_url: str) -> Iterator[Engine]:
    engine = db.make_engine(pg_schema_url)
    yield engine
    engine.dispose()


async def eventually(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


async def ids_on(settings: Settings, topic: str) -> list[str]:
    return [m.headers.get("ce_id", "") for m in await read_topic(settings, topic, settle=0.3)]


def republished(service: str) -> float:
    return RELAY_REPUBLISHED.labels(service)._value.get()  # noqa: SLF001 - prometheus_client has no public read


async def caught_up(relay: Relay, box: Outbox) -> bool:
    return relay.broker_ok and relay.position >= await asyncio.to_thread(box.log.last_seq)


async def test_publishes_the_log_in_order_with_its_headers(settings: Settings, sqlite_engine: Engine) -> None:
    box = Outbox(sqlite_engine, f"r{uuid.uuid4().hex[:6]}")
    ids = box.add(30, key="one-child")  # one key: one partition, so the order on the topic is the log's
    relay = Relay(settings, box.log, service=box.service, engine=sqlite_engine)
    relay.start()
    try:
        await eventually("the relay caught up", lambda: caught_up(relay, box))
        assert await ids_on(settings, EXCLUSION_NOTICES.name) == ids
        # saved at most every half second (SAVE_EVERY_S); caught up, it is saved soon after
        await eventually("the position saved", lambda: _saved(box, relay.position))
    finally:
        await relay.stop()


async def _saved(box: Outbox, position: int) -> bool:
    return (await asyncio.to_thread(box.log.relay_state))[0] == position


async def test_batches_queued_while_the_last_is_acknowledged_keep_the_logs_order(settings: Settings, sqlite_engine: Engine) -> None:
    """Full batches make the relay read and queue the next one before the broker acknowledges the
    last; rows appended meanwhile are published too, once, in order."""
    box = Outbox(sqlite_engine, f"r{uuid.uuid4().hex[:6]}")
    ids = box.add(95, key="one-child")
    relay = Relay(settings, box.log, service=box.service, engine=sqlite_engine, batch_size=10)
    relay.start()
    try:
        for _ in range(5):
            await asyncio.sleep(0.05)
            ids += await asyncio.to_thread(box.add, 10, EXCLUSION_NOTICES.name, "one-child")
        await eventually("the relay caught up", lambda: caught_up(relay, box))
        assert await ids_on(settings, EXCLUSION_NOTICES.name) == ids
    finally:
        await relay.stop()


async def test_a_restarted_empty_broker_is_detected_while_publishing_carries_on(
    kafka_bootstrap: KafkaEndpoint, settings: Settings, sqlite_engine: Engine
) -> None:
    """The issue's failure: the broker restarts empty and the relay keeps publishing straight away.

    aiokafka reconnects silently and the new broker acknowledges the new records at the offsets the
    old one had used, so the remembered (offset, event id) of the partition now names a message that
    is there: only the epoch tells the two brokers apart. Everything of the log must end up on the
    new broker."""
    if kafka_bootstrap.kind != "embedded":
        pytest.skip("needs the embedded broker (memory storage) to lose everything")
    box = Outbox(sqlite_engine, f"r{uuid.uuid4().hex[:6]}")
    key = "one-child"  # every record on one partition, before and after the restart
    box.add(40, key=key)
    relay = Relay(settings, box.log, service=box.service, engine=sqlite_engine, verify_every=3600)  # no periodic check yet
    relay.start()
    try:
        await eventually("the relay caught up", lambda: caught_up(relay, box))
        before = republished(box.service)

        kafka_bootstrap.kill()
        await kafka_bootstrap.restart()
        await kafka.ensure_topics(settings)  # as `make run` does when it restarts the broker
        box.add(40, key=key)  # published straight away: no error, no pause, no check in between
        relay.notify()
        await eventually("the relay published the new records", lambda: caught_up(relay, box))

        relay.verify_every = 0.5  # the periodic check comes (every 2 s in production)
        expected = set(box.ids[EXCLUSION_NOTICES.name])

        async def all_there() -> bool:
            return expected <= set(await ids_on(settings, EXCLUSION_NOTICES.name))

        await eventually("every record of the log on the new broker", all_there)
        assert republished(box.service) == before + 1
    finally:
        await relay.stop()


async def test_a_lost_topic_is_published_again(settings: Settings, sqlite_engine: Engine) -> None:
    """Apache Kafka can lose one topic and keep the rest (and the epoch): the fetch-back check finds it."""
    box = Outbox(sqlite_engine, f"r{uuid.uuid4().hex[:6]}")
    box.add(20, EXCLUSION_NOTICES.name)
    box.add(20, CALLS.name)
    relay = Relay(settings, box.log, service=box.service, engine=sqlite_engine, verify_every=0.5)
    relay.start()
    try:
        await eventually("the relay caught up", lambda: caught_up(relay, box))
        before = republished(box.service)
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([settings.topic(CALLS.name)])
        finally:
            await admin.close()
        await kafka.ensure_topics(settings)

        async def calls_back() -> bool:
            return set(box.ids[CALLS.name]) <= set(await ids_on(settings, CALLS.name))

        await eventually("the lost topic's records published again", calls_back)
        assert republished(box.service) == before + 1
    finally:
        await relay.stop()


# --------------------------------------------------------------------------- records handed over (the intake)


class Spied:
    """The intake's event log, noting the seqs the relay reads back from it."""

    def __init__(self, eventlog: EventLog):
        self.eventlog = eventlog
        self.read: list[int] = []

    def read_after(self, position: int, limit: int) -> list[StoredRecord]:
        records = self.eventlog.read_after(position, limit)
        self.read += [r.seq for r in records]
        return records

    def __getattr__(self, name: str) -> Any:  # last_seq, relay_state, save_relay_state
        return getattr(self.eventlog, name)


def _submission(n: int) -> Submission:
    source_id = uuid.uuid4().hex
    records = [LogRecord(EXCLUSION_NOTICES.name, f"return:{source_id}:{i}", "one-child", "uk.signpost.test.v1", "2025-03-03T09:00:00Z", b"{}")
               for i in range(n)]  # fmt: skip
    return Submission("la_return", source_id, "hash", records)


@pytest.fixture
def intake_log(sqlite_engine: Engine) -> Spied:
    db.migrate(sqlite_engine, intake_tables.metadata)
    return Spied(EventLog(sqlite_engine))


async def _started(settings: Settings, log: Spied, engine: Engine) -> Relay:
    relay = Relay(settings, log, service=f"r{uuid.uuid4().hex[:6]}", engine=engine, batch_size=10)
    relay.start()
    await eventually("the relay leads, caught up", _true(lambda: relay.caught_up.is_set()))
    return relay


async def _append(log: Spied, n: int) -> tuple[list[str], Committed]:
    submission = _submission(n)
    outcomes = await asyncio.to_thread(log.eventlog.append, [submission])
    assert outcomes == ["accepted"] and outcomes.committed is not None
    return [r.event_id for r in submission.records], outcomes.committed


async def _published(settings: Settings, relay: Relay, log: Spied) -> list[str]:
    await eventually("the relay caught up", lambda: _at(relay, log))
    return await ids_on(settings, EXCLUSION_NOTICES.name)


async def _at(relay: Relay, log: Spied) -> bool:
    return relay.position >= await asyncio.to_thread(log.last_seq)


async def test_records_handed_over_are_published_once_in_order_without_reading_them_back(settings: Settings, sqlite_engine: Engine, intake_log: Spied) -> None:
    relay = await _started(settings, intake_log, sqlite_engine)
    try:
        ids: list[str] = []
        for n in (25, 7, 13):  # more than a batch, less, and across batches
            appended, committed = await _append(intake_log, n)
            ids += appended
            relay.hand_over(committed)
        assert await _published(settings, relay, intake_log) == ids
        assert intake_log.read == []
    finally:
        await relay.stop()


async def test_records_committed_but_not_handed_over_are_read_from_the_log(settings: Settings, sqlite_engine: Engine, intake_log: Spied) -> None:
    """A hand-over lost (the intake stopped between the commit and it, or a relay that did not lead
    then): those records are read from the log, and the records handed after them follow them."""
    relay = await _started(settings, intake_log, sqlite_engine)
    try:
        lost, lost_committed = await _append(intake_log, 10)  # a batch: a read of the log ends where the handed ones begin
        handed, committed = await _append(intake_log, 15)
        relay.hand_over(committed)
        assert await _published(settings, relay, intake_log) == lost + handed
        assert intake_log.read == list(lost_committed.seqs)  # the handed ones are not read back
    finally:
        await relay.stop()


async def test_records_handed_to_a_relay_that_does_not_lead_are_read_when_it_does(settings: Settings, sqlite_engine: Engine, intake_log: Spied) -> None:
    relay = Relay(settings, intake_log, service=f"r{uuid.uuid4().hex[:6]}", engine=sqlite_engine, batch_size=10)
    ids, committed = await _append(intake_log, 12)
    relay.hand_over(committed)  # not started: not leading, so dropped
    relay.start()
    try:
        assert await _published(settings, relay, intake_log) == ids
        assert intake_log.read == list(committed.seqs)
    finally:
        await relay.stop()


# --------------------------------------------------------------------------- replicas (PostgreSQL)


@pytest.mark.postgres
async def test_two_relays_on_one_outbox_one_publishes_the_other_takes_over(settings: Settings, pg_engine: Engine) -> None:
    box = Outbox(pg_engine, f"r{uuid.uuid4().hex[:6]}")
    box.add(20)
    first = Relay(settings, box.log, service=box.service, engine=pg_engine)
    first.start()
    await eventually("the first relay leads and caught up", lambda: _leads_and_caught_up(first, box))
    second = Relay(settings, box.log, service=box.service, engine=pg_engine)
    second.start()
    try:
        await eventually("the second relay watched the broker (and failed to take the lock)", _true(lambda: second.broker_ok))
        box.add(10)
        first.notify()
        second.notify()
        await eventually("the leader published the new records", lambda: caught_up(first, box))
        assert not second.leading
        # each record once: the follower published nothing
        assert sorted(await ids_on(settings, EXCLUSION_NOTICES.name)) == sorted(box.ids[EXCLUSION_NOTICES.name])

        await first.stop()
        box.add(10)
        second.notify()
        await eventually("the second relay took over and caught up", lambda: _leads_and_caught_up(second, box))
        # it resumed from the position the first stored: still each record once
        assert sorted(await ids_on(settings, EXCLUSION_NOTICES.name)) == sorted(box.ids[EXCLUSION_NOTICES.name])
    finally:
        await first.stop()
        await second.stop()


@pytest.mark.postgres
async def test_a_leader_whose_lock_connection_dies_stops_and_the_other_takes_over(settings: Settings, pg_engine: Engine) -> None:
    box = Outbox(pg_engine, f"r{uuid.uuid4().hex[:6]}")
    box.add(5)
    first = Relay(settings, box.log, service=box.service, engine=pg_engine)
    second = Relay(settings, box.log, service=box.service, engine=pg_engine)
    first.start()
    await eventually("the first relay leads", lambda: _leads_and_caught_up(first, box))
    second.start()
    try:
        await eventually("the second relay is following", _true(lambda: second.broker_ok))
        lock = outbox.lock_id(f"{box.service}_relay")
        with pg_engine.connect() as conn:  # the session that holds the relay's advisory lock, ended from outside
            killed = conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                     " AND ((classid::bigint << 32) | objid::bigint) = :id"),
                {"id": lock},
            ).all()
            conn.commit()
        assert killed == [(True,)]
        await eventually("the first relay stopped leading", _true(lambda: not first.leading))
        box.add(5)
        second.notify()
        await eventually("the second relay took over and caught up", lambda: _leads_and_caught_up(second, box))
        assert not first.leading  # the lock is the second's now: the first can't take it back
        assert set(await ids_on(settings, EXCLUSION_NOTICES.name)) == set(box.ids[EXCLUSION_NOTICES.name])
    finally:
        await first.stop()
        await second.stop()


async def _leads_and_caught_up(relay: Relay, box: Outbox) -> bool:
    return relay.leading and await caught_up(relay, box)


def _true(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check
