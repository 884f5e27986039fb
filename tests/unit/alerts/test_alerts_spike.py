"""R-SPIKE: suspensions in a term's last 10 school days against the school's own rate (domain.md §6)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import spike
from services.alerts.domain.rules import EndOfTermSpike
from services.common.calendar import SchoolCalendar, Term, load_registry

URN = "104041"
BASELINE = (date(2024, 9, 9), date(2024, 10, 7), date(2024, 11, 11))
WINDOW = (
    date(2024, 12, 10),
    date(2024, 12, 11),
    date(2024, 12, 12),
    date(2024, 12, 13),
    date(2024, 12, 16),
    date(2024, 12, 17),
)


@pytest.fixture(scope="module")
def solihull() -> SchoolCalendar:
    return load_registry().for_school("334", URN)


@pytest.fixture(scope="module")
def autumn(solihull) -> Term:
    return solihull.term_for(date(2024, 12, 10))


def term_with(*starts: date) -> spike.SchoolTerm:
    state = spike.SchoolTerm()
    for i, start in enumerate(starts):
        assert spike.record(state, f"s{i}", start, f"notice:p3-{i}")
    return state


def detect(
    state: spike.SchoolTerm, calendar: SchoolCalendar, term: Term, config: EndOfTermSpike | None = None
) -> list:
    config = config or EndOfTermSpike()
    window = calendar.last_school_days(term, config.window_school_days)
    return spike.detect(
        state,
        school_urn=URN,
        la_code="334",
        academic_year=term.academic_year,
        term=term.name,
        term_school_days=len(term.school_days),
        window_start=window[0],
        config=config,
    )


def test_the_window_is_solihulls_last_ten_autumn_school_days(solihull, autumn):
    assert (autumn.id, len(autumn.school_days)) == ("2024/25-autumn", 75)
    window = solihull.last_school_days(autumn, 10)
    assert (window[0], window[-1]) == (date(2024, 12, 9), date(2024, 12, 20))


def test_the_public_scenario_fires_at_the_fifth_window_suspension(solihull, autumn):
    [finding] = detect(term_with(*BASELINE, *WINDOW[:5]), solihull, autumn)
    assert (finding.rule, finding.severity, finding.value) == (Rule.end_of_term_spike, Severity.warning, 5)
    assert (finding.subject_kind, finding.subject_id, finding.school_urn) == ("school", URN, URN)
    assert (finding.academic_year, finding.term, finding.threshold) == ("2024/25", "autumn", 5)


def test_the_sixth_window_suspension_raises_the_value(solihull, autumn):
    [finding] = detect(term_with(*BASELINE, *WINDOW), solihull, autumn)
    assert finding.value == 6
    assert finding.evidence == tuple(f"notice:p3-{i}" for i in range(3, 9))  # window suspensions, by date


def test_the_alert_id_is_the_same_as_the_count_grows(solihull, autumn):
    [five] = detect(term_with(*BASELINE, *WINDOW[:5]), solihull, autumn)
    [six] = detect(term_with(*BASELINE, *WINDOW), solihull, autumn)
    assert five.alert_id == six.alert_id


def test_four_in_the_window_is_no_spike(solihull, autumn):
    assert detect(term_with(*BASELINE, *WINDOW[:4]), solihull, autumn) == []


def test_a_busy_school_is_judged_by_its_own_rate(solihull, autumn):
    rest = [d for d in autumn.school_days if d < date(2024, 12, 9)][:40]
    assert len(rest) == 40  # 40 in 65 school days: 0.62 a day; 6 in 10 is 0.6 a day
    assert detect(term_with(*rest, *WINDOW), solihull, autumn) == []


def test_the_same_suspension_twice_counts_once():
    state = term_with(*WINDOW)
    assert spike.record(state, "s0", WINDOW[0], "la-return:R:REC") is False
    assert len(state.starts) == 6


def test_a_suspension_in_the_christmas_holidays_belongs_to_the_spring_term(solihull):
    term = solihull.term_for(date(2024, 12, 27))
    assert solihull.term_of(date(2024, 12, 27)) is None
    assert (term.id, term.start) == ("2024/25-spring", date(2025, 1, 6))


def test_window_and_minimum_come_from_the_config(solihull, autumn):
    config = EndOfTermSpike(window_school_days=5, min_suspensions=3, ratio=2.0)
    last_five = solihull.last_school_days(autumn, 5)
    assert last_five[0] == date(2024, 12, 16)
    [finding] = detect(
        term_with(*BASELINE, *(last_five[0] + timedelta(days=i) for i in range(3))), solihull, autumn, config
    )
    assert finding.value == 3
