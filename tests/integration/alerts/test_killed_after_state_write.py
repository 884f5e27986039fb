"""The child stage SIGKILLed after its state write and before its offset commit (issue "Stream state
that scales"): the restarted stage reads the batch again and counts nothing twice.

The child stage's state (each record's facts) is written in the store transaction that also holds
the batch's alerts and outbox; the offsets are committed after it. A process killed in between
leaves state that already holds the batch, and a consumer position before it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from conftest import TEST_PSEUDONYM_KEY

from schemas.intake import ExclusionNotice
from schemas.topics import INTAKE_TOPICS
from services.alerts import facts_codec, tables
from services.alerts.child_stage import ChildStage
from services.alerts.domain.rules import RuleConfig
from services.alerts.store import AlertsStore
from services.common import db, kafka
from services.common.calendar import load_registry
from services.common.settings import Settings
from services.common.stream import StageRunner
from services.intake.eventlog import headers_for
from services.intake.submissions import notice_submission
from tests import factories as fx
from tests.integration.test_stream import eventually

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
STARTS = ("2025-01-13", "2025-01-27", "2025-02-03", "2025-03-03")  # school days at the default school, 2024/25
CHILDREN = 10  # x 4 suspensions of 24 sessions = 48 days each: nearing the limit (high) and over it


async def publish(settings: Settings) -> list[dict]:
    pupils = [fx.make_pupil(upn=fx.valid_upn()) for _ in range(CHILDREN)]
    notices = [fx.make_notice(pupil, notice_id=f"kill-{c}-{i}", start_date=start, end_date=..., sessions=24, notified_at=f"{start}T09:00:00Z")
               for c, pupil in enumerate(pupils) for i, start in enumerate(STARTS)]  # fmt: skip
    producer = kafka.producer(settings)
    await producer.start()
    try:
        for doc in notices:
            [record] = notice_submission(ExclusionNotice.model_validate(doc)).records
            await producer.send_and_wait(settings.topic(record.topic), record.value, key=record.key.encode(), headers=headers_for(record))
    finally:
        await producer.stop()
    return notices


async def committed(settings: Settings, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    partitions = [TopicPartition(settings.topic(t.name), p) for t in INTAKE_TOPICS for p in range(settings.kafka_partitions)]
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=partitions)
    finally:
        await admin.close()
    return sum(max(0, o.offset) for o in offsets.values())


@pytest.mark.parametrize("overlap", [False, True], ids=["commit-then-offsets", "commit-overlapping-the-next-batch"])
async def test_killed_after_the_state_write_and_before_the_offset_commit_counts_nothing_twice(settings: Settings, overlap: bool) -> None:
    await kafka.ensure_topics(settings)
    notices = await publish(settings)
    group = settings.topic(f"alerts-child-killed-{overlap}")
    engine = db.make_engine(settings.database_url_for("alerts"))
    db.migrate(engine, tables.metadata)
    store = AlertsStore(engine)

    env = {**os.environ, "SIGNPOST_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY}  # the child ids this process expects
    killed = subprocess.run([sys.executable, str(HERE / "killed_stage.py"), settings.model_dump_json(), group, *(["overlap"] if overlap else [])], timeout=120, capture_output=True, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    written = {r["child_id"]: r for r in _rows(engine, tables.children)}
    assert written, "the first batch's state was written before the kill"
    assert await committed(settings, group) == 0, "no offset was committed"

    stage = ChildStage(store, load_registry(), RuleConfig())
    runner = StageRunner(settings=settings, service="alerts", stage="child", group_id=group, topics=[t.name for t in INTAKE_TOPICS],
                         process=stage.process, commit=store.commit, reset=stage.reset, on_assigned=stage.assigned, max_records=25,
                         gate=stage.gate if overlap else None)  # fmt: skip
    await runner.start()
    try:
        await eventually("every notice applied and its offset committed", lambda: _equals(committed(settings, group), len(notices)), timeout=60)
    finally:
        await runner.stop()

    children = _rows(engine, tables.children)
    assert len(children) == CHILDREN
    for row in children:
        years, _ = facts_codec.decode(row["facts"])
        assert {y: ys.days for y, ys in years.items()} == {"2024/25": 48.0}  # 4 x 12 days, each suspension once
        assert sum(len(reports) for ys in years.values() for reports in ys.by_key.values()) == 4  # each report once
    alerts = _rows(engine, tables.alerts)
    limit_rules = ("suspension_days_nearing_limit", "suspension_days_limit_exceeded")  # issue 11's suspensions_in_term fires too: counted once each as well
    assert sorted(a["rule"] for a in alerts if a["rule"] in limit_rules) == sorted(list(limit_rules) * CHILDREN)
    assert sorted(a["rule"] for a in alerts if a["rule"] not in limit_rules) == ["suspensions_in_term"] * CHILDREN
    assert {a["value"] for a in alerts if a["rule"] in limit_rules} == {48.0}
    assert {a["value"] for a in alerts if a["rule"] not in limit_rules} == {4.0}  # 4 suspensions in the term, each once
    engine.dispose()


async def _equals(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


def _rows(engine, table) -> list[dict]:  # noqa: ANN001
    from sqlalchemy import select

    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(table))]
