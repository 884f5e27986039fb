"""Nothing acknowledged is lost, nothing is applied twice: 10,000 notices, the embedded broker
SIGKILLed mid-stream, then the whole system restarted (issue 2's acceptance)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from schemas.topics import INTAKE_TOPICS
from schemas.upn import check_letter
from tests.e2e.system import System

pytestmark = pytest.mark.integration
CHILDREN, NOTICES_EACH, SESSIONS = 2000, 5, 14  # 5 x 7 days = 35 days: one nearing-limit warning per child


def notices() -> list[dict]:
    out = []
    for child in range(CHILDREN):
        body = f"305{child:09d}"
        pupil = {"upn": check_letter(body) + body, "first_name": f"Child{child}", "last_name": "Durable", "date_of_birth": "2012-01-01", "sen_status": "N"}
        for n in range(NOTICES_EACH):
            out.append({"notice_id": f"dur-{child}-{n}", "school_urn": "101676", "la_code": "305", "pupil": pupil, "category": "suspension",
                        "start_date": f"2024-10-{7 + n:02d}", "sessions": SESSIONS, "reason_codes": ["DB"], "notified_at": "2024-10-01T09:00:00Z"})
    return out


async def post_all(system: System, bodies: list[dict], kill_after: int) -> int:
    """POST every body until each is acknowledged (202, or 200 for a retry the intake already had)."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    acknowledged = 0
    killed = False
    headers = {"Authorization": f"Bearer {system.tokens['intake']}"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal acknowledged, killed
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                try:
                    r = await client.post(system.url("intake", "/v1/exclusion-notices"), json=body, headers=headers)
                except httpx.TransportError:
                    r = None
                if r is not None and r.status_code in (200, 202):
                    acknowledged += 1
                    break
                assert r is None or r.status_code == 503, (r.status_code, r.text)
                await asyncio.sleep(0.2)  # 503 + Retry-After: the broker is down; the event was not accepted
            if acknowledged >= kill_after and not killed:
                killed = True
                os.kill(system.broker_pid(), signal.SIGKILL)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(32)))
    assert killed
    return acknowledged


async def event_ids_on_intake_topics(system: System, expected: int, quiet: float = 5.0) -> Counter:
    consumer = AIOKafkaConsumer(*[system.prefix + t.name for t in INTAKE_TOPICS], bootstrap_servers=f"127.0.0.1:{system.broker_port}",
                                group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen: Counter = Counter()
    last_new = time.monotonic()
    try:
        while time.monotonic() - last_new < quiet or sum(seen.values()) < expected and time.monotonic() - last_new < 60:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    seen[dict(r.headers)["ce_id"].decode()] += 1
                    last_new = time.monotonic()
    finally:
        await consumer.stop()
    return seen


def alerts_of(system: System) -> list[dict]:
    items, cursor = [], None
    while True:
        path = "/v1/alerts?rule=suspension_days_nearing_limit&la_code=305&limit=500" + (f"&cursor={cursor}" if cursor else "")
        status, page = system.request("alerts", "GET", path, "inclusion_team")
        assert status == 200
        items += [a for a in page["items"] if a["subject"]["upn"] and a["subject"]["upn"][1:4] == "305"]  # type: ignore[index]
        cursor = page["next_cursor"]  # type: ignore[index]
        if not cursor:
            return items


def test_ten_thousand_events_survive_a_broker_kill_and_a_restart(tmp_path) -> None:
    system = System(tmp_path)
    bodies = notices()
    system.start()
    try:
        acknowledged = asyncio.run(post_all(system, bodies, kill_after=3000))
        assert acknowledged == len(bodies)
    finally:
        system.stop()
    system.start()  # `make run` again: a fresh, empty broker; the intake relay publishes its log again
    try:
        seen = asyncio.run(event_ids_on_intake_topics(system, len(bodies)))
        assert set(seen) == {f"notice:{b['notice_id']}" for b in bodies}, "an acknowledged event is missing"
        assert max(seen.values()) == 1, f"published twice: {[k for k, v in seen.items() if v > 1][:5]}"
        deadline = time.time() + 90
        while len(alerts := alerts_of(system)) < CHILDREN and time.time() < deadline:
            time.sleep(1)
        assert len(alerts) == CHILDREN, "one nearing-limit alert per child, none missing, none twice"
        assert {a["value"] for a in alerts} == {NOTICES_EACH * SESSIONS / 2}, "every suspension counted exactly once"
    finally:
        system.stop()
