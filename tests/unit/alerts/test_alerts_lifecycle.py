"""Alert lifecycle: one alert per (rule, subject, year, term), updated in place; new evidence re-opens; episodes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from schemas.alerts import AlertStatus, Rule, Severity
from services.alerts.domain import lifecycle
from services.common.exclusions.findings import Finding

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


def apply(existing, finding, *, upn=UPN, now=T1):
    """The alert after the finding (None: nothing changed)."""
    change = lifecycle.apply_finding(existing, finding, upn=upn, now=now)
    return change.alert if change else None


def raised():
    return apply(None, make_finding(), now=T0)


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
    alert = apply(
        None,
        make_finding(rule=Rule.end_of_term_spike, subject_kind="school", subject_id="104041", term="autumn"),
        upn=None,
        now=T0,
    )
    assert (alert.subject.kind, alert.subject.school_urn, alert.term) == ("school", "104041", "autumn")


def test_the_same_finding_again_changes_nothing():
    assert apply(raised(), make_finding(), upn=UPN, now=T1) is None


def test_a_new_value_updates_the_alert_and_its_version():
    updated = apply(
        raised(), make_finding(value=35.0, evidence=("notice:a", "notice:b", "notice:c")), upn=UPN, now=T1
    )
    assert (updated.value, updated.version, updated.updated_at, updated.created_at) == (35, 2, T1, T0)
    assert updated.evidence == ["notice:a", "notice:b", "notice:c"]
    assert updated.id == raised().id


def test_an_update_without_new_harm_keeps_the_status_the_team_gave():
    """A downward correction (fewer sessions re-sent) is not new harm: the team's decision stands."""
    acknowledged = lifecycle.acknowledge(raised(), "seen", T1)
    updated = apply(acknowledged, make_finding(value=32.0), upn=UPN, now=T2)
    assert (updated.status, updated.status_note, updated.value) == (AlertStatus.acknowledged, "seen", 32)
    assert lifecycle.apply_finding(acknowledged, make_finding(value=32.0), upn=UPN, now=T2).kind == "updated"


@pytest.mark.parametrize("status", ["acknowledged", "snoozed"])
def test_new_evidence_puts_an_acknowledged_or_snoozed_alert_back_to_open(status):
    """Issue 8: new harm that can't raise the severity (always critical past 45 days) must not be swallowed."""
    base = apply(None, make_finding(rule=Rule.suspension_days_limit_exceeded, severity=Severity.critical, value=46.0, threshold=45.0), now=T0)
    decided = lifecycle.acknowledge(base, "seen", T1) if status == "acknowledged" else lifecycle.snooze(base, T2 + timedelta(days=9), "panel", T1)
    change = lifecycle.apply_finding(
        decided, make_finding(rule=Rule.suspension_days_limit_exceeded, severity=Severity.critical, value=48.0, threshold=45.0,
                              evidence=("notice:a", "notice:b", "notice:c")), upn=UPN, now=T2)  # fmt: skip
    assert (change.kind, change.alert.status, change.alert.snoozed_until, change.alert.episode) == ("evidence", AlertStatus.open, None, 1)
    assert change.alert.status_note == "re-opened: new evidence"


def test_a_second_wave_after_a_person_resolved_it_opens_the_next_episode():
    """Issue 8: informal exclusions are always high; a second wave after `resolved` is new harm, routed again."""
    first = make_finding(rule=Rule.informal_exclusions_repeated, severity=Severity.high, value=2.0, threshold=2.0, evidence=("call:1", "call:2"))
    resolved = lifecycle.resolve(apply(None, first, now=T0), "family supported", T1, "inclusion-officer")
    second = replace(first, evidence=("call:1", "call:2", "call:3", "call:4"))
    change = lifecycle.apply_finding(resolved, second, upn=UPN, now=T2)
    assert (change.kind, change.alert.status, change.alert.episode, change.alert.id) == ("evidence", AlertStatus.open, 2, resolved.id)
    assert change.alert.resolved_by is None and change.alert.version == resolved.version + 1


def test_a_resolved_alert_without_new_evidence_stays_resolved():
    resolved = lifecycle.resolve(raised(), "handled", T1, "inclusion-officer")
    updated = apply(resolved, make_finding(value=31.0), now=T2)  # a correction down
    assert (updated.status, updated.episode) == (AlertStatus.resolved, 1)


def test_an_alert_signpost_resolved_comes_back_in_the_same_episode_when_it_holds_again():
    gone = lifecycle.no_longer_holds(raised(), "no longer holds: a correction", T1)
    assert (gone.status, gone.resolved_by) == (AlertStatus.resolved, lifecycle.SIGNPOST)
    back = apply(gone, make_finding(), now=T2)
    assert (back.status, back.episode, back.status_note, back.resolved_by) == (AlertStatus.open, 1, "holds again", None)


def test_no_longer_holds_leaves_a_resolved_alert_alone():
    assert lifecycle.no_longer_holds(lifecycle.resolve(raised(), None, T1, "x"), "why", T2) is None


def test_exactly_at_the_limit_is_a_visible_signal():
    at_limit = apply(None, make_finding(severity=Severity.high, value=45.0, threshold=40.0, limit_reached=True), now=T0)
    assert at_limit.limit_reached is True
    over = apply(at_limit, make_finding(severity=Severity.high, value=45.5, threshold=40.0, evidence=("notice:a", "notice:b", "notice:c")))
    assert over.limit_reached is False


def test_the_las_with_a_duty_are_the_findings_and_its_own():
    alert = apply(None, make_finding(la_code="334", la_codes=("305",)), now=T0)
    assert (alert.la_code, alert.la_codes) == ("334", ["305", "334"])


def test_a_upn_learnt_later_updates_the_subject():
    alert = apply(None, make_finding(), upn=None, now=T0)
    updated = apply(alert, make_finding(), upn=UPN, now=T1)
    assert updated.subject.upn == UPN and updated.version == 2


def test_a_severity_rise_re_opens_an_acknowledged_alert():
    acknowledged = lifecycle.acknowledge(raised(), "seen", T1)
    updated = apply(
        acknowledged, make_finding(severity=Severity.high, value=41.0, threshold=40.0), upn=UPN, now=T2
    )
    assert (updated.status, updated.severity) == (AlertStatus.open, Severity.high)
    assert "re-opened" in updated.status_note


def test_a_severity_rise_re_opens_a_snoozed_alert():
    snoozed = lifecycle.snooze(raised(), T0 + timedelta(days=30), "waiting for the review meeting", T1)
    updated = apply(
        snoozed, make_finding(severity=Severity.high, value=41.0, threshold=40.0), upn=UPN, now=T2
    )
    assert (updated.status, updated.snoozed_until) == (AlertStatus.open, None)


def test_a_severity_rise_re_opens_a_resolved_alert():
    resolved = lifecycle.resolve(raised(), "handled", T1, "inclusion-officer")
    updated = apply(
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
        lifecycle.acknowledge(lifecycle.resolve(raised(), None, T1, "x"), "late", T2)


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
        lifecycle.snooze(lifecycle.resolve(raised(), None, T1, "x"), T2, "later", T1)


def test_acknowledging_a_snoozed_alert_ends_the_snooze():
    alert = lifecycle.acknowledge(lifecycle.snooze(raised(), T2, "later", T1), "seen", T1)
    assert (alert.status, alert.snoozed_until) == (AlertStatus.acknowledged, None)


def test_resolve():
    alert = lifecycle.resolve(raised(), "reinstated", T1, "inclusion-officer")
    assert (alert.status, alert.status_note, alert.version, alert.resolved_by) == (AlertStatus.resolved, "reinstated", 2, "inclusion-officer")


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


@pytest.mark.parametrize(
    "changes",
    [
        {"value": 34.0},
        {"severity": Severity.high},
        {"threshold": 40.0},
        {"evidence": ("notice:a", "notice:b", "notice:c")},
        {"evidence": ("notice:b", "notice:a")},
        {"la_code": "306"},
        {"la_codes": ("305", "306")},
        {"limit_reached": True},
        {"projected_limit_date": T2.date()},
        {"due_on": T2.date()},
    ],
)
def test_a_change_to_any_field_the_alert_shows_updates_it(changes):
    """The quick 'nothing changed' check compares every field a finding sets, not just the value."""
    updated = apply(raised(), make_finding(**changes))
    assert updated is not None and updated.version == 2


def test_a_changed_upn_alone_updates_the_subject():
    assert apply(raised(), make_finding(), upn=None).subject.upn is None


def test_with_la_codes_is_replace_for_every_field():
    """`Finding.with_la_codes` builds the finding field by field: a field added later must not be dropped."""
    every = Finding(Rule.suspension_days_nearing_limit, "child", "ch_1", "305", "2024/25", "autumn", Severity.high, 41.0, 40.0, ("e1",), "101676",
                    limit_reached=True, la_codes=("305",), projected_limit_date=T2.date(), due_on=T1.date(), quiet=True)  # fmt: skip
    assert every.with_la_codes(("305", "306")) == replace(every, la_codes=("305", "306"))
