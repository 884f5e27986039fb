"""The alerts stages in one process, without Kafka: for profiling the domain work and the store.

    python -m bench.harness --events 50000             # prints CPU-s of process and commit per stage
    python -m bench.harness --events 100000 --batch 80000 --no-school --phases   # and the child stage step by step
    py-spy record -r 200 -o flame.svg -- python -m bench.harness --events 50000

The generated year's records go through `ChildStage.process` + `AlertsStore.commit` in batches
as the runner would hand them over (one batch per `--batch` records), and the SuspensionCounted
messages the child stage emits through `SchoolStage.process` + commit, on a fresh SQLite store.
No broker, no offsets: what is left is the stages' own CPU, which the pipeline benchmark's rate
is bounded by.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

from bench import phases
from bench.generator import generate
from services.alerts import tables
from services.alerts.child_stage import ChildStage
from services.alerts.domain.rules import load_rules
from services.alerts.school_stage import SchoolStage
from services.alerts.store import AlertsStore
from services.common import db
from services.common.calendar import load_registry
from services.common.messages import Incoming
from services.common.worker import tune_gc_for_stream_state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.harness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--batch", type=int, default=5000, help="records per child-stage batch (the runner's max_records: 5000)")
    parser.add_argument("--no-school", action="store_true", help="skip the school stage")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--phases", action="store_true", help="also time the child stage's steps (bench/phases.py) and print CPU per event of each")
    args = parser.parse_args(argv)
    year = generate(args.events, args.seed, progress=False)
    messages = [Incoming(r.topic, zlib.crc32(r.key.encode()) % 3, i, r.key.encode(), r.value, r.event_id, r.ce_type, r.ce_time)
                for i, r in enumerate(year.records)]  # fmt: skip
    tune_gc_for_stream_state()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{args.db or Path(tmp) / 'alerts.sqlite3'}", checkpoint_s=db.CHECKPOINT_S)  # as the service's
        db.migrate(engine, tables.metadata)
        store = AlertsStore(engine)
        calendars, rules = load_registry(None), load_rules(None)
        child, school = ChildStage(store, calendars, rules), SchoolStage(store, calendars, rules)
        child.assigned(True)
        spent = {"child process": 0.0, "child commit": 0.0, "school process": 0.0, "school commit": 0.0}
        counted: list[Incoming] = []
        steps: dict[str, float] = {}
        started = time.perf_counter()
        for i in range(0, len(messages), args.batch):
            now = datetime.now(timezone.utc)
            t0 = time.process_time()
            with phases.timed(steps) if args.phases else contextlib.nullcontext():
                result = child.process(messages[i : i + args.batch], now)
            t1 = time.process_time()
            store.commit(result.writes)
            t2 = time.process_time()
            spent["child process"] += t1 - t0
            spent["child commit"] += t2 - t1
            if args.no_school:
                continue
            counted += [Incoming(m.topic, 0, len(counted) + j, m.key.encode(), m.value, dict(m.headers)["ce_id"].decode(), "", None)
                        for j, m in enumerate(result.messages)]  # fmt: skip
            if len(counted) >= 2000:
                spent_school(school, store, counted, spent)
                counted = []
        if counted and not args.no_school:
            spent_school(school, store, counted, spent)
        wall = time.perf_counter() - started
        n = len(messages)
        print(f"{n:,} events in {wall:.1f} s wall ({n / wall:,.0f} ev/s)")  # noqa: T201
        for what, seconds in spent.items():
            print(f"  {what:15s} {seconds:6.2f} CPU-s  {seconds / n * 1e6:6.1f} µs/event")  # noqa: T201
        print(f"  children cached {len(child.children):,}")  # noqa: T201
        if args.phases:
            print_phases(steps, spent["child process"], n)
    return 0


def print_phases(steps: dict[str, float], process_s: float, n: int) -> None:
    print("  child process, step by step (own CPU, timers included):")  # noqa: T201
    for phase, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"    {phase:50s} {seconds / n * 1e6:6.1f} µs/event  {seconds / process_s:6.1%}")  # noqa: T201
    rest = process_s - sum(steps.values())
    print(f"    {'the rest (batch loop, links, ticks, outputs)':50s} {rest / n * 1e6:6.1f} µs/event  {rest / process_s:6.1%}")  # noqa: T201


def spent_school(school: SchoolStage, store: AlertsStore, batch: list[Incoming], spent: dict[str, float]) -> None:
    now = datetime.now(timezone.utc)
    t0 = time.process_time()
    result = school.process(batch, now)
    t1 = time.process_time()
    store.commit(result.writes)
    spent["school process"] += t1 - t0
    spent["school commit"] += time.process_time() - t1


if __name__ == "__main__":
    raise SystemExit(main())
