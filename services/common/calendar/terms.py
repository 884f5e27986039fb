"""Terms: an academic year's three terms, as published (`TermSpec`) and as counted (`Term`, its school days)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, timedelta

TERM_NAMES = ("autumn", "spring", "summer")
DAY = timedelta(days=1)
_YEAR_RE = re.compile(r"^(\d{4})/(\d{2})$")


@dataclass(frozen=True)
class Term:
    academic_year: str  # "2024/25"
    name: str  # "autumn" | "spring" | "summer"
    start: date
    end: date
    school_days: tuple[date, ...]  # sorted; half terms, bank holidays and weekends excluded

    @property
    def id(self) -> str:
        return f"{self.academic_year}-{self.name}"


@dataclass(frozen=True)
class TermSpec:
    """A term as published: its span and the closed ranges inside it (half terms, gaps between halves)."""

    academic_year: str
    name: str
    start: date
    end: date
    breaks: tuple[tuple[date, date], ...] = ()
    origin: str = ""  # "file:line" of its first row, for error messages


def year_label(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


@functools.lru_cache(maxsize=256)  # a handful of years, parsed for every child's detection
def parse_year(academic_year: str) -> int:
    m = _YEAR_RE.match(academic_year)
    if not m or (int(m[1]) + 1) % 100 != int(m[2]):
        raise ValueError(f"not an academic year like '2024/25': {academic_year!r}")
    return int(m[1])


def build_term(spec: TermSpec, bank_holidays: frozenset[date], trim: bool = False) -> Term:
    """Expand a spec into its school days; trim moves start/end in to the first/last school day."""
    days, d = [], spec.start
    while d <= spec.end:
        if d.weekday() < 5 and d not in bank_holidays and not any(a <= d <= b for a, b in spec.breaks):
            days.append(d)
        d += DAY
    start, end = (days[0], days[-1]) if trim and days else (spec.start, spec.end)
    return Term(spec.academic_year, spec.name, start, end, tuple(days))
