"""Which calendar a school follows: its own published dates, else its LA's, else the default pattern."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from services.common.calendar.england import DEFAULT_SOURCE, default_term_specs, standard_bank_holidays
from services.common.calendar.school_calendar import AcademicYear, SchoolCalendar
from services.common.calendar.terms import TERM_NAMES, TermSpec, build_term, parse_year


class CalendarRegistry:
    """Picks a calendar: per-school override first, then the LA's, then the default; years missing from
    a school's override fall back to its LA's published year, then to the default."""

    def __init__(
        self,
        la_terms: dict[str, list[TermSpec]],
        school_overrides: dict[str, list[TermSpec]],
        bank_holidays: frozenset[date],
        names: dict[str, str] | None = None,
    ) -> None:
        covered = {d.year for d in bank_holidays}  # other years get the computed pattern
        computed = (d for y in range(1950, 2151) if y not in covered for d in standard_bank_holidays(y))
        self.bank_holidays = frozenset(bank_holidays).union(computed)
        self._la = {k: _by_year(v) for k, v in la_terms.items()}
        self._school = {k: _by_year(v) for k, v in school_overrides.items()}
        self._names = names or {}
        self._default_years: dict[int, AcademicYear] = {}
        self._cache: dict[tuple[str | None, str | None], SchoolCalendar] = {}
        self.default = SchoolCalendar(DEFAULT_SOURCE, self._default_year)

    def _default_year(self, start_year: int) -> AcademicYear:
        y = self._default_years.get(start_year)
        if y is None:
            terms = tuple(build_term(s, self.bank_holidays, trim=True) for s in default_term_specs(start_year))
            y = self._default_years[start_year] = AcademicYear(start_year, terms, date(start_year, 9, 1), DEFAULT_SOURCE)
        return y

    def _source(self, kind: str, key: str) -> str:
        name = self._names.get(f"{kind}:{key}")
        return f"{kind}:{key} ({name + ', ' if name else ''}published term dates)"

    def _calendar(self, layers: list[tuple[str, dict[int, tuple[TermSpec, ...]]]]) -> SchoolCalendar:
        def year_of(start_year: int) -> AcademicYear:
            for source, by_year in layers:
                if start_year in by_year:
                    terms = tuple(build_term(s, self.bank_holidays) for s in by_year[start_year])
                    return AcademicYear(start_year, terms, terms[0].start, source)
            return self._default_year(start_year)

        return SchoolCalendar(layers[0][0], year_of)

    def for_la(self, la_code: str | None) -> SchoolCalendar:
        return self.for_school(la_code, None)

    def for_school(self, la_code: str | None, school_urn: str | None = None) -> SchoolCalendar:
        key = (la_code if la_code in self._la else None, school_urn if school_urn in self._school else None)
        cal = self._cache.get(key)
        if cal is None:
            layers = []
            if key[1] is not None:
                layers.append((self._source("school", key[1]), self._school[key[1]]))
            if key[0] is not None:
                layers.append((self._source("la", key[0]), self._la[key[0]]))
            cal = self._cache[key] = self._calendar(layers) if layers else self.default
        return cal


def _by_year(specs: Iterable[TermSpec]) -> dict[int, tuple[TermSpec, ...]]:
    out: dict[int, list[TermSpec]] = {}
    for s in specs:
        out.setdefault(parse_year(s.academic_year), []).append(s)
    return {y: tuple(sorted(v, key=lambda s: TERM_NAMES.index(s.name))) for y, v in out.items()}
