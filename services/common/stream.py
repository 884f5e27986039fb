"""Batch stream processing: consume a batch, apply it, produce its outputs, commit, repeat.

Per-event processing through a faust agent tops out near 10k events/s on this hardware
(docs/design.md has the measurements), so stages read the broker in batches of up to
`max_records` with aiokafka and run as mode services inside the service's faust app.

Order of effects for one batch, which makes every failure safe to retry:
1. `process(batch)` computes state changes, outputs and store writes (in a worker thread);
2. outputs are produced and acknowledged (acks=all);
3. the writes commit in one store transaction;
4. the offsets commit.
A crash anywhere replays the batch; facts are keyed naturally and outputs carry
deterministic ids or versions, so a replay changes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from mode import Service

from schemas.topics import DEAD_LETTERS, header
from services.common import kafka, logs
from services.common.messages import DeadLetter, Incoming, Outgoing
from services.common.metrics import (
    BROKER_UP,
    CONSUMER_LAG,
    CONSUMER_LAG_SECONDS,
    DUPLICATES_SKIPPED,
    EVENT_AGE,
    EVENTS_CONSUMED,
    EVENTS_PRODUCED,
    PROCESSING_LATENCY,
)
from services.common.metrics import (
    DEAD_LETTERS as DEAD_LETTERS_TOTAL,
)
from services.common.settings import Settings

log = logging.getLogger(__name__)


class StaleWrite(Exception):
    """A store write found that a row it updates changed since the batch read it (optimistic
    concurrency: a person acknowledged an alert meanwhile, or another worker wrote the row).
    The batch is done again with fresh state; nothing was written."""


class Result(Protocol):
    messages: list[Outgoing]
    dead_letters: list[DeadLetter]
    writes: Any


def to_incoming(record: Any, prefix: str) -> Incoming:
    headers = record.headers or ()
    return Incoming(
        topic=record.topic.removeprefix(prefix),
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        event_id=header(headers, "ce_id") or f"{record.topic}:{record.partition}:{record.offset}",
        ce_type=header(headers, "ce_type") or "",
        ce_time=header(headers, "ce_time"),
    )


def _age_seconds(ce_time: str | None, now: float) -> float | None:
    if not ce_time:
        return None
    try:
        return max(0.0, now - datetime.fromisoformat(ce_time.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


async def produce_all(producer: AIOKafkaProducer, prefix: str, messages: list[Outgoing], service: str) -> None:
    """Send and wait for every acknowledgement."""
    if not messages:
        return
    futures = [await producer.send(prefix + m.topic, value=m.value, key=m.key.encode(), headers=m.headers) for m in messages]
    await asyncio.gather(*futures)
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.topic] = counts.get(m.topic, 0) + 1
    for topic, n in counts.items():
        EVENTS_PRODUCED.labels(service, prefix + topic).inc(n)


def dead_letter_messages(letters: list[DeadLetter], service: str, prefix: str = "") -> list[Outgoing]:
    out = []
    for letter in letters:
        m = letter.message
        headers = [
            ("ce_id", m.event_id.encode()),
            ("ce_type", m.ce_type.encode()),
            ("dlq_reason", letter.reason.encode()),
            ("dlq_topic", m.topic.encode()),
            ("dlq_partition", str(m.partition).encode()),
            ("dlq_offset", str(m.offset).encode()),
            ("dlq_service", service.encode()),
        ]
        out.append(Outgoing(DEAD_LETTERS, (m.key or b"").decode(errors="replace"), m.value, headers))
        DEAD_LETTERS_TOTAL.labels(service, prefix + m.topic, letter.reason.split(":")[0]).inc()
    return out


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, runner: StageRunner):
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Another worker may own these children next: never trust a cache across a rebalance.
        self.runner.reset()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.runner.assigned = set(assigned)


class StageRunner(Service):
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
        on_committed: Callable[[Result], None] | None = None,
        has_pending: Callable[[], bool] | None = None,
        max_records: int = 5000,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.settings, self.service_name, self.stage, self.group_id = settings, service, stage, group_id
        self.topic_names = [settings.topic(t) for t in topics]
        self._process, self._commit, self.reset = process, commit, reset
        self.on_committed = on_committed
        self.has_pending = has_pending or (lambda: False)
        self.max_records = max_records
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.assigned: set[TopicPartition] = set()
        self.ready = False
        self.last_error: str | None = None
        self.applied = 0

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
                self.reset()
                await self._close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            else:
                backoff = 0.2

    async def on_stop(self) -> None:
        await self._close()

    async def _close(self) -> None:
        for client in (self.consumer, self.producer):
            if client is not None:
                try:
                    await asyncio.wait_for(client.stop(), 10)
                except Exception:  # noqa: BLE001 - a client of a dead broker may fail to close; it is dropped
                    pass
        self.consumer = self.producer = None

    async def _run(self) -> None:
        await kafka.ensure_topics(self.settings, attempts=1)
        self.producer = kafka.producer(self.settings)
        await self.producer.start()
        self.consumer = kafka.consumer(self.settings, group_id=self.group_id, max_poll_records=self.max_records)
        self.consumer.subscribe(self.topic_names, listener=_Rebalance(self))
        await self.consumer.start()
        self.ready = True
        prefix = self.settings.topic_prefix
        while not self.should_stop:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=self.max_records)
            BROKER_UP.labels(self.service_name).set(1)
            if not batches and not self.has_pending():
                await self._idle_lag()
                continue
            records = [r for tp in sorted(batches, key=lambda tp: (tp.topic, tp.partition)) for r in batches[tp]]
            messages = [to_incoming(r, prefix) for r in records]
            started = time.perf_counter()
            result = await asyncio.to_thread(self._process, messages, datetime.now(UTC))
            await produce_all(self.producer, prefix, list(result.messages) + dead_letter_messages(result.dead_letters, self.service_name, prefix), self.service_name)
            await asyncio.to_thread(self._commit, result.writes)
            if batches:
                await self.consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batches.items()})
            self._observe(batches, messages, started)
            for topic, n in getattr(result, "duplicates", {}).items():
                DUPLICATES_SKIPPED.labels(self.service_name, prefix + topic).inc(n)
            self.applied += len(messages)
            if self.on_committed:
                self.on_committed(result)

    async def _idle_lag(self) -> None:
        """Nothing fetched: the lag is what is left between our position and the partition's end."""
        if self.consumer is None:
            return
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                lag = max(0, high - await self.consumer.position(tp))
                CONSUMER_LAG.labels(self.service_name, tp.topic, str(tp.partition)).set(lag)
                if lag == 0:
                    CONSUMER_LAG_SECONDS.labels(self.service_name, tp.topic, str(tp.partition)).set(0)

    def _observe(self, batches: dict, messages: list[Incoming], started: float) -> None:
        now = time.time()
        PROCESSING_LATENCY.labels(self.service_name, self.stage).observe(time.perf_counter() - started)
        for tp, recs in batches.items():
            EVENTS_CONSUMED.labels(self.service_name, tp.topic).inc(len(recs))
            high = self.consumer.highwater(tp) if self.consumer else None
            if high is not None:
                CONSUMER_LAG.labels(self.service_name, tp.topic, str(tp.partition)).set(max(0, high - recs[-1].offset - 1))
            age = _age_seconds(dict(recs[-1].headers or ()).get("ce_time", b"").decode() or None, now)
            if age is not None:
                CONSUMER_LAG_SECONDS.labels(self.service_name, tp.topic, str(tp.partition)).set(age)
        sampled = messages[:: max(1, len(messages) // 50)]  # an age sample per batch, not per message
        for m in sampled:
            age = _age_seconds(m.ce_time, now)
            if age is not None:
                EVENT_AGE.labels(self.service_name, self.settings.topic_prefix + m.topic).observe(age)
