"""Every statutory clock of one child, as of today (issue 11, items 1-3): the governing board's
(board.py), the independent review's (review.py) and education from day six (day_six.py).

Pure: the child's suspension reports and proceedings, the schools' calendars and today in; the
findings and the next day the answer changes out. The child stage stores that day with the child,
and its tick looks at the child again then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from schemas.alerts import DEADLINE_RULES, Rule
from services.alerts.domain import board, day_six, review
from services.alerts.domain.deadlines import CalendarOf, Outcome
from services.alerts.domain.rules import Deadlines
from services.common.exclusions.proceedings import Proceedings
from services.common.exclusions.suspension_days import Reports, YearSuspensions, merged, winner

#: The clocks' rules (the one list is schemas.alerts.DEADLINE_RULES; the child stage asks by this name).
RULES = DEADLINE_RULES

#: Why Signpost resolves each when it no longer holds (the decision, the application, the provision arrived).
NO_LONGER_HOLDS = {
    Rule.governing_board_review_due: "the governing board's decision was recorded",
    Rule.governing_board_decision_overdue: "the governing board's decision was recorded",
    Rule.irp_application_window_open: "an IRP application was recorded, or the 15 school days to apply have passed",
    Rule.irp_review_overdue: "the review panel's outcome was recorded",
    Rule.governing_board_reconsideration_overdue: "the board's reconsideration was recorded",
    Rule.education_from_day_six_missing: "education from day six was recorded",
    Rule.la_education_from_day_six_missing: "education from day six was recorded",
    Rule.education_from_day_six_notice_late: "the provision covering day six no longer stands, or another was notified in time",
}


HISTORY_DAYS = 731  # two years of dates hold two school years: over 300 school days on every English calendar
HISTORY_WATCH_LIMIT = 300  # so `history` holds only while a case goes quiet within 300 school days


def history(years: Iterable[YearSuspensions], steps: Proceedings, *, today: date, config: Deadlines) -> bool:
    """Whether every fact is so old that no clock can raise an alert or wake the child again: each case
    is `deadlines.long_past` (its latest fact is over `watch_school_days` school days ago) and every
    deadline, counted from a fact, is behind today. `detect` would then find only quiet findings, which
    change nothing for a child without clock alerts: a replay of past years skips the clocks."""
    if config.watch_school_days > HISTORY_WATCH_LIMIT:
        return False
    cutoff = today - timedelta(days=HISTORY_DAYS)
    cutoff_iso = (cutoff - timedelta(days=1)).isoformat()  # a UTC time's date is at most a day before its UK date
    for ys in years:
        for reports in ys.by_key.values():
            for r in reports:
                if r.start_date >= cutoff or r.reported_at >= cutoff_iso:
                    return False
    for step in steps.by_event.values():
        if step.on >= cutoff or (step.until is not None and step.until >= cutoff) or (step.exclusion_start is not None and step.exclusion_start >= cutoff):
            return False
        if step.noticed and step.noticed >= cutoff_iso:
            return False
    return True


def detect(years: Iterable[YearSuspensions], steps: Proceedings, *, child_id: str, calendar_of: CalendarOf, bank_holidays: frozenset[date],
           today: date, config: Deadlines) -> Outcome:  # fmt: skip
    suspensions: dict[str, Reports] = {}
    for ys in years:
        for key, reports in ys.by_key.items():
            suspensions[key] = merged(suspensions.get(key, ()), reports)
    out = Outcome()
    if not steps and sum(winner(r).sessions for r in suspensions.values()) <= 2 * board.CONSIDER_OVER:
        return out  # most children: no clock can run (none is over 5 days, at a school or in a run) and nothing followed
    watch = config.watch_school_days
    out.extend(board.detect(suspensions, steps, child_id=child_id, calendar_of=calendar_of, today=today, watch_school_days=watch))
    out.extend(review.detect(steps, child_id=child_id, calendar_of=calendar_of, bank_holidays=bank_holidays, today=today, watch_school_days=watch))
    out.extend(day_six.detect(suspensions, steps, child_id=child_id, calendar_of=calendar_of, today=today, watch_school_days=watch))
    return out
