"""The referrals and intake retention jobs with a fake clock (issue 12, item 3). SQLite stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select
from store_rows import engine_for, referral

from services.common.retention import Schedule
from services.intake import retention as intake_retention
from services.intake import tables as intake_tables
from services.referrals import retention as referrals_retention
from services.referrals import tables as rt

NOW = datetime(2025, 3, 20, 12, tzinfo=UTC)
SCHEDULE = Schedule()


def test_closed_and_declined_referrals_go_after_their_period_open_ones_stay(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, "referrals", rt.metadata)
    with engine.begin() as conn:
        conn.execute(insert(rt.referrals), [referral("ref_closed", "closed", NOW), referral("ref_declined", "declined", NOW),
                                            referral("ref_open", "accepted", NOW)])
        conn.execute(insert(rt.history), [{"referral_id": r, "at": NOW, "by": "p", "action": "created", "detail": None}
                                          for r in ("ref_closed", "ref_declined", "ref_open")])
    assert referrals_retention.run(engine, SCHEDULE, NOW + timedelta(days=SCHEDULE.referrals - 1))["referrals"] == 0
    counts = referrals_retention.run(engine, SCHEDULE, NOW + timedelta(days=SCHEDULE.referrals + 1))
    with engine.connect() as conn:
        left = set(conn.execute(select(rt.referrals.c.id)).scalars())
        history = set(conn.execute(select(rt.history.c.referral_id)).scalars())
        runs = [json.loads(d) for a, d in conn.execute(select(rt.audit.c.action, rt.audit.c.detail)) if a == "retention_delete"]
    assert left == history == {"ref_open"}
    assert (counts["referrals"], counts["referral_history"]) == (2, 2)
    assert runs[-1] == counts and len(runs) == 2
    engine.dispose()


def test_intake_events_go_after_their_period_once_published(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, "intake", intake_tables.metadata)
    stamp = NOW.isoformat(timespec="microseconds").replace("+00:00", "Z")
    with engine.begin() as conn:
        conn.execute(insert(intake_tables.event_log), [{"topic": "calls.v1", "event_id": f"call:{i}", "msg_key": "u:x", "ce_type": "t",
                                                        "ce_time": stamp, "value": b"{}"} for i in range(3)])
        conn.execute(insert(intake_tables.relay_state).values(id=1, position=2, published="{}", epoch=None))  # the third not yet published
        conn.execute(insert(intake_tables.submissions).values(kind="call", source_id="c1", body_hash="h", records=1, accepted_at=NOW))
    assert intake_retention.run(engine, SCHEDULE, NOW + timedelta(days=SCHEDULE.intake_events - 1)) == {"events": 0, "submissions": 0}
    assert intake_retention.run(engine, SCHEDULE, NOW + timedelta(days=SCHEDULE.intake_events + 1)) == {"events": 2, "submissions": 1}
    with engine.connect() as conn:
        assert list(conn.execute(select(intake_tables.event_log.c.event_id)).scalars()) == ["call:2"], "unpublished: kept for the relay"
    engine.dispose()


def test_topic_retention_follows_the_schedule() -> None:
    from conftest import build_settings

    from services.common.kafka import topic_configs

    settings = build_settings(None, Path("var"), retention_intake_events_days=10, retention_alerts_days=20, retention_dead_letters_days=3)
    day = 86_400_000
    assert topic_configs(settings, settings.topic("calls.v1"))["retention.ms"] == str(10 * day)
    assert topic_configs(settings, settings.topic("alerts.v1"))["retention.ms"] == str(20 * day)
    assert topic_configs(settings, settings.topic("dead-letters.v1"))["retention.ms"] == str(3 * day)
    assert topic_configs(settings, settings.topic("broker-epoch.v1"))["retention.ms"] == "-1"
