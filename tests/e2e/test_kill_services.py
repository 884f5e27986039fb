"""No child missed, no referral lost (issue 8, deliverable 8): intake, alerts and referrals are each
SIGKILLed while 10,000 notices arrive; the supervisor (`make run`) restarts it; every child still gets
each of its alerts once and each expected referral once. The broker's cases: test_kill_broker.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.killing import TEN_THOUSAND, Restart, kill_and_watch, log
from tests.e2e.system import System
from tests.e2e.workload import await_ledger, post_all

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("component", ["intake", "alerts", "referrals"])
def test_a_component_killed_mid_stream_misses_no_child_and_doubles_nothing(tmp_path: Path, component: str) -> None:
    system = System(tmp_path)
    system.start()
    try:
        restarts: list[Restart] = []
        bodies = TEN_THOUSAND.bodies()
        posting = asyncio.run(post_all(system, bodies, at={4000: kill_and_watch(system, component, restarts)}))
        assert posting.acknowledged == len(bodies)
        log.info("posted %d in %.1fs (%d answers 503, %d transport errors)", len(bodies), posting.seconds, posting.unavailable, posting.transport_errors)
        log.info("%s running again %.1fs after the kill", component, restarts[0].result())
        await_ledger(system, TEN_THOUSAND)
    finally:
        system.stop()
