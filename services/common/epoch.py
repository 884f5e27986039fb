"""The broker epoch: one record per broker lifetime, so a client can tell a new, empty broker.

The embedded broker keeps nothing on disk. When it is killed and restarted, aiokafka reconnects
to the new one without a word, and the new broker hands out the same offsets again: offsets a
client remembers can't tell the two apart. So the first client to find `<prefix>broker-epoch.v1`
empty writes a random id there; every client reads the record at offset 0 of partition 0. Whoever
wrote first wins and every reader agrees. A client that finds another epoch than the one its
state belongs to knows the broker lost everything since (docs/design.md).

Tansu reports no usable cluster id (aiokafka gets none), hence a record. The record is fetched,
not inferred from ListOffsets: Tansu reports end offsets wrongly for multi-record batches.
"""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.topics import BROKER_EPOCH
from services.common.settings import Settings

#: How long an empty partition is given to show a record before a new epoch is written. Too short
#: only costs a spare record at offset 1: readers always take offset 0.
EMPTY_AFTER_S = 0.3


class EpochUnreadable(Exception):
    """The epoch was written (acks=all) but could not be read back: the broker is not answering."""


async def broker_epoch(settings: Settings, producer: AIOKafkaProducer, probe: AIOKafkaConsumer, *, timeout: float = 5.0) -> str:
    """The current broker's epoch; written first if nobody has yet. `probe` is a group-less consumer."""
    tp = TopicPartition(settings.topic(BROKER_EPOCH), 0)
    epoch = await _first_record(probe, tp, EMPTY_AFTER_S)
    if epoch is not None:
        return epoch
    # Always partition 0: a topic auto-created by the broker may have more partitions than ours.
    await producer.send_and_wait(tp.topic, value=uuid.uuid4().hex.encode(), partition=tp.partition)
    epoch = await _first_record(probe, tp, timeout)
    if epoch is None:
        raise EpochUnreadable(tp.topic)
    return epoch


async def _first_record(probe: AIOKafkaConsumer, tp: TopicPartition, wait: float) -> str | None:
    probe.assign([tp])
    probe.seek(tp, 0)
    deadline = time.monotonic() + wait
    try:
        while True:
            left = deadline - time.monotonic()
            batches = await probe.getmany(tp, timeout_ms=max(0, int(left * 1000)), max_records=1)
            for message in batches.get(tp, ()):
                return bytes(message.value or b"").decode()
            if left <= 0:
                return None
    finally:
        probe.unsubscribe()  # no background fetching of the epoch partition between checks
