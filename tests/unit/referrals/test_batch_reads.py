"""The desk's segments of a run of alert changes: changes of distinct records and reasons, in order."""

from __future__ import annotations

from services.referrals.batch_reads import distinct_prefix, records_of
from services.referrals.domain.triggers import Trigger


def change(child: str, key: str, carried: str | None = None) -> Trigger:
    return Trigger(key, {}, {}, {"child_id": carried or child}, child_id=child)


def test_a_segment_ends_before_a_repeated_record_or_reason() -> None:
    a1, b1, a2 = change("a", "alert:1"), change("b", "alert:2"), change("a", "alert:3")
    assert distinct_prefix([a1, b1, a2], key=lambda t: t) == [a1, b1]
    assert distinct_prefix([a1, change("c", "alert:1")], key=lambda t: t) == [a1]  # the same reason on another record


def test_the_record_a_change_carries_counts_as_its_own() -> None:
    carried = change("a", "alert:1", carried="b")
    assert records_of(carried) == {"a", "b"}
    assert distinct_prefix([carried, change("b", "alert:2")], key=lambda t: t) == [carried]


def test_a_segment_has_one_change_at_least() -> None:
    only = change("a", "alert:1")
    assert distinct_prefix([only, only], key=lambda t: t) == [only]
    assert distinct_prefix([], key=lambda t: t) == []
