"""R-INFORMAL: repeated informal exclusions within 20 school days (domain.md §1.9)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import informal
from services.alerts.domain.rules import InformalExclusions
from services.common.calendar import SchoolCalendar, load_registry
from services.common.exclusions.facts import IncidentFact


@pytest.fixture(scope="module")
def solihull() -> SchoolCalendar:
    """Solihull's published 2024/25 terms (autumn half term 28 Oct - 1 Nov 2024)."""
    return load_registry().for_school("334", "104119")


def incidents(*reports: tuple[date, str]) -> informal.Incidents:
    state = informal.Incidents()
    for day, event_id in reports:
        informal.record(state, IncidentFact(day, event_id, "104119", "334"))
    return state


def on(*days: date) -> informal.Incidents:
    return incidents(*((d, f"call:C{i}") for i, d in enumerate(days)))


def detect(
    state: informal.Incidents, calendar: SchoolCalendar, config: InformalExclusions | None = None
) -> list:
    return informal.detect(
        state,
        child_id="ch_1",
        academic_year_of=calendar.academic_year,
        school_days_between=calendar.school_days_between,
        config=config or InformalExclusions(),
    )


def test_one_incident_is_not_repeated(solihull):
    assert detect(on(date(2024, 11, 12)), solihull) == []


def test_two_incidents_five_school_days_apart_are_repeated(solihull):
    [finding] = detect(on(date(2024, 11, 12), date(2024, 11, 19)), solihull)
    assert (finding.rule, finding.severity, finding.value, finding.threshold) == (
        Rule.informal_exclusions_repeated,
        Severity.high,
        2,
        2,
    )
    assert (finding.subject_kind, finding.subject_id, finding.academic_year, finding.term) == (
        "child",
        "ch_1",
        "2024/25",
        None,
    )


def test_two_incidents_exactly_20_school_days_apart_are_repeated(solihull):
    assert solihull.school_days_between(date(2024, 11, 13), date(2024, 12, 10)) == 20
    assert len(detect(on(date(2024, 11, 12), date(2024, 12, 10)), solihull)) == 1


def test_two_incidents_more_than_20_school_days_apart_are_not(solihull):
    assert solihull.school_days_between(date(2024, 11, 13), date(2024, 12, 11)) == 21
    assert detect(on(date(2024, 11, 12), date(2024, 12, 11)), solihull) == []


def test_three_incidents_within_the_window_give_value_3(solihull):
    [finding] = detect(on(date(2024, 11, 12), date(2024, 11, 19), date(2024, 11, 26)), solihull)
    assert finding.value == 3


def test_the_value_is_the_largest_cluster(solihull):
    days = (date(2024, 9, 10), date(2024, 9, 12), date(2024, 12, 2), date(2024, 12, 3), date(2024, 12, 4))
    [finding] = detect(on(*days), solihull)
    assert finding.value == 3
    assert len(finding.evidence) == 5  # every report of the year backs the alert


def test_the_same_day_reported_twice_is_one_incident(solihull):
    state = informal.Incidents()
    assert informal.record(state, IncidentFact(date(2024, 11, 12), "call:C1", "104119", "334")) is True
    assert informal.record(state, IncidentFact(date(2024, 11, 12), "call:C2", None, "334")) is True  # another call: evidence
    assert state.days() == [date(2024, 11, 12)]  # ... of the same incident
    assert detect(state, solihull) == []


def test_the_same_report_redelivered_changes_nothing():
    state = on(date(2024, 11, 12))
    assert informal.record(state, IncidentFact(date(2024, 11, 12), "call:C0", "104119", "334")) is False
    assert state.by_day == {date(2024, 11, 12): {"call:C0": ("104119", "334")}}


def test_the_half_term_break_is_not_school_days(solihull):
    # 35 calendar days, 25 weekdays, but the week of 28 Oct is Solihull's autumn half term
    assert solihull.school_days_between(date(2024, 10, 15), date(2024, 11, 18)) == 20
    [finding] = detect(on(date(2024, 10, 14), date(2024, 11, 18)), solihull)
    assert finding.value == 2


def test_incidents_in_two_academic_years_give_one_finding_per_year(solihull):
    state = on(date(2025, 6, 2), date(2025, 6, 4), date(2025, 9, 8), date(2025, 9, 10))
    found = {f.academic_year: f for f in detect(state, solihull)}
    assert set(found) == {"2024/25", "2025/26"}
    assert found["2024/25"].evidence == ("call:C0", "call:C1")
    assert found["2025/26"].evidence == ("call:C2", "call:C3")
    assert found["2024/25"].alert_id != found["2025/26"].alert_id


def test_a_cluster_across_the_summer_break_belongs_to_the_later_year(solihull):
    """Issue 8: incidents on the last days of one year and the first of the next are a few school days
    apart, not a year apart: they used to split at 31 August and never alert."""
    july, september = date(2025, 7, 21), date(2025, 9, 4)
    assert solihull.school_days_between(july + timedelta(days=1), september) <= 20
    [finding] = detect(on(july, september), solihull)
    assert (finding.academic_year, finding.value, finding.evidence) == ("2025/26", 2, ("call:C0", "call:C1"))


def test_the_alert_is_about_the_la_and_school_of_the_latest_incident(solihull):
    state = informal.Incidents()
    informal.record(state, IncidentFact(date(2024, 11, 12), "call:C1", "104119", "334"))
    informal.record(state, IncidentFact(date(2024, 11, 14), "la-return:R|1", "101676", "305"))
    [finding] = detect(state, solihull)
    assert (finding.la_code, finding.school_urn) == ("305", "101676")


def test_min_incidents_and_window_come_from_the_config(solihull):
    config = InformalExclusions(min_incidents=3, window_school_days=5)
    assert detect(on(date(2024, 11, 12), date(2024, 11, 19)), solihull, config) == []
    assert len(detect(on(date(2024, 11, 12), date(2024, 11, 13), date(2024, 11, 19)), solihull, config)) == 1
