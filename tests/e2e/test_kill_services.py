"""No child missed, no referral lost (issue 8, deliverable 8): intake, alerts and referrals are each
SIGKILLed while 10,000 notices arrive; the supervisor (`make run`) restarts it; every child still gets
each of its alerts once and each expected referral once. The broker's cases: test_kill_broker.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.killing import kill_mid_stream

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("component", ["intake", "alerts", "referrals"])
def test_a_component_killed_mid_stream_misses_no_child_and_doubles_nothing(tmp_path: Path, component: str) -> None:
    kill_mid_stream(tmp_path, component)
