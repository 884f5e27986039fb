"""The intake event log (idempotency + outbox) on PostgreSQL and on SQLite: the same tests on both."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from services.common import db
from services.intake import tables
from services.intake.eventlog import ROWS_PER_INSERT, EventLog, LogRecord, Submission

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_schema_url")
    else:
        url = f"sqlite:///{tmp_path / 'intake.sqlite3'}"
    engine = db.make_engine(url, synchronous="FULL")
    db.migrate(engine, tables.metadata)
    db.migrate(engine, tables.metadata)  # idempotent
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def eventlog(engine: Engine) -> EventLog:
    return EventLog(engine)


def sub(
    source_id: str | None = None,
    body: str = "a",
    kind: str = "exclusion_notice",
    n: int = 1,
    topic: str = "exclusion-notices.v1",
) -> Submission:
    source_id = source_id or uuid.uuid4().hex
    records = tuple(
        LogRecord(
            topic,
            f"{kind}:{source_id}:{i}",
            f"u:{uuid.uuid4().hex[:24]}",
            "uk.signpost.test.v1",
            "2025-03-03T09:00:00Z",
            f'{{"i": {i}, "body": "{body}"}}'.encode(),
        )
        for i in range(n)
    )
    return Submission(kind, source_id, f"hash-{body}", records)


def rows(engine: Engine, table) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def test_backend_is_the_one_asked_for(engine: Engine, request: pytest.FixtureRequest) -> None:
    expected = "postgresql" if "postgres" in request.node.callspec.id else "sqlite"
    assert engine.dialect.name == expected


def test_accepted_then_duplicate_then_conflict(eventlog: EventLog, engine: Engine) -> None:
    first = sub("N-1", body="a", n=1)
    assert eventlog.append([first]) == ["accepted"]
    assert eventlog.append([sub("N-1", body="a")]) == ["duplicate"]
    assert eventlog.append([sub("N-1", body="b")]) == ["conflict"]
    assert rows(engine, tables.submissions) == 1
    assert rows(engine, tables.event_log) == 1
    [stored] = eventlog.read_after(0, 10)
    assert (stored.topic, stored.event_id, stored.key, stored.value) == (
        first.records[0].topic, first.records[0].event_id, first.records[0].key, first.records[0].value
    )  # fmt: skip
    assert isinstance(stored.value, bytes)


def test_the_same_id_under_another_kind_is_another_submission(eventlog: EventLog) -> None:
    assert eventlog.append([sub("X-1", kind="exclusion_notice")]) == ["accepted"]
    assert eventlog.append([sub("X-1", kind="call", topic="calls.v1")]) == ["accepted"]


def test_duplicates_inside_one_batch(eventlog: EventLog, engine: Engine) -> None:
    batch = [
        sub("N-1", "a", n=2),
        sub("N-1", "a", n=2),
        sub("N-1", "b", n=2),
        sub("N-2", "a"),
        sub("N-2", "a"),
    ]
    assert eventlog.append(batch) == ["accepted", "duplicate", "conflict", "accepted", "duplicate"]
    assert rows(engine, tables.submissions) == 2
    assert rows(engine, tables.event_log) == 3
    assert [r.event_id for r in eventlog.read_after(0, 10)] == [
        *(r.event_id for r in batch[0].records),
        batch[3].records[0].event_id,
    ]


def test_seq_follows_append_order_and_read_after_pages(eventlog: EventLog) -> None:
    expected: list[str] = []
    for _ in range(5):
        batch = [sub(n=3), sub(n=1)]
        assert eventlog.append(batch) == ["accepted", "accepted"]
        expected += [r.event_id for s in batch for r in s.records]
    everything = eventlog.read_after(0, 1000)
    assert [r.event_id for r in everything] == expected
    seqs = [r.seq for r in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert eventlog.last_seq() == seqs[-1]

    paged, position = [], 0
    while page := eventlog.read_after(position, 3):
        assert len(page) <= 3
        paged += page
        position = page[-1].seq
    assert [r.event_id for r in paged] == expected
    assert eventlog.read_after(seqs[-1], 10) == []


def test_append_hands_over_the_records_it_wrote_as_read_after_reads_them(eventlog: EventLog) -> None:
    """The relay publishes what `append` hands it instead of reading it back: same seqs,
    same records; a duplicate or a conflict in the batch writes (and hands over) nothing."""
    eventlog.append([sub(n=4)])
    first = sub("R-1", n=50)
    outcomes = eventlog.append([first, sub("R-1", n=50), sub(n=3)])
    assert outcomes == ["accepted", "duplicate", "accepted"]
    committed = outcomes.committed
    assert committed is not None and len(committed.seqs) == 53
    assert list(committed.seqs) == list(range(5, 58))
    assert committed.stored(0, 53) == eventlog.read_after(4, 100)
    assert committed.stored(20, 30) == eventlog.read_after(24, 10)
    assert eventlog.append([first]).committed is None  # a duplicate


def test_many_rows_a_statement_keep_the_batchs_order_and_seqs(eventlog: EventLog) -> None:
    """Rows go in ROWS_PER_INSERT a statement, the rest one a statement: a batch of two whole
    statements and a remainder, across submissions, is logged and handed over in its order."""
    eventlog.append([sub(n=2)])
    batch = [sub(n=ROWS_PER_INSERT + 7), sub(n=1), sub(n=ROWS_PER_INSERT - 3)]
    appended = eventlog.append(batch)
    assert appended == ["accepted"] * 3
    expected = [r.event_id for s in batch for r in s.records]
    stored = eventlog.read_after(2, 1000)
    assert [r.event_id for r in stored] == expected
    assert [r.value for r in stored] == [r.value for s in batch for r in s.records]
    assert appended.committed is not None
    assert list(appended.committed.seqs) == [r.seq for r in stored] == list(range(3, 3 + len(expected)))
    assert appended.committed.stored(0, len(expected)) == stored


def test_handed_seqs_are_the_logs_after_a_gap(eventlog: EventLog, engine: Engine) -> None:
    """The newest rows deleted (an erasure) or numbers skipped (a PostgreSQL sequence after a
    rollback): the seqs handed over are still the ones the rows got."""
    eventlog.append([sub(n=5)])
    with db.write(engine) as conn:
        conn.execute(tables.event_log.delete().where(tables.event_log.c.seq > 3))
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('intake_event_log', 'seq'), 40)")
            conn.exec_driver_sql("ALTER SEQUENCE intake_event_log_seq_seq INCREMENT BY 3")  # gaps inside the statement: read back
    committed = eventlog.append([sub(n=6)]).committed
    assert committed is not None
    stored = eventlog.read_after(3, 100)
    assert [r.seq for r in stored][0] > 4  # past the gap
    assert list(committed.seqs) == [r.seq for r in stored]
    assert committed.stored(0, 6) == stored


def test_empty_log(eventlog: EventLog) -> None:
    assert eventlog.last_seq() == 0
    assert eventlog.read_after(0, 10) == []
    assert eventlog.append([]) == []


def test_relay_state_round_trip(eventlog: EventLog) -> None:
    assert eventlog.relay_state() == (0, {}, None)
    assert eventlog.relay_state() == (0, {}, None)  # the row is made once
    published = {
        "t1.exclusion-notices.v1:0": (41, "notice:N-1"),
        "t1.la-return-records.v1:2": (7, "la-return:R:1"),
    }
    eventlog.save_relay_state(42, published, "epoch-1")
    assert eventlog.relay_state() == (42, published, "epoch-1")
    eventlog.save_relay_state(0, {}, "epoch-2")
    assert eventlog.relay_state() == (0, {}, "epoch-2")


def test_read_after_gives_the_records_with_their_cloudevents_headers(eventlog: EventLog) -> None:
    submission = sub("N-1")
    eventlog.append([submission])
    [stored] = eventlog.read_after(0, 10)
    record = submission.records[0]
    assert dict(stored.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": record.event_id.encode(),
        "ce_source": b"/signpost/intake",
        "ce_type": record.ce_type.encode(),
        "ce_time": record.ce_time.encode(),
        "content-type": b"application/json",
    }


def test_a_failed_batch_stores_nothing_of_it(eventlog: EventLog, engine: Engine) -> None:
    """One transaction per batch: an error (here an event id collision) leaves no partial batch behind."""
    taken = sub("N-1")
    assert eventlog.append([taken]) == ["accepted"]
    clash = Submission(
        "call",
        "C-1",
        "hash-c",
        (LogRecord("calls.v1", taken.records[0].event_id, "k", "t", "2025-01-01T00:00:00Z", b"{}"),),
    )
    innocent = sub("N-2")
    with pytest.raises(IntegrityError):
        eventlog.append([innocent, clash])
    assert rows(engine, tables.submissions) == 1
    assert rows(engine, tables.event_log) == 1
    assert eventlog.append([innocent]) == ["accepted"]  # nothing of the failed batch was kept


@pytest.fixture
def pg_engine(pg_schema_url: str) -> Iterator[Engine]:
    engine = db.make_engine(pg_schema_url)
    db.migrate(engine, tables.metadata)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_concurrent_appends_on_postgres_lose_nothing_and_decide_each_id_once(pg_engine: Engine) -> None:
    """Several intake replicas may share one PostgreSQL database: appends serialise on an advisory lock.

    (Not run on SQLite: there the single intake process's GroupCommitter is the only writer.)
    """
    engine, eventlog = pg_engine, EventLog(pg_engine)
    shared = [sub(f"S-{i}", body="same") for i in range(10)]
    outcomes: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for s in shared:
                got = eventlog.append([s, sub(n=2)])
                with lock:
                    outcomes.append(got[0])
                assert got[1] == "accepted"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert outcomes.count("accepted") == 10
    assert outcomes.count("duplicate") == 30
    assert rows(engine, tables.event_log) == 10 + 4 * 10 * 2
    seqs = [r.seq for r in eventlog.read_after(0, 10_000)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) == 90
