"""No child missed, no referral lost when a store goes away for a while (issue 8, deliverable 8).

1. Each service's SQLite file held under an exclusive lock for 12 s (longer than the services' 5 s
   busy timeout) while notices arrive (600 over 20 s): the intake may answer 503 meanwhile (the poster retries, as the contract
   asks of senders); afterwards every alert and every expected referral is there, once.
PostgreSQL refusing connections: test_store_outage_pg.py.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.e2e.outage import CHILDREN, LockedFile
from tests.e2e.system import System
from tests.e2e.workload import Workload, await_ledger, post_all

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)



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
