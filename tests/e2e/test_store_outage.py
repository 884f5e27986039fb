"""No child missed, no referral lost when a store goes away for a while (issue 8, deliverable 8).

1. Each service's SQLite file held under an exclusive lock for 12 s (longer than the services' 5 s
   busy timeout) while notices arrive (600 over 20 s): the intake may answer 503 meanwhile (the poster retries, as the contract
   asks of senders); afterwards every alert and every expected referral is there, once.
2. PostgreSQL refusing connections for 10 s (its open connections dropped too) while notices
   arrive (600 over 20 s). All three services share one database URL, so this one outage hits every store at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from tests.e2e.outage import FlakyProxy, LockedFile
from tests.e2e.system import System
from tests.e2e.workload import Workload, await_ledger, post_all

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

# 150 children x 4 suspensions of 24 sessions (48 days: nearing-limit and limit-exceeded alerts,
# referred to the REU and the exclusions officer); every 5th child has an EHC plan (IAS as well).
# Posted at a steady rate, so notices keep arriving all through the outage.
CHILDREN = 150


@pytest.mark.parametrize("service", ["intake", "alerts", "referrals"])
def test_a_locked_sqlite_store_misses_no_child_and_doubles_nothing(tmp_path: Path, service: str) -> None:
    workload = Workload("locked", children=CHILDREN, notices_each=4, sessions=24, send_every=5)
    system = System(tmp_path)
    system.start()
    try:
        lock = LockedFile(system.sqlite_path(service), seconds=12)
        posting = asyncio.run(post_all(system, workload.bodies(), at={60: lock.start}, per_second=30))  # the lock: 2 s to 14 s; posts: to 20 s
        lock.finish()
        log.info("posted in %.1fs (%d answers 503, %d transport errors)", posting.seconds, posting.unavailable, posting.transport_errors)
        if service == "intake":  # the contract: store unavailable → 503 + Retry-After, the sender retries (not a request held for the lock)
            assert posting.unavailable > 0
        await_ledger(system, workload)
    finally:
        system.stop()


@pytest.mark.postgres
def test_postgresql_refusing_connections_for_ten_seconds_misses_no_child_and_doubles_nothing(tmp_path: Path, _pg_server) -> None:  # noqa: ANN001 - tests/conftest.py's server handle
    workload = Workload("refused", children=CHILDREN, notices_each=4, sessions=24, send_every=5)
    schema = _pg_server.create_schema()
    try:
        with FlakyProxy(("127.0.0.1", 5432)) as proxy:
            url = f"postgresql+psycopg://{_pg_server.user}@127.0.0.1:{proxy.port}/test?options=-csearch_path%3D{schema}"
            system = System(tmp_path, extra_env={"SIGNPOST_DATABASE_URL": url})
            system.start()
            try:
                outage = threading.Thread(target=proxy.outage, args=(10,), daemon=True)
                posting = asyncio.run(post_all(system, workload.bodies(), at={100: outage.start}, per_second=30))  # the outage: 3 s to 13 s; posts: to 20 s
                outage.join()
                assert proxy.outages == 1
                log.info("posted in %.1fs (%d answers 503, %d transport errors)", posting.seconds, posting.unavailable, posting.transport_errors)
                await_ledger(system, workload)
            finally:
                system.stop()
    finally:
        _pg_server.drop_schema(schema)
