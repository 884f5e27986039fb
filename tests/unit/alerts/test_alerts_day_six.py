"""R-DAY6: education from the sixth school day, on the real Bromley and Solihull calendars (domain.md §1.4)."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import day_six
from services.alerts.domain.deadlines import Outcome
from services.common.calendar import CalendarRegistry, load_registry
from services.common.exclusions.proceedings import DECISION, PERMANENT, PROVISION, Proceedings, Step, record
from services.common.exclusions.suspension_days import Report

BROMLEY, SOLIHULL = ("101676", "305"), ("104119", "334")


@pytest.fixture(scope="module")
def registry() -> CalendarRegistry:
    return load_registry()


def suspensions(school: tuple[str, str], *items: tuple[date, int]) -> dict[str, tuple[Report, ...]]:
    return {f"U|{school[0]}|{start}": (Report(f"notice:{start}", sessions, f"{start}T08:00:00+00:00", school[0], school[1], start),)
            for start, sessions in items}  # fmt: skip


def detect(registry: CalendarRegistry, today: date, s: dict, *steps: Step) -> Outcome:
    state = Proceedings()
    for step in steps:
        record(state, step)
    return day_six.detect(s, state, child_id="ch_1", calendar_of=registry.for_school, today=today, watch_school_days=1000)


def provision(start: date, end: date | None = None, by: str = "school") -> Step:
    return Step(PROVISION, f"provision:{start}", BROMLEY[0], BROMLEY[1], date(2024, 10, 14), start, end, by)


def test_five_days_is_the_schools_work_not_provision(registry):
    assert detect(registry, date(2024, 11, 20), suspensions(BROMLEY, (date(2024, 10, 14), 10))).findings == []


def test_day_six_of_a_suspension_over_five_days_falls_after_the_half_term(registry):
    """Six days from Mon 14 Oct 2024 (Bromley): days 1-5 that week, day 6 after the half term, on 4 Nov."""
    s = suspensions(BROMLEY, (date(2024, 10, 14), 12))
    before = detect(registry, date(2024, 11, 1), s)
    assert before.findings == [] and before.wake_on == date(2024, 11, 4)
    [f] = detect(registry, date(2024, 11, 4), s).findings
    assert (f.rule, f.severity, f.value, f.threshold, f.due_on, f.school_urn) == (Rule.education_from_day_six_missing, Severity.high, 6, 5, date(2024, 11, 4), BROMLEY[0])


def test_provision_that_covers_day_six_meets_the_duty(registry):
    s = suspensions(BROMLEY, (date(2024, 10, 14), 12))
    assert detect(registry, date(2024, 11, 5), s, provision(date(2024, 11, 4))).findings == []
    assert detect(registry, date(2024, 11, 5), s, provision(date(2024, 9, 2), None)).findings == []  # a placement running already
    assert detect(registry, date(2024, 11, 5), s, provision(date(2024, 11, 5))).findings != []  # starts a day late
    assert detect(registry, date(2024, 11, 5), s, provision(date(2024, 9, 2), date(2024, 10, 31))).findings != []  # ended before


def test_suspensions_back_to_back_are_consecutive_days(registry):
    """3 days from Mon 7 Oct and 3 more from Thu 10 Oct 2024: one run of 6, day 6 on Mon 14 Oct."""
    s = suspensions(BROMLEY, (date(2024, 10, 7), 6), (date(2024, 10, 10), 6))
    [f] = detect(registry, date(2024, 10, 14), s).findings
    assert (f.value, f.due_on) == (6, date(2024, 10, 14))
    apart = suspensions(BROMLEY, (date(2024, 10, 7), 6), (date(2024, 10, 11), 6))  # a school day between them
    assert detect(registry, date(2024, 10, 21), apart).findings == []


def test_a_permanent_exclusion_is_the_las_duty_from_day_six_past_the_bank_holiday(registry):
    """Excluded from Mon 28 Apr 2025 (Solihull): Mon 5 May is a bank holiday, so day 6 is Tue 6 May."""
    pex = Step(PERMANENT, "notice:P", SOLIHULL[0], SOLIHULL[1], date(2025, 4, 28), date(2025, 4, 28), detail="notice")
    assert detect(registry, date(2025, 5, 5), {}, pex).wake_on == date(2025, 5, 6)
    [f] = detect(registry, date(2025, 5, 6), {}, pex).findings
    assert (f.rule, f.due_on, f.la_code, f.term) == (Rule.la_education_from_day_six_missing, date(2025, 5, 6), "334", "summer")
    la_provision = Step(PROVISION, "la-return:R|1", SOLIHULL[0], SOLIHULL[1], None, date(2025, 5, 6), None, "return")
    assert detect(registry, date(2025, 5, 7), {}, pex, la_provision).findings == []


def test_reinstated_before_day_six_no_duty(registry):
    pex = Step(PERMANENT, "notice:P", SOLIHULL[0], SOLIHULL[1], date(2025, 4, 28), date(2025, 4, 28), detail="notice")
    back = Step(DECISION, "board-decision:D", SOLIHULL[0], SOLIHULL[1], date(2025, 4, 28), date(2025, 5, 2), None, "reinstated", "permanent")
    assert detect(registry, date(2025, 5, 7), {}, pex, back).findings == []


@pytest.mark.parametrize(
    ("noticed", "late_by"),
    [
        ("2024-10-14T15:00:00Z", None),  # on the first day of the suspension: in time
        ("2024-11-01T23:59:00Z", None),  # 48 hours and a minute before the provision starts (4 Nov, GMT): in time
        ("2024-11-02T00:01:00Z", 47.98),  # a minute too late
        ("2024-11-03T10:00:00Z", 14.0),
        (None, None),  # no notice recorded: nothing to say
    ],
)
def test_the_parent_is_told_of_day_six_provision_by_day_one_or_48_hours_before_it_starts(registry, noticed, late_by):
    """R-DAY6-NOTICE [S6]: the school's notice by the end of day 1, or details at least 48 hours before the provision."""
    s = suspensions(BROMLEY, (date(2024, 10, 14), 12))
    p = provision(date(2024, 11, 4))
    if noticed:
        p = Step(p.kind, p.event_id, p.school_urn, p.la_code, p.exclusion_start, p.on, p.until, p.detail, noticed=noticed)
    findings = detect(registry, date(2024, 11, 5), s, p).findings
    if late_by is None:
        assert findings == []
    else:
        [f] = findings
        assert (f.rule, f.severity, f.threshold, f.due_on) == (Rule.education_from_day_six_notice_late, Severity.warning, 48, date(2024, 10, 14))
        assert f.value == pytest.approx(late_by, abs=0.05)
