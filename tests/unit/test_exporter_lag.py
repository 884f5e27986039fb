"""services/exporter/domain/lag.py: lag per group and topic from offsets read at the broker."""

from __future__ import annotations

from services.exporter.domain.lag import GroupLag, group_lag, ours, true_end


def test_lag_sums_the_partitions_of_each_topic_the_group_commits_on() -> None:
    committed = {("notices", 0): 10, ("notices", 1): 3, ("calls", 0): 7}
    ends = {("notices", 0): 12, ("notices", 1): 3, ("notices", 2): 5, ("calls", 0): 7, ("other", 0): 99}
    assert group_lag("g", committed, ends) == [GroupLag("g", "calls", 0), GroupLag("g", "notices", 2 + 0 + 5)]


def test_committed_past_the_end_counts_as_caught_up() -> None:
    assert group_lag("g", {("t", 0): 10}, {("t", 0): 1}) == [GroupLag("g", "t", 0)]


def test_a_group_without_commits_has_no_lag_series() -> None:
    assert group_lag("g", {}, {("t", 0): 5}) == []


def test_true_end_takes_what_reading_the_last_batch_saw() -> None:
    # Tansu: ten records in one batch at offsets 0-9 report an end of 1
    assert true_end(1, 9) == 10
    assert true_end(12, None) == 12
    assert true_end(12, 5) == 12  # never below what the broker said


def test_only_signpost_groups_are_reported() -> None:
    assert ours("signpost.alerts-child-g1", "signpost.")
    assert not ours("connect-cluster", "signpost.")
