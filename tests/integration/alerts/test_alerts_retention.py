"""The alerts store's retention job with a fake clock (issue 12, item 3)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from services.alerts import retention, tables
from services.alerts.domain.linking import child_id_for_upn
from services.common.retention import Schedule

from .test_alerts_child_stage import NOW, P1_UPN, p1_notice

SCHEDULE = Schedule()
PAST_ALERTS = NOW + timedelta(days=SCHEDULE.alerts + 1)


def retention_runs(alerts) -> list[dict]:  # noqa: ANN001
    return [json.loads(r["detail"]) for r in alerts.rows(tables.audit) if r["action"] == "retention_delete"]


def test_nothing_within_its_period_is_touched_and_the_run_is_audited(alerts) -> None:  # noqa: ANN001
    for i in range(3):
        alerts.run([alerts.notice(p1_notice(i))], NOW)
    before = {t.name: len(alerts.rows(t)) for t in (tables.children, tables.alerts, tables.history)}
    counts = retention.run(alerts.engine, SCHEDULE, NOW + timedelta(days=365))
    assert set(counts.values()) == {0}
    assert {t.name: len(alerts.rows(t)) for t in (tables.children, tables.alerts, tables.history)} == before
    assert retention_runs(alerts) == [counts]


def test_a_resolved_alert_and_then_its_quiet_child_go_after_their_period(alerts) -> None:  # noqa: ANN001
    for i in range(3):
        alerts.run([alerts.notice(p1_notice(i))], NOW)
    p1 = child_id_for_upn(P1_UPN)
    with alerts.engine.begin() as conn:
        conn.execute(update(tables.alerts).where(tables.alerts.c.subject_id == p1).values(status="resolved", updated_at=NOW))
    resolved = {a["id"] for a in alerts.rows(tables.alerts) if a["subject_id"] == p1}

    assert retention.run(alerts.engine, SCHEDULE, NOW + timedelta(days=SCHEDULE.alerts - 1))["alerts"] == 0  # a day short
    counts = retention.run(alerts.engine, SCHEDULE, PAST_ALERTS)
    assert counts["alerts"] == len(resolved) >= 1 and counts["alert_history"] >= len(resolved)
    assert not resolved & {h["alert_id"] for h in alerts.rows(tables.history)}
    assert not resolved & {a["id"] for a in alerts.rows(tables.alerts)}
    assert (counts["children"], counts["aliases"]) == (1, 1), "quiet for the period and no alert left"
    assert alerts.rows(tables.children) == [] and alerts.rows(tables.aliases) == []
    assert retention_runs(alerts)[-1] == counts


def test_an_open_alert_keeps_its_child_however_old(alerts) -> None:  # noqa: ANN001
    for i in range(3):
        alerts.run([alerts.notice(p1_notice(i))], NOW)
    p1 = child_id_for_upn(P1_UPN)
    counts = retention.run(alerts.engine, SCHEDULE, NOW + timedelta(days=20 * 365))
    assert counts["alerts"] == 0 and counts["children"] == 0
    assert p1 in {c["child_id"] for c in alerts.rows(tables.children)}


def test_audit_entries_go_after_theirs(alerts) -> None:  # noqa: ANN001
    alerts.store.write_audit([{"at": NOW, "principal": "p", "action": "read_alert", "object_kind": "alert", "object_id": "al_1", "child_id": "ch_1", "detail": None}])
    assert retention.run(alerts.engine, SCHEDULE, NOW + timedelta(days=SCHEDULE.audit - 1))["audit"] == 0
    assert retention.run(alerts.engine, SCHEDULE, NOW + timedelta(days=SCHEDULE.audit + 1))["audit"] == 1
    assert [r["action"] for r in alerts.rows(tables.audit)] == ["retention_delete", "retention_delete"]
