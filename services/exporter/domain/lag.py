"""Consumer-group lag from offsets read at the broker: pure functions over plain data.

A partition's lag is its end offset minus the group's committed offset, never below zero. The
embedded broker (Tansu 0.6) answers ListOffsets for a partition whose last write was a batch of
several records with the batch's first offset + 1, not the true end; `true_end` takes the larger
of that answer and what reading that last batch shows (the exporter reads it on that broker only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

Partition = tuple[str, int]  # (topic, partition)


class GroupLag(NamedTuple):
    group: str
    topic: str
    messages: int


def true_end(reported: int, last_offset_read: int | None) -> int:
    """The partition's end: past the last record seen, if reading the last batch saw further than the broker said."""
    return reported if last_offset_read is None else max(reported, last_offset_read + 1)


def group_lag(group: str, committed: Mapping[Partition, int], ends: Mapping[Partition, int]) -> list[GroupLag]:
    """Lag per topic the group has committed on. A partition of such a topic without a commit yet
    counts from 0 (the stages start at the earliest offset). Committed beyond the end (the end
    was read before the commit, or a broker understated it) counts as caught up, not negative."""
    topics = {topic for topic, _ in committed}
    per_topic: dict[str, int] = dict.fromkeys(topics, 0)
    for (topic, partition), end in ends.items():
        if topic in topics:
            per_topic[topic] += max(0, end - committed.get((topic, partition), 0))
    return [GroupLag(group, topic, n) for topic, n in sorted(per_topic.items())]


def ours(group: str, prefix: str) -> bool:
    """Signpost's own groups (the topic prefix starts them); others on a shared cluster are not ours to report."""
    return group.startswith(prefix)
