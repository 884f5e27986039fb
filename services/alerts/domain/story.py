"""A child's story, told once (issue 10): every suspension and informal exclusion from every school
and source, the year's suspension days per school against the limit, and the date the limit
would be reached at the current rate.

The 45-day limit is per academic year across all schools (School Discipline (Pupil Exclusions and
Reviews) (England) Regulations 2012, reg. 4; DfE "Suspension and permanent exclusion" 2024). The
projection is the days suspended per school day since the year's first suspension, carried
forward on the child's school calendar; no suspension this year, or a rate that would not reach
the limit this year, projects nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from services.alerts.domain import informal
from services.common.exclusions import suspension_days


@dataclass(frozen=True)
class SuspensionLine:
    event_id: str
    school_urn: str
    la_code: str
    start_date: date
    sessions: int
    academic_year: str

    @property
    def days(self) -> float:
        return self.sessions / 2


@dataclass(frozen=True)
class IncidentLine:
    day: date
    event_id: str
    school_urn: str | None
    la_code: str


@dataclass(frozen=True)
class Story:
    academic_year: str | None
    total_days: float
    limit: float
    by_school: tuple[tuple[str, float], ...]  # (school URN, days) this year, most days first
    suspensions: tuple[SuspensionLine, ...]  # every year, newest first
    incidents: tuple[IncidentLine, ...]  # newest first
    projected_limit_date: date | None


Facts = tuple[dict[str, suspension_days.YearSuspensions], informal.Incidents]


def tell(records: Sequence[Facts], *, today: date, limit: float, year: str | None,
         school_days_between: Callable[[date, date], int], add_school_days: Callable[[date, int], date],
         year_end: date | None = None) -> Story:
    """The story of one child from each of its linked records' facts; `year` is the academic year to
    total (None: the latest year with a suspension)."""
    lines = [SuspensionLine(r.event_id, r.school_urn, r.la_code, r.start_date, r.sessions, y)
             for years, _ in records for y, ys in years.items() for r in ys.counted()]  # fmt: skip
    lines.sort(key=lambda s: (s.start_date, s.event_id), reverse=True)
    incidents = sorted({(d, e): IncidentLine(d, e, urn, la) for _, inc in records for d, reports in inc.by_day.items()
                        for e, (urn, la) in reports.items()}.values(), key=lambda i: (i.day, i.event_id), reverse=True)  # fmt: skip
    year = year or (max(s.academic_year for s in lines) if lines else None)
    this_year = [s for s in lines if s.academic_year == year]
    per_school: dict[str, float] = {}
    for s in this_year:
        per_school[s.school_urn] = per_school.get(s.school_urn, 0.0) + s.days
    total = sum(per_school.values())
    projected = project(this_year, total, limit, today, school_days_between, add_school_days, year_end)
    by_school = tuple(sorted(per_school.items(), key=lambda kv: (-kv[1], kv[0])))
    return Story(year, total, limit, by_school, tuple(lines), tuple(incidents), projected)


def project(this_year: Sequence[SuspensionLine], total: float, limit: float, today: date,
            school_days_between: Callable[[date, date], int], add_school_days: Callable[[date, int], date],
            year_end: date | None) -> date | None:
    if not this_year or total <= 0 or total >= limit or (year_end is not None and today > year_end):
        return None
    first = min(s.start_date for s in this_year)
    elapsed = max(1, school_days_between(first, today))
    rate = total / elapsed  # suspension days per school day
    when = add_school_days(today, math.ceil((limit - total) / rate))
    return None if year_end is not None and when > year_end else when
