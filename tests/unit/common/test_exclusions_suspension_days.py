"""R-45: suspension days per child per academic year, across schools (domain.md §1.2)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from schemas.alerts import Rule, Severity
from services.common.exclusions import suspension_days
from services.common.exclusions.facts import SuspensionFact, suspension_key
from services.common.exclusions.thresholds import SuspensionDays

UPN = "A305200000001"
YEAR = "2024/25"
_n = 0


def make_fact(
    sessions: int, *, school_urn: str = "101676", start: date | None = None, event_id: str | None = None, reported_at: str = "2024-10-01T09:00:00",
    la_code: str = "305",
) -> SuspensionFact:
    """A distinct suspension unless `start` (and the school) repeat an earlier one."""
    global _n
    _n += 1
    start = start or date(2024, 9, 2 + _n % 25)
    key = suspension_key(UPN, school_urn, start)
    return SuspensionFact(key, event_id or f"notice:N-{_n}", UPN, school_urn, la_code, start, sessions, reported_at)


def state_with(*sessions: int) -> suspension_days.YearSuspensions:
    state = suspension_days.YearSuspensions()
    for i, s in enumerate(sessions):
        assert suspension_days.record(state, make_fact(s, start=date(2024, 9, 2 + i)))
    return state


def detect(state: suspension_days.YearSuspensions, config: SuspensionDays | None = None) -> list:
    return suspension_days.detect(state, child_id="ch_1", academic_year=YEAR, config=config or SuspensionDays())


def by_rule(findings: list) -> dict:
    return {f.rule: f for f in findings}


def test_below_the_warning_threshold_no_finding():
    assert detect(state_with(58)) == []  # 29 days


def test_33_days_is_nearing_the_limit_with_a_warning():
    [finding] = detect(state_with(22, 22, 22))
    assert (finding.rule, finding.severity, finding.value, finding.threshold) == (
        Rule.suspension_days_nearing_limit,
        Severity.warning,
        33,
        30,
    )
    assert (finding.subject_kind, finding.subject_id, finding.academic_year, finding.term) == (
        "child",
        "ch_1",
        YEAR,
        None,
    )


def test_40_days_raises_the_same_rule_to_high():
    [finding] = detect(state_with(80))
    assert (finding.rule, finding.severity, finding.value, finding.threshold) == (
        Rule.suspension_days_nearing_limit,
        Severity.high,
        40,
        40,
    )


def test_45_and_a_half_days_also_exceeds_the_limit():
    found = by_rule(detect(state_with(91)))
    assert found[Rule.suspension_days_nearing_limit].severity == Severity.high
    exceeded = found[Rule.suspension_days_limit_exceeded]
    assert (exceeded.severity, exceeded.value, exceeded.threshold) == (Severity.critical, 45.5, 45)


def test_exactly_45_days_is_not_over_the_limit_but_flagged():
    found = by_rule(detect(state_with(90)))
    assert Rule.suspension_days_limit_exceeded not in found
    nearing = found[Rule.suspension_days_nearing_limit]
    assert (nearing.value, nearing.limit_reached) == (45, True)  # one more suspension would be unlawful


@pytest.mark.parametrize("sessions", [89, 91])
def test_only_exactly_the_limit_is_flagged(sessions):
    assert by_rule(detect(state_with(sessions)))[Rule.suspension_days_nearing_limit].limit_reached is False


def test_a_lunchtime_counts_half_a_day():
    state = state_with(59)  # 29.5 days
    lunchtime = make_fact(1, start=date(2024, 10, 1))
    assert lunchtime.days == 0.5
    suspension_days.record(state, lunchtime)
    [finding] = detect(state)
    assert finding.value == 30 and finding.severity == Severity.warning


def test_the_same_suspension_twice_counts_once():
    state = suspension_days.YearSuspensions()
    fact = make_fact(40, start=date(2024, 9, 16))
    assert suspension_days.record(state, fact) is True
    assert suspension_days.record(state, fact) is False  # redelivered
    again = make_fact(40, start=date(2024, 9, 16), event_id="la-return:R1:REC1", reported_at="2025-01-10T08:00:00")  # the LA's return of it
    assert suspension_days.record(state, again) is True  # a second report, kept ...
    assert state.days == 20  # ... counted once
    assert state.evidence() == (fact.event_id,)  # the first report is what the alert cites


def test_a_correction_replaces_the_earlier_report_whatever_the_arrival_order():
    """Issue 8: the same suspension re-sent with fewer sessions was counted twice."""
    original = make_fact(40, start=date(2024, 9, 16), event_id="notice:N1", reported_at="2024-09-16T09:00:00")
    correction = make_fact(10, start=date(2024, 9, 16), event_id="notice:N1-corrected", reported_at="2024-09-17T09:00:00")
    for order in ([original, correction], [correction, original]):
        state = suspension_days.YearSuspensions()
        for fact in order:
            suspension_days.record(state, fact)
        assert state.days == 5
        assert state.evidence() == ("notice:N1",)


def test_the_alert_is_about_the_school_and_la_of_the_latest_suspension():
    state = suspension_days.YearSuspensions()
    suspension_days.record(state, make_fact(40, school_urn="101676", la_code="305", start=date(2024, 9, 16)))
    suspension_days.record(state, make_fact(26, school_urn="104041", la_code="334", start=date(2024, 11, 4)))
    [finding] = detect(state)
    assert (finding.school_urn, finding.la_code) == ("104041", "334")


def test_suspensions_at_two_schools_in_one_year_add_up():
    state = suspension_days.YearSuspensions()
    suspension_days.record(state, make_fact(40, school_urn="101676", start=date(2024, 9, 16)))
    suspension_days.record(state, make_fact(26, school_urn="101700", start=date(2024, 9, 16)))
    [finding] = detect(state)
    assert finding.value == 33


def test_evidence_lists_the_event_ids():
    state = suspension_days.YearSuspensions()
    ids = ["notice:a", "notice:b", "la-return:R:c"]
    for i, event_id in enumerate(ids):
        suspension_days.record(state, make_fact(22, start=date(2024, 9, 16 + i), event_id=event_id))
    [finding] = detect(state)
    assert list(finding.evidence) == sorted(ids)


def test_thresholds_come_from_the_config():
    config = SuspensionDays(warning_at=10, high_at=20, limit=25)
    assert by_rule(detect(state_with(20), config))[Rule.suspension_days_nearing_limit].threshold == 10
    found = by_rule(detect(state_with(52), config))  # 26 days
    assert found[Rule.suspension_days_nearing_limit].severity == Severity.high
    assert found[Rule.suspension_days_limit_exceeded].threshold == 25


@pytest.mark.parametrize(
    "values", [{"warning_at": 41}, {"high_at": 46}, {"warning_at": 30, "high_at": 20, "limit": 45}]
)
def test_thresholds_out_of_order_are_rejected(values):
    with pytest.raises(ValidationError, match="warning_at <= high_at <= limit"):
        SuspensionDays(**values)


def test_what_the_rules_read_of_a_year_follows_every_report_recorded_after_it_was_read():
    state = state_with(20, 20)
    assert (state.days, len(state.evidence())) == (20, 2)
    correction = make_fact(30, start=date(2024, 9, 2), reported_at="2024-10-02T09:00:00")  # the first suspension, corrected later
    assert suspension_days.record(state, correction)
    assert (state.days, len(state.evidence())) == (25, 2)
    assert suspension_days.record(state, make_fact(40, start=date(2024, 11, 4)))
    assert (state.days, len(state.evidence()), len(state.counted())) == (45, 3, 3)
    assert not suspension_days.record(state, correction)  # the same report again changes nothing
    assert state.days == 45


def test_each_suspension_s_counted_report_and_cited_event_follow_a_correction_recorded_after_they_were_read():
    first = make_fact(4, start=date(2024, 9, 2), event_id="notice:first", reported_at="2024-10-01T09:00:00")
    state = suspension_days.YearSuspensions()
    assert suspension_days.record(state, first)
    assert [(r.sessions, cited) for r, cited in state.counted_with_evidence()] == [(4, "notice:first")]
    correction = make_fact(6, start=date(2024, 9, 2), event_id="notice:correction", reported_at="2024-10-02T09:00:00")
    assert suspension_days.record(state, correction)
    # the correction's sessions count; the alert still cites the first report of the suspension
    assert [(r.sessions, cited) for r, cited in state.counted_with_evidence()] == [(6, "notice:first")]
