"""No child missed, no referral lost when PostgreSQL refuses connections for 10 s (its open connections
dropped too) while notices arrive (600 over 20 s). All three services share one database URL, so this
one outage hits every store at once (issue 8, deliverable 8). SQLite locked: test_store_outage.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from tests.e2e.outage import CHILDREN, FlakyProxy
from tests.e2e.system import System
from tests.e2e.workload import Workload, await_ledger, post_all

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


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
