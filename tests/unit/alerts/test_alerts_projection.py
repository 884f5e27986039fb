"""The 45 days, seen coming (issue 11, item 6): the projected date and the n-th suspension in a term."""

from __future__ import annotations

from datetime import date

from schemas.alerts import Rule, Severity
from services.alerts.domain import projection, suspension_count
from services.alerts.domain.grey_rules import SuspensionsInTerm
from services.common.exclusions import suspension_days
from services.common.exclusions.thresholds import SuspensionDays
from tests.unit.alerts.grey_helpers import BROMLEY, SOLIHULL, calendar_of, suspensions

SOL, BROM = calendar_of(*SOLIHULL), calendar_of(*BROMLEY)


def projected(state, calendar, first: date, last: date):
    return projection.projected_limit_date(state, calendar, year_first_day=first, year_last_day=last, limit=45)


def test_twenty_days_in_the_first_twenty_school_days_pass_45_on_the_46th_school_day_after_half_term():
    # Solihull from Mon 2 Sep 2024: 1 day a school day; 40 days by 25 Oct, half term 28 Oct - 1 Nov, 45 on Fri 8 Nov
    state = suspensions((date(2024, 9, 2), 40))
    assert projected(state, SOL, date(2024, 9, 2), date(2025, 7, 21)) == date(2024, 11, 11)


def test_a_year_start_in_the_holiday_counts_from_the_first_school_day():
    state = suspensions((date(2024, 9, 2), 40))
    assert projected(state, SOL, date(2024, 8, 1), date(2025, 7, 21)) == date(2024, 11, 11)


def test_half_term_is_not_counted_bromley():
    # Bromley from Tue 27 Aug 2024: 30 days in the first 30 school days; school day 39 is 18 Oct, half term
    # 21 Oct - 1 Nov, day 40 is 4 Nov: the 46th school day is Tue 12 Nov
    state = suspensions((date(2024, 8, 27), 60), where=BROMLEY)
    assert projected(state, BROM, date(2024, 8, 27), date(2025, 7, 23)) == date(2024, 11, 12)


def test_a_bank_holiday_is_not_a_school_day_bromley():
    # 31 days by school day 99: 45 days pass on school day 144. School day 143 is Fri 2 May 2025; Mon 5 May is
    # a bank holiday, so day 144 is Tue 6 May
    day_99 = BROM.add_school_days(date(2024, 8, 27), 98)
    state = suspensions((date(2024, 8, 27), 60), (day_99, 2), where=BROMLEY)
    assert BROM.add_school_days(date(2024, 8, 27), 142) == date(2025, 5, 2)
    assert projected(state, BROM, date(2024, 8, 27), date(2025, 7, 23)) == date(2025, 5, 6)


def test_a_rate_that_does_not_reach_45_this_year_projects_nothing():
    state = suspensions((date(2025, 3, 17), 30), where=BROMLEY)
    assert projected(state, BROM, date(2024, 8, 27), date(2025, 7, 23)) is None


def test_over_the_limit_there_is_nothing_to_project():
    assert projected(suspensions((date(2024, 9, 2), 92)), SOL, date(2024, 9, 2), date(2025, 7, 21)) is None


def test_only_the_nearing_finding_carries_the_projection():
    state = suspensions((date(2024, 9, 2), 62))
    findings = suspension_days.detect(state, child_id="ch", academic_year="2024/25", config=SuspensionDays())
    [nearing] = projection.with_projection(findings, state, SOL, year_first_day=date(2024, 9, 2), year_last_day=date(2025, 7, 21), limit=45)
    assert nearing.rule == Rule.suspension_days_nearing_limit and nearing.projected_limit_date is not None


def detect_count(state, config=None) -> list:
    return suspension_count.detect(state, child_id="ch", calendar_of=calendar_of, config=config or SuspensionsInTerm())


def test_the_third_suspension_in_a_term_fires_the_second_does_not():
    two = suspensions((date(2024, 9, 9), 1), (date(2024, 10, 7), 1))
    assert detect_count(two) == []
    three = suspensions((date(2024, 9, 9), 1), (date(2024, 10, 7), 1), (date(2024, 12, 20), 2))
    [finding] = detect_count(three)
    assert (finding.rule, finding.severity, finding.value, finding.term, finding.academic_year) == (Rule.suspensions_in_term, Severity.warning, 3, "autumn", "2024/25")


def test_a_suspension_starting_in_the_holidays_counts_in_the_next_term():
    # Solihull's Easter holiday runs to 25 Apr 2025: a start on 14 Apr counts in the summer term, not spring
    state = suspensions((date(2025, 3, 3), 1), (date(2025, 3, 10), 1), (date(2025, 4, 14), 1))
    assert detect_count(state) == []
    state = suspensions((date(2025, 4, 14), 1), (date(2025, 4, 28), 1), (date(2025, 5, 6), 1))
    [finding] = detect_count(state)
    assert finding.term == "summer"


def test_a_half_term_suspension_stays_in_its_term_bromley():
    state = suspensions((date(2025, 1, 6), 1), (date(2025, 2, 17), 1), (date(2025, 3, 3), 1), where=BROMLEY)
    [finding] = detect_count(state)
    assert finding.term == "spring"


def test_the_count_is_a_setting():
    two = suspensions((date(2024, 9, 9), 1), (date(2024, 10, 7), 1))
    assert len(detect_count(two, SuspensionsInTerm(count=2))) == 1
