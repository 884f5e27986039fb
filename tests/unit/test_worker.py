"""services/common/worker.py: a timer's failure is logged, not fatal (a crash would stop every stage)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from services.common import collector
from services.common.worker import survives, tune_gc_for_stream_state


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


def test_a_batch_s_objects_alive_at_once_are_not_scanned_by_the_collector() -> None:
    """Stream stages hold a batch's events and rows until it ends: the collector must not scan them meanwhile
    (tune_gc_for_stream_state: at a threshold of 50,000 it did, 4.7 CPU-s in 100,000 events)."""
    collections: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    before = gc.get_threshold()
    gc.collect()
    tune_gc_for_stream_state()
    gc.callbacks.append(count)
    try:
        batch = [{"event": i, "facts": [i]} for i in range(300_000)]  # 600,000 containers alive together
        del batch
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*before)
    assert collections == []


def test_a_started_service_keeps_its_start_up_out_of_the_collector_s_sight_until_it_stops() -> None:
    before = gc.get_threshold()
    try:
        collector.settle_after_startup()
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == collector.REQUESTS_YOUNG
        collector.unsettle()
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
