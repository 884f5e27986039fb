"""Pipeline throughput: the same preloaded intake topics through four consumers, one after another.

(a) a bare aiokafka consume → transform → produce loop (the baseline), (b) Signpost's alerts
stages (child + school, SQLite store, as `services.alerts.bootstrap` wires them),
(c) Quix Streams doing the baseline's work, (d) a naive faust agent. Each runs in a fresh
process with a new consumer group on the same topics (bench/workers.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.common import create_topics, new_prefix, preload, run_worker, say, settings_for
from bench.generator import Year
from bench.report import Table
from schemas.topics import INTAKE_TOPICS

CONTENDERS = (
    ("bare", "bare aiokafka loop"),
    ("signpost", "Signpost alerts stages"),
    ("quix", "Quix Streams"),
    ("faust", "naive faust agent"),
)


def load_topics(bootstrap: str, name: str, year: Year, workdir: Path) -> tuple[str, list[str], float]:
    """A fresh prefix holding the year's events on its intake topics: (prefix, topic names, msgs/s)."""
    prefix = new_prefix(name)
    settings = settings_for(bootstrap, prefix, workdir)
    say(f"{name}: preloading {len(year.records):,} events onto {prefix}*")
    rate = asyncio.run(preload(settings, year.records))
    # The baselines subscribe to the topics the year fills (notices, calls, returns). All nine intake
    # topics made Quix Streams name its state directory from nine joined names: "File name too long",
    # and no Quix figure since issue 11 added the proceedings topics. Signpost subscribes to all nine.
    return prefix, [prefix + t.name for t in INTAKE_TOPICS if year.counts.get(t.name)], rate


def run_contender(kind: str, bootstrap: str, prefix: str, topics: list[str], expect: int, workdir: Path, time_limit: float, **extra: object) -> dict:
    output = f"{prefix}bench-{kind}-alerts"
    asyncio.run(create_topics(bootstrap, [output]))
    data_dir = workdir / f"{prefix.rstrip('.')}-{kind}"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = {"bootstrap": bootstrap, "prefix": prefix, "topics": topics, "expect": expect, "time_limit": time_limit,
              "group": f"{prefix}{kind}", "output": output, "data_dir": str(data_dir), **extra}
    say(f"  {kind}: consuming {expect:,} events (at most {time_limit:.0f}s)")
    result = run_worker(kind, config, workdir, timeout=time_limit + 60)
    if result.get("error"):
        say(f"  {kind}: {result['error']}")
    elif result.get("rate"):
        say(f"  {kind}: {result['rate']:,.0f} events/s")
    return result


def run(bootstrap: str, year: Year, workdir: Path, time_limit: float, faust_limit: float) -> Table:
    table = Table("pipeline", f"Pipeline throughput: {len(year.records):,} preloaded events, intake topics → per-child days → crossings")
    prefix, topics, preload_rate = load_topics(bootstrap, "pipeline", year, workdir)
    expect = len(year.records)
    results = {}
    for kind, _label in CONTENDERS:
        limit = faust_limit if kind == "faust" else time_limit
        results[kind] = run_contender(kind, bootstrap, prefix, topics, expect, workdir, limit)
    table.raw = {"events": expect, "preload_msgs_per_s": preload_rate, "results": results, "expected_crossings": year.expected}
    bare, sp, quix, faust = (results[k].get("rate") for k, _ in CONTENDERS)
    table.add("events/s: Signpost vs the bare loop", sp, "ev/s", "bare aiokafka loop", bare, "≥ 0.5 × bare", met=_ratio_at_least(sp, bare, 0.5))
    table.add("events/s: Signpost vs Quix Streams", sp, "ev/s", "Quix Streams", quix, "ahead of Quix (> 1 ×)", met=_ratio_at_least(sp, quix, 1.0, strict=True))
    table.add("events/s: Signpost vs a naive faust agent", sp, "ev/s", "naive faust agent", faust, "", met=None)
    sp_r, bare_r = results["signpost"], results["bare"]
    table.add("30-day crossings (alerts)", sp_r.get("alerts_by_rule", {}).get("suspension_days_nearing_limit"), "", "bare loop emitted", bare_r.get("emitted"))
    for kind, label in CONTENDERS:
        r = results[kind]
        if r.get("error"):
            table.note(f"{label}: {r['error']}")
        else:
            extra = f", {r['processed']:,} of {expect:,} events" if r.get("processed", expect) < expect else ""
            table.note(f"{label}: {_f(r.get('rate'))} ev/s over {_f(r.get('seconds'))} s after a {_f(r.get('startup_s'))} s start-up (group join){extra}; "
                       f"emitted {r.get('emitted', '-')}; peak RSS {_mib(r.get('peak_rss_bytes'))} MiB")
    if not sp_r.get("error"):
        table.note(f"Signpost: child stage {_f(sp_r.get('process_s'))} s in ChildStage.process + {_f(sp_r.get('child_commit_s'))} s in its store commit; "
                   f"school stage in its own process (SIGNPOST_ALERTS_SCHOOL_PROCESS), {sp_r.get('school_stage_applied', 0):,} applied by then; "
                   f"alerts by rule {sp_r.get('alerts_by_rule')}; dead letters {sp_r.get('dead_letters')}")
    table.note(f"generator: {year.expected['30']:,} children reach 30 days (each suspension counted once); preload {preload_rate:,.0f} msgs/s")
    return table


def _ratio_at_least(value: float | None, base: float | None, factor: float, strict: bool = False) -> bool | None:
    if value is None or not base:
        return None if base is None else False
    return value > base * factor if strict else value >= base * factor


def _f(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.0f}"
