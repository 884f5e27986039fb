"""The school stage against a real store: suspensions re-keyed by school → end-of-term spikes (public scenario p3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factories as fx
import pytest

from schemas.alerts import AlertStatus, Rule, Severity
from schemas.topics import ALERTS, SCHOOL_SUSPENSIONS
from services.alerts import tables
from services.common.exclusions.findings import alert_id

pytestmark = pytest.mark.integration

NOW = datetime(2024, 12, 17, 16, 0, tzinfo=UTC)
URN, LA = "104041", "334"  # a Solihull school: real 2024/25 term dates
BASELINE = ("2024-09-09", "2024-10-07", "2024-11-11")
WINDOW = (
    "2024-12-10",
    "2024-12-11",
    "2024-12-12",
    "2024-12-13",
    "2024-12-16",
    "2024-12-17",
)  # the last 10 school days start 9 Dec
SPIKE_ID = alert_id(Rule.end_of_term_spike, "school", URN, "2024/25", "autumn")


def p3_notice(start: str, n: int) -> dict:
    pupil = {
        "first_name": f"Pupil{n}",
        "last_name": "P3",
        "date_of_birth": "2015-01-01",
        "year_group": "4",
        "sen_status": "N",
        "sen_primary_need": ...,
    }
    return fx.make_notice(
        pupil,
        school_urn=URN,
        la_code=LA,
        start_date=start,
        end_date=...,
        sessions=2,
        notified_at=f"{start}T09:00:00Z",
        reason_codes=["DB"],
    )


def counted(alerts, *starts: str) -> list:
    """Notices through the child stage; its suspensions-by-school outputs as the school stage receives them."""
    result = alerts.run([alerts.notice(p3_notice(s, i)) for i, s in enumerate(starts)], NOW)
    return [alerts.redelivered(m, i) for i, m in enumerate(alerts.school_suspensions(result))]


def test_p3_spike_fires_at_the_fifth_window_suspension_and_grows(alerts):
    messages = counted(alerts, *BASELINE, *WINDOW)
    assert len(messages) == 9 and {m.key for m in messages} == {URN.encode()}

    assert alerts.run_school(messages[:7], NOW).changed_alerts == []  # 3 baseline + 4 in the window

    fifth = alerts.run_school(messages[7:8], NOW)
    [spike] = fifth.changed_alerts
    assert (spike.id, spike.rule, spike.severity, spike.value, spike.status, spike.version) == (
        SPIKE_ID,
        Rule.end_of_term_spike,
        Severity.warning,
        5,
        AlertStatus.open,
        1,
    )
    assert (spike.subject.kind, spike.subject.school_urn, spike.la_code, spike.academic_year, spike.term) == (
        "school",
        URN,
        LA,
        "2024/25",
        "autumn",
    )
    assert [(m.topic, m.key) for m in alerts.out(fifth)] == [(ALERTS.name, URN)]

    [spike] = alerts.run_school(messages[8:], NOW).changed_alerts
    assert (spike.id, spike.value, spike.version) == (SPIKE_ID, 6, 2)
    assert len(spike.evidence) == 6
    stored = alerts.alert(SPIKE_ID)
    assert (stored.value, stored.version) == (6, 2)
    assert alerts.store.list_alerts({"school_urn": URN, "rule": "end_of_term_spike"}, None, 10, None)[0] == [
        stored
    ]


def test_redelivered_suspensions_change_nothing_even_after_a_restart(alerts):
    messages = counted(alerts, *BASELINE, *WINDOW)
    assert len(alerts.run_school(messages, NOW).changed_alerts) == 1
    before = (alerts.rows(tables.school_suspensions), alerts.rows(tables.alerts))

    for restart in (False, True):
        if restart:
            alerts.school.reset()
        again = alerts.run_school(messages, NOW + timedelta(hours=1))
        assert again.changed_alerts == [] and alerts.out(again) == [] and again.rejected == []
        assert (alerts.rows(tables.school_suspensions), alerts.rows(tables.alerts)) == before


def test_the_same_suspension_from_the_la_return_counts_once_at_the_school(alerts):
    messages = counted(alerts, *BASELINE, *WINDOW[:4])
    alerts.run_school(messages, NOW)
    notice = p3_notice(WINDOW[4], 99)
    first = alerts.run([alerts.notice(notice)], NOW)
    record = fx.make_record(
        notice["pupil"], school_urn=URN, start_date=WINDOW[4], end_date=..., sessions=2, reason_codes=["DB"]
    )

    again = alerts.run([alerts.record(record, la_code=LA)], NOW)

    # passed on again (a replay after a broker restart must reach the school), under the same id
    [told], [told_again] = alerts.school_suspensions(first), alerts.school_suspensions(again)
    assert dict(told.headers)["ce_id"] == dict(told_again.headers)["ce_id"]
    [spike] = alerts.run_school([alerts.redelivered(m, i) for i, m in enumerate([told, told_again])], NOW).changed_alerts
    assert spike.value == 5


def test_a_suspension_starting_in_the_christmas_holidays_counts_in_the_spring_term(alerts):
    messages = counted(alerts, "2024-12-27")

    alerts.run_school(messages, NOW)

    [row] = alerts.rows(tables.school_suspensions)
    assert row["term_id"] == "2024/25-spring"


def test_a_malformed_suspension_is_dead_lettered_and_the_rest_applied(alerts):
    good = counted(alerts, *BASELINE)
    broken = alerts.raw(SCHOOL_SUSPENSIONS, b"not json")

    result = alerts.run_school([good[0], broken, *good[1:]], NOW)

    [dead] = result.rejected
    assert dead.message is broken and dead.reason.startswith("invalid_payload")
    assert len(alerts.rows(tables.school_suspensions)) == 3
