"""Statutory clocks in school days: what every deadline rule shares (issue 11, items 1-3).

A deadline is a pure function of the facts, the school's own calendar and today. "Within n school
days of X" ends on the n-th school day after X (X itself not counted): half terms, holidays, weekends
and bank holidays are not school days, so a deadline that would land in a half term is the first
school day after it. A deadline has passed when today is after it.

Deadlines pass with time, not only with events: each detector also says when its answer would next
change (`wake_on`), which the child stage stores with the child so its tick looks again that day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from services.common.calendar import Term
from services.common.exclusions.findings import Finding


class SchoolDays(Protocol):
    """The calendar operations the deadline rules need (services/common/calendar.SchoolCalendar)."""

    def add_school_days(self, d: date, n: int) -> date: ...

    def school_days_between(self, start: date, end: date) -> int: ...

    def is_school_day(self, d: date) -> bool: ...

    def academic_year(self, d: date) -> str: ...

    def term_for(self, d: date) -> Term: ...


CalendarOf = Callable[[str, str], SchoolDays]  # (LA code, school URN) -> the school's calendar


def due(calendar: SchoolDays, start: date, school_days: int) -> date:
    """The last day of a clock of `school_days` school days that starts the day after `start`."""
    return calendar.add_school_days(start, school_days)


def first_school_day(calendar: SchoolDays, d: date) -> date:
    return calendar.add_school_days(d, 0)


def working_days_after(d: date, n: int, bank_holidays: frozenset[date]) -> date:
    """The n-th working day after d (weekdays that are not bank holidays): a posted IRP application counts
    as made on the 2nd working day after posting (domain.md §1.6, [S5])."""
    while n > 0:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in bank_holidays:
            n -= 1
    return d


def long_past(calendar: SchoolDays, latest_fact: date, today: date, watch_school_days: int) -> bool:
    """Whether a case is history, not news: its latest fact is more than `watch_school_days` school days
    before today. Measured from the facts, not the deadline, so that more facts never make a case quieter:
    what is quiet after every fact arrived was quiet before each, so no arrival order raises it."""
    return latest_fact < today and calendar.school_days_between(latest_fact + timedelta(days=1), today) > watch_school_days


@dataclass(slots=True)
class Outcome:
    """What deadline detectors found as of today, and the first later day their answer changes."""

    findings: list[Finding] = field(default_factory=list)
    wake_on: date | None = None

    def wake(self, day: date | None) -> None:
        if day is not None and (self.wake_on is None or day < self.wake_on):
            self.wake_on = day

    def extend(self, other: Outcome) -> None:
        self.findings += other.findings
        self.wake(other.wake_on)


def one_per_alert(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per alert (rule, child, year, term): two exclusions in one term at two schools share an
    alert; the one due first stands (ties: the one with more evidence), whatever the order of the facts."""
    best: dict[str, Finding] = {}
    for f in findings:
        held = best.get(f.alert_id)
        if held is None or (f.due_on or date.max, -len(f.evidence), f.evidence) < (held.due_on or date.max, -len(held.evidence), held.evidence):
            best[f.alert_id] = f
    return [best[k] for k in sorted(best)]
