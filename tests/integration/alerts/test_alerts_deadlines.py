"""Issue 11 (items 1-3): the statutory clocks through the child stage and a real store: proceedings
events become facts that survive a restart, deadlines pass with the tick (an injected clock), and the
event that ends a clock resolves its alerts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import factories as fx
import pytest

from schemas import proceedings as p
from schemas.alerts import AlertStatus, Rule
from schemas.pupil import child_key
from schemas.topics import BOARD_DECISIONS, EDUCATION_PROVISIONS, IRP_APPLICATIONS, TopicSpec
from services.alerts import facts_codec, tables
from services.alerts.child_stage import ChildStage
from services.alerts.domain.linking import child_id_for_upn
from services.alerts.domain.rules import RuleConfig
from services.common.exclusions.findings import alert_id
from services.common.messages import Incoming

pytestmark = pytest.mark.integration
NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


class Today:
    def __init__(self, day: date):
        self.day = day

    def __call__(self) -> date:
        return self.day


def stage(alerts, today: Today) -> ChildStage:  # noqa: ANN001 - the harness
    return ChildStage(alerts.store, alerts.calendars, RuleConfig(), clock=today, tick_s=3600)


def proceeding(alerts, spec: TopicSpec, model: type, body: dict, prefix: str, own_id: str) -> Incoming:  # noqa: ANN001
    event = model.model_validate(body)
    return alerts._incoming(spec, child_key(event.la_code, event.pupil), event.model_dump_json().encode(), f"{prefix}:{body[own_id]}")


def test_a_board_decision_overdue_is_raised_by_the_tick_and_resolved_by_the_decision(alerts):
    pupil = fx.make_pupil(sen_status="N", sen_primary_need=...)
    cid = child_id_for_upn(pupil["upn"])
    today = Today(date(2025, 3, 11))
    child = stage(alerts, today)
    pex = fx.make_notice(pupil, category="permanent", sessions=..., end_date=..., start_date="2025-03-10", notified_at="2025-03-10T15:00:00Z")
    first = alerts.run([alerts.notice(pex)], NOW, child)
    [due] = [a for a in first.changed_alerts if a.rule == Rule.governing_board_review_due]
    assert (due.due_on, due.term, due.academic_year) == (date(2025, 3, 31), "spring", "2024/25")  # 15 Bromley school days after 10 Mar
    [row] = alerts.rows(tables.children)
    assert row["next_check"] == date(2025, 3, 17)  # day 6 of the LA's duty (R-DAY6) comes first

    today.day = date(2025, 4, 1)  # the tick: no new event, the date moved
    assert child.has_pending()
    ticked = alerts.run([], NOW, child)
    assert {a.rule for a in ticked.changed_alerts} == {Rule.governing_board_decision_overdue, Rule.la_education_from_day_six_missing}
    assert not child.has_pending()

    # a restart: the facts come back from the row; the decision and provision end their clocks
    again = stage(alerts, today)
    decision = fx.make_proceeding("governing-board-decisions", pupil, exclusion_start_date="2025-03-10", decided_on="2025-04-01", outcome="reinstated")
    provision = fx.make_proceeding("education-provisions", pupil, exclusion_start_date="2025-03-10", start_date="2025-03-17")
    done = alerts.run([proceeding(alerts, BOARD_DECISIONS, p.GoverningBoardDecision, decision, "board-decision", "decision_id"),
                       proceeding(alerts, EDUCATION_PROVISIONS, p.EducationProvision, provision, "provision", "provision_id")], NOW, again)  # fmt: skip
    resolved = {a.rule: a for a in done.changed_alerts}
    assert set(resolved) == {Rule.governing_board_review_due, Rule.governing_board_decision_overdue, Rule.la_education_from_day_six_missing}
    assert all(a.status == AlertStatus.resolved and a.resolved_by == "signpost" for a in resolved.values())
    assert resolved[Rule.governing_board_decision_overdue].status_note == "no longer holds: the governing board's decision was recorded"
    [row] = alerts.rows(tables.children)
    assert row["next_check"] is None
    assert len(facts_codec.decode_proceedings(row["facts"]).by_event) == 3
    assert alerts.alert(alert_id("governing_board_decision_overdue", "child", cid, "2024/25", "spring")).status == AlertStatus.resolved


def test_the_irp_window_closes_with_time_and_an_application_arriving_twice_counts_once(alerts):
    pupil = fx.make_pupil()
    today = Today(date(2025, 3, 21))
    child = stage(alerts, today)
    decision = fx.make_proceeding("governing-board-decisions", pupil, decided_on="2025-03-20")
    raised = alerts.run([proceeding(alerts, BOARD_DECISIONS, p.GoverningBoardDecision, decision, "board-decision", "decision_id")], NOW, child)
    [window] = raised.changed_alerts
    assert (window.rule, window.due_on) == (Rule.irp_application_window_open, date(2025, 4, 25))  # Bromley's Easter holiday skipped
    application = fx.make_proceeding("irp-applications", pupil, sent_on="2025-03-24")
    event = proceeding(alerts, IRP_APPLICATIONS, p.IRPApplication, application, "irp-application", "application_id")
    applied = alerts.run([event, event], NOW, child)
    assert [(a.rule, a.status) for a in applied.changed_alerts] == [(Rule.irp_application_window_open, AlertStatus.resolved)]
    assert applied.duplicates == {IRP_APPLICATIONS.name: 1}
    [row] = alerts.rows(tables.children)
    assert row["next_check"] == date(2025, 4, 30)  # the panel is due by the 15th school day after 24 Mar: 29 Apr
    today.day = date(2025, 4, 29)
    assert alerts.run([], NOW, child).changed_alerts == []
    today.day = date(2025, 4, 30)
    assert [a.rule for a in alerts.run([], NOW, child).changed_alerts] == [Rule.irp_review_overdue]


def test_old_rows_without_proceedings_decode_as_none() -> None:
    assert not facts_codec.decode_proceedings(b'{"s": [], "i": []}')
    assert not facts_codec.decode_proceedings(None)


def test_a_deadline_long_past_raises_nothing(alerts):
    """Loading old data: a permanent exclusion two years before today alerts nobody (rules.Deadlines.watch_school_days)."""
    child = stage(alerts, Today(date(2027, 3, 10)))
    pex = fx.make_notice(category="permanent", sessions=..., end_date=..., start_date="2025-03-10", notified_at="2025-03-10T15:00:00Z")
    assert alerts.run([alerts.notice(pex)], NOW, child).changed_alerts == []
