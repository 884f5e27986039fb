"""services/common/worker.py: a timer's failure is logged, not fatal (a crash would stop every stage)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.common.worker import survives


def test_a_failing_timer_logs_and_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    @survives
    async def count_alerts() -> None:
        calls.append(1)
        raise ConnectionError("store away")

    with caplog.at_level(logging.WARNING):
        asyncio.run(count_alerts())
        asyncio.run(count_alerts())
    assert len(calls) == 2
    assert [r.timer for r in caplog.records] == ["count_alerts", "count_alerts"]  # type: ignore[attr-defined]
    assert all("store away" not in r.getMessage() for r in caplog.records)  # the error's text may quote data: only its type


def test_cancellation_still_stops_a_timer() -> None:
    @survives
    async def tick() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(tick())
