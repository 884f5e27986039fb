"""Behind the log, a stage with a commit gate has batch N's store commit run while batch N+1 is
processed (services/common/commit_gate.py). What must still hold: commits in the log's order, each
record committed once, a batch's offsets only after its commit, and a StaleWrite or a failure of the
commit in flight costs a redo, never a loss or a double count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from schemas.topics import EXCLUSION_NOTICES
from services.common import kafka
from services.common.commit_gate import CommitGate
from services.common.messages import Incoming
from services.common.settings import Settings
from services.common.stream import StageRunner
from services.common.stream_positions import Rebalance
from tests.integration.test_stream import FakeStage, Result, committed_offset, eventually, produce

pytestmark = pytest.mark.integration


@dataclass
class GatedStage(FakeStage):
    """The fake stage, with a gate and a slow commit: wide enough a window to see the overlap."""

    gate: CommitGate = field(default_factory=CommitGate)
    commit_s: float = 0.15
    fail_commits: int = 0  # commits that fail like a store outage (after their sleep)
    overlapped: int = 0  # batches processed while the one before was still committing
    finished: list[list[str]] = field(default_factory=list)  # what the runner called committed, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def process(self, messages: list[Incoming], now: datetime) -> Result:
        if not self.gate.is_idle():
            self.overlapped += 1
        return super().process(messages, now)

    def commit(self, writes: tuple[int, list[str]]) -> None:
        time.sleep(self.commit_s)
        with self.lock:
            if self.fail_commits:
                self.fail_commits -= 1
                raise OSError("the store went away")
            super().commit(writes)

    def on_committed(self, result: Result) -> None:
        ids = result.writes[1]
        assert set(ids) <= set(self.committed)  # the writes are stored before the runner calls the batch committed
        self.finished.append(ids)


def gated_runner(settings: Settings, stage: GatedStage, group: str) -> StageRunner:
    return StageRunner(settings=settings, service="test", stage="fake", group_id=settings.topic(group), topics=[EXCLUSION_NOTICES.name],
                       process=stage.process, commit=stage.commit, reset=stage.reset, on_committed=stage.on_committed,
                       max_records=100, catch_up_records=200, gate=stage.gate)  # fmt: skip


async def test_behind_the_log_a_commit_overlaps_the_next_batch_and_every_record_is_committed_once_in_order(settings: Settings) -> None:
    await kafka.ensure_topics(settings)
    backlog = await produce(settings, 1200)
    stage = GatedStage()
    runner = gated_runner(settings, stage, "overlap")
    await runner.start()
    try:
        await eventually("the backlog committed", lambda: len(stage.committed) >= len(backlog))
        await eventually("the offsets committed", lambda: _offset_is(runner, len(backlog)))
        assert stage.overlapped > 0  # some batch was processed while its predecessor committed
        assert stage.committed == backlog  # each once, in order
        assert [i for ids in stage.finished for i in ids] == backlog  # offsets and on_committed in the same order
        live = await produce(settings, 3)
        await eventually("live messages committed", lambda: stage.committed == backlog + live)
        await eventually("live offsets committed", lambda: _offset_is(runner, len(backlog) + len(live)))
    finally:
        await runner.stop()


async def test_a_stale_write_in_the_commit_in_flight_redoes_that_batch_then_the_next(settings: Settings) -> None:
    await kafka.ensure_topics(settings)
    backlog = await produce(settings, 1000)
    stage = GatedStage(conflicts=1)  # the first commit finds a row changed since its batch read it
    runner = gated_runner(settings, stage, "overlap-stale")
    await runner.start()
    try:
        await eventually("the backlog committed", lambda: len(stage.committed) >= len(backlog))
        await eventually("the offsets committed", lambda: _offset_is(runner, len(backlog)))
        assert stage.committed == backlog  # nothing lost, nothing twice, in order
        assert stage.resets >= 1
        first = stage.processed[0][0]
        assert [p[0] for p in stage.processed].count(first) == 2  # the stale batch was processed again
    finally:
        await runner.stop()


async def test_a_failed_commit_in_flight_replays_from_the_committed_offsets(settings: Settings) -> None:
    await kafka.ensure_topics(settings)
    backlog = await produce(settings, 1000)
    stage = GatedStage(fail_commits=1)
    runner = gated_runner(settings, stage, "overlap-fail")
    await runner.start()
    try:
        await eventually("the backlog committed", lambda: len(stage.committed) >= len(backlog))
        await eventually("the offsets committed", lambda: _offset_is(runner, len(backlog)))
        assert stage.committed == backlog  # the batch after the failed one was never committed on its own
        assert runner.last_error == "OSError"
    finally:
        await runner.stop()


async def _offset_is(runner: StageRunner, expected: int) -> bool:
    return await committed_offset(runner) == expected


async def test_a_rebalance_during_a_commit_in_flight_commits_no_later_offset_and_loses_nothing(settings: Settings) -> None:
    """aiokafka calls the listener when partitions are revoked; with a commit in flight, neither that
    batch's offsets nor a later batch's may be committed (a later offset would skip it)."""
    await kafka.ensure_topics(settings)
    backlog = await produce(settings, 1000)
    stage = GatedStage(commit_s=0.5)
    runner = gated_runner(settings, stage, "overlap-rebalance")
    await runner.start()
    try:
        await eventually("a batch in flight", lambda: runner._in_flight is not None)  # noqa: SLF001 - the state under test
        await Rebalance(runner).on_partitions_revoked([])  # as aiokafka calls it (no await between the check and the call)
        await eventually("the backlog committed", lambda: set(stage.committed) >= set(backlog))
        await eventually("the offsets committed", lambda: _offset_is(runner, len(backlog)))
        assert runner.last_error == "BatchAbandoned"  # the round in progress did not commit
        assert len(stage.committed) > len(backlog)  # the abandoned batch was read again (real stages count it once by natural key)
        assert sorted(set(stage.committed)) == sorted(backlog)
    finally:
        await runner.stop()
