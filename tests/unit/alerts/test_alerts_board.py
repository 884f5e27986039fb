"""R-GB-5, R-GB-15, R-GB-50: the governing board's clocks on the real Bromley calendar (domain.md §1.5)."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import board
from services.common.calendar import CalendarRegistry, load_registry
from services.common.exclusions.proceedings import (
    DECISION,
    PERMANENT,
    REPRESENTATION,
    Proceedings,
    Step,
    record,
)
from services.common.exclusions.suspension_days import Report

URN, LA = "101676", "305"  # a Bromley school: autumn half term 21 Oct - 1 Nov 2024


@pytest.fixture(scope="module")
def registry() -> CalendarRegistry:
    return load_registry()


def suspensions(*items: tuple[date, int]) -> dict[str, tuple[Report, ...]]:
    """(start date, sessions) notified on their start date."""
    out = {}
    for i, (start, sessions) in enumerate(items):
        event = f"notice:N{i}"
        out[f"U|{URN}|{start}"] = (Report(event, sessions, f"{start}T08:00:00+00:00", URN, LA, start),)
    return out


def steps(*items: Step) -> Proceedings:
    state = Proceedings()
    for s in items:
        record(state, s)
    return state


def detect(registry: CalendarRegistry, s: dict, p: Proceedings | None = None, today: date = date(2024, 10, 1), watch: int = 1000) -> board.Outcome:
    return board.detect(s, p or Proceedings(), child_id="ch_1", calendar_of=registry.for_school, today=today, watch_school_days=watch)


def rules(outcome: board.Outcome) -> dict[Rule, tuple]:
    return {f.rule: (f.severity, f.value, f.threshold, f.due_on, f.term) for f in outcome.findings}


def test_five_days_in_a_term_is_not_over_five(registry):
    assert detect(registry, suspensions((date(2024, 9, 16), 6), (date(2024, 9, 23), 4))).findings == []


def test_over_five_days_in_a_term_the_board_must_consider_without_delay(registry):
    """R-GB-5: the suspension taking the total over 5 (a lunchtime is half a day) is notified to the board."""
    out = detect(registry, suspensions((date(2024, 9, 16), 10), (date(2024, 9, 23), 1)))
    assert rules(out) == {Rule.governing_board_review_due: (Severity.info, 5.5, 5, date(2024, 9, 23), "autumn")}
    assert out.wake_on is None  # no clock: up to 15 days without representations, the board need not meet


def test_the_total_is_per_term(registry):
    """3 days in the summer term of 2023/24's calendar year and 3 in autumn: neither term is over 5."""
    assert detect(registry, suspensions((date(2024, 7, 8), 6), (date(2024, 9, 16), 6))).findings == []


def test_over_fifteen_the_decision_is_due_in_fifteen_school_days_moved_past_the_half_term(registry):
    """R-GB-15: notified Mon 30 Sep 2024; the 15th school day after falls after the half term: 4 Nov, not 21 Oct."""
    s = suspensions((date(2024, 9, 16), 20), (date(2024, 9, 30), 12))
    on_the_day = detect(registry, s, today=date(2024, 11, 4))
    assert rules(on_the_day) == {Rule.governing_board_review_due: (Severity.info, 16, 15, date(2024, 11, 4), "autumn")}
    assert on_the_day.wake_on == date(2024, 11, 5)
    after = detect(registry, s, today=date(2024, 11, 5))
    assert rules(after)[Rule.governing_board_decision_overdue] == (Severity.high, 16, 15, date(2024, 11, 4), "autumn")
    assert after.wake_on is None


def test_a_permanent_exclusion_starts_the_fifteen_day_clock(registry):
    pex = Step(PERMANENT, "notice:P", URN, LA, date(2024, 9, 30), date(2024, 9, 30), detail="notice")
    out = detect(registry, {}, steps(pex), today=date(2024, 11, 5))
    assert {f.rule for f in out.findings} == {Rule.governing_board_review_due, Rule.governing_board_decision_overdue}
    assert {f.due_on for f in out.findings} == {date(2024, 11, 4)}


def test_over_five_with_representations_the_board_has_fifty_school_days(registry):
    """R-GB-50: over 5 and up to 15 with the parent's representations: 50 school days from the notification."""
    s = suspensions((date(2024, 11, 11), 12))
    rep = Step(REPRESENTATION, "representation:R", URN, LA, date(2024, 11, 11), date(2024, 11, 12))
    assert rules(detect(registry, s, today=date(2025, 2, 4)))[Rule.governing_board_review_due][3] == date(2024, 11, 11)  # without: no clock
    due = date(2025, 2, 3)  # 50 school days after 11 Nov 2024, the Christmas holiday skipped
    assert detect(registry, s, steps(rep), today=due).wake_on == date(2025, 2, 4)
    assert Rule.governing_board_decision_overdue in rules(detect(registry, s, steps(rep), today=date(2025, 2, 4)))


@pytest.mark.parametrize("outcome", ["upheld", "reinstated"])
def test_the_boards_decision_resolves_both(registry, outcome):
    s = suspensions((date(2024, 9, 16), 20), (date(2024, 9, 30), 12))
    decision = Step(DECISION, "board-decision:D", URN, LA, date(2024, 9, 30), date(2024, 11, 12), detail=outcome, category="suspension")
    out = detect(registry, s, steps(decision), today=date(2024, 11, 20))
    assert out.findings == [] and out.wake_on is None


def test_a_decision_from_before_the_notification_does_not_count(registry):
    s = suspensions((date(2024, 9, 16), 20), (date(2024, 9, 30), 12))
    earlier = Step(DECISION, "board-decision:D", URN, LA, date(2024, 9, 16), date(2024, 9, 20), detail="upheld", category="suspension")
    assert Rule.governing_board_decision_overdue in rules(detect(registry, s, steps(earlier), today=date(2024, 11, 20)))


def test_a_deadline_long_past_is_quiet(registry):
    s = suspensions((date(2024, 9, 16), 20), (date(2024, 9, 30), 12))
    assert all(f.quiet for f in detect(registry, s, today=date(2025, 6, 2), watch=60).findings)
    assert not any(f.quiet for f in detect(registry, s, today=date(2024, 11, 5), watch=60).findings)


SOLIHULL = ("104119", "334")  # autumn half term 28 Oct - 1 Nov 2024; bank holiday Mon 5 May 2025


def test_solihull_half_term_moves_the_fifteen_day_deadline(registry):
    """Over 15 days in the autumn term, notified Mon 7 Oct 2024: day 15 would be 28 Oct, in the half term: 4 Nov."""
    s = {f"U|{SOLIHULL[0]}|2024-10-07": (Report("notice:S", 32, "2024-10-07T08:00:00+00:00", *SOLIHULL, date(2024, 10, 7)),)}
    assert detect(registry, s, today=date(2024, 11, 4)).wake_on == date(2024, 11, 5)
    assert rules(detect(registry, s, today=date(2024, 11, 5)))[Rule.governing_board_decision_overdue][3] == date(2024, 11, 4)


def test_solihull_bank_holiday_is_not_a_school_day_for_the_board(registry):
    """A permanent exclusion notified Mon 28 Apr 2025: with Mon 5 May a bank holiday, day 15 is 20 May, not 19 May."""
    pex = Step(PERMANENT, "notice:P", *SOLIHULL, date(2025, 4, 28), date(2025, 4, 28), detail="notice")
    assert Rule.governing_board_decision_overdue not in rules(detect(registry, {}, steps(pex), today=date(2025, 5, 20)))
    assert rules(detect(registry, {}, steps(pex), today=date(2025, 5, 21)))[Rule.governing_board_decision_overdue][3] == date(2025, 5, 20)
