"""The whole system, measured from outside: `python -m services.run` (intake, alerts, referrals) on
the run's broker; 8,000 distinct exclusion notices POSTed as fast as 64 aiohttp connections go, while
the pipeline consumes them. Two figures: POSTs/s (all 202), and events/s from the first POST until
the child stage has stored the last notice (its alerts committed with it).

Baseline, same broker, same bodies: an aiokafka producer (acks=all, 64 sends in flight) and a bare
consumer reading them back; events/s from the first send to the last record read.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import (
    CONSUMER_TIMEOUTS,
    create_topics,
    new_prefix,
    say,
)
from bench.intake import post_load
from bench.latency import plan
from bench.report import Table
from bench.running import services_running
from schemas.topics import EXCLUSION_NOTICES

CONNECTIONS = 64


async def consumed(alerts: str, topic: str) -> float:
    """Notices the child stage has applied and committed (its consumed counter counts committed batches)."""
    async with aiohttp.ClientSession() as session, session.get(f"{alerts}/metrics") as response:
        text = await response.text()
    m = re.search(rf'^signpost_kafka_messages_consumed_total\{{service="alerts",topic="{re.escape(topic)}"\}} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU-s used: utime + stime) from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return str(pid)
    module = argv[argv.index(b"-m") + 1].decode() if b"-m" in argv else os.path.basename(argv[0].decode())
    return module.removeprefix("services.")


def process_cpu() -> dict[str, float]:
    """CPU-s so far of each process this one started, and theirs (services.run's children, the school stage),
    by name and pid: Linux only ({} elsewhere)."""
    if not os.path.isdir("/proc"):
        return {}
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
            used[int(entry)] = st[1]
    out: dict[str, float] = {}
    todo = list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        out[f"{_name(pid)}[{pid}]"] = used[pid]
    return out


async def batches(service_url: str, service: str) -> tuple[float, float]:
    """(messages consumed, batches applied) of a service, from its metrics."""
    async with aiohttp.ClientSession() as session, session.get(f"{service_url}/metrics") as response:
        text = await response.text()
    consumed = sum(float(v) for v in re.findall(rf'^signpost_kafka_messages_consumed_total\{{service="{service}",[^}}]*\}} ([0-9.e+]+)$', text, re.M))
    applied = sum(float(v) for v in re.findall(rf'^signpost_processing_duration_seconds_count\{{service="{service}",[^}}]*\}} ([0-9.e+]+)$', text, re.M))
    return consumed, applied


async def settled(limit: float = 20.0) -> dict[str, float]:
    """Each process's CPU-s once all are idle (under 0.05 CPU-s each in 0.5 s; the referrals service works on
    after the last notice is stored), at most `limit` seconds on."""
    deadline = time.perf_counter() + limit
    before = process_cpu()
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.5)
        now = process_cpu()
        if all(now[name] - before.get(name, 0.0) < 0.05 for name in now if "tansu" not in name):
            return now
        before = now
    return before


async def drive(intake: str, alerts: str, referrals: str, token: str, bodies: list[bytes], topic: str, timeout: float) -> dict:
    cpu0 = process_cpu()
    started = time.perf_counter()
    load = await post_load(intake, token, bodies, seconds=timeout, connections=CONNECTIONS)
    deadline = time.perf_counter() + timeout
    applied = 0.0
    while time.perf_counter() < deadline:
        applied = await consumed(alerts, topic)
        if applied >= load["accepted"]:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    cpu1 = await settled()
    cpu = {name: round(cpu1[name] - cpu0.get(name, 0.0), 2) for name in cpu1}  # over the load and its tail, start-up excluded
    referrals_messages, applied_batches = await batches(referrals, "referrals")
    return {"posts": load, "applied": applied, "seconds": elapsed, "events_per_s": applied / elapsed, "process_cpu_s": cpu,
            "referrals_messages": referrals_messages, "referrals_batches": applied_batches}


async def baseline(bootstrap: str, topic: str, bodies: list[bytes]) -> dict:
    await create_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=0)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=topic + "-bare", auto_offset_reset="earliest", fetch_max_wait_ms=50,
                                **CONSUMER_TIMEOUTS)  # fmt: skip
    await producer.start()
    await consumer.start()
    it = iter(enumerate(bodies))

    async def worker() -> None:
        for i, body in it:
            await producer.send_and_wait(topic, value=body, key=str(i).encode())

    try:
        await consumer.getmany(timeout_ms=100)  # joined before the clock starts, as the services are
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        sent = time.perf_counter() - started
        read = 0
        while read < len(bodies) and time.perf_counter() - started < 120:
            read += sum(len(r) for r in (await consumer.getmany(timeout_ms=200)).values())
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
    return {"sent_per_s": len(bodies) / sent, "events_per_s": read / elapsed, "read": read}


def run(bootstrap: str, workdir: Path, notices: int, seed: int) -> Table:
    table = Table("system", f"Whole system: {notices:,} notices POSTed by {CONNECTIONS} connections while the pipeline consumes (intake + alerts + referrals)")
    bodies = [body for _, body in plan(rate=notices // 10, seconds=10, seed=seed)[0]][:notices]
    raw: dict = {}
    try:
        with services_running(bootstrap, workdir, "system") as system:
            say(f"system: {len(bodies):,} notices from {CONNECTIONS} connections")
            raw["signpost"] = asyncio.run(drive(system.intake, system.alerts, system.referrals, system.tokens["intake"], bodies,
                                                system.settings.topic(EXCLUSION_NOTICES.name), timeout=180))  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - reported in the table
        table.error = f"{type(exc).__name__}: {exc}"
    say("system: baseline (aiokafka produce, 64 in flight → bare consumer)")
    raw["baseline"] = asyncio.run(baseline(bootstrap, new_prefix("system-baseline") + "notices", bodies))
    table.raw = raw
    sp, base = raw.get("signpost", {}), raw["baseline"]
    posts = sp.get("posts", {})
    table.add("POSTs/s while the pipeline consumes", posts.get("rate"), "/s", "aiokafka send_and_wait, 64 in flight", base["sent_per_s"], "≥ 2,000/s",
              met=posts.get("rate") is not None and posts["rate"] >= 2000)  # fmt: skip
    table.add("events/s, first POST → last notice stored", sp.get("events_per_s"), "ev/s", "produce → bare consumer", base["events_per_s"], "≥ 2,000/s",
              met=sp.get("events_per_s") is not None and sp["events_per_s"] >= 2000 and sp.get("applied", 0) >= posts.get("accepted", 1))  # fmt: skip
    if sp:
        table.note(f"statuses {posts.get('statuses')}; POST p50 {posts.get('p50_ms', 0):.0f} ms, p99 {posts.get('p99_ms', 0):.0f} ms; "
                   f"{sp['applied']:,.0f} of {posts.get('accepted', 0):,} notices stored in {sp['seconds']:.1f} s; "
                   f"the client used {posts.get('client_cpu_s', 0):.1f} CPU-s on the same 2 cores")  # fmt: skip
        if sp.get("process_cpu_s") and sp.get("applied"):
            per: dict[str, float] = {}
            for name, cpu in sp["process_cpu_s"].items():  # by name: a restarted service counts once, as the sum
                per[name.split("[")[0]] = per.get(name.split("[")[0], 0.0) + cpu / sp["applied"] * 1e6
            table.note("CPU per notice stored, each process over the load (/proc): "
                       + ", ".join(f"{name} {us:,.0f} µs" for name, us in sorted(per.items(), key=lambda kv: -kv[1]))
                       + f"; {sum(per.values()):,.0f} µs in all (until every process was idle)")  # fmt: skip
        if sp.get("referrals_batches"):
            table.note(f"referrals: {sp['referrals_messages']:,.0f} messages in {sp['referrals_batches']:,.0f} batches "
                       f"({sp['referrals_messages'] / sp['referrals_batches']:.1f} a batch)")  # fmt: skip
    return table
