"""The relay: publishes a service's stored outputs (its outbox, or the intake's event log) to
Kafka in log order, and publishes them all again when the broker lost them.

Position = the last log seq the broker acknowledged (acks=all, every message of a batch before
the position moves). The position belongs to a broker epoch (`services/common/epoch.py`), stored
with it. Before publishing after any error, and at least every `verify_every` seconds, the relay
reads the current epoch. Another epoch means the broker is a new one that lost everything (the
embedded broker keeps nothing on disk): the relay goes back to seq 0, publishes the whole log
again and remembers the new epoch. This holds whatever the timing, even when aiokafka reconnected
to the new broker silently and the relay kept publishing: the epoch is written once per broker
lifetime, so the old one can't be found on a new broker. Consumers apply each message once, by
natural key or event id.

It also remembers, per partition, the offset and event id of the last message acknowledged, and
fetches them back at each check: one missing means a single topic was lost (Apache Kafka).

A writer may hand the relay the records it has just committed (`hand_over`): when the first record
after the position is among them, the relay publishes them as handed instead of reading them back
(an LA return's 100,000 records). They are the log's own records, committed, so the position and
everything above holds; whatever was not handed, or was dropped (a replica that doesn't lead, a
restart, more than `HANDED_MAX` waiting), is read from the log as before.

Replicas: on PostgreSQL only the holder of the relay's advisory lock publishes
(`services/common/leadership.py`); the others watch the broker and take over when it goes.
On SQLite there is one process per database file, so it always publishes.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import Counter, deque

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import Engine

from services.common import collector, kafka
from services.common.background import Background
from services.common.epoch import broker_epoch
from services.common.leadership import Leadership
from services.common.metrics import BROKER_UP, EVENTS_PRODUCED, RELAY_BACKLOG, RELAY_REPUBLISHED
from services.common.outbox import StoredRecord
from services.common.relay_state import Committed, Published, RelayLog, broker_lost_events
from services.common.settings import Settings

log = logging.getLogger(__name__)
SAVE_EVERY_S = 0.5  # the published position is saved at most this often (and on stop, and when idle after it)
HANDED_MAX = 250_000  # records handed over and not yet published, at most (past it they are read from the log)

class Relay:
    def __init__(
        self,
        settings: Settings,
        log: RelayLog,
        *,
        service: str,
        engine: Engine | None = None,
        batch_size: int = 5000,
        max_batch_bytes: int | None = None,
        verify_every: float = 2.0,
    ) -> None:
        self.settings, self.log, self.service = settings, log, service
        self.batch_size, self.verify_every = batch_size, verify_every
        self.max_batch_bytes = max_batch_bytes  # the producer's batches (kafka.producer's default when None)
        self.leadership = Leadership(engine, f"{service}_relay")
        self.leading = False
        self.wakeup = asyncio.Event()
        self.caught_up = asyncio.Event()
        self.broker_ok = False
        self.last_error: str | None = None
        self.position = 0
        self.published: Published = {}
        self.epoch: str | None = None  # the broker epoch `position` belongs to
        self.backlog = 0
        self.follow_every = 2.0  # a replica that doesn't lead tries to take the lock this often
        self._needs_verify = True
        self._last_verify = 0.0
        self._last_lead_check = 0.0
        self._last_save = 0.0
        self._unsaved = False
        self._handed: deque[Committed] = deque()
        self._handed_count = 0
        self._producer: AIOKafkaProducer | None = None
        self._probe: AIOKafkaConsumer | None = None
        self._background = Background(f"{service}-relay", self._run)

    def notify(self) -> None:
        self.wakeup.set()

    def hand_over(self, committed: Committed) -> None:
        """Records just committed to the log: published from here when the relay reaches them."""
        if not self.leading or self._handed_count + len(committed.seqs) > HANDED_MAX:
            return  # read from the log instead: by this replica once it leads, or after the ones waiting
        self._handed.append(committed)
        self._handed_count += len(committed.seqs)
        self.wakeup.set()

    def _drop_handed(self) -> None:
        self._handed.clear()
        self._handed_count = 0

    async def _read_after(self, position: int) -> list[StoredRecord]:
        """The records after `position`, at most a batch: handed over when the next one was, else read."""
        while self._handed and self._handed[0].seqs[-1] <= position:  # published (or read from the log) already
            self._handed_count -= len(self._handed.popleft().seqs)
        parts = self._handed_after(position)
        if parts:
            return await asyncio.to_thread(collector.call_paused, _records_of, parts)
        return await asyncio.to_thread(collector.call_paused, self.log.read_after, position, self.batch_size)

    def _handed_after(self, position: int) -> list[tuple[Committed, int, int]]:
        """(commit, start, stop) of the handed records that follow `position` one after the other, across
        as many commits as a batch holds: at a steady rate each group commit hands over a few records,
        and a relay that took one commit per round trip to the broker would fall behind."""
        parts: list[tuple[Committed, int, int]] = []
        taken, last = 0, position
        for committed in self._handed:
            seqs = committed.seqs
            start = bisect.bisect_right(seqs, last)
            # No record lies between one commit's seqs, so seqs[start] is next unless it is the commit's
            # first and the log may hold others before it (not handed: another writer's, or dropped).
            if start == len(seqs):
                continue  # published already
            if start == 0 and seqs[0] != last + 1:
                break
            stop = min(start + self.batch_size - taken, len(seqs))
            parts.append((committed, start, stop))
            taken, last = taken + stop - start, seqs[stop - 1]
            if taken == self.batch_size:
                break
        return parts

    def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()
        if self.leading and self._unsaved:  # the next leader (or start) resumes from here, not from the last save
            try:
                await asyncio.to_thread(self.log.save_relay_state, self.position, dict(self.published), self.epoch)
            except Exception as exc:  # noqa: BLE001 - only costs publishing a little again
                log.warning("relay position not saved on stop", extra={"service": self.service, "error": type(exc).__name__})
        self.leading = False
        self._drop_handed()
        await asyncio.to_thread(self.leadership.dispose)
        await self._close_clients()

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                if await self._lead():
                    await self._cycle()
                else:
                    await self._follow()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker (or store) trouble: drop the clients, verify before the next send
                self._broker_up(False)
                self.last_error = type(exc).__name__
                self._needs_verify = True
                self._last_lead_check = 0.0
                log.warning("relay cycle failed", extra={"service": self.service, "error": type(exc).__name__, "retry_in_s": backoff})
                await self._close_clients()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _lead(self) -> bool:
        """Whether this replica publishes now. Checked at most once a second while leading."""
        if self.leading and time.monotonic() - self._last_lead_check < 1.0:
            return True
        held = await asyncio.to_thread(self.leadership.holds) if self.leadership.shared else True
        self._last_lead_check = time.monotonic()
        if held and not self.leading:
            # Start from what the last leader (or this process before a restart) stored.
            self.position, self.published, self.epoch = await asyncio.to_thread(self.log.relay_state)
            self._needs_verify, self._unsaved = True, False
        elif not held and self.leading:
            self.caught_up.clear()
            self._drop_handed()
        self.leading = held
        return held

    async def _follow(self) -> None:
        """Another replica publishes: keep an eye on the broker (readiness) and on its progress."""
        producer, probe = await self._clients()
        await broker_epoch(self.settings, producer, probe)
        self._broker_up(True)
        self.position = (await asyncio.to_thread(self.log.relay_state))[0]
        await self._measure_backlog()
        await asyncio.sleep(self.follow_every)

    async def _cycle(self) -> None:
        producer, probe = await self._clients()
        if self._needs_verify or time.monotonic() - self._last_verify > self.verify_every:
            await self._verify(producer, probe)
        self.wakeup.clear()  # before the read: a commit during it wakes the wait below (not lost by a later clear)
        records = await self._read_after(self.position)
        self._broker_up(True)
        if not records:
            if self._unsaved and time.monotonic() - self._last_save > SAVE_EVERY_S:
                await self._save()
            self.backlog = 0
            RELAY_BACKLOG.labels(self.service).set(0)
            self.caught_up.set()
            try:
                await asyncio.wait_for(self.wakeup.wait(), timeout=min(self.verify_every, 1.0))
            except TimeoutError:
                pass
            return
        self.caught_up.clear()
        await self._publish_run(producer, records)

    async def _publish_run(self, producer: AIOKafkaProducer, records: list[StoredRecord]) -> None:
        """Publish `records` and, while full batches follow, read and queue batch N+1 before waiting for
        the acknowledgement of batch N: the broker works on one while this process prepares the next.
        The position moves batch by batch, each only once the broker acknowledged it (and all before it)."""
        pending = (records, await self._queue(producer, records))
        queued = pending
        try:
            while len(pending[0]) == self.batch_size and time.monotonic() - self._last_verify <= self.verify_every:
                following = await self._read_after(pending[0][-1].seq)
                if not following:
                    break
                queued = (following, await self._queue(producer, following))  # after batch N in every partition
                await self._acknowledged(*pending)
                pending = queued
            await self._acknowledged(*pending)
        except BaseException:
            for _, acks in {id(p): p for p in (pending, queued)}.values():  # published again from the position: their fate is no error
                acks.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    # ------------------------------------------------------------------ steps

    async def _queue(self, producer: AIOKafkaProducer, records: list[StoredRecord]) -> asyncio.Future[list[tuple[str, int, int]]]:
        prefix = self.settings.topic_prefix
        topics = {topic: prefix + topic for topic in {r.topic for r in records}}
        with collector.paused():  # services/common/collector.py says why
            messages = [(topics[r.topic], r.key.encode(), r.value, r.headers) for r in records]
        return await kafka.queue_batched(producer, messages)

    async def _acknowledged(self, records: list[StoredRecord], queued: asyncio.Future[list[tuple[str, int, int]]]) -> None:
        # every message acknowledged (acks=all) before the position moves
        acks = await queued
        last = {(topic, partition): (offset, record.event_id) for record, (topic, partition, offset) in zip(records, acks, strict=True)}
        self.published.update({f"{topic}:{partition}": ack for (topic, partition), ack in last.items()})
        for topic, n in Counter(r.topic for r in records).items():
            EVENTS_PRODUCED.labels(self.service, self.settings.topic_prefix + topic).inc(n)
        self.position = records[-1].seq
        self._unsaved = True
        # Saving the position is an optimisation (a restart would publish again from the last save,
        # and consumers skip what they applied), so it is saved at most every half second: a save is a
        # write transaction, which the intake's appends (or the stage's commits) would queue behind.
        if time.monotonic() - self._last_save > SAVE_EVERY_S:
            await self._save()
            await self._measure_backlog()

    async def _verify(self, producer: AIOKafkaProducer, probe: AIOKafkaConsumer) -> None:
        epoch = await broker_epoch(self.settings, producer, probe)
        reason = None
        if self.epoch is not None and epoch != self.epoch:
            reason = "new broker epoch"
        elif self.published and broker_lost_events(self.published, await fetch_last(probe, self.published)):
            reason = "acknowledged messages missing"
        if reason is not None:
            if self.position:
                log.warning("the broker lost messages it had acknowledged: publishing the log again",
                            extra={"service": self.service, "reason": reason, "position": self.position})
                RELAY_REPUBLISHED.labels(self.service).inc()
            self.position, self.published = 0, {}
        if reason is not None or epoch != self.epoch:
            self.epoch = epoch
            await self._save()
        self._needs_verify = False
        self._last_verify = time.monotonic()

    async def _save(self) -> None:
        await asyncio.to_thread(self.log.save_relay_state, self.position, dict(self.published), self.epoch)
        self._last_save = time.monotonic()
        self._unsaved = False

    async def _measure_backlog(self) -> None:
        last = await asyncio.to_thread(self.log.last_seq)
        self.backlog = max(0, last - self.position)
        RELAY_BACKLOG.labels(self.service).set(self.backlog)

    def _broker_up(self, up: bool) -> None:
        self.broker_ok = up
        BROKER_UP.labels(self.service).set(1 if up else 0)

    # ------------------------------------------------------------------ clients

    async def _clients(self) -> tuple[AIOKafkaProducer, AIOKafkaConsumer]:
        if self._producer is None or self._probe is None:
            await kafka.ensure_topics(self.settings, attempts=1)
            producer = kafka.producer(self.settings, **({"max_batch_size": self.max_batch_bytes} if self.max_batch_bytes else {}))
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

    async def _close_clients(self) -> None:
        for client in (self._producer, self._probe):
            if client is not None:
                try:
                    await asyncio.wait_for(client.stop(), 5)
                except Exception:  # noqa: BLE001 - closing a client to a dead broker may fail; it is discarded
                    pass
        self._producer = self._probe = None


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
    try:
        while pending and time.monotonic() < deadline:
            batches = await probe.getmany(*pending, timeout_ms=200, max_records=1)
            for tp, messages in batches.items():
                if messages:
                    m = messages[0]
                    ce_id = dict(m.headers or ()).get("ce_id", b"").decode()
                    found[f"{tp.topic}:{tp.partition}"] = (m.offset, ce_id) if m.offset == wanted[tp] else None
                    pending.discard(tp)
    finally:
        probe.unsubscribe()
    return found


def _records_of(parts: list[tuple[Committed, int, int]]) -> list[StoredRecord]:
    return [record for committed, start, stop in parts for record in committed.stored(start, stop)]
