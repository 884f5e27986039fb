"""`python -m bench [intake] [pipeline] [replay] [memory] [latency] [system]` (default: all of them).

Starts one embedded broker for the run, generates the synthetic year(s), runs the chosen
benchmarks, prints a table per benchmark (Signpost beside a baseline measured in the same
run on the same broker, the ratio, the target, whether it is met) and writes everything
to bench/results/<timestamp>.json. Scratch files (SQLite stores, logs) go to a temporary
directory that is removed at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench import generator
from bench.common import embedded_broker, load_average, say, scratch_dir
from bench.report import Table, machine, render, write_json

BENCHMARKS = ("intake", "pipeline", "replay", "memory", "latency", "system")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Signpost benchmarks. Each figure is printed beside a baseline measured in the same run on the same embedded broker.",
        epilog="Default (`make bench`): everything, about 10-15 minutes on 2 cores. --quick: about two minutes. docs/benchmarks.md explains each.",
    )
    p.add_argument("benchmarks", nargs="*", choices=[[], *BENCHMARKS], metavar="BENCHMARK",
                   help=f"any of {', '.join(BENCHMARKS)} (default: all). memory reports on the replay's process, so it runs the replay")
    p.add_argument("--quick", action="store_true", help="a smoke run: small data, short loads (about two minutes)")
    p.add_argument("--seed", type=int, default=generator.DEFAULT_SEED, help="seed of the synthetic year (default %(default)s)")
    p.add_argument("--events", type=int, help="events in the replayed year (default 1,000,000; --quick 50,000)")
    p.add_argument("--pipeline-events", type=int, help="events for the pipeline benchmark (default 200,000; --quick 30,000)")
    p.add_argument("--intake-seconds", type=float, help="seconds of POST load (default 20; --quick 3)")
    p.add_argument("--connections", type=int, default=64, help="concurrent HTTP connections for the intake load (default %(default)s)")
    p.add_argument("--csv-rows", type=int, help="rows of the CSV return (default 100,000; --quick 20,000)")
    p.add_argument("--csv-repeats", type=int, help="times the CSV is posted (default 3; --quick 1)")
    p.add_argument("--latency-seconds", type=float, help="seconds at the steady rate (default 30; --quick 5)")
    p.add_argument("--latency-rate", type=int, default=500, help="events/s for the latency benchmark (default %(default)s)")
    p.add_argument("--system-notices", type=int, help="notices POSTed in the whole-system benchmark (default 8,000; --quick 2,000)")
    p.add_argument("--time-limit", type=float, help="seconds any one consumer may take before it is stopped and its partial rate reported "
                   "(default 420; --quick 90)")
    p.add_argument("--faust-limit", type=float, help="seconds the naive faust agent may take (default 45; --quick 10)")
    p.add_argument("--no-linkable-incident-calls", dest="linkable_incident_calls", action="store_false",
                   help="keep UPN-less calls from reporting informal exclusions about children other events name by UPN "
                        "(by default some do, as real callers would)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (stores, logs) and print its path")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    q = args.quick
    args.benchmarks = list(dict.fromkeys(args.benchmarks or BENCHMARKS))
    args.events = args.events or (50_000 if q else 1_000_000)
    args.pipeline_events = args.pipeline_events or (30_000 if q else 200_000)
    args.intake_seconds = args.intake_seconds or (3 if q else 20)
    args.csv_rows = args.csv_rows or (20_000 if q else 100_000)
    args.csv_repeats = args.csv_repeats or (1 if q else 3)
    args.latency_seconds = args.latency_seconds or (5 if q else 30)
    args.system_notices = args.system_notices or (2000 if q else 8000)
    args.time_limit = args.time_limit or (90 if q else 420)
    args.faust_limit = args.faust_limit or (10 if q else 45)
    return args


def code_version() -> dict[str, str]:
    """The commit measured, and whether service code differed from it (other people edit the tree)."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], capture_output=True, text=True, timeout=10, cwd=Path(__file__).resolve().parent.parent).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes": git("status", "--porcelain", "--", "services", "schemas")}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.time()
    meta: dict[str, Any] = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "machine": machine(), "code": code_version(),
            "load_average_start": load_average(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    workdir = scratch_dir()
    tables: list[Table] = []
    wanted = set(args.benchmarks)

    def year(n: int) -> generator.Year:
        say(f"generating {n:,} events (seed {args.seed})")
        y = generator.generate(n, args.seed, progress=not args.no_progress, linkable_incident_calls=args.linkable_incident_calls)
        say(f"generated {len(y.records):,} records in {y.seconds:.1f}s ({len(y.records) / y.seconds:,.0f}/s): {dict(y.counts)}; "
            f"{y.children:,} suspended children, {y.expected['30']:,} reach 30 days")
        meta.setdefault("generator", {})[str(n)] = {"seconds": y.seconds, "records": len(y.records), "by_topic": dict(y.counts),
                                                   "suspended_children": y.children, "expected_crossings": y.expected}
        return y

    try:
        with embedded_broker(workdir) as broker:
            say(f"embedded broker (Tansu, memory only) on {broker.bootstrap}; scratch dir {workdir}")
            small = year(args.pipeline_events) if wanted & {"intake", "pipeline"} else None
            if "intake" in wanted:
                from bench import intake

                assert small is not None
                tables.append(intake.run(broker.bootstrap, small, workdir, args.intake_seconds, args.connections, args.csv_rows, args.csv_repeats, args.seed))
                print(render(tables[-1]), flush=True)  # noqa: T201
            if "pipeline" in wanted:
                from bench import pipeline

                assert small is not None
                tables.append(pipeline.run(broker.bootstrap, small, workdir, args.time_limit, args.faust_limit))
                print(render(tables[-1]), flush=True)  # noqa: T201
            small = None
            gc.collect()
            if wanted & {"replay", "memory"}:
                from bench import replay

                national = year(args.events)
                replay_table, memory_table = replay.run(broker.bootstrap, national, workdir, args.time_limit)
                del national
                gc.collect()
                for t in (replay_table, memory_table):
                    if t.name in wanted:
                        tables.append(t)
                        print(render(t), flush=True)  # noqa: T201
            if "latency" in wanted:
                from bench import latency

                tables.append(latency.run(broker.bootstrap, workdir, args.latency_rate, args.latency_seconds, args.seed))
                print(render(tables[-1]), flush=True)  # noqa: T201
            if "system" in wanted:
                from bench import system

                tables.append(system.run(broker.bootstrap, workdir, args.system_notices, args.seed))
                print(render(tables[-1]), flush=True)  # noqa: T201
    finally:
        meta["load_average_end"] = load_average()
        meta["seconds"] = time.time() - started
        path = write_json(tables, meta)
        if args.keep:
            say(f"scratch dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{'=' * 100}\nSummary (2-core figures are in docs/benchmarks.md; load average {meta['load_average_start']} → {meta['load_average_end']})")  # noqa: T201
    for t in tables:
        for r in t.rows:
            if r.met is not None:
                print(f"  {t.name:<9} {r.measure:<55} target {r.target:<24} target met: {'yes' if r.met else 'no'}")  # noqa: T201
    print(f"code: {meta['code']['commit']}{' (services/ or schemas/ had uncommitted changes)' if meta['code']['uncommitted_changes'] else ''}")  # noqa: T201
    print(f"results: {path}  ({meta['seconds'] / 60:.1f} min)")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
