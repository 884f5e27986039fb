"""School-day arithmetic over real English term calendars.

Suspensions are counted in school days, so every count depends on the calendar the school follows: its
own (academies may set their own dates), else its LA's published term dates, else a generated default.
Published dates cover only some years; any other year uses the default pattern, so every date resolves.
A published year runs from its autumn term's first day, so late-August days belong to the year just ended.

One module a concept: `terms` (a term as published and as counted), `school_calendar` (one calendar's
school days and terms), `registry` (which calendar a school follows), `england` (the default pattern and
bank holidays), `files` (the published CSV files, the only I/O). Callers import the names from here.
"""

from services.common.calendar.england import (
    DEFAULT_SOURCE,
    default_term_specs,
    easter_sunday,
    standard_bank_holidays,
)
from services.common.calendar.files import (
    BANK_HOLIDAYS_FILE,
    SHIPPED_DIR,
    load_bank_holidays,
    load_registry,
    load_term_file,
)
from services.common.calendar.registry import CalendarRegistry
from services.common.calendar.school_calendar import SchoolCalendar
from services.common.calendar.terms import TERM_NAMES, Term, TermSpec, build_term, parse_year, year_label

__all__ = [
    "BANK_HOLIDAYS_FILE", "DEFAULT_SOURCE", "SHIPPED_DIR", "TERM_NAMES", "CalendarRegistry", "SchoolCalendar", "Term", "TermSpec",
    "build_term", "default_term_specs", "easter_sunday", "load_bank_holidays", "load_registry", "load_term_file", "parse_year",
    "standard_bank_holidays", "year_label",
]  # fmt: skip
