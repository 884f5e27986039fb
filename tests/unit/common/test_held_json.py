"""JSON a batch holds until it is produced or committed takes its own size, not orjson's buffer."""

from __future__ import annotations

import tracemalloc
from datetime import date

import orjson

from services.common.messages import held_json

DOC = {"suspension_id": "a" * 24, "event_id": "notice:N-1", "school_urn": "100000", "start_date": date(2024, 9, 2), "sessions": 4, "via": "notice"}


def _traced_bytes_per_item(make) -> float:  # noqa: ANN001 - a callable making one value
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        held = [make(i) for i in range(200)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert len(held) == 200
    return sum(d.size_diff for d in after.compare_to(before, "filename")) / 200


def test_the_same_bytes_as_orjson():
    assert held_json(DOC) == orjson.dumps(DOC)


def test_a_held_value_takes_about_its_length_not_a_buffer():
    length = len(orjson.dumps({**DOC, "n": 0}))
    held = _traced_bytes_per_item(lambda i: held_json({**DOC, "n": i}))
    assert held < 2 * length + 100, (held, length)
