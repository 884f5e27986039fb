"""`make bench` explains the RSS a replay leaves by pymalloc's own figures (bench/common.py pymalloc_bytes)."""

from __future__ import annotations

from bench.common import live_heap_bytes, pymalloc_bytes


def test_pymalloc_figures_count_live_objects_inside_its_arenas() -> None:
    before = pymalloc_bytes()
    held = [object() for _ in range(200_000)]  # 16 bytes each, from pymalloc's pools
    during = pymalloc_bytes()
    assert before is not None and during is not None
    assert during[1] - before[1] >= 200_000 * 16 * 0.9  # the objects are counted (less what else was freed meanwhile)
    assert during[0] >= during[1]  # inside arenas
    del held
    after = pymalloc_bytes()
    assert after is not None and after[1] < during[1] - 200_000 * 8


def test_the_live_heap_counts_small_and_large_objects_and_falls_when_they_are_freed() -> None:
    before = live_heap_bytes()
    held = [object() for _ in range(100_000)] + [bytearray(4_000) for _ in range(1_000)]  # pymalloc's and malloc's
    during = live_heap_bytes()
    del held
    after = live_heap_bytes()
    assert before is not None and during is not None and after is not None
    assert during - before >= (100_000 * 16 + 1_000 * 4_000) * 0.9
    assert during - after >= (100_000 * 16 + 1_000 * 4_000) * 0.9  # freed, though pymalloc keeps its arenas mapped
