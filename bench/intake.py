"""Intake throughput: the real intake service (uvicorn subprocess) under many concurrent POSTs.

Signpost: `python -m services.intake` on a temporary data dir (SQLite event log with
synchronous=FULL, group commit, relay to the broker), loaded by an async httpx client with
64 connections for N seconds; each POST carries a distinct exclusion notice. A 202 means
the notice is durable in the event log (the relay publishes it to Kafka in the background).

Baselines, same broker, same notice bytes: an aiokafka producer awaiting each send
(acks=all) with 64 sends in flight (as many as the HTTP connections) and with one in flight
(a plain loop). For CSV: a 100k-row LA return posted whole, against producing the same
rows to Kafka (acks=all) with aiokafka.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import resource
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import httpx
from aiokafka import AIOKafkaProducer

from bench.common import (
    PYTHON,
    create_topics,
    free_port,
    new_prefix,
    say,
    service_env,
    settings_for,
    start_process,
    stop_process,
    write_tokens,
)
from bench.generator import Generator, Year
from bench.report import Table
from schemas.topics import EXCLUSION_NOTICES, LA_RETURN_RECORDS
from services.common import kafka
from services.intake.csv_returns import COLUMNS

# The columns the benchmark's rows fill: the contract's first 17 (issue 11's optional ones stay out).
CSV_COLUMNS = COLUMNS[: COLUMNS.index("reason_codes") + 1]

CSV_LA = "886"  # Kent: the largest LA by suspensions


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_ready(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(url, timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready within {timeout:.0f}s")
            await asyncio.sleep(0.25)


async def relay_backlog(client: httpx.AsyncClient, base: str) -> float | None:
    text = (await client.get(f"{base}/metrics", timeout=5)).text
    m = re.search(r'^signpost_relay_backlog_messages\{service="intake"\} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else None


async def produced(base: str, topic: str) -> float:
    """Messages the intake's relay has had acknowledged on `topic` (its Prometheus counter)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{base}/metrics", timeout=5)).text
    m = re.search(rf'^signpost_kafka_messages_produced_total\{{service="intake",topic="{re.escape(topic)}"\}} ([0-9.e+]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


async def wait_produced(base: str, topic: str, target: float, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while await produced(base, topic) < target and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------- load
async def post_load(base: str, token: str, bodies: list[bytes], seconds: float, connections: int, client: str = "aiohttp") -> dict:
    """`connections` workers POST distinct notices for `seconds`; latency per request.

    Why aiohttp by default: httpx needs ~0.5 ms of client CPU per request (measured here), so
    on 2 cores it cannot offer 2,000 requests/s and leave a core to the server; one httpx
    AsyncClient with 64 connections is worse still (~6 ms per request: its pool is scanned per
    request). The httpx figure is measured too, with one single-connection client per worker."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    url = f"{base}/v1/exclusion-notices"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    it = iter(bodies)
    stop_at = time.perf_counter() + seconds
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)

    def done(t: float, status: int) -> None:
        latencies.append(time.perf_counter() - t)
        statuses[status] = statuses.get(status, 0) + 1

    async def httpx_worker() -> None:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=30) as c:
            for body in it:
                if time.perf_counter() >= stop_at:
                    return
                t = time.perf_counter()
                try:
                    status = (await c.post(url, content=body, headers=headers)).status_code
                except httpx.HTTPError:
                    status = 0
                done(t, status)

    async def aiohttp_worker(session) -> None:  # noqa: ANN001 - an aiohttp.ClientSession
        for body in it:
            if time.perf_counter() >= stop_at:
                return
            t = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            done(t, status)

    started = time.perf_counter()
    if client == "httpx":
        await asyncio.gather(*(httpx_worker() for _ in range(connections)))
    else:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections), timeout=aiohttp.ClientTimeout(total=30)) as session:
            await asyncio.gather(*(aiohttp_worker(session) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    accepted = statuses.get(202, 0)
    return {"client": client, "requests": len(latencies), "accepted": accepted, "statuses": statuses, "seconds": elapsed, "rate": accepted / elapsed,
            "p50_ms": _ms(percentile(latencies, 0.5)), "p99_ms": _ms(percentile(latencies, 0.99)),
            "client_cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime), "ran_out_of_bodies": elapsed < seconds * 0.95}


async def produce_load(bootstrap: str, topic: str, records: Sequence, seconds: float, in_flight: int) -> dict:
    """The baseline: `in_flight` tasks each awaiting one acks=all send at a time."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=0)
    await producer.start()
    latencies: list[float] = []
    it = iter(records)
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        for r in it:
            if time.perf_counter() >= stop_at:
                return
            t = time.perf_counter()
            await producer.send_and_wait(topic, value=r.value, key=r.key.encode(), headers=_headers(r))
            latencies.append(time.perf_counter() - t)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"messages": len(latencies), "seconds": elapsed, "rate": len(latencies) / elapsed,
            "p50_ms": _ms(percentile(latencies, 0.5)), "p99_ms": _ms(percentile(latencies, 0.99))}


def _headers(record) -> list[tuple[str, bytes]]:  # noqa: ANN001
    from services.intake.eventlog import headers_for

    return headers_for(record)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


# ---------------------------------------------------------------------------- CSV
def csv_return(rows: int, seed: int) -> tuple[bytes, list[list[str]]]:
    """An LA return of `rows` suspension rows of real schools of one LA, with valid UPNs."""
    gen = Generator(n_events=rows, seed=seed + 1)
    gen.plan_children()
    schools = [s for cell, picker in gen._pick_school.items() if cell[0] == CSV_LA for s in picker.items]  # noqa: SLF001
    days = gen.school_days(CSV_LA)
    rng = gen.rng
    out: list[list[str]] = []
    while len(out) < rows:
        school = schools[int(rng.random() * len(schools))]
        p = gen.pupil(school)
        for start in sorted(rng.sample(days, 1 + int(rng.random() * 3))):
            if len(out) == rows:
                break
            out.append([f"REC-{len(out) + 1}", "suspension", school.urn, p.upn or "", p.first_name, p.last_name, p.date_of_birth.isoformat(),
                        p.year_group or "", str(p.sen_status), str(p.sen_primary_need or ""), str(p.suspected_send).lower(), str(p.looked_after).lower(),
                        str(p.has_social_worker).lower(), start.isoformat(), "", str(gen._pick_sessions()), ";".join(gen.reasons())])  # noqa: SLF001
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(out)
    return buf.getvalue().encode(), out


async def post_csv(base: str, token: str, body: bytes, return_id: str) -> tuple[float, int, str]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    async with httpx.AsyncClient(timeout=600) as client:
        t = time.perf_counter()
        response = await client.post(f"{base}/v1/la-returns/csv", params={"la_code": CSV_LA, "return_id": return_id}, content=body, headers=headers)
        return time.perf_counter() - t, response.status_code, response.text[:300]


async def produce_rows(bootstrap: str, topic: str, rows: list[list[str]]) -> float:
    """Baseline for the CSV import: each row as a JSON message to Kafka, batched, acks=all. Rows/s."""
    import orjson

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    try:
        t = time.perf_counter()
        futures = []
        for row in rows:
            doc = dict(zip(CSV_COLUMNS, row, strict=True))
            futures.append(await producer.send(topic, value=orjson.dumps(doc), key=doc["upn"].encode()))
        await asyncio.gather(*futures)
        return len(rows) / (time.perf_counter() - t)
    finally:
        await producer.stop()


# ---------------------------------------------------------------------------- the benchmark
def run(bootstrap: str, year: Year, workdir: Path, seconds: float, connections: int, csv_rows: int, csv_repeats: int, seed: int) -> Table:
    table = Table("intake", f"Intake throughput: one intake process, {connections} concurrent connections, {seconds:.0f} s of single-event POSTs; "
                            f"a {csv_rows:,}-row CSV return")
    notices = [r for r in year.records if r.topic == EXCLUSION_NOTICES.name]
    prefix = new_prefix("intake")
    data_dir = workdir / prefix.rstrip(".")
    data_dir.mkdir(parents=True)
    tokens = write_tokens(workdir / "tokens.yaml")
    settings = settings_for(bootstrap, prefix, data_dir, intake_port=free_port())
    base = f"http://127.0.0.1:{settings.intake_port}"
    env = service_env(settings, workdir / "tokens.yaml")  # default limits: a 100k-row CSV return is accepted as shipped
    say(f"intake: starting the intake service on {base}")
    proc = start_process([PYTHON, "-m", "services.intake"], env=env, log=workdir / "intake.log")
    raw: dict = {}
    try:
        asyncio.run(wait_ready(f"{base}/readyz"))
        cut = [2000, len(notices) * 2 // 5, len(notices) * 3 // 5]
        bodies = [r.value for r in notices]
        warm = asyncio.run(post_load(base, tokens["intake"], bodies[: cut[0]], 2, connections))
        say(f"intake: warm-up {warm['rate']:,.0f}/s; measuring {seconds:.0f}s of POSTs (aiohttp client)")
        http = asyncio.run(post_load(base, tokens["intake"], bodies[cut[0] : cut[1]], seconds, connections))
        say(f"intake: {http['rate']:,.0f} POSTs/s (p99 {http['p99_ms']:.0f} ms); again with httpx clients")
        asyncio.run(_drain_relay(base))
        via_httpx = asyncio.run(post_load(base, tokens["intake"], bodies[cut[1] : cut[2]], max(3.0, seconds / 4), connections, client="httpx"))
        say(f"intake: {via_httpx['rate']:,.0f} POSTs/s with httpx; baseline produce loops")
        raw["http_httpx"] = via_httpx
        half = cut[2]
        topic = settings.topic(EXCLUSION_NOTICES.name)
        asyncio.run(kafka.ensure_topics(settings))
        base_many = asyncio.run(produce_load(bootstrap, topic, notices[half:], seconds, connections))
        base_one = asyncio.run(produce_load(bootstrap, topic, notices[half:], min(seconds, 5), 1))
        say(f"intake: aiokafka {base_many['rate']:,.0f} msgs/s ({connections} in flight), {base_one['rate']:,.0f} msgs/s (1 in flight)")
        raw.update(http=http, warmup=warm, baseline_in_flight=base_many, baseline_sequential=base_one)

        body, rows = csv_return(csv_rows, seed)
        csv_runs = []
        for i in range(csv_repeats):
            asyncio.run(_drain_relay(base))
            records_topic = settings.topic(LA_RETURN_RECORDS.name)
            published = asyncio.run(produced(base, records_topic))
            t = time.perf_counter()
            elapsed, status, text = asyncio.run(post_csv(base, tokens["intake"], body, f"R-bench-{prefix.rstrip('.')}-{i}"))
            if status == 202:  # end to end: every row published by the relay and acknowledged by the broker
                asyncio.run(wait_produced(base, records_topic, published + csv_rows))
            e2e = time.perf_counter() - t
            csv_runs.append({"seconds": elapsed, "seconds_end_to_end": e2e, "status": status, "rows_per_s": csv_rows / e2e if status == 202 else None,
                             "rows_per_s_to_202": csv_rows / elapsed if status == 202 else None, "body": text if status != 202 else ""})  # fmt: skip
            say(f"intake: CSV {csv_rows:,} rows → {status} in {elapsed:.1f}s, all published in {e2e:.1f}s")
        csv_topic = settings.topic(LA_RETURN_RECORDS.name) + ".bench-csv"
        asyncio.run(create_topics(bootstrap, [csv_topic]))
        csv_base = asyncio.run(produce_rows(bootstrap, csv_topic, rows))
        raw.update(csv_runs=csv_runs, csv_bytes=len(body), csv_baseline_rows_per_s=csv_base)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        table.error = f"{type(exc).__name__}: {exc}"
        log = (workdir / "intake.log").read_text(errors="replace")[-1500:] if (workdir / "intake.log").exists() else ""
        raw["intake_log_tail"] = log
    finally:
        stop_process(proc)
    table.raw = raw
    http, bm, b1 = raw.get("http", {}), raw.get("baseline_in_flight", {}), raw.get("baseline_sequential", {})
    table.add(f"single-event POSTs/s ({connections} connections)", http.get("rate"), "/s", f"aiokafka send_and_wait, {connections} in flight", bm.get("rate"),
              "≥ 2,000/s", met=(http.get("rate") or 0) >= 2000)
    table.add("POST latency p50", http.get("p50_ms"), "ms", "send_and_wait p50", bm.get("p50_ms"), higher_is_better=False)
    table.add("POST latency p99", http.get("p99_ms"), "ms", "send_and_wait p99", bm.get("p99_ms"), higher_is_better=False)
    rates = [r["rows_per_s"] for r in raw.get("csv_runs", []) if r.get("rows_per_s")]
    table.add(f"CSV import rows/s ({csv_rows:,} rows, best of {len(raw.get('csv_runs', []))})", max(rates) if rates else None, "rows/s",
              "aiokafka produce of the same rows", raw.get("csv_baseline_rows_per_s"), "≥ 50,000 rows/s", met=bool(rates) and max(rates) >= 50_000)
    if http:
        table.note(f"aiohttp client: {http['requests']:,} POSTs, statuses {http['statuses']}; the client itself used {http['client_cpu_s']:.1f} CPU-s "
                   f"of the {http['seconds']:.1f} s on this {_cores()}-core machine (it competes with the server)")
        if http.get("ran_out_of_bodies"):
            table.note("the client ran out of distinct notices before the time was up: the rate is over the shorter time")
    hx = raw.get("http_httpx")
    if hx:
        table.note(f"the same load from httpx (one single-connection AsyncClient per worker): {hx['rate']:,.0f} POSTs/s, p99 {hx['p99_ms']:.0f} ms, "
                   f"client CPU {hx['client_cpu_s']:.1f} s of {hx['seconds']:.1f} s: the client, not the server, is the limit there")
    if b1:
        table.note(f"baseline with a plain loop (1 send in flight, awaiting each): {b1['rate']:,.0f} msgs/s, p50 {b1['p50_ms']:.1f} ms")
    if raw.get("csv_runs"):
        runs = ", ".join(f"{r['status']} in {r['seconds']:.1f}s, published in {r.get('seconds_end_to_end', 0):.1f}s" for r in raw["csv_runs"])
        table.note(f"CSV: {raw['csv_bytes'] / 2**20:.1f} MiB body, default limits (SIGNPOST_MAX_CSV_BYTES); runs: {runs}; rows/s are end to end: "
                   "from the POST to the relay's last acknowledgement by the broker")
        if len(rates) > 1:
            table.note(f"CSV rows/s per run: {', '.join(f'{r:,.0f}' for r in rates)} (median {statistics.median(rates):,.0f})")
    return table


async def _drain_relay(base: str, timeout: float = 120, poll: float = 0.5) -> None:
    """Let the relay publish what earlier POSTs left in the event log, so each CSV run starts level."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            backlog = await relay_backlog(client, base)
            if not backlog:
                return
            await asyncio.sleep(poll)


def _cores() -> int:
    import os

    return os.cpu_count() or 0
