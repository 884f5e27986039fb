"""What the school and LA pages draw (issue 10), from plain data.

School: suspensions starting on each school day of a term, the end-of-term window marked (the
`end_of_term_spike` rule's last N school days; a suspension starting in a holiday counts on the
term's next school day, as the rule counts it). LA: alerts raised per month by rule, and children
by suspension-days band this year (the bands the 45-day rule cares about).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

BANDS: tuple[tuple[str, float, float], ...] = (  # label, from (inclusive), to (exclusive)
    ("Under 5 days", 0.0, 5.0), ("5 to 14.5 days", 5.0, 15.0), ("15 to 29.5 days", 15.0, 30.0),
    ("30 to 39.5 days (nearing)", 30.0, 40.0), ("40 to 45 days (high)", 40.0, 45.5), ("Over 45 days (unlawful)", 45.5, float("inf")),
)


@dataclass(frozen=True)
class TermDay:
    day: date
    suspensions: int
    in_window: bool


def term_days(starts: Iterable[date], school_days: Sequence[date], window: int) -> tuple[TermDay, ...]:
    """Each school day of the term with the suspensions starting on it (or in the holiday before it)."""
    if not school_days:
        return ()
    counts: Counter[date] = Counter()
    for start in starts:
        i = bisect_left(school_days, start)
        if i < len(school_days):
            counts[school_days[i]] += 1
    first_in_window = len(school_days) - window
    return tuple(TermDay(d, counts.get(d, 0), i >= first_in_window) for i, d in enumerate(school_days))


def band_of(days: float) -> str:
    return next(label for label, lo, hi in BANDS if lo <= days < hi)


def children_by_band(days_per_child: Iterable[float]) -> tuple[tuple[str, int], ...]:
    counts = Counter(band_of(d) for d in days_per_child if d > 0)
    return tuple((label, counts.get(label, 0)) for label, _, _ in BANDS)


def alerts_by_month(raised: Iterable[tuple[str, date]]) -> tuple[tuple[str, dict[str, int]], ...]:
    """(rule, day raised) → each month (YYYY-MM, oldest first) with its count per rule."""
    months: dict[str, Counter[str]] = {}
    for rule, day in raised:
        months.setdefault(f"{day:%Y-%m}", Counter())[rule] += 1
    return tuple((month, dict(months[month])) for month in sorted(months))
