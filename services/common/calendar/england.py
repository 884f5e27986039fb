"""The default calendar: a "typical English school year", for any LA or year without published dates.

Y/Y+1 runs 1 Sep to 31 Aug; each term starts on its first school day and ends on its last weekday on or
before the stated date:
- autumn: from 3 Sep to 20 Dec; half term = Mon-Fri of the week holding the last Monday of October.
- spring: from 5 Jan to the Friday before Holy Week (Good Friday - 7 days); half term = Mon-Fri of the
  week holding the third Monday of February.
- summer: from the Monday after Easter week (Easter Monday + 7 days) to 20 July; half term = the week
  of the spring bank holiday (last Monday of May).
That is two weeks off at Easter and 190-194 school days a year (close to the 190 pupil days of a real
year: 195 days minus INSET days). Bank holidays are never school days: from the shipped file for the years
it covers, else computed here (usual England & Wales rules, Easter by the anonymous Gregorian algorithm).
"""

from __future__ import annotations

from datetime import date, timedelta

from services.common.calendar.terms import DAY, TermSpec, year_label

DEFAULT_SOURCE = "default (England pattern)"


def easter_sunday(year: int) -> date:
    """Anonymous Gregorian algorithm (Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's own name)
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _weekday_on_or_before(d: date) -> date:
    return d - timedelta(days=max(0, d.weekday() - 4))


def _week_of(d: date) -> tuple[date, date]:
    monday = d - timedelta(days=d.weekday())
    return monday, monday + timedelta(days=4)


def _monday_on_or_after(d: date) -> date:
    return d + timedelta(days=-d.weekday() % 7)


def default_term_specs(start_year: int) -> tuple[TermSpec, ...]:
    """The default pattern for academic year start_year/start_year+1 (see the module docstring)."""
    y, n = start_year, start_year + 1
    label = year_label(y)
    good_friday = easter_sunday(n) - 2 * DAY
    last_oct_monday = _monday_on_or_after(date(y, 10, 25))
    third_feb_monday = _monday_on_or_after(date(n, 2, 15))
    last_may_monday = _monday_on_or_after(date(n, 5, 25))
    return (
        TermSpec(label, "autumn", date(y, 9, 3), _weekday_on_or_before(date(y, 12, 20)), (_week_of(last_oct_monday),)),
        TermSpec(label, "spring", date(n, 1, 5), good_friday - 7 * DAY, (_week_of(third_feb_monday),)),
        TermSpec(label, "summer", good_friday + 10 * DAY, _weekday_on_or_before(date(n, 7, 20)), (_week_of(last_may_monday),)),
    )


def standard_bank_holidays(year: int) -> set[date]:
    """The usual England & Wales bank holidays (weekend New Year/Christmas/Boxing Day move to weekdays)."""
    easter = easter_sunday(year)
    out = {easter - 2 * DAY, easter + DAY, _monday_on_or_after(date(year, 5, 1)),
           _monday_on_or_after(date(year, 5, 25)), _monday_on_or_after(date(year, 8, 25))}
    for d in (date(year, 1, 1), date(year, 12, 25), date(year, 12, 26)):
        while d.weekday() > 4 or d in out:
            d += DAY
        out.add(d)
    return out
