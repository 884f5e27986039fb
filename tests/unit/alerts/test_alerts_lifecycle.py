"""Alert lifecycle: one alert per (rule, subject, year, term), updated in place; people's decisions kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from schemas.alerts import AlertStatus, Rule, Severity
from services.alerts.domain import lifecycle
from services.alerts.domain.findings import Finding

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(days=1)
UPN = "A305200000001"


def make_finding(**changes) -> Finding:
    base = Finding(
        Rule.suspension_days_nearing_limit,
        "child",
        "ch_1",
        "305",
        "2024/25",
        None,
        Severity.warning,
        33.0,
        30.0,
        ("notice:a", "notice:b"),
        "101676",
    )
    return replace(base, **changes)


def raised():
    return lifecycle.apply_finding(None, make_finding(), upn=UPN, now=T0)


def test_a_first_finding_raises_an_open_alert_at_version_1():
    alert = raised()
    assert (alert.status, alert.version, alert.severity, alert.value, alert.threshold) == (
        AlertStatus.open,
        1,
        Severity.warning,
        33,
        30,
    )
    assert (alert.created_at, alert.updated_at) == (T0, T0)
    assert alert.id == make_finding().alert_id
    assert (alert.subject.child_id, alert.subject.upn) == ("ch_1", UPN)
    assert alert.evidence == ["notice:a", "notice:b"]


def test_a_school_finding_has_a_school_subject():
    alert = lifecycle.apply_finding(
        None,
        make_finding(rule=Rule.end_of_term_spike, subject_kind="school", subject_id="104041", term="autumn"),
        upn=None,
        now=T0,
    )
    assert (alert.subject.kind, alert.subject.school_urn, alert.term) == ("school", "104041", "autumn")


def test_the_same_finding_again_changes_nothing():
    assert lifecycle.apply_finding(raised(), make_finding(), upn=UPN, now=T1) is None


def test_a_new_value_updates_the_alert_and_its_version():
    updated = lifecycle.apply_finding(
        raised(), make_finding(value=35.0, evidence=("notice:a", "notice:b", "notice:c")), upn=UPN, now=T1
    )
    assert (updated.value, updated.version, updated.updated_at, updated.created_at) == (35, 2, T1, T0)
    assert updated.evidence == ["notice:a", "notice:b", "notice:c"]
    assert updated.id == raised().id


def test_a_new_value_keeps_the_status_the_team_gave():
    acknowledged = lifecycle.acknowledge(raised(), "seen", T1)
    updated = lifecycle.apply_finding(acknowledged, make_finding(value=35.0), upn=UPN, now=T2)
    assert (updated.status, updated.status_note) == (AlertStatus.acknowledged, "seen")


def test_a_upn_learnt_later_updates_the_subject():
    alert = lifecycle.apply_finding(None, make_finding(), upn=None, now=T0)
    updated = lifecycle.apply_finding(alert, make_finding(), upn=UPN, now=T1)
    assert updated.subject.upn == UPN and updated.version == 2


def test_a_severity_rise_re_opens_an_acknowledged_alert():
    acknowledged = lifecycle.acknowledge(raised(), "seen", T1)
    updated = lifecycle.apply_finding(
        acknowledged, make_finding(severity=Severity.high, value=41.0, threshold=40.0), upn=UPN, now=T2
    )
    assert (updated.status, updated.severity) == (AlertStatus.open, Severity.high)
    assert "re-opened" in updated.status_note


def test_a_severity_rise_re_opens_a_snoozed_alert():
    snoozed = lifecycle.snooze(raised(), T0 + timedelta(days=30), "waiting for the review meeting", T1)
    updated = lifecycle.apply_finding(
        snoozed, make_finding(severity=Severity.high, value=41.0, threshold=40.0), upn=UPN, now=T2
    )
    assert (updated.status, updated.snoozed_until) == (AlertStatus.open, None)


def test_a_severity_rise_re_opens_a_resolved_alert():
    resolved = lifecycle.resolve(raised(), "handled", T1)
    updated = lifecycle.apply_finding(
        resolved, make_finding(severity=Severity.high, value=41.0, threshold=40.0), upn=UPN, now=T2
    )
    assert updated.status == AlertStatus.open


def test_acknowledge():
    alert = lifecycle.acknowledge(raised(), "called the school", T1)
    assert (alert.status, alert.status_note, alert.version, alert.updated_at) == (
        AlertStatus.acknowledged,
        "called the school",
        2,
        T1,
    )


def test_a_resolved_alert_cannot_be_acknowledged():
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.acknowledge(lifecycle.resolve(raised(), None, T1), "late", T2)


def test_snooze():
    alert = lifecycle.snooze(raised(), T2, "panel next week", T1)
    assert (alert.status, alert.snoozed_until, alert.status_note, alert.version) == (
        AlertStatus.snoozed,
        T2,
        "panel next week",
        2,
    )


@pytest.mark.parametrize("until", [T0, T1 - timedelta(seconds=1), T1])
def test_snoozing_until_a_time_not_in_the_future_is_refused(until):
    with pytest.raises(lifecycle.TransitionError, match="future"):
        lifecycle.snooze(raised(), until, "oops", T1)


def test_a_resolved_alert_cannot_be_snoozed():
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.snooze(lifecycle.resolve(raised(), None, T1), T2, "later", T1)


def test_acknowledging_a_snoozed_alert_ends_the_snooze():
    alert = lifecycle.acknowledge(lifecycle.snooze(raised(), T2, "later", T1), "seen", T1)
    assert (alert.status, alert.snoozed_until) == (AlertStatus.acknowledged, None)


def test_resolve():
    alert = lifecycle.resolve(raised(), "reinstated", T1)
    assert (alert.status, alert.status_note, alert.version) == (AlertStatus.resolved, "reinstated", 2)


def test_a_snoozed_alert_sleeps_until_its_time():
    snoozed = lifecycle.snooze(raised(), T2, "later", T1)
    assert lifecycle.wake(snoozed, T2 - timedelta(seconds=1)) is None


def test_a_snoozed_alert_wakes_at_its_time():
    snoozed = lifecycle.snooze(raised(), T2, "later", T1)
    woken = lifecycle.wake(snoozed, T2)
    assert (woken.status, woken.snoozed_until, woken.version, woken.updated_at) == (
        AlertStatus.open,
        None,
        3,
        T2,
    )


def test_only_snoozed_alerts_wake():
    assert lifecycle.wake(raised(), T2) is None
    assert lifecycle.wake(lifecycle.acknowledge(raised(), None, T1), T2) is None
