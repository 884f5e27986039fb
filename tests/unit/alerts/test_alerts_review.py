"""R-IRP-APPLY, R-IRP-HOLD, R-RECON on the real Bromley and Solihull calendars (domain.md §1.6)."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.alerts import Rule, Severity
from services.alerts.domain import review
from services.alerts.domain.deadlines import Outcome, working_days_after
from services.common.calendar import CalendarRegistry, load_registry
from services.common.exclusions.proceedings import (
    DECISION,
    IRP_APPLICATION,
    IRP_DECISION,
    Proceedings,
    Step,
    record,
)

BROMLEY, SOLIHULL = ("101676", "305"), ("104119", "334")
PEX_START = date(2025, 3, 10)


@pytest.fixture(scope="module")
def registry() -> CalendarRegistry:
    return load_registry()


def upheld(school: tuple[str, str], notified: date, outcome: str = "upheld", category: str = "permanent", on: date | None = None) -> Step:
    return Step(DECISION, f"board-decision:{outcome}{on}", school[0], school[1], PEX_START, on or notified, notified, outcome, category)


def applied(school: tuple[str, str], sent: date, method: str = "email") -> Step:
    return Step(IRP_APPLICATION, f"irp-application:{sent}", school[0], school[1], PEX_START, sent, detail=method)


def panel(school: tuple[str, str], decided: date, outcome: str, board_notified: date | None = None) -> Step:
    return Step(IRP_DECISION, f"irp-decision:{decided}", school[0], school[1], PEX_START, decided, board_notified, outcome)


def detect(registry: CalendarRegistry, today: date, *steps: Step) -> Outcome:
    state = Proceedings()
    for s in steps:
        record(state, s)
    return review.detect(state, child_id="ch_1", calendar_of=registry.for_school, bank_holidays=registry.bank_holidays, today=today,
                         watch_school_days=1000)  # fmt: skip


def found(outcome: Outcome) -> dict[Rule, tuple]:
    return {f.rule: (f.severity, f.due_on) for f in outcome.findings}


def test_the_window_to_apply_runs_fifteen_school_days_past_the_may_bank_holiday(registry):
    """R-IRP-APPLY: written notice Tue 22 Apr 2025 (Bromley); Mon 5 May is a bank holiday, so the 15th school day is 14 May."""
    decision = upheld(BROMLEY, date(2025, 4, 22))
    last = detect(registry, date(2025, 5, 14), decision)
    assert found(last) == {Rule.irp_application_window_open: (Severity.info, date(2025, 5, 14))}
    assert last.wake_on == date(2025, 5, 15)
    assert detect(registry, date(2025, 5, 15), decision).findings == []  # closed without an application: nothing stands


def test_no_window_after_a_reinstatement_or_for_a_suspension(registry):
    assert detect(registry, date(2025, 4, 23), upheld(BROMLEY, date(2025, 4, 22), "reinstated")).findings == []
    assert detect(registry, date(2025, 4, 23), upheld(BROMLEY, date(2025, 4, 22), category="suspension")).findings == []


def test_a_posted_application_counts_from_the_second_working_day_after_posting(registry):
    """Posted Fri 2 May 2025: Mon 5 May is a bank holiday, so it counts as made on Wed 7 May [S5]."""
    assert working_days_after(date(2025, 5, 2), 2, registry.bank_holidays) == date(2025, 5, 7)
    assert review.applied_on(applied(BROMLEY, date(2025, 5, 2), "post"), registry.bank_holidays) == date(2025, 5, 7)
    assert review.applied_on(applied(BROMLEY, date(2025, 5, 2), "email"), registry.bank_holidays) == date(2025, 5, 2)


def test_the_panel_must_begin_within_fifteen_school_days_of_the_application_half_term_skipped(registry):
    """R-IRP-HOLD: made 7 May 2025; Bromley's summer half term (26-30 May) moves the 15th school day to 4 June."""
    steps = (upheld(BROMLEY, date(2025, 4, 22)), applied(BROMLEY, date(2025, 5, 2), "post"))
    on_time = detect(registry, date(2025, 6, 4), *steps)
    assert on_time.findings == [] and on_time.wake_on == date(2025, 6, 5)
    assert found(detect(registry, date(2025, 6, 5), *steps)) == {Rule.irp_review_overdue: (Severity.high, date(2025, 6, 4))}
    assert detect(registry, date(2025, 6, 20), *steps, panel(BROMLEY, date(2025, 6, 10), "upheld")).findings == []


@pytest.mark.parametrize("outcome", ["reconsideration_recommended", "reconsideration_directed"])
def test_after_a_reconsideration_outcome_the_board_reconvenes_within_ten_school_days(registry, outcome):
    """R-RECON: board notified Mon 14 Oct 2024 (Solihull): its half term (28 Oct - 1 Nov) moves day 10 to 4 Nov."""
    steps = (upheld(SOLIHULL, date(2024, 9, 9)), applied(SOLIHULL, date(2024, 9, 12)), panel(SOLIHULL, date(2024, 10, 11), outcome, date(2024, 10, 14)))
    assert detect(registry, date(2024, 11, 4), *steps).wake_on == date(2024, 11, 5)
    assert found(detect(registry, date(2024, 11, 5), *steps)) == {Rule.governing_board_reconsideration_overdue: (Severity.high, date(2024, 11, 4))}
    reconsidered = upheld(SOLIHULL, date(2024, 11, 1), on=date(2024, 11, 1))
    assert detect(registry, date(2024, 11, 5), *steps, reconsidered).findings == []


def test_a_panel_that_upholds_ends_the_clocks(registry):
    steps = (upheld(SOLIHULL, date(2024, 9, 9)), applied(SOLIHULL, date(2024, 9, 12)), panel(SOLIHULL, date(2024, 10, 11), "upheld"))
    out = detect(registry, date(2025, 1, 6), *steps)
    assert out.findings == [] and out.wake_on is None
