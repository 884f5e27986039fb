"""The stage runner's edges (stream.py): Kafka records in as `Incoming`, messages out (acknowledged),
dead letters, how far the positions are from the partitions' ends, and what a batch tells Prometheus
(consumed, lag, event age, processing time)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.topics import DEAD_LETTERS, header
from services.common import kafka
from services.common.messages import DeadLetter, Incoming, Outgoing
from services.common.metrics import (
    CONSUMER_LAG,
    CONSUMER_LAG_SECONDS,
    EVENT_AGE,
    EVENTS_CONSUMED,
    EVENTS_PRODUCED,
    PROCESSING_LATENCY,
)
from services.common.metrics import (
    DEAD_LETTERS as DEAD_LETTERS_TOTAL,
)


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
    await kafka.send_batched(producer, [(prefix + m.topic, m.key.encode(), m.value, m.headers) for m in messages])
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


async def unfetched(consumer: AIOKafkaConsumer) -> int:
    """Records on the assigned partitions not fetched yet (as far as the last fetches tell)."""
    left = 0
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is not None:
            left += max(0, high - await consumer.position(tp))
    return left


async def caught_up(consumer: AIOKafkaConsumer) -> bool:
    """Every assigned partition's position has reached its high watermark (nothing assigned yet: not
    caught up). The high watermark from fetch responses is exact (Tansu's ListOffsets is not)."""
    assigned = consumer.assignment()
    for tp in assigned:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return bool(assigned)


async def record_idle_lag(consumer: AIOKafkaConsumer | None, service: str) -> None:
    """Nothing fetched: the lag is what is left between our position and the partition's end."""
    if consumer is None:
        return
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is not None:
            lag = max(0, high - await consumer.position(tp))
            CONSUMER_LAG.labels(service, tp.topic, str(tp.partition)).set(lag)
            if lag == 0:
                CONSUMER_LAG_SECONDS.labels(service, tp.topic, str(tp.partition)).set(0)


def observe_batch(consumer: AIOKafkaConsumer | None, service: str, stage: str, prefix: str, batches: dict, messages: list[Incoming], started: float) -> None:
    """A batch done: its processing time, what it consumed, the lag behind each partition's end, event ages."""
    now = time.time()
    PROCESSING_LATENCY.labels(service, stage).observe(time.perf_counter() - started)
    for tp, recs in batches.items():
        EVENTS_CONSUMED.labels(service, tp.topic).inc(len(recs))
        high = consumer.highwater(tp) if consumer else None
        if high is not None:
            CONSUMER_LAG.labels(service, tp.topic, str(tp.partition)).set(max(0, high - recs[-1].offset - 1))
        age = _age_seconds(dict(recs[-1].headers or ()).get("ce_time", b"").decode() or None, now)
        if age is not None:
            CONSUMER_LAG_SECONDS.labels(service, tp.topic, str(tp.partition)).set(age)
    sampled = messages[:: max(1, len(messages) // 50)]  # an age sample per batch, not per message
    for m in sampled:
        age = _age_seconds(m.ce_time, now)
        if age is not None:
            EVENT_AGE.labels(service, prefix + m.topic).observe(age)
