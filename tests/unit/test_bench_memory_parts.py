"""The replay's memory projection part by part (bench/replay.py): the hot part is fixed, the rest scales."""

from __future__ import annotations

from bench.replay import at_the_bound, part_by_part


def test_the_hot_part_is_not_scaled_and_the_cold_and_identity_are_per_child() -> None:
    parts = {"hot_records": 20_000, "hot_alerts": 20_000, "cold_records": 80_000, "cold_alerts": 50_000, "aliases": 330_000,
             "hot_bytes": 100_000_000, "cold_bytes": 40_000_000, "identity_bytes": 165_000_000}  # fmt: skip
    hot, per_cold, per_stored = part_by_part(parts, stored_children=330_000) or (0, 0, 0)
    assert (hot, per_cold, per_stored) == (100_000_000, 500, 500)
    assert hot + 1e6 * (per_cold + per_stored) == 1.1e9  # 100 MB + 1M × 1 KB, where dividing all by the 100k cached said 3.05 GB


def test_no_projection_without_every_part() -> None:
    assert part_by_part({}, 10) is None
    assert part_by_part({"hot_bytes": 1, "cold_bytes": None, "identity_bytes": 1, "cold_records": 5}, 10) is None
    assert part_by_part({"hot_bytes": 1, "cold_bytes": 1, "identity_bytes": 1, "cold_records": 0}, 10) is None


def test_at_the_default_bound_only_identity_scales_to_a_million_children() -> None:
    parts = {"hot_records": 20_000, "hot_alerts": 20_000, "cold_records": 80_000, "cold_alerts": 50_000, "aliases": 330_000,
             "hot_bytes": 100_000_000, "cold_bytes": 40_000_000, "identity_bytes": 165_000_000, "max_children": 100_000}  # fmt: skip
    projected = part_by_part(parts, stored_children=330_000)
    assert projected is not None
    # 100 MB hot + 80,000 cold children × 500 B + 1M × 500 B of identity
    assert at_the_bound(parts, projected) == 100e6 + 40e6 + 500e6
    assert at_the_bound({**parts, "max_children": 2_000_000}, projected) == 100e6 + 490e6 + 500e6  # all cached: 980,000 cold beside the hot
    assert at_the_bound({k: v for k, v in parts.items() if k != "max_children"}, projected) is None
