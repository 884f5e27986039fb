"""Nothing acknowledged is lost, nothing is applied twice: 10,000 notices, the embedded broker
SIGKILLed mid-stream, then the whole system restarted (issue 2's acceptance)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer

from schemas.topics import INTAKE_TOPICS
from schemas.upn import check_letter
from tests.e2e.system import System
from tests.e2e.workload import post_all

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
        killed: list[int] = []
        posting = asyncio.run(post_all(system, bodies, at={3000: lambda: killed.append(os.kill(system.broker_pid(), signal.SIGKILL) or 1)}))
        assert posting.acknowledged == len(bodies) and killed
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
