"""Bytes per alias of the identity snapshot a sole-owner child stage keeps (`AlertsStore.identity()`).

    python -m bench.identity_memory [--aliases 200000] [--db /tmp/identity.sqlite3]

Aliases look like the benchmark's national year (bench.generator: its LAs, names and dates of
birth), with about half the UPNs dropped (person children). They are written to a SQLite store
once, then loaded back as the service loads them, so the strings and dates are the fresh objects
a database row gives. Reports a deep `sys.getsizeof` walk (each object once) and the RSS dropping
the snapshot frees (after gc and malloc_trim), per alias; then resolves sightings against it (re-seen,
new, near variants) and prints a digest of what `resolve` said, to compare two versions of the code.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import hashlib
import random
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import configure_bench_pseudonyms, rss_bytes
from bench.generator import Generator
from schemas.pupil import normalise_name
from services.alerts import tables
from services.alerts.domain import linking
from services.alerts.rows import alias_row
from services.alerts.store import AlertsStore
from services.common import db

EVENTS_PER_CHILD = 2.7  # the generator plans about 370k children per million events


def sightings(n: int, seed: int) -> list[linking.Sighting]:
    gen = Generator(n_events=int(n * EVENTS_PER_CHILD) + 10_000, seed=seed)
    rng = random.Random(seed)
    out = []
    for i, child in enumerate(gen.plan_children()[:n]):
        p = child.pupil
        upn = p.upn if rng.random() < 0.5 else None
        out.append(linking.Sighting(f"e{i}", upn, child.la_code, p.date_of_birth, normalise_name(p.first_name), normalise_name(p.last_name)))
    return out


def build(path: Path, n: int, seed: int) -> None:
    engine = db.make_engine(f"sqlite:///{path}")
    db.migrate(engine, tables.metadata)
    rows = list({(r["child_id"], r["person_key"]): r for r in (alias_row(linking.alias_of(s)) for s in sightings(n, seed))}.values())
    with engine.begin() as conn:
        conn.execute(tables.aliases.insert(), rows)


def deep_size(root: Any) -> int:
    """sys.getsizeof of everything `root` refers to, each object once (shared strings and dates count once)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, (str, int, float, date)):
            pass
        else:
            for cls in type(obj).__mro__:
                stack.extend(getattr(obj, s) for s in getattr(cls, "__slots__", ()) if hasattr(obj, s))
            stack.extend(getattr(obj, "__dict__", {}).values())
    return total


def settled_rss() -> int:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()[0]


def probes(known: list[linking.Alias], n: int, seed: int) -> list[linking.Sighting]:
    """Sightings to resolve: children seen again (some without their UPN), new ones, and near variants."""
    rng = random.Random(seed + 1)
    out = []
    for i in range(n):
        a = known[int(rng.random() * len(known))]
        kind = i % 4
        if kind == 0:
            out.append(linking.Sighting(f"p{i}", a.upn if rng.random() < 0.5 else None, a.la_code, a.date_of_birth, a.first, a.last))
        elif kind == 1:
            out.append(linking.Sighting(f"p{i}", None, a.la_code, a.date_of_birth, a.last, a.first))  # swapped names
        elif kind == 2:
            dob = a.date_of_birth
            dob = date(dob.year, dob.day, dob.month) if dob.day <= 12 else dob.replace(day=dob.day - 1)
            out.append(linking.Sighting(f"p{i}", None, a.la_code, dob, a.first, a.last))
        else:
            out.append(linking.Sighting(f"p{i}", None, a.la_code, a.date_of_birth, a.first + "e", a.last))  # a typo
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.identity_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--aliases", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--probes", type=int, default=20_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/signpost-identity-memory.sqlite3"))
    args = parser.parse_args(argv)
    configure_bench_pseudonyms()
    if not args.db.exists():
        build(args.db, args.aliases, args.seed)
    store = AlertsStore(db.make_engine(f"sqlite:///{args.db}"))
    with store.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(tables.aliases)).scalar_one()
    before = settled_rss()
    started = time.perf_counter()
    snapshot = store.identity()
    loaded = time.perf_counter() - started
    grown = settled_rss() - before
    walk = deep_size(snapshot)
    del snapshot
    freed = grown - (settled_rss() - before)
    # what load grows by also counts SQLite's page cache (the engine's cache_size, up to 64 MiB), which
    # stays after the snapshot is dropped: what dropping it frees is the snapshot's own
    print(f"aliases {n:,}: walk {walk / n:,.0f} B/alias, RSS freed when dropped {freed / n:,.0f} B/alias "  # noqa: T201
          f"(grown on load {grown / n:,.0f}), identity() {loaded:.2f}s")  # fmt: skip
    snapshot = store.identity()
    known = list(snapshot.aliases())
    todo = probes(known, args.probes, args.seed)
    digest = hashlib.sha256()
    started = time.perf_counter()
    for s in todo:
        digest.update(repr(linking.resolve(s, snapshot)).encode())
    print(f"resolved {len(todo):,} sightings in {time.perf_counter() - started:.2f}s, digest {digest.hexdigest()[:16]}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
