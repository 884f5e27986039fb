"""Replay of a national year, and the memory it leaves: the alerts service rebuilding from nothing.

A fresh SQLite store and a new consumer group read the whole preloaded year; the clock runs
from the start of the service's lifespan (so the group join is included: a rebuild pays
it too) until the child stage has applied every event. The same process then reports its
RSS and the deep size of the child stage's cached records (hot and cold): the state a million children would need.
The bare loop replays the same topics first, as the baseline.
"""

from __future__ import annotations

from pathlib import Path

from bench.generator import Year
from bench.pipeline import _f, _mib, load_topics, run_contender
from bench.report import Table

GIB = 2**30
TARGET_SECONDS_PER_MILLION = 60.0


def run(bootstrap: str, year: Year, workdir: Path, time_limit: float) -> tuple[Table, Table]:
    n = len(year.records)
    replay = Table("replay", f"Replay of a national year: {n:,} events from empty state (fresh SQLite store, new consumer group)")
    memory = Table("memory", f"Memory: state after replaying {n:,} events")
    prefix, topics, preload_rate = load_topics(bootstrap, "replay", year, workdir)
    bare = run_contender("bare", bootstrap, prefix, topics, n, workdir, time_limit)
    sp = run_contender("signpost", bootstrap, prefix, topics, n, workdir, time_limit, memory=True)
    replay.raw = memory.raw = {"events": n, "preload_msgs_per_s": preload_rate, "bare": bare, "signpost": sp, "expected_crossings": year.expected}
    if sp.get("error"):
        replay.error = memory.error = f"Signpost: {sp['error']}"

    done = sp.get("processed", 0) >= n and not sp.get("error")
    sp_wall = sp.get("wall_s") if done else None
    bare_wall = bare.get("wall_s")
    per_million = (sp_wall * 1e6 / n) if sp_wall else None
    replay.add("seconds to apply every event (incl. group join)", sp_wall, "s", "bare aiokafka loop", bare_wall, "< 60 s per 1M events",
               met=(per_million is not None and per_million < TARGET_SECONDS_PER_MILLION), higher_is_better=False)
    replay.add("events/s", sp.get("rate"), "ev/s", "bare aiokafka loop", bare.get("rate"), f"≥ {1e6 / TARGET_SECONDS_PER_MILLION:,.0f} ev/s",
               met=(sp.get("rate") or 0) >= 1e6 / TARGET_SECONDS_PER_MILLION)
    replay.add("projected seconds for 1M events", per_million or (1e6 / sp["rate"] if sp.get("rate") else None), "s", "bare aiokafka loop",
               (1e6 / bare["rate"]) if bare.get("rate") else None, "< 60 s", met=None, higher_is_better=False)
    alerts = sp.get("alerts_by_rule") or {}
    replay.add("alerts produced (all rules)", sum(alerts.values()) if alerts else None, "", "bare loop: 30-day crossings", bare.get("emitted"))
    replay.add("peak RSS of the process", _m(sp.get("peak_rss_bytes")), "MiB", "bare aiokafka loop", _m(bare.get("peak_rss_bytes")), "", higher_is_better=False)
    replay.note(f"alerts by rule: {alerts or '-'}; generator expects {year.expected['30']:,} children ≥ 30 days, {year.expected['40']:,} ≥ 40, "
                f"{year.expected['45']:,} > 45")
    if sp.get("processed") is not None and not done:
        replay.note(f"Signpost applied {sp.get('processed', 0):,} of {n:,} events before the {time_limit:.0f} s limit: "
                    f"{_f(sp.get('rate'))} ev/s so far")
    if sp.get("school_stage_applied") is not None:
        replay.note(f"Signpost: {_f(sp.get('startup_s'))} s start-up (group join), then {_f(sp.get('seconds'))} s; ChildStage.process "
                    f"{_f(sp.get('process_s'))} s, child commit {_f(sp.get('child_commit_s'))} s; the school stage, in its own process, "
                    f"had applied {sp['school_stage_applied']:,} by then")
    replay.note(f"preload of the topics: {preload_rate:,.0f} msgs/s (not timed in the replay)")

    children = sp.get("children") or 0
    held = sp.get("cache_rss_bytes")  # RSS given back when the stage caches are dropped
    held_per_child = (held / children) if held and children else None
    deep = sp.get("cache_bytes")
    deep_per_child = (deep / children) if deep and children else None
    bare_children = bare.get("children") or 0
    bare_per_child = (bare["rss_growth_bytes"] / bare_children) if bare.get("rss_growth_bytes") and bare_children else None
    memory.add("children cached by ChildStage (hot + cold)", children, "", "bare loop: children in its dict", bare_children)
    memory.add("RSS growth during the replay", _m(sp.get("rss_growth_bytes")), "MiB", "bare aiokafka loop", _m(bare.get("rss_growth_bytes")), "",
               higher_is_better=False)
    memory.add("RSS freed by dropping the stage caches", _m(held), "MiB", "", None, "", higher_is_better=False)
    memory.add("bytes per child (freed RSS / children)", held_per_child, "B", "bare loop: RSS growth / children", bare_per_child, "", higher_is_better=False)
    memory.add("whole-process RSS after the year", _m(sp.get("rss_after_bytes")), "MiB", "bare aiokafka loop", _m(bare.get("rss_bytes")),
               f"context: {sp.get('stored_children') or 0:,} children here", met=None, higher_is_better=False)
    memory.add("projected for 1M cached children", _m(held_per_child * 1e6) if held_per_child else None, "MiB", "bare loop, same projection",
               _m(bare_per_child * 1e6) if bare_per_child else None, "< 1 GiB (1,024 MiB)", met=(held_per_child is not None and held_per_child * 1e6 < GIB),
               higher_is_better=False)
    memory.add("sys.getsizeof deep size per child (undercount)", deep_per_child, "B", "", None, "", higher_is_better=False)
    heap = sp.get("cache_heap_bytes")  # objects freed by dropping the caches, inside mapped arenas or not
    heap_per_child = (heap / children) if heap and children else None
    memory.add("objects the caches held, per child (heap in use before − after)", heap_per_child, "B", "", None, "", higher_is_better=False)
    memory.add("projected for 1M cached children, by objects", _m(heap_per_child * 1e6) if heap_per_child else None, "MiB", "", None,
               "(the RSS row above holds the target)", met=None, higher_is_better=False)
    parts = sp.get("cache_parts") or {}
    projected = part_by_part(parts, sp.get("stored_children") or 0)
    if projected is not None:
        hot, per_cold, per_stored = projected
        memory.add(f"objects: the hot part ({parts['hot_records']:,} records, {parts['hot_alerts']:,} alerts; a fixed number)", _m(hot), "MiB", "",
                   None, "", higher_is_better=False)
        memory.add(f"objects: a cold child ({parts['cold_records']:,} records, {parts['cold_alerts']:,} alerts), each", per_cold, "B", "", None, "",
                   higher_is_better=False)
        memory.add(f"objects: identity, per stored child ({parts['aliases']:,} aliases)", per_stored, "B", "", None, "", higher_is_better=False)
        memory.add("projected for 1M children, part by part (hot + 1M × (cold child + identity))", _m(hot + 1e6 * (per_cold + per_stored)), "MiB",
                   "", None, "< 1 GiB (1,024 MiB) of state", met=hot + 1e6 * (per_cold + per_stored) < GIB, higher_is_better=False)
        bounded = at_the_bound(parts, projected)
        if bounded is not None:
            cached = parts["max_children"]
            memory.add(f"projected for 1M children at the default bound ({cached:,} cached, hot or cold; the others read from the store when "
                       f"their next event comes): hot + {cached - parts['hot_records']:,} × cold child + 1M × identity", _m(bounded), "MiB", "", None,
                       "< 1 GiB (1,024 MiB) of state", met=bounded < GIB, higher_is_better=False)  # fmt: skip
            memory.note(f"at the default bound: what the replay above ran with (SIGNPOST_ALERTS_CACHED_CHILDREN, {cached:,}), so its speed "
                        "includes reading evicted children back from the store. Identity is the one part kept for every child (a worker that "
                        "owns every partition resolves each sighting in memory); the row before it caches every child, a configuration "
                        "whose speed this run did not measure.")
        memory.note("part by part: the caches dropped one part at a time, the objects each held measured (heap in use before − after): the hot "
                    "records and alerts are a fixed number (the most recently used), so they are not scaled; a cold child and identity "
                    "grow with the children. RSS adds what the allocator keeps beside the objects (the rows above and below).")
    memory.note(f"RSS before the lifespan {_mib(sp.get('rss_before_bytes'))} MiB, after the replay {_mib(sp.get('rss_after_bytes'))} MiB "
                f"(peak {_mib(sp.get('peak_rss_bytes'))} MiB), after ChildStage.reset() + SchoolStage.reset() + gc + malloc_trim "
                f"{_mib(sp.get('rss_without_caches_bytes'))} MiB (what remains is mostly the allocator's free space: the next note).")
    arenas, objects = sp.get("pymalloc_arenas_bytes"), sp.get("pymalloc_objects_bytes")
    if arenas and objects is not None:
        memory.add("after dropping the caches: pymalloc's arenas", _m(arenas), "MiB", "of them in live objects", _m(objects), "", higher_is_better=False)
        memory.note(f"of the {_mib(sp.get('rss_without_caches_bytes'))} MiB left after the caches are dropped, {_mib(arenas)} MiB are pymalloc's "
                    f"arenas and {_mib(objects)} MiB of those hold objects: the rest is free space pymalloc keeps for new objects (an arena, "
                    "1 MiB, goes back to the OS only when no object is left in it), so it is reused, not leaked; docs/benchmarks.md.")
    stored = sp.get("stored_children") or 0
    if children and stored > children:
        memory.note(f"ChildStage keeps at most max_children children cached, hot or cold (it freezes all but the most recently touched, and drops "
                    f"the oldest half of the cold ones when over): {children:,} of the "
                    f"{stored:,} children in the store were cached at the end; the others are reloaded from SQLite when their next event comes.")
    memory.note("the getsizeof walk undercounts: orjson.dumps returns bytes that keep a ~4 KiB buffer whatever their length "
                "(tracemalloc: 4,098 B allocated for a 294-byte profile), and ChildEntry.profile is such a bytes object.")
    memory.note("tracemalloc was not used in the timed run: tracing every allocation made the stages ~10x slower here.")
    return replay, memory


def _m(value: float | None) -> float | None:
    return None if value is None else value / 2**20


def at_the_bound(parts: dict, projected: tuple[float, float, float]) -> float | None:
    """Objects for a million children with the stage's cache bound as configured: the hot part, the cold
    children up to the bound, and identity for every child (the rest of the state is in the store)."""
    cached = parts.get("max_children")
    if not cached:
        return None
    hot, per_cold, per_stored = projected
    return hot + max(0, min(1e6, cached) - parts["hot_records"]) * per_cold + 1e6 * per_stored


def part_by_part(parts: dict, stored_children: int) -> tuple[float, float, float] | None:
    """(hot bytes, bytes per cold child, identity bytes per stored child), from the worker's cache_parts."""
    if not parts or None in (parts.get("hot_bytes"), parts.get("cold_bytes"), parts.get("identity_bytes")) or not parts.get("cold_records"):
        return None
    per_stored = parts["identity_bytes"] / stored_children if stored_children else 0.0
    return float(parts["hot_bytes"]), parts["cold_bytes"] / parts["cold_records"], per_stored
