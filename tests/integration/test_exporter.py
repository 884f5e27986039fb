"""The exporter (issue 13) on the session's real broker (Tansu, or Apache Kafka when Docker answers):
lag per group and topic from committed and end offsets, members, and the store gauges, once."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, Table, insert
from sqlalchemy.types import TypeEngine

from services.alerts import tables as alert_tables
from services.common import db
from services.common.settings import Settings
from services.exporter.collector import Collector
from services.exporter.kafka_offsets import OffsetReader
from services.referrals import tables as referral_tables

pytestmark = pytest.mark.integration


def row(table: Table, **values: Any) -> dict[str, Any]:
    """A row with every required column filled by a placeholder of its type, then `values`."""
    def placeholder(kind: TypeEngine) -> Any:
        if isinstance(kind, DateTime):
            return dt.datetime(2024, 9, 1, tzinfo=dt.UTC)
        if isinstance(kind, Date):
            return dt.date(2024, 9, 1)
        if isinstance(kind, Boolean):
            return False
        if isinstance(kind, Integer | Float | Numeric):
            return 1
        return uuid.uuid4().hex[:6]

    out = {c.name: placeholder(c.type) for c in table.columns if not c.nullable or c.primary_key}
    return {**out, **values}


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_lag_members_and_store_gauges(settings: Settings, tmp_path: Path) -> None:
    topic, group = settings.topic("exporter-test.v1"), f"{settings.topic_prefix}stage-g1"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "-1"})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=100)
    await producer.start()
    try:  # ten records in one batch on partition 0 (Tansu then understates the end), two on partition 1
        sent = [await producer.send(topic, b"x", partition=0) for _ in range(10)]
        for future in sent:
            await future
        for _ in range(2):
            await producer.send_and_wait(topic, b"y", partition=1)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    engine = db.make_engine(f"sqlite:///{tmp_path / 'stores.sqlite3'}")
    db.migrate(engine, alert_tables.metadata)
    db.migrate(engine, referral_tables.metadata)
    with engine.begin() as conn:
        conn.execute(insert(alert_tables.alerts), [row(alert_tables.alerts, id=f"a{i}", rule="suspension_45_days", severity="critical", status="open") for i in range(3)])
        conn.execute(insert(referral_tables.referrals), [
            row(referral_tables.referrals, id="r1", agency="ias", status="new", due_by=dt.date(2000, 1, 1)),
            row(referral_tables.referrals, id="r2", agency="ias", status="new", due_by=dt.date(2999, 1, 1)),
            row(referral_tables.referrals, id="r3", agency="reu", status="closed", due_by=dt.date(2000, 1, 1)),
        ])
    exporter = Collector(settings, OffsetReader(settings.bootstrap_servers, settings.topic_prefix, settings.embedded),
                        {"alerts": engine, "referrals": engine})
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        # the stage applied four of partition 0's ten records and both of partition 1's
        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(4, ""), TopicPartition(topic, 1): OffsetAndMetadata(2, "")})
        exporter.collect()
        assert sample("signpost_kafka_up") == 1.0
        assert sample("signpost_consumer_group_lag", group=group, topic=topic) == 6.0
        assert sample("signpost_consumer_group_members", group=group) == 1.0
        assert sample("signpost_alerts", rule="suspension_45_days", severity="critical", status="open") == 3.0
        assert sample("signpost_referrals", agency="ias", status="new") == 2.0
        assert sample("signpost_referrals_overdue", agency="ias") == 1.0
        assert sample("signpost_referrals_overdue", agency="reu") is None  # closed: not overdue

        await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(10, "")})
        with engine.begin() as conn:
            conn.execute(alert_tables.alerts.update().values(status="resolved"))
        exporter.collect()
        assert sample("signpost_consumer_group_lag", group=group, topic=topic) == 0.0
        assert sample("signpost_alerts", rule="suspension_45_days", severity="critical", status="open") is None  # gone, not stale
        assert sample("signpost_alerts", rule="suspension_45_days", severity="critical", status="resolved") == 3.0
    finally:
        await consumer.stop()
        exporter.reader.close()
        engine.dispose()


def test_a_broker_that_does_not_answer_is_reported_and_the_stores_still_read(settings_factory: Any, tmp_path: Path) -> None:
    from conftest import closed_port

    settings = settings_factory(kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}")
    engine = db.make_engine(f"sqlite:///{tmp_path / 'stores.sqlite3'}")
    db.migrate(engine, alert_tables.metadata)
    exporter = Collector(settings, OffsetReader(settings.bootstrap_servers, settings.topic_prefix, settings.embedded, timeout_ms=1_000),
                        {"alerts": engine, "referrals": engine})  # no referrals tables here: that source fails alone
    errors = {s: sample("signpost_exporter_read_errors_total", source=s) or 0.0 for s in ("kafka", "alerts_store", "referrals_store")}
    try:
        exporter.collect()
    finally:
        exporter.reader.close()
        engine.dispose()
    assert sample("signpost_kafka_up") == 0.0 and not exporter.kafka_ok
    assert sample("signpost_exporter_read_errors_total", source="kafka") == errors["kafka"] + 1
    assert sample("signpost_exporter_read_errors_total", source="referrals_store") == errors["referrals_store"] + 2
    assert (sample("signpost_exporter_read_errors_total", source="alerts_store") or 0.0) == errors["alerts_store"]
