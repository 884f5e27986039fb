"""`signpost rebuild referrals`: the store rebuilt from the topics, nothing delivered again, nothing twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.common import db
from services.referrals import tables
from services.referrals.inputs import Message
from services.referrals.rebuild import rebuild

from . import builders as b

pytestmark = pytest.mark.integration



async def publish(settings, items: list[Message]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for item in items:
            await producer.send_and_wait(settings.topic(b.topic_of(item)), item.model_dump_json().encode(), key=b.key_of(item))
    finally:
        await producer.stop()


def rows(settings, table) -> list[dict]:  # noqa: ANN001
    engine = db.make_engine(settings.database_url_for("referrals"))
    with engine.connect() as conn:
        out = [r._asdict() for r in conn.execute(select(table))]
    engine.dispose()
    return out


async def test_rebuild_recreates_referrals_without_delivering_and_is_idempotent(settings_factory, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIGNPOST_TEST_HOOK_SECRET", "whsec_" + "c2lnbnBvc3QtdGVzdHMtb25seS0zMi1ieXRlcy1rZXkh")  # tests only
    policy = tmp_path / "policy.yaml"
    text = (Path(b.__file__).parents[3] / "services" / "referrals" / "policy.default.yaml").read_text()
    policy.write_text(text.replace("    webhook: null", "    webhook: {url: http://127.0.0.1:9/hook, secret_env: SIGNPOST_TEST_HOOK_SECRET, max_attempts: 3}"))
    settings = settings_factory(routing_policy_file=policy, referrals_port=1)  # nothing listens on port 1
    send_child = b.profile(sen_status="K")
    await publish(settings, [
        b.alert(send_child, "suspension_days_nearing_limit"),
        b.alert(send_child, "informal_exclusions_repeated"),
        b.notice(b.profile()),
    ])

    report = await rebuild(settings, progress=False)

    referrals = rows(settings, tables.referrals)
    assert sorted(r["agency"] for r in referrals) == ["exclusions_officer", "exclusions_officer", "ias", "reu"]
    deliveries = rows(settings, tables.deliveries)
    assert deliveries and {d["status"] for d in deliveries} == {"skipped"}, "a rebuild notifies nobody"
    assert report.generation == "2"

    again = await rebuild(settings, progress=False)
    assert again.referrals_changed == 0 and again.generation == "3"
    assert len(rows(settings, tables.referrals)) == len(referrals), "nothing twice"
