"""Erasure where lawful, in the referrals and intake stores (issue 12, item 4). The alerts part is in
tests/integration/alerts/test_alerts_subject_access.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select
from store_rows import engine_for, referral

from services.intake import subject_access as intake_access
from services.intake import tables as it
from services.referrals import subject_access as referrals_access
from services.referrals import tables as rt

NOW = datetime(2025, 3, 20, 12, tzinfo=UTC)


def test_referrals_erasure_takes_the_childs_rows_and_leaves_another_childs(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, "referrals", rt.metadata)
    with engine.begin() as conn:
        conn.execute(insert(rt.referrals), [referral("ref_a", "new", NOW), {**referral("ref_b", "new", NOW), "child_id": "ch_2"}])
        conn.execute(insert(rt.history), [{"referral_id": r, "at": NOW, "by": "p", "action": "created", "detail": None} for r in ("ref_a", "ref_b")])
        conn.execute(insert(rt.consents), [{"child_id": c, "recipient": "nas", "source": "call:1", "granted": True, "at": NOW} for c in ("ch_1", "ch_2")])
        conn.execute(insert(rt.profiles), [{"child_id": c, "profile": "{}", "at": NOW} for c in ("ch_1", "ch_2")])
    deleted = referrals_access.erase(engine, "ch_1")
    assert {k: v for k, v in deleted.items() if v} == {"referrals": 1, "referral_history": 1, "consents": 1, "profiles": 1}
    assert {name: rows for name, rows in referrals_access.export(engine, "ch_1").items() if rows} == {}
    assert len(referrals_access.export(engine, "ch_2")["referrals"]) == 1
    engine.dispose()


def test_intake_erasure_takes_the_events_under_the_childs_keys(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, "intake", it.metadata)
    with engine.begin() as conn:
        conn.execute(insert(it.event_log), [{"topic": "calls.v1", "event_id": f"call:{i}", "msg_key": key, "ce_type": "t", "ce_time": "2025-03-20T12:00:00Z",
                                             "value": b"{}"} for i, key in enumerate(["u:a", "p:a", "u:b"])])
    assert intake_access.erase(engine, ["u:a", "p:a"]) == {"events": 2}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(it.event_log)).scalar() == 1
    engine.dispose()
