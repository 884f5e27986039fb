"""Latency: from the intake's 202 to the alert on the SSE stream, at a steady 500 events/s.

`python -m services.run` starts intake, alerts and referrals as subprocesses (on the run's
broker, with a fresh topic prefix and data dir). The client opens the alerts live feed,
then POSTs exclusion notices on a fixed schedule (open loop: a slow answer does not slow
the schedule). One POST in ten is about one of a few "heavy" children who get a 5-day
suspension every second (faster in a short run): their 6th to 10th suspensions (30 to 50 days) each change an
alert. An alert's evidence lists its suspensions' event ids ("notice:<id>"); the first
alert carrying a triggering id gives that POST's latency.

Baseline, same broker, same rate: a message produced (acks=all), consumed by a bare
aiokafka loop that produces to a second topic, consumed there: two broker hops, the least
any Kafka pipeline pays.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import (
    CONSUMER_TIMEOUTS,
    create_topics,
    new_prefix,
    say,
)
from bench.generator import Generator
from bench.intake import percentile
from bench.report import Table
from bench.running import services_running
from schemas.intake import ExclusionNotice

HEAVY_EVERY = 10  # one POST in ten is about a heavy child
HEAVY_POSTS = 10  # each heavy child gets ten 5-day suspensions: 50 days
TRIGGERS_FROM = 6  # the 6th (30 days) and every later one changes an alert


async def stage_timings(alerts: str, referrals: str) -> dict[str, dict[str, float]]:
    """Where the time goes, from the services' own histograms: a notice's age when the child stage
    has stored it (intake's acceptance → alerts' commit), and a batch's process + commit. Means, and
    p99 as the upper bound of the histogram bucket that holds it."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {("signpost_event_age_seconds", "alerts"): "child stage: notice age at its commit",
              ("signpost_processing_duration_seconds", "alerts"): "child stage: batch process + commit",
              ("signpost_event_age_seconds", "referrals"): "referrals: alert age at its commit"}  # fmt: skip
    out: dict[str, dict[str, float]] = {}
    async with aiohttp.ClientSession() as session:
        for service, url in (("alerts", alerts), ("referrals", referrals)):
            async with session.get(f"{url}/metrics") as response:
                text = await response.text()
            for family in text_string_to_metric_families(text):
                label = wanted.get((family.name, service))
                if label is None:
                    continue
                series: dict[str, dict[str, float]] = {}
                for sample in family.samples:
                    if sample.labels.get("service") != service:
                        continue
                    key = sample.labels.get("topic") or sample.labels.get("stage") or ""
                    if service == "alerts" and family.name == "signpost_event_age_seconds" and "exclusion-notices" not in key:
                        continue
                    if service == "referrals" and "alerts" not in key:
                        continue
                    bucket = series.setdefault(key, {})
                    if sample.name.endswith("_bucket"):
                        bucket[sample.labels["le"]] = sample.value
                    elif sample.name.endswith("_sum"):
                        bucket["sum"] = sample.value
                    elif sample.name.endswith("_count"):
                        bucket["count"] = sample.value
                for figures in series.values():
                    if figures.get("count"):
                        bounds = sorted((float(le), n) for le, n in figures.items() if le not in ("sum", "count"))
                        p99 = next((le for le, n in bounds if n >= 0.99 * figures["count"]), float("inf"))
                        out[label] = {"mean": 1000 * figures["sum"] / figures["count"], "p99 ≤": 1000 * p99}
    return out


def plan(rate: int, seconds: float, seed: int) -> tuple[list[tuple[str, bytes]], set[str]]:
    """The schedule's bodies in order, and the event ids expected to change an alert."""
    gen = Generator(n_events=10_000, seed=seed + 2)
    gen.plan_children()
    total = int(rate * seconds)
    bodies: list[tuple[str, bytes]] = []
    triggers: set[str] = set()
    # heavy children are posted round-robin, each once a second (a group of rate/10), or faster in a
    # short run so that at least two groups get all ten suspensions
    group = max(5, min(rate // HEAVY_EVERY, total // HEAVY_EVERY // (2 * HEAVY_POSTS)))
    heavy: list[tuple] = []
    for i in range(total):
        if i % HEAVY_EVERY:
            school = gen.random_school()
            child = _child(gen, school)
            start = gen.school_days(school.la_code)[int(gen.rng.random() * 150)]
            _, _, doc = gen._notice(child, school, start, 1 + int(gen.rng.random() * 4), False)  # noqa: SLF001
        else:
            j = i // HEAVY_EVERY
            if j % (group * HEAVY_POSTS) == 0:  # a new group of heavy children, each with ten school days
                heavy = []
                for _ in range(group):
                    school = gen.random_school()
                    days = gen.school_days(school.la_code)
                    heavy.append((_child(gen, school), school, days[10 : 10 + 3 * HEAVY_POSTS : 3]))
            k = (j % (group * HEAVY_POSTS)) // group  # this child's k-th suspension
            child, school, days = heavy[j % group]
            _, _, doc = gen._notice(child, school, days[k], 10, False)  # noqa: SLF001
            if k + 1 >= TRIGGERS_FROM:
                triggers.add("notice:" + doc["notice_id"])
        body = ExclusionNotice.model_validate(doc).model_dump_json().encode()
        bodies.append(("notice:" + doc["notice_id"], body))
    return bodies, triggers


def _child(gen: Generator, school):  # noqa: ANN001, ANN202
    from bench.generator import Child

    return Child(gen.pupil(school), school, school.la_code)


async def drive(intake: str, alerts: str, tokens: dict[str, str], bodies: list[tuple[str, bytes]], triggers: set[str], rate: int) -> dict:
    accepted_at: dict[str, float] = {}
    alert_at: dict[str, float] = {}
    statuses: dict[int, int] = {}
    post_latency: list[float] = []
    sse_ready = asyncio.Event()

    async def listen(session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {tokens['inclusion_team']}", "Accept": "text/event-stream"}
        async with session.get(f"{alerts}/v1/alerts/stream", headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as response:
            sse_ready.set()
            async for raw in response.content:  # one line at a time
                if not raw.startswith(b"data:"):
                    continue
                now = time.perf_counter()
                for event_id in orjson.loads(raw[5:]).get("evidence", ()):
                    if event_id in triggers and event_id not in alert_at:
                        alert_at[event_id] = now

    async def post(session: aiohttp.ClientSession, event_id: str, body: bytes) -> None:
        t = time.perf_counter()
        try:
            async with session.post(f"{intake}/v1/exclusion-notices", data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        now = time.perf_counter()
        statuses[status] = statuses.get(status, 0) + 1
        post_latency.append(now - t)
        if status == 202:
            accepted_at[event_id] = now

    # aiohttp, not httpx: one httpx client with 64 connections spends ~6 ms of CPU per request here
    # and could not keep to the schedule (bench/intake.py has the measurements)
    headers = {"Authorization": f"Bearer {tokens['intake']}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=30)) as session, \
            aiohttp.ClientSession() as sse_session:
        listener = asyncio.create_task(listen(sse_session))
        await asyncio.wait_for(sse_ready.wait(), 30)
        await asyncio.sleep(1)  # the subscription is registered once the response has started
        tasks = []
        started = time.perf_counter()
        for i, (event_id, body) in enumerate(bodies):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, event_id, body)))
        await asyncio.gather(*tasks)
        sent_for = time.perf_counter() - started
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and len(alert_at) < len(triggers & set(accepted_at)):
            await asyncio.sleep(0.1)
        listener.cancel()
    latencies = [max(0.0, alert_at[e] - accepted_at[e]) for e in triggers if e in alert_at and e in accepted_at]
    return {"posted": len(bodies), "post_seconds": sent_for, "achieved_rate": len(bodies) / sent_for, "statuses": statuses,
            "post_p99_ms": _ms(percentile(post_latency, 0.99)), "triggers": len(triggers), "matched": len(latencies),
            "p50_ms": _ms(percentile(latencies, 0.5)), "p95_ms": _ms(percentile(latencies, 0.95)), "p99_ms": _ms(percentile(latencies, 0.99)),
            "max_ms": _ms(max(latencies) if latencies else None)}


async def baseline(bootstrap: str, prefix: str, rate: int, seconds: float) -> dict:
    """produce → bare loop (consume, produce) → consume: the broker's own two-hop latency at `rate`."""
    a, b = prefix + "bench-latency-in", prefix + "bench-latency-out"
    await create_topics(bootstrap, [a, b])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2)
    relay = AIOKafkaConsumer(a, bootstrap_servers=bootstrap, group_id=prefix + "relay", auto_offset_reset="earliest", fetch_max_wait_ms=50, **CONSUMER_TIMEOUTS)
    sink = AIOKafkaConsumer(b, bootstrap_servers=bootstrap, group_id=prefix + "sink", auto_offset_reset="earliest", fetch_max_wait_ms=50, **CONSUMER_TIMEOUTS)
    for client in (producer, relay, sink):
        await client.start()
    sent: dict[int, float] = {}
    got: dict[int, float] = {}
    total = int(rate * seconds)

    async def forward() -> None:
        while True:
            batches = await relay.getmany(timeout_ms=200)
            futures = [await producer.send(b, value=r.value, key=r.key) for recs in batches.values() for r in recs]
            if futures:
                await asyncio.gather(*futures)
                await relay.commit()

    async def receive() -> None:
        while len(got) < total:
            for recs in (await sink.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                for r in recs:
                    got.setdefault(int(r.value), now)

    async def send(i: int) -> None:
        await producer.send_and_wait(a, value=str(i).encode(), key=str(i % 97).encode())

    tasks = [asyncio.create_task(forward()), asyncio.create_task(receive())]
    try:
        joined = time.perf_counter() + 20  # both groups joined (Tansu answers a JoinGroup after half the session timeout)
        while not (relay.assignment() and sink.assignment()) and time.perf_counter() < joined:
            await asyncio.sleep(0.1)
        started = time.perf_counter()
        sends = []
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.perf_counter()
            sends.append(asyncio.create_task(send(i)))
        await asyncio.gather(*sends)
        deadline = time.perf_counter() + 10
        while len(got) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    finally:
        for t in tasks:
            t.cancel()
        for client in (producer, relay, sink):
            await client.stop()
    latencies = [got[i] - sent[i] for i in got if i in sent]
    return {"messages": total, "received": len(latencies), "p50_ms": _ms(percentile(latencies, 0.5)), "p99_ms": _ms(percentile(latencies, 0.99)),
            "max_ms": _ms(max(latencies) if latencies else None)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def run(bootstrap: str, workdir: Path, rate: int, seconds: float, seed: int) -> Table:
    table = Table("latency", f"Latency: {rate} events/s for {seconds:.0f} s, intake 202 → alert on the SSE stream (intake + alerts + referrals running)")
    bodies, triggers = plan(rate, seconds, seed)
    raw: dict = {}
    try:
        with services_running(bootstrap, workdir, "latency") as system:
            say(f"latency: posting {len(bodies):,} notices at {rate}/s ({len(triggers)} should change an alert)")
            raw["signpost"] = asyncio.run(drive(system.intake, system.alerts, system.tokens, bodies, triggers, rate))
            raw["stages"] = asyncio.run(stage_timings(system.alerts, system.referrals))
    except Exception as exc:  # noqa: BLE001 - reported in the table
        table.error = f"{type(exc).__name__}: {exc}"
    say("latency: baseline (produce → bare loop → consume)")
    raw["baseline"] = asyncio.run(baseline(bootstrap, new_prefix("latency-baseline"), rate, min(seconds, 20)))
    table.raw = raw
    sp, base = raw.get("signpost", {}), raw["baseline"]
    table.add("p99 202 → SSE alert", sp.get("p99_ms"), "ms", "produce → bare loop → consume p99", base.get("p99_ms"), "< 250 ms",
              met=sp.get("p99_ms") is not None and sp["p99_ms"] < 250 and sp.get("matched", 0) > 0, higher_is_better=False)
    table.add("p50 202 → SSE alert", sp.get("p50_ms"), "ms", "two-hop p50", base.get("p50_ms"), higher_is_better=False)
    table.add("max 202 → SSE alert", sp.get("max_ms"), "ms", "two-hop max", base.get("max_ms"), higher_is_better=False)
    for what, figures in raw.get("stages", {}).items():
        table.note(f"{what}: " + ", ".join(f"{k} {v:,.0f} ms" for k, v in figures.items()))
    if sp:
        table.note(f"achieved {sp['achieved_rate']:,.0f} POSTs/s; statuses {sp['statuses']}; POST p99 {sp['post_p99_ms']:.0f} ms; "
                   f"alerts matched for {sp['matched']} of {sp['triggers']} triggering POSTs")
    return table
