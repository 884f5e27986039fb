"""The StageRunner against the real broker: stale writes are retried in place, a new broker is read again.

The stage is a fake with a version counter for its "store": enough to see which state each
attempt read, what was committed, and when caches were dropped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from conftest import KafkaEndpoint

from schemas.topics import BROKER_EPOCH, EXCLUSION_NOTICES
from services.common import kafka
from services.common.epoch import broker_epoch
from services.common.messages import DeadLetter, Incoming, Outgoing
from services.common.settings import Settings
from services.common.stream import StageRunner, StaleWrite

pytestmark = pytest.mark.integration


@dataclass
class Result:
    messages: list[Outgoing]
    dead_letters: list[DeadLetter]
    writes: tuple[int, list[str]]  # (store version the batch read, event ids)


@dataclass
class FakeStage:
    """process() reads the store's version; commit() refuses writes computed from an older one."""

    version: int = 0
    conflicts: int = 0  # how many commits find that "a person changed a row" since the batch read it
    processed: list[tuple[list[str], datetime, int, int]] = field(default_factory=list)  # ids, now, version, resets
    committed: list[str] = field(default_factory=list)
    resets: int = 0

    def process(self, messages: list[Incoming], now: datetime) -> Result:
        ids = [m.event_id for m in messages]
        self.processed.append((ids, now, self.version, self.resets))
        return Result([], [], (self.version, ids))

    def commit(self, writes: tuple[int, list[str]]) -> None:
        read_version, ids = writes
        if self.conflicts:
            self.conflicts -= 1
            self.version += 1  # an acknowledgement landed between the batch's read and its commit
        if read_version != self.version:
            raise StaleWrite(f"read version {read_version}, store at {self.version}")
        self.committed.extend(ids)

    def reset(self) -> None:
        self.resets += 1


def runner_for(settings: Settings, stage: FakeStage) -> StageRunner:
    return StageRunner(
        settings=settings, service="test", stage="fake", group_id=settings.topic("fake-stage"), topics=[EXCLUSION_NOTICES.name],
        process=stage.process, commit=stage.commit, reset=stage.reset,
    )


async def produce(settings: Settings, n: int) -> list[str]:
    ids = [f"notice:{uuid.uuid4().hex}" for _ in range(n)]
    producer = kafka.producer(settings)
    await producer.start()
    try:
        sent = [await producer.send(settings.topic(EXCLUSION_NOTICES.name), b"{}", key=b"k", partition=0, headers=[("ce_id", i.encode())])
                for i in ids]  # one partition: the order and the offsets are known
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return ids


async def eventually(what: str, check: Callable[[], Awaitable[bool] | bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


async def committed_offset(runner: StageRunner) -> int | None:
    """The group's committed offset of partition 0, asked of the broker (not of the runner's consumer,
    which the runner may be replacing)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=runner.settings.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(runner.group_id, partitions=[TopicPartition(runner.topic_names[0], 0)])
    finally:
        await admin.close()
    found = offsets.get(TopicPartition(runner.topic_names[0], 0))
    return None if found is None or found.offset < 0 else found.offset


async def test_a_stale_write_processes_the_same_batch_again_from_fresh_state(settings: Settings) -> None:
    await kafka.ensure_topics(settings)
    ids = await produce(settings, 10)
    stage = FakeStage(conflicts=1)
    runner = runner_for(settings, stage)
    await runner.start()
    try:
        await eventually("every message committed", lambda: len(stage.committed) >= len(ids))
        consumer = runner.consumer
        await eventually("the offsets committed", lambda: _equals(committed_offset(runner), len(ids)))
        (first_ids, first_now, first_read, first_resets), (again_ids, again_now, again_read, again_resets) = stage.processed[:2]
        assert again_ids == first_ids  # the same records
        assert (first_read, again_read) == (0, 1)  # the second attempt read the state as it is now
        assert again_now > first_now  # and a fresh `now`
        assert stage.committed == ids  # each message committed once, in order
        assert again_resets == first_resets + 1  # caches dropped before the second attempt
        assert runner.last_error is None and runner.consumer is consumer  # no failure, no new consumer, no rejoin
    finally:
        await runner.stop()


async def test_a_batch_that_keeps_meeting_stale_writes_fails_like_any_error(settings: Settings) -> None:
    await kafka.ensure_topics(settings)
    ids = await produce(settings, 3)
    stage = FakeStage(conflicts=5)
    runner = runner_for(settings, stage)
    await runner.start()
    try:
        await eventually("the runner gave up on the batch", lambda: runner.last_error == "StaleWrite")
        await eventually("then applied it from the committed offsets", lambda: stage.committed == ids)
    finally:
        await runner.stop()


async def test_a_new_broker_epoch_reads_every_partition_again_from_the_beginning(settings: Settings) -> None:
    """The epoch topic is replaced while the data stays: the runner can only know from the epoch."""
    await kafka.ensure_topics(settings)
    ids = await produce(settings, 10)
    stage = FakeStage()
    runner = runner_for(settings, stage)
    await runner.start()
    try:
        await eventually("the first pass committed", lambda: _equals(committed_offset(runner), len(ids)))
        assert stage.committed == ids
        await new_epoch(settings)
        await eventually("every message read again from the beginning", lambda: stage.committed == ids + ids)
        assert runner.rewinds == 1 and stage.resets >= 1
        await eventually("the offsets committed again", lambda: _equals(committed_offset(runner), len(ids)))
        assert runner.last_error is None
    finally:
        await runner.stop()


async def test_a_restarted_empty_broker_is_read_from_the_beginning(kafka_bootstrap: KafkaEndpoint, settings: Settings) -> None:
    """The real thing: the runner notices the new broker and processes everything produced to it.

    (Whether aiokafka alone would have started over depends on timing: here Tansu re-creates the
    topic as soon as a client asks for its metadata, sometimes with another partition count, and
    the rebalance that follows reads the new broker's empty offsets. The epoch makes it certain.)"""
    if kafka_bootstrap.kind != "embedded":
        pytest.skip("needs the embedded broker (memory storage) to lose everything")
    await kafka.ensure_topics(settings)
    before = await produce(settings, 30)
    stage = FakeStage()
    runner = runner_for(settings, stage)
    await runner.start()
    try:
        await eventually("the first pass committed", lambda: _equals(committed_offset(runner), len(before)))
        kafka_bootstrap.kill()
        await kafka_bootstrap.restart()
        await kafka.ensure_topics(settings)
        after = await produce(settings, 40)  # a relay publishing its log again, and more: past the old position
        await eventually("the runner rewound to the new broker", lambda: runner.rewinds == 1)
        await eventually("everything on the new broker processed", lambda: set(after) <= set(stage.committed))
    finally:
        await runner.stop()


async def new_epoch(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic(BROKER_EPOCH)])
    finally:
        await admin.close()
    await kafka.ensure_topics(settings)
    producer, probe = kafka.producer(settings), kafka.consumer(settings, group_id=None)
    await producer.start()
    await probe.start()
    try:
        await broker_epoch(settings, producer, probe)
    finally:
        await probe.stop()
        await producer.stop()


async def _equals(value: Awaitable[int | None], expected: int) -> bool:
    return await value == expected


async def test_behind_the_log_a_batch_grows_to_the_catch_up_size_and_near_its_end_it_does_not(settings: Settings) -> None:
    """A backlog is taken in batches of up to `catch_up_records` (each child detected and written once
    per batch); once caught up, a batch is what arrived. Either way every message once, in order."""
    await kafka.ensure_topics(settings)
    backlog = await produce(settings, 2500)
    stage = FakeStage()
    runner = StageRunner(settings=settings, service="test", stage="fake", group_id=settings.topic("catch-up"), topics=[EXCLUSION_NOTICES.name],
                         process=stage.process, commit=stage.commit, reset=stage.reset, max_records=200, catch_up_records=1000)  # fmt: skip
    await runner.start()
    try:
        await eventually("the backlog committed", lambda: len(stage.committed) >= len(backlog))
        sizes = [len(ids) for ids, *_ in stage.processed]
        assert max(sizes) > 200  # more than one fetch's worth in a batch: the backlog was taken in larger batches
        assert max(sizes) <= 1000
        assert len(sizes) < len(backlog) / 200
        live = await produce(settings, 5)
        await eventually("the new messages committed", lambda: len(stage.committed) >= len(backlog) + len(live))
        assert all(len(ids) <= len(live) for ids, *_ in stage.processed[len(sizes):])  # caught up: no waiting for more
        assert stage.committed == backlog + live  # each once, in order
    finally:
        await runner.stop()


async def test_run_until_caught_up_consumes_to_the_end_commits_and_stops(settings: Settings) -> None:
    """The replay mode (`signpost rebuild alerts`): from the group's position to every partition's high
    watermark, each batch processed and committed as the service does, then it returns, its clients closed."""
    await kafka.ensure_topics(settings)
    backlog = await produce(settings, 700)
    stage = FakeStage()
    runner = StageRunner(settings=settings, service="test", stage="fake", group_id=settings.topic("replay"), topics=[EXCLUSION_NOTICES.name],
                         process=stage.process, commit=stage.commit, reset=stage.reset, max_records=200, catch_up_records=200)  # fmt: skip
    heard: list[int] = []
    started = time.monotonic()
    applied = await runner.run_until_caught_up(on_progress=heard.append)
    assert time.monotonic() - started < 10  # stopped once caught up, not after the idle limit
    assert applied == runner.applied == len(backlog) and stage.committed == backlog  # each once, in order
    assert heard == sorted(heard) and heard[-1] == len(backlog) and len(heard) == len(stage.processed)
    assert runner.consumer is None and runner.producer is None  # closed
    assert await committed_offset(runner) == len(backlog)


async def test_a_lingering_stage_takes_what_arrived_meanwhile_in_one_batch(settings: Settings) -> None:
    """`linger_s` (the school stage's): near the end of the log the runner waits after a batch, so the
    messages that arrive one by one meanwhile are taken in a batch or two (the consumer's prefetch may
    hold the first alone), each once, in order. A runner that does not linger takes each alone: the
    same test with 0 fails."""
    await kafka.ensure_topics(settings)
    stage = FakeStage()
    runner = StageRunner(settings=settings, service="test", stage="fake", group_id=settings.topic("linger"), topics=[EXCLUSION_NOTICES.name],
                         process=stage.process, commit=stage.commit, reset=stage.reset, max_records=200, linger_s=4.0)  # fmt: skip
    producer = kafka.producer(settings)
    await producer.start()  # before the first batch: the sends below take milliseconds, not a start-up

    async def send() -> str:
        event_id = f"notice:{uuid.uuid4().hex}"
        await producer.send_and_wait(settings.topic(EXCLUSION_NOTICES.name), b"{}", key=b"k", partition=0, headers=[("ce_id", event_id.encode())])
        return event_id

    await runner.start()
    try:
        first = [await send()]
        await eventually("the first message committed", lambda: stage.committed == first)
        later = []
        for _ in range(5):  # one by one, a fetch's wait apart, while the runner lingers after the first batch
            later.append(await send())
            await asyncio.sleep(0.3)
        await eventually("the later messages committed", lambda: len(stage.committed) == 6)
        assert len(stage.processed) <= 3  # the first message's batch, then at most two for the five
        assert stage.committed == first + later
    finally:
        await runner.stop()
        await producer.stop()
