"""One school's (or LA's) calendar: which days are school days, which term a day falls in, and school-day counts."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from services.common.calendar.terms import DAY, Term, parse_year, year_label


@dataclass(frozen=True)
class AcademicYear:
    """One academic year of a calendar: its three terms, its first day and where its dates come from."""

    start_year: int
    terms: tuple[Term, ...]  # autumn, spring, summer
    begins: date  # first day of the academic year
    source: str


class SchoolCalendar:
    """One school's (or LA's) calendar. Lookups are dict hits once the calendar year is warmed up."""

    def __init__(self, source: str, year_of: Callable[[int], AcademicYear]) -> None:
        self.source = source
        self._year_of = year_of
        self._years: dict[int, AcademicYear] = {}
        self._days: dict[date, tuple[str, Term | None, Term, bool]] = {}  # academic year, term_of, term_for, school?
        self._school_days: dict[int, list[date]] = {}  # per calendar year, sorted

    def __repr__(self) -> str:
        return f"SchoolCalendar({self.source!r})"

    def _year(self, start_year: int) -> AcademicYear:
        y = self._years.get(start_year)
        if y is None:
            y = self._years[start_year] = self._year_of(start_year)
        return y

    def _warm(self, cal_year: int) -> None:
        """Precompute every day of a calendar year: it touches academic years cal_year-1 and cal_year."""
        prev, cur = self._year(cal_year - 1), self._year(cal_year)
        terms = prev.terms + cur.terms
        school = set().union(*(t.school_days for t in terms))
        d, i, school_days = date(cal_year, 1, 1), 0, []
        while d.year == cal_year:
            while terms[i].end < d:
                i += 1
            nxt = terms[i]
            is_school = d in school
            year = cur if d >= cur.begins else prev
            self._days[d] = (year_label(year.start_year), nxt if nxt.start <= d else None, nxt, is_school)
            if is_school:
                school_days.append(d)
            d += DAY
        self._school_days[cal_year] = school_days

    def _info(self, d: date) -> tuple[str, Term | None, Term, bool]:
        info = self._days.get(d)
        if info is None:
            self._warm(d.year)
            info = self._days[d]
        return info

    def _school_days_in(self, cal_year: int) -> list[date]:
        if cal_year not in self._school_days:
            self._warm(cal_year)
        return self._school_days[cal_year]

    def is_school_day(self, d: date) -> bool:
        return self._info(d)[3]

    def academic_year(self, d: date) -> str:
        return self._info(d)[0]

    def term_of(self, d: date) -> Term | None:
        """The term whose span holds d (half-term days included), else None."""
        return self._info(d)[1]

    def term_for(self, d: date) -> Term:
        """term_of(d), or for a holiday date the next term: a suspension in the holidays counts there."""
        return self._info(d)[2]

    def terms(self, academic_year: str) -> tuple[Term, ...]:
        return self._year(parse_year(academic_year)).terms

    def year_source(self, academic_year: str) -> str:
        """Which calendar the year's terms come from (this calendar's published dates or the default)."""
        return self._year(parse_year(academic_year)).source

    def school_days_between(self, start: date, end: date) -> int:
        """School days from start to end, both inclusive; 0 if end < start."""
        total = 0
        for y in range(start.year, end.year + 1):
            days = self._school_days_in(y)
            lo = bisect_left(days, start) if y == start.year else 0
            hi = bisect_right(days, end) if y == end.year else len(days)
            total += max(0, hi - lo)
        return total

    def add_school_days(self, d: date, n: int) -> date:
        """The n-th school day after d; n=0 gives d if a school day, else the next school day."""
        if n < 0:
            raise ValueError("n must be >= 0")
        y = d.year
        days = self._school_days_in(y)
        i = (bisect_left(days, d) if n == 0 else bisect_right(days, d)) + max(n - 1, 0)
        while i >= len(days):
            i -= len(days)
            y += 1
            days = self._school_days_in(y)
        return days[i]

    def last_school_days(self, term: Term, n: int) -> tuple[date, ...]:
        """The last n school days of the term (all of them if it has fewer)."""
        return term.school_days[-n:] if n > 0 else ()
