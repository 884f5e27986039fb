"""The referral desk in one process, without Kafka: CPU per alert change, for profiling the desk.

    python -m bench.desk_harness --children 5000 --changes 20000     # prints CPU-s and µs per alert change
    py-spy record -r 200 -o flame.svg -- python -m bench.desk_harness

Each child gets alert changes (raised, then evidence and updates, now and then resolved) of one or
two rules, interleaved across children as the alerts topic carries them, and they go through
`ReferralDesk.handle` in batches of `--batch` (the referrals runner's max_records: 500) on a fresh
SQLite store. What is left is the desk's own CPU: decoding is the consumer's and not timed.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from schemas.alerts import Alert, AlertChanged, ChildSubject
from schemas.children import ChildProfile
from services.common import db
from services.common.calendar import load_registry
from services.referrals import tables
from services.referrals.desk import ReferralDesk
from services.referrals.inputs import Input
from services.referrals.policy import load_policy

NOW = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)
RULES = [("suspension_days_nearing_limit", "warning"), ("suspension_days_limit_exceeded", "critical"), ("informal_exclusions_repeated", "high")]
SEN = [("N", []), ("K", ["SEMH"]), ("K", ["ASD"]), ("E", ["SLCN"])]


def history(children: int, changes: int, seed: int) -> list[Input]:
    rng = random.Random(seed)
    streams: list[list[AlertChanged]] = []
    per_child = max(1, changes // children)
    for n in range(children):
        sen_status, needs = rng.choice(SEN)
        kid = ChildProfile(child_id=f"ch-{n:06d}", la_code="305", la_codes=["305"], first_name="A", last_name="B", date_of_birth=date(2013, 5, 1),
                           year_group="7", school_urn="101676", sen_status=sen_status, sen_needs=needs).model_dump(mode="json")
        alerts = rng.sample(RULES, rng.choice([1, 2]))
        for k in range(per_child):
            rule, severity = alerts[k % len(alerts)]
            version = k // len(alerts) + 1
            change = "raised" if version == 1 else rng.choice(["evidence", "updated", "status"])
            at = NOW + timedelta(minutes=version)
            model = Alert(id=f"al-{n}-{rule[:10]}", rule=rule, severity=severity, subject=ChildSubject(child_id=kid["child_id"]), la_code="305",
                          academic_year="2024/25", value=31, threshold=30, evidence=[f"ev-{version}"], status="resolved" if change == "status" else "open",
                          created_at=at, updated_at=at, version=version, episode=1, la_codes=["305"])
            streams.append([AlertChanged(alert=model, change=change, child=kid)])
    # interleave, keeping each child's own order
    by_child: dict[str, list[AlertChanged]] = {}
    for (item,) in streams:
        by_child.setdefault(item.alert.subject.child_id, []).append(item)  # type: ignore[union-attr]
    queues = list(by_child.values())
    out: list[Input] = []
    while queues:
        q = rng.choice(queues)
        out.append(q.pop(0))
        if not q:
            queues.remove(q)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.desk_harness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    items = history(args.children, args.changes, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{args.db or Path(tmp) / 'referrals.db'}", checkpoint_s=db.CHECKPOINT_S)  # as the service's
        db.migrate(engine, tables.metadata)
        policy = load_policy()  # read once, as the service's PolicyHolder does (parsing it per batch was ~7% of the harness)
        desk = ReferralDesk(engine, lambda: policy, load_registry())
        cpu0, wall0, changed = time.process_time(), time.perf_counter(), 0
        for start in range(0, len(items), args.batch):
            changed += len(desk.handle(items[start : start + args.batch], NOW + timedelta(days=1)).changes)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        engine.dispose()
    per = cpu / len(items) * 1e6
    print(f"{len(items)} alert changes, {changed} referral changes, batches of {args.batch}: CPU {cpu:.2f} s ({per:.0f} µs per alert change), wall {wall:.2f} s")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
