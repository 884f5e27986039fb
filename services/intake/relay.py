"""The relay: publishes the intake event log to Kafka, in log order, and again after a broker loss.

Position = the last log seq the broker acknowledged (acks=all). The relay remembers, per
partition, the offset and event id of the last message the broker acknowledged. Before
publishing after any error, and every few seconds, it fetches those messages back. One
missing, or a different one in its place, means the broker lost what it had (the embedded
broker keeps nothing on disk): the relay goes back to seq 0 and publishes the whole log
again, in order. Consumers apply each event once, by natural key or event id.

Why not compare end offsets? Tansu reports a partition's end offset as the base offset of
its last batch + 1, under-counting multi-record batches; fetching is exact everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.topics import CONTENT_TYPE, SPEC_VERSION
from services.common import kafka
from services.common.metrics import BROKER_UP, EVENTS_PRODUCED, RELAY_BACKLOG, RELAY_REPUBLISHED
from services.common.settings import Settings
from services.intake.eventlog import EventLog, StoredRecord

log = logging.getLogger(__name__)
SOURCE = b"/signpost/intake"


def broker_lost_events(expected: dict[str, tuple[int, str]], found: dict[str, tuple[int, str] | None]) -> bool:
    """True when a partition no longer holds the last message the broker acknowledged to us.

    Both maps are keyed "topic:partition"; values are (offset, event id)."""
    return any(found.get(tp) != tuple(last) for tp, last in expected.items())


def headers_for(record: StoredRecord) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", record.event_id.encode()),
        ("ce_source", SOURCE),
        ("ce_type", record.ce_type.encode()),
        ("ce_time", record.ce_time.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]


class Relay:
    def __init__(self, settings: Settings, eventlog: EventLog, batch_size: int = 5000, verify_every: float = 2.0):
        self.settings, self.eventlog = settings, eventlog
        self.batch_size, self.verify_every = batch_size, verify_every
        self.wakeup = asyncio.Event()
        self.broker_ok = False
        self.last_error: str | None = None
        self.position = 0
        self.published: dict[str, tuple[int, str]] = {}  # "topic:partition" -> last acknowledged (offset, event id)
        self.backlog = 0
        self._needs_verify = True
        self._last_verify = 0.0
        self._last_save = 0.0
        self._producer: AIOKafkaProducer | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None
        self.caught_up = asyncio.Event()

    def notify(self) -> None:
        self.wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="intake-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._close_clients()

    async def _close_clients(self) -> None:
        for client in (self._producer, self._probe):
            if client is not None:
                try:
                    await asyncio.wait_for(client.stop(), 5)
                except Exception:  # noqa: BLE001 - closing a client to a dead broker may fail; it is discarded
                    pass
        self._producer = self._probe = None

    async def _clients(self) -> tuple[AIOKafkaProducer, AIOKafkaConsumer]:
        if self._producer is None or self._probe is None:
            await kafka.ensure_topics(self.settings, attempts=1)
            producer = kafka.producer(self.settings)
            probe = kafka.consumer(self.settings, group_id=None)
            try:
                await producer.start()
                await probe.start()
            except BaseException:
                for client in (producer, probe):
                    try:
                        await client.stop()
                    except Exception:  # noqa: BLE001
                        pass
                raise
            self._producer, self._probe = producer, probe
        return self._producer, self._probe

    async def _run(self) -> None:
        self.position, self.published = await asyncio.to_thread(self.eventlog.relay_state)
        backoff = 0.2
        while True:
            try:
                await self._cycle()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker (or store) trouble: drop the clients, verify before the next send
                self.broker_ok = False
                BROKER_UP.labels("intake").set(0)
                self.last_error = type(exc).__name__
                self._needs_verify = True
                log.warning("relay cycle failed", extra={"error": type(exc).__name__, "retry_in_s": backoff})
                await self._close_clients()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _cycle(self) -> None:
        producer, probe = await self._clients()
        if self._needs_verify or time.monotonic() - self._last_verify > self.verify_every:
            await self._verify(probe)
        records = await asyncio.to_thread(self.eventlog.read_after, self.position, self.batch_size)
        self.broker_ok = True
        BROKER_UP.labels("intake").set(1)
        if not records:
            self.backlog = 0
            RELAY_BACKLOG.labels("intake").set(0)
            self.caught_up.set()
            self.wakeup.clear()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=self.verify_every)
            except TimeoutError:
                pass
            return
        self.caught_up.clear()
        await self._publish(producer, records)

    async def _publish(self, producer: AIOKafkaProducer, records: list[StoredRecord]) -> None:
        prefix = self.settings.topic_prefix
        futures = [
            await producer.send(prefix + r.topic, value=r.value, key=r.key.encode(), headers=headers_for(r)) for r in records
        ]
        acks = await asyncio.gather(*futures)  # every message acknowledged (acks=all) before the position moves
        for record, meta in zip(records, acks, strict=True):
            self.published[f"{meta.topic}:{meta.partition}"] = (meta.offset, record.event_id)
        for topic, n in Counter(r.topic for r in records).items():
            EVENTS_PRODUCED.labels("intake", prefix + topic).inc(n)
        self.position = records[-1].seq
        # Saving the position is an optimisation (a restart would publish again from the last save,
        # and consumers skip what they applied), so under load it is saved at most every half second.
        if time.monotonic() - self._last_save > 0.5 or len(records) < self.batch_size:
            await asyncio.to_thread(self.eventlog.save_relay_state, self.position, dict(self.published))
            self._last_save = time.monotonic()
            last = await asyncio.to_thread(self.eventlog.last_seq)
            self.backlog = max(0, last - self.position)
            RELAY_BACKLOG.labels("intake").set(self.backlog)

    async def _verify(self, probe: AIOKafkaConsumer) -> None:
        found = await fetch_last(probe, self.published) if self.published else {}
        if broker_lost_events(self.published, found):
            missing = sum(1 for tp, last in self.published.items() if found.get(tp) != tuple(last))
            log.warning("the broker lost messages it had acknowledged: publishing the event log again", extra={"partitions_lost": missing})
            RELAY_REPUBLISHED.labels("intake").inc()
            self.position, self.published = 0, {}
            await asyncio.to_thread(self.eventlog.save_relay_state, 0, {})
        self._needs_verify = False
        self._last_verify = time.monotonic()


async def fetch_last(probe: AIOKafkaConsumer, expected: dict[str, tuple[int, str]], timeout: float = 3.0) -> dict[str, tuple[int, str] | None]:
    """Fetch the message at each partition's remembered offset: (offset, event id), or None if it is gone."""
    wanted: dict[TopicPartition, int] = {}
    for key, (offset, _) in expected.items():
        topic, _, partition = key.rpartition(":")
        wanted[TopicPartition(topic, int(partition))] = offset
    probe.assign(list(wanted))
    for tp, offset in wanted.items():
        probe.seek(tp, offset)
    found: dict[str, tuple[int, str] | None] = {f"{tp.topic}:{tp.partition}": None for tp in wanted}
    pending = set(wanted)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        batches = await probe.getmany(*pending, timeout_ms=200, max_records=1)
        for tp, messages in batches.items():
            if messages:
                m = messages[0]
                ce_id = dict(m.headers or ()).get("ce_id", b"").decode()
                found[f"{tp.topic}:{tp.partition}"] = (m.offset, ce_id) if m.offset == wanted[tp] else None
                pending.discard(tp)
    return found
