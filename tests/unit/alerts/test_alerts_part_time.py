"""R-PTT (issue 11, item 5): part-time timetables past review, past 6 weeks, or for behaviour."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import part_time
from services.alerts.domain.grey_rules import PartTimeTimetables
from tests.unit.alerts.grey_helpers import BROMLEY, SOLIHULL, calendar_of, fact, records

PTT = "part_time_timetable"


def detect(*facts, as_of=None, config=None) -> list:
    return part_time.detect(records(*facts), child_id="ch", calendar_of=calendar_of, config=config or PartTimeTimetables(), as_of=as_of)


def test_the_review_deadline_skips_the_half_term_bromley():
    # from Mon 16 Sep 2024: 25 school days to 18 Oct, half term 21 Oct - 1 Nov, the 30th school day is Fri 8 Nov
    assert part_time.review_deadline(date(2024, 9, 16), calendar_of(*BROMLEY), 6) == date(2024, 11, 8)


def test_the_review_deadline_skips_a_bank_holiday_and_half_term_bromley():
    # from Tue 22 Apr 2025: Mon 5 May is a bank holiday, half term 26-30 May: the 30th school day is Tue 10 Jun
    assert part_time.review_deadline(date(2025, 4, 22), calendar_of(*BROMLEY), 6) == date(2025, 6, 10)
    assert not calendar_of(*BROMLEY).is_school_day(date(2025, 5, 5))


def test_a_start_in_the_holidays_counts_from_the_first_school_day_solihull():
    # Solihull's summer term starts Mon 28 Apr 2025; 5 May is a bank holiday
    assert part_time.review_deadline(date(2025, 4, 22), calendar_of(*SOLIHULL), 6) == part_time.review_deadline(date(2025, 4, 28), calendar_of(*SOLIHULL), 6)
    assert part_time.review_deadline(date(2025, 4, 28), calendar_of(*SOLIHULL), 6) == date(2025, 6, 16)


def test_a_review_on_the_last_day_of_six_weeks_is_in_time_and_the_next_school_day_is_late():
    on_time = fact(PTT, date(2024, 9, 16), BROMLEY, review_date=date(2024, 11, 8))
    late = fact(PTT, date(2024, 9, 16), BROMLEY, event_id="ev:late", review_date=date(2024, 11, 11))
    assert detect(on_time) == []
    [finding] = detect(late)
    assert (finding.rule, finding.severity, finding.value) == (Rule.part_time_timetable_concern, Severity.warning, 1)


def test_a_review_date_in_half_term_moves_to_the_next_school_day():
    # 25 Oct 2024 is in Bromley's half term: the review is Mon 4 Nov, within the 6 weeks
    assert detect(fact(PTT, date(2024, 9, 16), BROMLEY, review_date=date(2024, 10, 25))) == []


def test_the_six_weeks_are_a_setting():
    late_for_four = fact(PTT, date(2024, 9, 16), BROMLEY, review_date=date(2024, 11, 8))
    assert detect(late_for_four, config=PartTimeTimetables(review_weeks=4)) != []


def test_no_review_date_is_a_concern():
    [finding] = detect(fact(PTT, date(2024, 9, 16), SOLIHULL))
    assert finding.severity == Severity.warning


@pytest.mark.parametrize("kw", [{"behaviour": True}])
def test_behaviour_as_the_reason_is_high_whatever_the_review(kw):
    [finding] = detect(fact(PTT, date(2024, 9, 16), SOLIHULL, review_date=date(2024, 9, 30), **kw))
    assert finding.severity == Severity.high


def test_a_timetable_that_ran_past_its_review_date():
    ran_on = fact(PTT, date(2024, 9, 16), SOLIHULL, review_date=date(2024, 10, 4), end_date=date(2024, 10, 7))
    ended = fact(PTT, date(2024, 9, 16), SOLIHULL, event_id="ev:ended", review_date=date(2024, 10, 4), end_date=date(2024, 10, 4))
    assert [f.value for f in detect(ran_on)] == [1]
    assert detect(ended) == []


def test_still_running_past_its_review_date_on_the_latest_date_known():
    running = fact(PTT, date(2024, 9, 16), SOLIHULL, review_date=date(2024, 10, 4))
    assert detect(running, as_of=date(2024, 10, 4)) == []
    assert len(detect(running, as_of=date(2024, 10, 7))) == 1


def test_one_alert_per_school_year_counting_the_timetables_of_concern():
    a = fact(PTT, date(2024, 9, 16), SOLIHULL, event_id="ev:a")
    b = fact(PTT, date(2025, 1, 13), SOLIHULL, event_id="ev:b", behaviour=True)
    [finding] = detect(a, b)
    assert (finding.value, finding.severity, finding.evidence, finding.academic_year) == (2, Severity.high, ("ev:a", "ev:b"), "2024/25")
