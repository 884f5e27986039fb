"""What the relay publishes next from records handed over by their writer (the intake's group
committer): everything that follows its position one after the other, across commits, up to a batch.
At a steady rate each commit hands over a few records; taking one commit per round trip to the broker,
the relay fell behind (202 → SSE alert went from 0.2 to 15 s at 500 notices/s)."""

from __future__ import annotations

from services.common.relay import Relay
from services.common.relay_state import Committed
from services.common.settings import Settings


def _committed(first: int, n: int) -> Committed:
    return Committed(range(first, first + n), lambda start, stop: [])


def _relay(tmp_path, *commits: Committed, batch_size: int = 10) -> Relay:
    relay = Relay(Settings(_env_file=None, data_dir=tmp_path), log=None, service="t", batch_size=batch_size)  # type: ignore[call-arg, arg-type]
    for committed in commits:
        relay._handed.append(committed)  # noqa: SLF001 - as hand_over appends while leading
    return relay


def _spans(relay: Relay, position: int) -> list[tuple[int, int]]:
    return [(c.seqs[start], c.seqs[stop - 1]) for c, start, stop in relay._handed_after(position)]  # noqa: SLF001


def test_consecutive_commits_are_taken_together_up_to_a_batch(tmp_path):
    relay = _relay(tmp_path, _committed(1, 2), _committed(3, 3), _committed(6, 1), _committed(7, 8))
    assert _spans(relay, 0) == [(1, 2), (3, 5), (6, 6), (7, 10)]  # 10 records: a batch
    assert _spans(relay, 10) == [(11, 14)]  # the rest, from inside the last commit


def test_a_gap_before_a_commit_ends_what_is_taken(tmp_path):
    relay = _relay(tmp_path, _committed(1, 2), _committed(5, 2))  # 3 and 4: committed but not handed (a lost hand-over)
    assert _spans(relay, 0) == [(1, 2)]
    assert _spans(relay, 2) == []  # read from the log instead
    assert _spans(relay, 4) == [(5, 6)]


def test_nothing_handed_follows_a_position_before_the_first_commit(tmp_path):
    assert _spans(_relay(tmp_path, _committed(5, 3)), 0) == []
