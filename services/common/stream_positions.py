"""Where a stage runner's consumer stands in the log: catching up on a backlog, the broker epoch
(a broker that restarted empty: read everything again), rebalances, and whether this worker owns
every partition. The base of `StageRunner` (stream.py), which declares the state these read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from services.common.commit_gate import InFlight
from services.common.epoch import broker_epoch
from services.common.settings import Settings
from services.common.stream_io import unfetched

log = logging.getLogger("services.common.stream")
CATCH_UP_WAIT_MS = 100  # behind the log a fetch answers at once; this only bounds the wait at its end


class Positions:
    settings: Settings
    stage: str
    topic_names: list[str]
    consumer: AIOKafkaConsumer | None
    producer: AIOKafkaProducer | None
    probe: AIOKafkaConsumer | None  # group-less: reads the broker epoch
    assigned: set[TopicPartition]
    max_records: int
    catch_up_records: int
    epoch: str | None  # the broker epoch the consumer's positions belong to
    rewinds: int  # times the broker was found new and every partition read again
    _next_epoch: str | None  # a new epoch seen, not rewound to yet
    _epoch_read_at: float
    _abandoned: bool  # a rebalance abandoned the batch in flight (stream.py)
    _in_flight: InFlight | None  # the batch whose store commit runs while the next is processed
    reset: Callable[[], None]
    on_assigned: Callable[[bool], None] | None

    async def _abandon(self) -> bool:
        raise NotImplementedError  # StageRunner's: wait for the commit in flight, keep its offsets uncommitted

    async def _catch_up(self, batches: dict[TopicPartition, list]) -> dict[TopicPartition, list]:
        """Far behind the log (a backlog, a replay, a new consumer group: at least `max_records` not
        yet fetched), keep fetching into the same batch, up to `catch_up_records`. A batch is detected
        and written once, so a child the backlog names ten times is detected, stored and announced
        once, not ten times (Kafka Streams' record cache and commit interval do the same for a
        KTable). Near the end of the log the batch is what arrived: no added latency."""
        assert self.consumer is not None
        fetched = sum(len(recs) for recs in batches.values())
        while batches and fetched < self.catch_up_records and await unfetched(self.consumer) >= self.max_records:
            more = await self.consumer.getmany(timeout_ms=CATCH_UP_WAIT_MS, max_records=min(self.max_records, self.catch_up_records - fetched))
            if not more:
                break
            for tp, recs in more.items():
                batches.setdefault(tp, []).extend(recs)
            fetched += sum(len(recs) for recs in more.values())
        return batches

    async def _watch_epoch(self, max_age: float) -> bool:
        """Read the broker epoch if the last reading is older than `max_age`. True while a new epoch
        waits for the rewind (which adopts it only once done: a failure before then rewinds again)."""
        if self.producer is None or self.probe is None or time.monotonic() - self._epoch_read_at < max_age:
            return self._next_epoch is not None
        epoch = await broker_epoch(self.settings, self.producer, self.probe)
        self._epoch_read_at = time.monotonic()
        if self.epoch is None:
            self.epoch = epoch
        elif epoch != self.epoch and epoch != self._next_epoch:
            log.warning("the broker restarted empty: reading every partition again from the beginning", extra={"stage": self.stage})
            self._next_epoch = epoch
        return self._next_epoch is not None

    def owns_every_partition(self) -> bool:
        """Whether the assignment is every partition of every topic (False when metadata is missing)."""
        if self.consumer is None:
            return False
        every = set()
        for topic in self.topic_names:
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                return False
            every |= {TopicPartition(topic, p) for p in partitions}
        return self.assigned == every

    async def _rewind(self) -> None:
        """Forget every cache and read all assigned partitions again from the beginning. Offset 0 is
        committed too: a commit from before the restart may have landed on the new broker."""
        assert self.consumer is not None
        self.reset()
        partitions = self.consumer.assignment()
        await self.consumer.seek_to_beginning(*partitions)
        await self.consumer.commit(dict.fromkeys(partitions, 0))
        self.epoch, self._next_epoch = self._next_epoch, None
        self.rewinds += 1


class Rebalance(ConsumerRebalanceListener):
    def __init__(self, runner: Positions):
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Another worker may own these children next: never trust a cache across a rebalance. A
        # commit in flight finishes first; its offsets are not committed, nor those of any batch after
        # it (committing a later offset would skip it): the runner reads both again (`_abandoned`).
        # Marked before waiting for the commit in flight: the round in progress runs meanwhile, and must
        # not put the next batch in flight (its offsets would be committed past the abandoned one).
        if self.runner._in_flight is not None:  # noqa: SLF001 - the runner's own listener
            self.runner._abandoned = True  # noqa: SLF001
        await self.runner._abandon()  # noqa: SLF001
        self.runner.reset()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.runner.assigned = set(assigned)
        if self.runner.on_assigned is not None:
            self.runner.on_assigned(self.runner.owns_every_partition())
