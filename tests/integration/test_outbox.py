"""The outbox on PostgreSQL: concurrent appends keep seq order equal to commit order.

The relay reads by seq and moves its position past what it read. If a transaction could take a
smaller seq than another and commit after it, a relay reading in between would pass over the row
for good. The advisory lock in `outbox.append` makes a second appender wait for the first commit.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, MetaData, text

from services.common import db, outbox
from services.common.messages import Outgoing

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def engine(pg_schema_url: str) -> Iterator[Engine]:
    engine = db.make_engine(pg_schema_url)
    yield engine
    engine.dispose()


def message(event_id: str) -> Outgoing:
    return Outgoing("alerts.v1", "k", b"{}", [("ce_id", event_id.encode())])


def waiting_on_advisory_lock(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first()
    return row is not None and tuple(row) == ("Lock", "advisory")


def test_an_append_waits_for_the_open_transaction_before_it(engine: Engine) -> None:
    metadata = MetaData()
    service = f"o{uuid.uuid4().hex[:6]}"
    table, state = outbox.outbox_table(metadata, service), outbox.relay_state_table(metadata, service)
    metadata.create_all(engine)
    log = outbox.OutboxLog(engine, table, state)

    first = engine.connect()
    first_tx = first.begin()
    outbox.append(first, table, [message("first")])  # seq taken, not committed yet

    second_pid: list[int] = []
    second_done = threading.Event()

    def second_appender() -> None:
        with engine.begin() as conn:
            second_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            outbox.append(conn, table, [message("second")])
        second_done.set()

    thread = threading.Thread(target=second_appender)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (second_pid and waiting_on_advisory_lock(engine, second_pid[0])):
            assert not second_done.is_set(), "the second append committed while the first was still open"
            assert time.monotonic() < deadline, "the second append never waited for the first"
            time.sleep(0.02)
        assert log.read_after(0, 10) == []  # a relay reading now passes over nothing
        first_tx.commit()
    finally:
        first.close()
        thread.join(10)
    assert second_done.is_set()
    assert [r.event_id for r in log.read_after(0, 10)] == ["first", "second"]
