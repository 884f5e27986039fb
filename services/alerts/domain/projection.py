"""The 45 days, seen coming (issue 11, item 6): when would the child pass the limit at this rate?

The limit is 45 school days of suspension in a school year [S53][S18] (domain.md §1.2, R-45). The
rate is the child's suspension days so far over the school days from the year's first school day to
the last day of their latest suspension (its sessions run on consecutive school days). The projected
date is the school day on which, at that rate, the total would pass 45; none if that is after the
year's last school day. Measured on the suspension dates, not the clock: the same facts give the
same date whatever order they arrived in.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import Protocol

from schemas.alerts import Rule
from services.common.exclusions.findings import Finding
from services.common.exclusions.suspension_days import YearSuspensions


class Calendar(Protocol):
    def add_school_days(self, d: date, n: int) -> date: ...
    def school_days_between(self, start: date, end: date) -> int: ...


def projected_limit_date(state: YearSuspensions, calendar: Calendar, *, year_first_day: date, year_last_day: date, limit: float) -> date | None:
    counted = state.counted()
    days = sum(r.sessions for r in counted) / 2
    if not counted or days <= 0 or days > limit:
        return None
    first = calendar.add_school_days(year_first_day, 0)
    until = max(calendar.add_school_days(r.start_date, max(math.ceil(r.days), 1) - 1) for r in counted)
    elapsed = max(calendar.school_days_between(first, until), 1)
    rate = days / elapsed
    needed = math.floor(limit / rate) + 1  # the first whole school day on which rate x days > limit
    when = calendar.add_school_days(first, needed - 1)
    return when if when <= year_last_day else None


def with_projection(findings: list[Finding], state: YearSuspensions, calendar: Calendar, *, year_first_day: date, year_last_day: date,
                    limit: float) -> list[Finding]:  # fmt: skip
    """The nearing finding carries the projected date; the others are unchanged."""
    if not any(f.rule == Rule.suspension_days_nearing_limit for f in findings):
        return findings
    when = projected_limit_date(state, calendar, year_first_day=year_first_day, year_last_day=year_last_day, limit=limit)
    return [replace(f, projected_limit_date=when) if f.rule == Rule.suspension_days_nearing_limit else f for f in findings]
