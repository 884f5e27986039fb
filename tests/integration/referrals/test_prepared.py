"""The desk's prepared statements (prepared.py) read and write what SQLAlchemy's execute reads and
writes, on SQLite and PostgreSQL: padded IN lists, times and booleans both ways, errors as
SQLAlchemy raises them, and listeners see the statements."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, bindparam, event, insert, select
from sqlalchemy.exc import IntegrityError

from services.common.db import insert_ignore
from services.referrals import batch_reads
from services.referrals import tables as t
from services.referrals.prepared import Prepared, padded

pytestmark = pytest.mark.integration

AT = datetime(2025, 3, 6, 10, 0, 1, 123456, tzinfo=UTC)
CONSENT_KEYS = ["child_id", "recipient", "source", "granted", "at"]
_LEDGERS = select(t.consents).where(t.consents.c.child_id.in_(bindparam("ids", expanding=True))).order_by(t.consents.c.child_id)


def consents(n: int) -> list[dict]:
    return [{"child_id": f"ch-{i}", "recipient": "nas", "source": f"call:{i}", "granted": i % 2 == 0, "at": AT} for i in range(n)]


def test_in_lists_are_padded_to_a_few_lengths_under_sqlites_old_parameter_bound() -> None:
    assert [padded(n) for n in (1, 2, 3, 4, 5, 9, 64, 65, 129, 400)] == [1, 2, 4, 4, 8, 16, 64, 128, 192, 448]
    assert 2 * padded(batch_reads.CHUNK) <= 999  # the links' read names its ids twice


def test_rows_written_and_read_are_sqlalchemys(engine: Engine) -> None:
    """Written by the driver, read by SQLAlchemy, and the other way round: the same rows, for IN
    lists of every length up to 9 (padded with their last item)."""
    prepared_read, prepared_write = Prepared(_LEDGERS, lists=["ids"]), Prepared(lambda e: insert_ignore(e, t.consents), keys=CONSENT_KEYS)
    with engine.begin() as conn:
        prepared_write.many(conn, consents(5))
        conn.execute(insert(t.consents), consents(9)[5:])
        prepared_write.many(conn, consents(2))  # ignored: their keys exist
        for n in range(1, 10):
            ids = [f"ch-{i}" for i in range(n)]
            assert prepared_read.rows(conn, ids=ids) == [tuple(row) for row in conn.execute(_LEDGERS, {"ids": ids})]
        (row,) = prepared_read.rows(conn, ids=["ch-0"])
        assert row[3] is True and row[4].replace(tzinfo=UTC) == AT  # SQLite drops the offset, as through SQLAlchemy
        with pytest.raises(ValueError, match="empty IN list"):
            prepared_read.rows(conn, ids=[])


def test_errors_are_sqlalchemys_and_listeners_see_the_statements(engine: Engine) -> None:
    seen: list[str] = []
    listen = lambda *args: seen.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listen)
    write = Prepared(insert(t.consents), keys=CONSENT_KEYS)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:
            write.run(conn, consents(1)[0])
            write.run(conn, consents(1)[0])  # the same key again
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len([s for s in seen if s.startswith(f"INSERT INTO {t.consents.name}")]) == 2
    with engine.connect() as conn:
        assert conn.execute(select(t.consents)).all() == []  # the transaction rolled back
