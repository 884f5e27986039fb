"""The intake event log: an append-only, durable record of every accepted event.

A 202 is sent only after the submission and its log rows are committed. Concurrent
requests are written together (group commit): one transaction, one fsync, many events.
The relay (`services/common/relay.py`) publishes it; `EventLog` is its `RelayLog`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update

from services.common import db
from services.common.background import Background
from services.common.db import is_sqlite
from services.common.messages import ce_headers
from services.common.outbox import StoredRecord
from services.common.relay_state import Committed
from services.intake.idempotency import Outcome, idempotency_outcome
from services.intake.tables import event_log, relay_state, submissions

log = logging.getLogger(__name__)
ROWS_PER_INSERT = 100  # rows per INSERT statement (600 parameters: SQLite takes 32,766, PostgreSQL 65,535)

class LogRecord(NamedTuple):
    """One future Kafka message: a tuple in the event log's column order, so a batch of them is
    the executemany's parameters as it is (a return of 100,000 records builds no other rows)."""

    topic: str
    event_id: str
    key: str
    ce_type: str
    ce_time: str
    value: bytes


class Appended(list[Outcome]):
    """`EventLog.append`'s answer: each submission's outcome, in order, and the records the batch
    wrote with their seqs, for the relay's hand-over (None when it wrote none)."""

    committed: Committed | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    """One POST: its idempotency key, the hash of its canonical body, and its log records."""

    kind: str
    source_id: str
    body_hash: str
    records: Sequence[LogRecord]


SOURCE = b"/signpost/intake"


def headers_for(record: LogRecord) -> list[tuple[str, bytes]]:
    """The CloudEvents binary-mode headers the relay publishes a log record with."""
    return ce_headers(record.event_id, SOURCE, record.ce_type.encode(), record.ce_time.encode())


class EventLog:
    def __init__(self, engine: Engine):
        self.engine = engine
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._last_seq = select(func.coalesce(func.max(event_log.c.seq), 0))
        seq = event_log.c.seq
        self._range_after = select(func.min(seq), func.max(seq), func.count()).where(seq > bindparam("before"))
        insert_into = f"INSERT INTO {event_log.name} (topic, event_id, msg_key, ce_type, ce_time, value) VALUES "
        row = f"({', '.join([mark] * 6)})"
        self._insert_sql = insert_into + row
        self._insert_many_sql = insert_into + ", ".join([row] * ROWS_PER_INSERT)
        self._read_sql = f"SELECT seq, topic, event_id, msg_key, ce_type, ce_time, value FROM {event_log.name} WHERE seq > {mark} ORDER BY seq LIMIT {mark}"

    def append(self, batch: Sequence[Submission]) -> Appended:
        """Write a batch of submissions in one transaction; return each one's outcome (and what it wrote)."""
        outcomes = Appended()
        now = datetime.now(UTC)
        with db.write(self.engine) as conn:
            if not is_sqlite(self.engine):
                # Serialise appends so that seq order is commit order: the relay reads by seq
                # and must never pass over a row that commits later with a smaller seq.
                conn.execute(text("SELECT pg_advisory_xact_lock(7301)"))
            keys = list({(sub.kind, sub.source_id) for sub in batch})
            known: dict[tuple[str, str], str] = {}
            c = submissions.c
            kinds = sorted({k for k, _ in keys})
            for i in range(0, len(keys), 400):  # one indexed query for the whole batch (row-value IN would scan)
                ids = [source_id for _, source_id in keys[i : i + 400]]
                rows_ = conn.execute(select(c.kind, c.source_id, c.body_hash).where(c.kind.in_(kinds), c.source_id.in_(ids)))
                known.update({(r.kind, r.source_id): r.body_hash for r in rows_})
            in_batch: dict[tuple[str, str], str] = {}
            rows: list[tuple] = []
            subs: list[dict] = []
            for sub in batch:
                key = (sub.kind, sub.source_id)
                stored = in_batch.get(key) or known.get(key)
                outcome = idempotency_outcome(stored, sub.body_hash)
                outcomes.append(outcome)
                if outcome != "accepted":
                    continue
                in_batch[key] = sub.body_hash
                subs.append({"kind": sub.kind, "source_id": sub.source_id, "body_hash": sub.body_hash, "records": len(sub.records), "accepted_at": now})
                rows.extend(sub.records)
            if subs:
                conn.execute(insert(submissions), subs)
            seqs: Sequence[int] = ()
            if rows:
                before = conn.execute(self._last_seq).scalar_one()
                self._insert(conn, rows)
                seqs = self._seqs_after(conn, before, len(rows))
        if rows:
            outcomes.committed = Committed(seqs, partial(self._stored, seqs, rows))
        return outcomes

    def _insert(self, conn: Connection, rows: Sequence[tuple]) -> None:
        """The rows in insert order, through the driver's own executemany (an LA return adds 100,000
        rows in one go), ROWS_PER_INSERT rows a statement: a statement's step, reset and bindings cost
        the driver more than its rows' values (SQLite, 100,000 LA-return rows: 0.63-0.95 → 0.49-0.71 s).
        A multi-row VALUES numbers its rows in order, as one row a statement does."""
        whole = len(rows) - len(rows) % ROWS_PER_INSERT
        if whole:
            chain = itertools.chain.from_iterable
            conn.exec_driver_sql(self._insert_many_sql, [tuple(chain(rows[i : i + ROWS_PER_INSERT])) for i in range(0, whole, ROWS_PER_INSERT)])
        if whole < len(rows):
            conn.exec_driver_sql(self._insert_sql, rows[whole:])

    def _seqs_after(self, conn: Connection, before: int, count: int) -> Sequence[int]:
        """The seqs of the rows just inserted, in insert order. This transaction holds the log's write
        lock (SQLite's, or the advisory lock), so every row past `before` is one of them; a single
        statement numbers them one after the other (SQLite always, a PostgreSQL sequence unless it
        skipped), else they are read."""
        first, last, n = conn.execute(self._range_after, {"before": before}).one()
        if n != count:
            raise RuntimeError(f"event log: {n} rows after seq {before}, {count} inserted")  # another writer: never expected
        if last - first + 1 == count:
            return range(first, last + 1)
        return conn.execute(select(event_log.c.seq).where(event_log.c.seq > before).order_by(event_log.c.seq)).scalars().all()

    @staticmethod
    def _stored(seqs: Sequence[int], rows: Sequence[tuple], start: int, stop: int) -> list[StoredRecord]:
        """The relay's records of rows[start:stop], built as `read_after` builds them from the log."""
        return _stored_records((seq, *row) for seq, row in zip(seqs[start:stop], rows[start:stop], strict=True))

    def read_after(self, position: int, limit: int) -> list[StoredRecord]:
        # The driver's own cursor and tuples: the relay reads an LA return's 100,000 rows this way,
        # and SQLAlchemy's rows cost it three times the read itself.
        with self.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                cursor.execute(self._read_sql, (position, limit))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        return _stored_records(rows)

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(event_log.c.seq), 0))).scalar() or 0)

    def relay_state(self) -> tuple[int, dict[str, tuple[int, str]], str | None]:
        """(position, last acknowledged message per partition, the broker epoch they belong to)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(relay_state).where(relay_state.c.id == 1)).first()
            if row is None:
                conn.execute(insert(relay_state).values(id=1, position=0, published="{}", epoch=None))
                return 0, {}, None
            return int(row.position), {k: (int(v[0]), str(v[1])) for k, v in json.loads(row.published).items()}, row.epoch

    def save_relay_state(self, position: int, published: dict[str, tuple[int, str]], epoch: str | None) -> None:
        with db.write(self.engine) as conn:
            conn.execute(update(relay_state).where(relay_state.c.id == 1).values(position=position, published=json.dumps(published), epoch=epoch))


def _stored_records(rows: Iterable[tuple]) -> list[StoredRecord]:
    """The relay's records of (seq, topic, event_id, key, ce_type, ce_time, value) rows."""
    fixed: dict[tuple[str, str], tuple[bytes, bytes]] = {}  # the records of one submission share type and time
    out = []
    for seq, topic, event_id, key, ce_type, ce_time, value in rows:
        type_time = fixed.get((ce_type, ce_time)) or fixed.setdefault((ce_type, ce_time), (ce_type.encode(), ce_time.encode()))
        out.append(StoredRecord(seq, topic, event_id, key, bytes(value), ce_headers(event_id, SOURCE, *type_time)))
    return out


class GroupCommitter:
    """Funnels concurrent appends into batches, written one transaction at a time.

    While one batch commits, the next fills up: throughput grows with load and each
    request waits for at most one commit more than its own.
    """

    def __init__(self, eventlog: EventLog, max_batch: int = 512):
        self.eventlog = eventlog
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Submission, asyncio.Future[Outcome]]] = asyncio.Queue()
        self._background = Background("intake-group-commit", self._run)
        self.on_commit: list = []  # callbacks after each committed batch (wake the relay)
        self.on_records: list[Callable[[Committed], None]] = []  # given the records each batch wrote (the relay's hand-over)

    def start(self) -> None:
        self._background.start()

    async def stop(self) -> None:
        await self._background.stop()

    async def submit(self, submission: Submission) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((submission, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            size = len(first[0].records)
            while not self._queue.empty() and len(batch) < self.max_batch and size < 50_000:
                item = self._queue.get_nowait()
                batch.append(item)
                size += len(item[0].records)
            try:
                outcomes = await asyncio.to_thread(self.eventlog.append, [s for s, _ in batch])
            except Exception as exc:  # the store is down: every waiting request gets a 503
                log.warning("event log append failed", extra={"error": type(exc).__name__, "batch": len(batch)})
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), outcome in zip(batch, outcomes, strict=True):
                if not fut.done():
                    fut.set_result(outcome)
            if outcomes.committed is not None:
                for hand_over in self.on_records:
                    hand_over(outcomes.committed)
            for callback in self.on_commit:
                callback()
