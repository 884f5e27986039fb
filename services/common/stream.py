"""Batch stream processing: consume a batch, apply it, produce its outputs, commit, repeat.

Per-event processing through a faust agent tops out near 10k events/s on this hardware
(docs/design.md has the measurements), so stages read the broker in batches of up to
`max_records` with aiokafka and run as mode services inside the service's faust app.

Order of effects for one batch, which makes every failure safe to retry:
1. `process(batch)` computes state changes, outputs and store writes (in a worker thread);
2. outputs are produced and acknowledged (acks=all) — stages with an outbox have none: their
   messages are part of their writes, and their relay publishes them;
3. the writes commit in one store transaction;
4. the offsets commit.
A crash anywhere replays the batch; facts are keyed naturally and outputs carry
deterministic ids or versions, so a replay changes nothing twice. Behind the log, a stage that
gives its commit gate has step 3 run while the next batch does steps 1-2 (commit_gate.py).

Two things are retried without closing the consumer (a rejoin costs seconds on the embedded broker):
- a `StaleWrite` from the store (a row the batch updates changed since the batch read it): the
  same batch is processed again from fresh state, with a fresh `now`;
- a new broker epoch (`services/common/epoch.py`): the broker restarted empty, so the group's
  offsets are gone, or worse, an offset committed to the old broker landed on the new one and
  points past records the relays are publishing again. Every assigned partition is read again
  from the beginning; the stages skip what they already applied, by natural key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from mode import Service

from services.common import kafka, logs
from services.common.commit_gate import CommitGate, InFlight, commit_in_background, finished
from services.common.messages import DeadLetter, Incoming, Outgoing
from services.common.metrics import (
    BROKER_UP,
    DUPLICATES_SKIPPED,
)
from services.common.settings import Settings
from services.common.stream_io import (
    caught_up,
    dead_letter_messages,
    observe_batch,
    produce_all,
    record_idle_lag,
    to_incoming,
)
from services.common.stream_positions import Positions, Rebalance

log = logging.getLogger(__name__)

STALE_ATTEMPTS = 5  # a batch that meets a StaleWrite this many times fails like any other error
EPOCH_BEFORE_COMMIT_S = 1.0  # under load the epoch is read at most once a second, before an offset commit
EPOCH_WHEN_IDLE_S = 2.0


class StaleWrite(Exception):
    """Raised by a stage's `commit`: a row the batch updates changed since the batch read it (a
    person acknowledged an alert meanwhile, another replica wrote first). Nothing of the batch was
    committed; the runner processes the same batch again from fresh state."""


class BatchAbandoned(Exception):
    """A rebalance came while a batch committed in the background: neither it nor the batch after it
    may have its offsets committed, so the runner starts again from the committed offsets."""


class Result(Protocol):
    messages: list[Outgoing]
    dead_letters: list[DeadLetter]
    writes: Any


class StageRunner(Positions, Service):
    def __init__(
        self,
        *,
        settings: Settings,
        service: str,
        stage: str,
        group_id: str,
        topics: list[str],
        process: Callable[[list[Incoming], datetime], Result],
        commit: Callable[[Any], None],
        reset: Callable[[], None],
        on_committed: Callable[[Any], None] | None = None,  # takes the stage's own result type
        has_pending: Callable[[], bool] | None = None,
        on_assigned: Callable[[bool], None] | None = None,
        max_records: int = 5000,
        catch_up_records: int | None = None,
        gate: CommitGate | None = None,  # given: catch-up batches commit while the next is processed (commit_gate.py)
        linger_s: float = 0.0,  # near the end of the log, the wait after a batch before the next fetch
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.settings, self.service_name, self.stage, self.group_id = settings, service, stage, group_id
        self.topic_names = [settings.topic(t) for t in topics]
        self._process, self._commit, self.reset = process, commit, reset
        self.on_committed = on_committed
        self.has_pending = has_pending or (lambda: False)
        self.on_assigned = on_assigned  # told after each rebalance whether this worker owns every partition
        self.max_records = max_records
        # behind the log, a batch grows to this many records (settings.stage_catch_up_records; _catch_up)
        self.catch_up_records = max(max_records, catch_up_records if catch_up_records is not None else settings.stage_catch_up_records)
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.probe: AIOKafkaConsumer | None = None  # group-less: reads the broker epoch
        self.assigned: set[TopicPartition] = set()
        self.ready = False
        self.last_error: str | None = None
        self.applied = 0
        self.epoch: str | None = None  # the broker epoch the consumer's positions belong to
        self.rewinds = 0  # times the broker was found new and every partition read again
        self._next_epoch: str | None = None  # a new epoch seen, not rewound to yet
        self._epoch_read_at = 0.0
        self.gate = gate
        # A stage whose findings are not urgent (the school stage) commits a few times a second instead
        # of after every poll, so it does not take the SQLite file the child stage commits to after
        # every few notices (docs/benchmarks.md, latency). Not behind the log: a backlog is taken at once.
        self.linger_s = linger_s
        self._in_flight: InFlight | None = None
        self._abandoned = False  # a batch in flight was abandoned by a rebalance: the round in progress must not commit

    @Service.task
    async def _consume(self) -> None:
        backoff = 0.2
        while not self.should_stop:
            try:
                await self._run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or store trouble: forget caches, replay from the committed offsets
                self.ready = False
                BROKER_UP.labels(self.service_name).set(0)
                self.last_error = type(exc).__name__
                log.warning("stage failed; restarting from committed offsets",
                            extra={"stage": self.stage, "error": type(exc).__name__, "where": logs.frames(exc), "retry_in_s": backoff})
                await self._abandon()
                self.reset()
                await self._close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            else:
                backoff = 0.2

    async def on_stop(self) -> None:
        await self._abandon()
        await self._close()

    async def _close(self) -> None:
        for client in (self.consumer, self.producer, self.probe):
            if client is not None:
                try:
                    await asyncio.wait_for(client.stop(), 10)
                except Exception:  # noqa: BLE001 - a client of a dead broker may fail to close; it is dropped
                    pass
        self.consumer = self.producer = self.probe = None

    async def _run(self) -> None:
        await self._open()
        while not self.should_stop:
            await self._round()

    async def run_until_caught_up(self, on_progress: Callable[[int], None] | None = None, idle_s: float = 10.0) -> int:
        """A replay (`signpost rebuild alerts`), not as a service: from the group's position until every assigned
        partition's position reaches its high watermark (or `idle_s` passes without a record), each batch processed
        and committed as `_run` does; returns, and tells `on_progress`, the records applied. A failure raises."""
        start = self.applied
        try:
            consumer = await self._open()
            quiet_since = time.monotonic()
            while True:
                if await self._round():
                    quiet_since = time.monotonic()
                    if on_progress is not None:
                        on_progress(self.applied - start)
                if await caught_up(consumer) or time.monotonic() - quiet_since >= idle_s:
                    await self._settle()
                    return self.applied - start
        finally:
            self.ready = False
            await self._abandon()
            await self._close()

    async def _open(self) -> AIOKafkaConsumer:
        self._abandoned = False  # a new consumer starts from the committed offsets
        await kafka.ensure_topics(self.settings, attempts=1)
        self.producer = kafka.producer(self.settings)
        await self.producer.start()
        self.probe = kafka.consumer(self.settings, group_id=None)
        await self.probe.start()
        # Read now, whatever the cache: the broker may have restarted while this consumer was down.
        await self._watch_epoch(max_age=0.0)
        self.consumer = kafka.consumer(self.settings, group_id=self.group_id, max_poll_records=self.max_records)
        self.consumer.subscribe(self.topic_names, listener=Rebalance(self))
        await self.consumer.start()
        self.ready = True
        return self.consumer

    async def _round(self) -> int:
        """One batch: fetch, process, produce, commit. Returns how many records it applied."""
        assert self.consumer is not None
        prefix = self.settings.topic_prefix
        batches = await self._catch_up(await self.consumer.getmany(timeout_ms=200, max_records=self.max_records))
        BROKER_UP.labels(self.service_name).set(1)
        if self._next_epoch is not None and self.consumer.assignment():
            await self._abandon()
            await self._rewind()
            return 0  # what was fetched came from positions on the old broker
        if not batches and not self.has_pending():
            await self._settle()  # a commit in flight completes, with its offsets, before the runner idles
            self._replay_if_abandoned()
            await record_idle_lag(self.consumer, self.service_name)
            await self._watch_epoch(max_age=EPOCH_WHEN_IDLE_S)
            return 0
        records = [r for tp in sorted(batches, key=lambda tp: (tp.topic, tp.partition)) for r in batches[tp]]
        messages = [to_incoming(r, prefix) for r in records]
        started = time.perf_counter()
        # behind the log, with the stage's gate: this batch's commit overlaps the next one's processing
        overlap = self.gate is not None and len(messages) >= self.max_records
        result = await self._apply(messages, overlap=overlap)
        if overlap:
            assert self.gate is not None
            self._in_flight = InFlight(batches, messages, result, started, commit_in_background(self.gate, self._commit, result.writes))
        else:
            await self._committed(batches, messages, result, started)
            if self.linger_s and len(messages) < self.max_records:
                await asyncio.sleep(self.linger_s)
        return len(messages)

    async def _committed(self, batches: dict[TopicPartition, list], messages: list[Incoming], result: Result, started: float) -> None:
        """A batch's writes are committed: its offsets, metrics and `on_committed`."""
        assert self.consumer is not None
        # Offsets of the old broker are never committed to a new one (the next round rewinds).
        if batches and not await self._watch_epoch(max_age=EPOCH_BEFORE_COMMIT_S):
            await self.consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
        observe_batch(self.consumer, self.service_name, self.stage, self.settings.topic_prefix, batches, messages, started)
        for topic, n in getattr(result, "duplicates", {}).items():
            DUPLICATES_SKIPPED.labels(self.service_name, self.settings.topic_prefix + topic).inc(n)
        self.applied += len(messages)
        if self.on_committed:
            self.on_committed(result)

    async def _settle(self) -> bool:
        """The batch in flight: wait for its commit, then commit its offsets. On a StaleWrite it is
        processed and committed again from fresh state, here; returns True then (the caches were
        reset: a batch processed meanwhile must be processed again)."""
        flight, self._in_flight = self._in_flight, None
        if flight is None:
            return False
        redone = False
        try:
            await flight.commit
        except StaleWrite:
            log.info("stale write: processing the batch again from fresh state", extra={"stage": self.stage, "attempt": 1})
            self.reset()
            flight.result = await self._apply(flight.messages, attempt=2)
            redone = True
        await self._committed(flight.batches, flight.messages, flight.result, flight.started)
        return redone

    def _replay_if_abandoned(self) -> None:
        if self._abandoned:
            raise BatchAbandoned("a rebalance abandoned the batch in flight: reading again from the committed offsets")

    async def _abandon(self) -> bool:
        """A failure, a rebalance or a stop: wait for the commit in flight, whatever its outcome, and
        leave its offsets uncommitted (the batch is read again; its facts count once by natural key)."""
        flight, self._in_flight = self._in_flight, None
        if flight is not None:
            await finished(flight)
        return flight is not None

    async def _apply(self, messages: list[Incoming], *, overlap: bool = False, attempt: int = 1) -> Result:
        """Process, produce, commit the writes; on a StaleWrite, again from fresh state (same batch).
        With `overlap` the commit is left to the caller (in the background). A batch in flight settles
        after this one's outputs and before its writes (`_settle`): outputs carry deterministic ids and
        consumers count each once, so a batch done again only sends them again."""
        assert self.producer is not None
        prefix = self.settings.topic_prefix
        while True:
            result = await asyncio.to_thread(self._process, messages, datetime.now(UTC))
            outputs = list(result.messages) + dead_letter_messages(result.dead_letters, self.service_name, prefix)
            await produce_all(self.producer, prefix, outputs, self.service_name)  # (outputs are kept whatever happens next)
            if await self._settle():
                continue  # the batch before was done again: this one's state went with the caches
            self._replay_if_abandoned()
            if overlap:
                return result
            try:
                await asyncio.to_thread(self._commit, result.writes)
                return result
            except StaleWrite:
                if attempt == STALE_ATTEMPTS:
                    raise
                log.info("stale write: processing the batch again from fresh state", extra={"stage": self.stage, "attempt": attempt})
                attempt += 1
                self.reset()
