"""The contenders of the pipeline and replay benchmarks, each run in a fresh process.

`python -m bench.workers <kind> '<json config>' <result path>` consumes the preloaded intake
topics until it has processed `expect` events (or `time_limit` seconds pass), then writes
a JSON result. Every contender does the same detection work: parse each event, keep each
child's suspension days (each suspension counted once, by the contract's natural key),
and emit a message when a child reaches 30 days.

Rates are measured from the moment the first record reaches the contender's own code to
the moment the last one is done (and committed): consumer-group joins and client start-up,
which cost every contender the same few seconds on Tansu, are reported apart as `startup_s`.

Config keys: bootstrap, prefix, topics (full names), expect, time_limit, group, output.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import CONSUMER_TIMEOUTS, live_heap_bytes, pymalloc_bytes, rss_bytes

THRESHOLD_DAYS = 30.0


def suspension_of(topic: str, doc: dict) -> tuple[str, float] | None:
    """(natural key, days) of the suspension an intake event reports, or None.

    The key is the contract's "same suspension": UPN, school, start date, sessions, so the
    LA's copy of a notified suspension counts once. A lunchtime counts as one session."""
    if topic.endswith("exclusion-notices.v1"):
        category = doc["category"]
        if category == "suspension":
            sessions = doc["sessions"]
        elif category == "lunchtime":
            sessions = doc.get("lunchtimes") or doc["sessions"]
        else:
            return None
        return f"{doc['pupil']['upn']}|{doc['school_urn']}|{doc['start_date']}|{sessions}", sessions / 2
    if topic.endswith("la-return-records.v1"):
        record = doc["record"]
        if record["kind"] != "suspension":
            return None
        return f"{record['pupil']['upn']}|{record['school_urn']}|{record['start_date']}|{record['sessions']}", record["sessions"] / 2
    return None


class Detector:
    """Per-child state of the baselines: child key → [days, set of suspension keys]."""

    def __init__(self) -> None:
        self.children: dict[Any, list] = {}
        self.emitted = 0

    def apply(self, topic: str, key: Any, doc: dict) -> bytes | None:
        found = suspension_of(topic, doc)
        if found is None:
            return None
        skey, days = found
        state = self.children.get(key)
        if state is None:
            state = self.children[key] = [0.0, set()]
        if skey in state[1]:
            return None
        state[1].add(skey)
        before = state[0]
        state[0] = before + days
        if before < THRESHOLD_DAYS <= state[0]:
            self.emitted += 1
            return orjson.dumps({"child": key.decode() if isinstance(key, bytes) else key, "days": state[0], "rule": "suspension_days_nearing_limit"})
        return None


def _result(started: float, first: float | None, last: float | None, processed: int, **extra: Any) -> dict:
    busy = (last - first) if first is not None and last is not None and last > first else None
    rss, peak = rss_bytes()
    return {
        "processed": processed,
        "seconds": busy,
        "rate": processed / busy if busy else None,
        "startup_s": (first - started) if first is not None else None,
        "wall_s": (last or time.perf_counter()) - started,
        "rss_bytes": rss,
        "peak_rss_bytes": peak,
        **extra,
    }


# ---------------------------------------------------------------------------- (a) bare aiokafka loop
async def bare(cfg: dict) -> dict:
    """The hand-written baseline: getmany → parse → dict → produce crossings → commit, per batch."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    started = time.perf_counter()
    rss0, _ = rss_bytes()
    consumer = AIOKafkaConsumer(
        *cfg["topics"], bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"], enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=5000, fetch_max_wait_ms=50, **CONSUMER_TIMEOUTS,
    )
    producer = AIOKafkaProducer(bootstrap_servers=cfg["bootstrap"], acks="all", enable_idempotence=False, linger_ms=2)
    await producer.start()
    await consumer.start()
    detector = Detector()
    processed, first, last = 0, None, None
    deadline = started + cfg["time_limit"]
    try:
        while processed < cfg["expect"] and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            if not batches:
                continue
            if first is None:
                first = time.perf_counter()
            out = []
            for tp, records in batches.items():
                for r in records:
                    alert = detector.apply(tp.topic, r.key, orjson.loads(r.value))
                    if alert is not None:
                        out.append(await producer.send(cfg["output"], value=alert, key=r.key))
                processed += len(records)
            if out:
                await asyncio.gather(*out)
            await consumer.commit()
            last = time.perf_counter()
    finally:
        await consumer.stop()
        await producer.stop()
    gc.collect()
    rss1, _ = rss_bytes()
    return _result(started, first, last, processed, emitted=detector.emitted, children=len(detector.children), rss_growth_bytes=rss1 - rss0)


# ---------------------------------------------------------------------------- (b) Signpost
def _malloc_trim() -> None:
    """Return free heap pages to the OS (glibc), so RSS shows what is still in use."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def deep_size_of_children(children: dict, cold: dict[str, bytes]) -> int:
    """Bytes ChildStage.children (hot records) and ChildStage.cold (frozen ones) refer to by sys.getsizeof:
    the dicts, their keys, each entry and what only it refers to. An undercount: orjson.dumps returns bytes whose buffer keeps its ~4 KiB
    initial capacity while getsizeof reports only the used length (measured with tracemalloc)."""
    size = sys.getsizeof(children) + sys.getsizeof(cold) + sum(sys.getsizeof(cid) + sys.getsizeof(value) for cid, value in cold.items())
    seen: set[int] = set()

    def generic(obj: Any) -> int:  # for the rare nested objects (incidents, sources)
        if id(obj) in seen or obj is None or isinstance(obj, bool | int) and -5 <= obj <= 256:
            return 0
        seen.add(id(obj))
        total = sys.getsizeof(obj)
        if isinstance(obj, dict):
            total += sum(generic(k) + generic(v) for k, v in obj.items())
        elif isinstance(obj, list | tuple | set | frozenset):
            total += sum(generic(x) for x in obj)
        elif hasattr(obj, "__slots__"):
            total += sum(generic(getattr(obj, s, None)) for s in obj.__slots__)
        elif hasattr(obj, "__dict__"):
            total += generic(vars(obj))
        return total

    getsizeof = sys.getsizeof
    for cid, entry in children.items():
        size += getsizeof(cid) + getsizeof(entry) + generic(entry.profile) + generic(entry.times) + generic(entry.link)
        if entry.years:
            size += getsizeof(entry.years)
            for ys in entry.years.values():
                size += getsizeof(ys) + getsizeof(ys.by_key)
                for k, reports in ys.by_key.items():
                    size += getsizeof(k) + getsizeof(reports) + sum(generic(r) for r in reports)
        size += generic(entry.incidents) + generic(entry.sources)
    return size


def _timed(fn: Any, marks: dict, key: str) -> Any:
    """`fn`, adding its duration to marks[key] (the stage runner calls it from a worker thread)."""

    def timed(*args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            marks[key] = marks.get(key, 0.0) + time.perf_counter() - t

    return timed


class StageFailures(logging.Handler):
    """Counts the StageRunner's "stage failed; restarting" warnings (it replays from the committed
    offsets after any exception): a stage that keeps failing on one batch never gets anywhere."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("stage failed"):
            self.errors.append(f"{getattr(record, 'stage', '?')}: {getattr(record, 'error', '?')}")


async def signpost(cfg: dict) -> dict:
    """The alerts service's composition root (build_app) with its lifespan: both stages, the faust
    worker, the SQLite store; no HTTP server. Done when the child stage has applied `expect` events."""
    from sqlalchemy import func, select

    from bench.common import settings_for
    from services.alerts import tables
    from services.alerts.app import build_app
    from services.common.auth import TokenRegistry

    settings = settings_for(cfg["bootstrap"], cfg["prefix"], Path(cfg["data_dir"]))
    failures = StageFailures()
    logging.getLogger("services.common.stream").addHandler(failures)
    app = build_app(settings, tokens=TokenRegistry(None))
    child = app.state.alerts.child
    process = child.process
    marks: dict[str, Any] = {"first": None, "dead": 0, "batches": 0, "process_s": 0.0}

    def timed_process(batch, now):  # noqa: ANN001, ANN202 - wraps ChildStage.process; the service's code is unchanged
        marks["inflight"] = marks.get("inflight", 0) + 1
        try:
            return _process(batch, now)
        finally:
            marks["inflight"] -= 1

    def _process(batch, now):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        if marks["first"] is None and batch:
            marks["first"] = t
        try:
            result = process(batch, now)
        except Exception:  # the runner logs only the type: keep the traceback for the report
            import traceback

            marks.setdefault("tracebacks", []).append(traceback.format_exc()[-1500:])
            raise
        marks["dead"] += len(result.rejected)
        marks["batches"] += 1
        marks["process_s"] += time.perf_counter() - t
        return result

    child.process = timed_process  # read by the lifespan when it builds the StageRunner
    gc.collect()
    rss0, _ = rss_bytes()
    started = time.perf_counter()
    last = None
    async with app.router.lifespan_context(app):
        child_runner, school_runner = app.state.alerts.runners
        child_runner._commit = _timed(child_runner._commit, marks, "child_commit_s")  # noqa: SLF001 - timing only
        if hasattr(school_runner, "_process"):  # the school stage in this process (SIGNPOST_ALERTS_SCHOOL_PROCESS=false)
            school_runner._commit = _timed(school_runner._commit, marks, "school_commit_s")  # noqa: SLF001
            school_runner._process = _timed(school_runner._process, marks, "school_process_s")  # noqa: SLF001
        deadline = started + cfg["time_limit"]
        while child_runner.applied < cfg["expect"] and time.perf_counter() < deadline and len(failures.errors) < cfg.get("max_failures", 3):
            await asyncio.sleep(0.01)
        last = time.perf_counter()
        applied, school_applied = child_runner.applied, school_runner.applied
        # the school stage trails the child stage by a batch or so; give it a moment for the record
        settle = time.perf_counter() + 10
        while school_runner.applied < child_runner.applied * 0.9 and time.perf_counter() < settle:
            await asyncio.sleep(0.05)
        # Stop both stages (and let a batch still in its worker thread finish) before reading their state.
        for runner in (child_runner, school_runner):
            await runner.stop()
        quiet = time.perf_counter() + 60
        while marks.get("inflight") and time.perf_counter() < quiet:
            await asyncio.sleep(0.05)
        with app.state.alerts.engine.connect() as conn:
            alerts = dict(conn.execute(select(tables.alerts.c.rule, func.count()).group_by(tables.alerts.c.rule)).all())
            stored_children = conn.execute(select(func.count()).select_from(tables.children)).scalar()
        gc.collect()
        rss1, peak = rss_bytes()
        heap1 = live_heap_bytes()
        cache_bytes = deep_size_of_children(child.children, child.cold) if cfg.get("memory") else None
        n_children = len(child.children) + len(child.cold)  # hot and cold (frozen) records
        school_terms = len(app.state.alerts.school.terms)
        rss_without_caches = pymalloc_after = heap2 = None
        parts = None
        if cfg.get("memory"):
            # What the caches hold, measured: drop them (as a rebalance would) and give the freed
            # memory back to the OS. sys.getsizeof undercounts orjson's bytes (see deep_size_of_children).
            parts = cache_parts(child, heap1)
            child.reset()
            app.state.alerts.school.reset()
            gc.collect()
            _malloc_trim()
            rss_without_caches, _ = rss_bytes()
            pymalloc_after = pymalloc_bytes()  # what the RSS left is: pymalloc's arenas, and how much of them is objects
            heap2 = live_heap_bytes()
    result = _result(started, marks["first"], last, applied, emitted=sum(alerts.values()), alerts_by_rule=alerts, dead_letters=marks["dead"],
                     batches=marks["batches"], process_s=marks["process_s"], child_commit_s=marks.get("child_commit_s"),
                     school_process_s=marks.get("school_process_s"), school_commit_s=marks.get("school_commit_s"), school_stage_applied=school_applied, stored_children=stored_children,
                     children=n_children, school_terms=school_terms, rss_before_bytes=rss0, rss_after_bytes=rss1, rss_growth_bytes=rss1 - rss0,
                     cache_bytes=cache_bytes, rss_without_caches_bytes=rss_without_caches,
                     cache_rss_bytes=(rss1 - rss_without_caches) if rss_without_caches else None, stage_failures=failures.errors,
                     pymalloc_arenas_bytes=pymalloc_after[0] if pymalloc_after else None, pymalloc_objects_bytes=pymalloc_after[1] if pymalloc_after else None,
                     cache_heap_bytes=(heap1 - heap2) if heap1 is not None and heap2 is not None else None, cache_parts=parts,
                     tracebacks=marks.get("tracebacks", [])[:2])
    result["peak_rss_bytes"] = peak
    if failures.errors:
        result["error"] = f"the stage failed {len(failures.errors)} time(s) and restarted from its committed offsets: {', '.join(sorted(set(failures.errors)))}"
    return result


def cache_parts(child: Any, heap: int | None) -> dict | None:
    """The child stage's caches dropped part by part, the objects each held (heap in use before − after):
    the hot records and alerts (a fixed number: the most recently used), the cold ones (one per cached
    child, and its alerts), and identity (every stored child's aliases). A projection to a million
    children scales the last two, not the first, which the straight per-child figure divides by the
    children cached."""
    if heap is None:
        return None
    out: dict[str, Any] = {"hot_records": len(child.children), "hot_alerts": len(child.book.cache), "cold_records": len(child.cold),
                           "cold_alerts": len(child.book.cold), "aliases": sum(1 for _ in child.identity.aliases()) if child.identity else 0,
                           "max_children": child.max_children}

    def dropped(name: str, drop: Callable[[], object]) -> None:
        nonlocal heap
        drop()
        gc.collect()
        now = live_heap_bytes()
        out[name] = (heap - now) if heap is not None and now is not None else None
        heap = now

    dropped("hot_bytes", lambda: (child.children.clear(), child.book.cache.clear()))
    dropped("cold_bytes", lambda: (child.cold.clear(), child.book.cold.clear(), child.book._subjects.clear()))
    dropped("identity_bytes", lambda: setattr(child, "identity", None))
    return out


# ---------------------------------------------------------------------------- (c) Quix Streams
def quix(cfg: dict) -> dict:
    """What a user would write with Quix Streams: a StreamingDataFrame over the three intake topics,
    per-child state in Quix's RocksDB state store, crossings sent to an output topic."""
    import logging

    from quixstreams import Application, State

    started = time.perf_counter()
    rss0, _ = rss_bytes()
    app = Application(
        broker_address=cfg["bootstrap"], consumer_group=cfg["group"], auto_offset_reset="earliest", state_dir=cfg["data_dir"],
        consumer_extra_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
        producer_extra_config={"enable.idempotence": False}, loglevel=logging.WARNING, use_changelog_topics=cfg.get("changelog", False),
    )
    topics = [app.topic(name, value_deserializer="json", key_deserializer="bytes") for name in cfg["topics"]]
    output = app.topic(cfg["output"], value_serializer="bytes", key_serializer="bytes")
    marks: dict[str, Any] = {"first": None, "last": None, "processed": 0, "emitted": 0}
    expect = cfg["expect"]

    def detect(value: dict, key: bytes, _timestamp: int, headers: Any, state: State) -> bytes | None:
        if marks["first"] is None:
            marks["first"] = time.perf_counter()
        ce_type = dict(headers or ()).get("ce_type", b"")
        topic = "la-return-records.v1" if b"la_return" in ce_type else "exclusion-notices.v1" if b"exclusion_notice" in ce_type else "calls.v1"
        found = suspension_of(topic, value)
        alert = None
        if found is not None:
            skey, days = found
            if not state.exists(skey):  # state is scoped to the message key (the child)
                state.set(skey, 1)
                before = state.get("days", 0.0)
                state.set("days", before + days)
                if before < THRESHOLD_DAYS <= before + days:
                    marks["emitted"] += 1
                    alert = orjson.dumps({"child": key.decode(), "days": before + days, "rule": "suspension_days_nearing_limit"})
        marks["processed"] += 1
        if marks["processed"] >= expect:
            marks["last"] = time.perf_counter()
            app.stop()
        return alert

    sdf = app.dataframe(topics[0])
    for topic in topics[1:]:
        sdf = sdf.concat(app.dataframe(topic))
    sdf = sdf.apply(detect, stateful=True, metadata=True).filter(lambda v: v is not None)
    sdf.to_topic(output)
    app.run(sdf, timeout=cfg["time_limit"])
    gc.collect()
    rss1, _ = rss_bytes()
    return _result(started, marks["first"], marks["last"] or time.perf_counter(), marks["processed"], emitted=marks["emitted"], rss_growth_bytes=rss1 - rss0)


# ---------------------------------------------------------------------------- (d) naive faust agent
def faust_naive(cfg: dict, out: Path) -> None:
    """One event at a time through a faust agent, a faust Table update per event (a changelog write)."""
    import faust

    started = time.perf_counter()
    app = faust.App(
        cfg["group"], broker=f"kafka://{cfg['bootstrap']}", store="memory://", web_enabled=False, topic_disable_leader=True,
        datadir=cfg["data_dir"], producer_enable_idempotence=False, broker_session_timeout=6, broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest", topic_partitions=3, topic_allow_declare=True,
    )
    source = app.topic(*cfg["topics"], key_serializer="raw", value_serializer="raw")
    output = app.topic(cfg["output"], key_serializer="raw", value_serializer="raw")
    days = app.Table("days", default=float, partitions=3)
    seen: set[str] = set()  # suspensions counted (a plain set: one Table update per event is naive enough)
    marks: dict[str, Any] = {"first": None, "processed": 0, "emitted": 0}
    expect = cfg["expect"]

    @app.agent(source)
    async def detect(stream):  # noqa: ANN001, ANN202
        async for event in stream.events():
            if marks["first"] is None:
                marks["first"] = time.perf_counter()
            found = suspension_of(event.message.topic, orjson.loads(event.value))
            if found is not None:
                skey, n = found
                key = event.key.decode()
                if skey not in seen:
                    seen.add(skey)
                    before = days[key]
                    days[key] = before + n
                    if before < THRESHOLD_DAYS <= before + n:
                        marks["emitted"] += 1
                        await output.send(key=event.key, value=orjson.dumps({"child": key, "days": before + n}))
            marks["processed"] += 1
            if marks["processed"] >= expect:
                _write(out, _result(started, marks["first"], time.perf_counter(), marks["processed"], emitted=marks["emitted"]))

    @app.timer(interval=1.0)
    async def give_up() -> None:
        if time.perf_counter() - started > cfg["time_limit"] and not out.exists():
            _write(out, _result(started, marks["first"], time.perf_counter(), marks["processed"], emitted=marks["emitted"], timed_out=True))

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


# ---------------------------------------------------------------------------- entry point
def _write(path: Path, result: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)  # the parent polls for the file: never let it read half of one


def main(argv: list[str]) -> int:
    kind, cfg, out = argv[0], json.loads(argv[1]), Path(argv[2])
    try:
        if kind == "bare":
            import uvloop

            result = uvloop.run(bare(cfg))
        elif kind == "signpost":
            import uvloop

            result = uvloop.run(signpost(cfg))
        elif kind == "quix":
            result = quix(cfg)
        elif kind == "faust":
            faust_naive(cfg, out)
            return 0
        else:
            raise SystemExit(f"unknown worker {kind}")
    except Exception as exc:  # noqa: BLE001 - reported in the results, not a crash of the whole run
        import traceback

        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    _write(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
