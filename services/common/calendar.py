"""School-day arithmetic over real English term calendars.

Suspensions are counted in school days, so every count depends on the calendar the school follows: its
own (academies may set their own dates), else its LA's published term dates, else a generated default.
Published dates cover only some years; any other year uses the default pattern, so every date resolves.

Published files (shipped in ``calendars/``, and extra ones from settings.calendars_dir) have ``term`` rows
(a whole term, or each half of it as Bromley lists them), ``half_term`` and ``holiday`` rows. Term rows are
grouped into autumn/spring/summer by label (else by start month); a term spans its first to its last day.
Gaps between its halves, half terms or holidays inside it, weekends and bank holidays are not school days.
A published year runs from its autumn term's first day, so late-August days belong to the year just ended.

Default pattern, a "typical English school year" Y/Y+1 that runs 1 Sep to 31 Aug; each term starts on its
first school day and ends on its last weekday on or before the stated date:
- autumn: from 3 Sep to 20 Dec; half term = Mon-Fri of the week holding the last Monday of October.
- spring: from 5 Jan to the Friday before Holy Week (Good Friday - 7 days); half term = Mon-Fri of the
  week holding the third Monday of February.
- summer: from the Monday after Easter week (Easter Monday + 7 days) to 20 July; half term = the week
  of the spring bank holiday (last Monday of May).
That is two weeks off at Easter and 190-194 school days a year (close to the 190 pupil days of a real
year: 195 days minus INSET days). Bank holidays are never school days: from the shipped file for the years
it covers, else computed (usual England & Wales rules, Easter by the anonymous Gregorian algorithm).
"""

from __future__ import annotations

import csv
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

TERM_NAMES = ("autumn", "spring", "summer")
DEFAULT_SOURCE = "default (England pattern)"
SHIPPED_DIR = Path(__file__).parent / "calendars"
BANK_HOLIDAYS_FILE = "bank_holidays_england_and_wales_2012_2028.csv"
_DAY = timedelta(days=1)
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


def parse_year(academic_year: str) -> int:
    m = _YEAR_RE.match(academic_year)
    if not m or (int(m[1]) + 1) % 100 != int(m[2]):
        raise ValueError(f"not an academic year like '2024/25': {academic_year!r}")
    return int(m[1])


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
    good_friday = easter_sunday(n) - 2 * _DAY
    last_oct_monday = _monday_on_or_after(date(y, 10, 25))
    third_feb_monday = _monday_on_or_after(date(n, 2, 15))
    last_may_monday = _monday_on_or_after(date(n, 5, 25))
    return (
        TermSpec(label, "autumn", date(y, 9, 3), _weekday_on_or_before(date(y, 12, 20)), (_week_of(last_oct_monday),)),
        TermSpec(label, "spring", date(n, 1, 5), good_friday - 7 * _DAY, (_week_of(third_feb_monday),)),
        TermSpec(label, "summer", good_friday + 10 * _DAY, _weekday_on_or_before(date(n, 7, 20)), (_week_of(last_may_monday),)),
    )


def standard_bank_holidays(year: int) -> set[date]:
    """The usual England & Wales bank holidays (weekend New Year/Christmas/Boxing Day move to weekdays)."""
    easter = easter_sunday(year)
    out = {easter - 2 * _DAY, easter + _DAY, _monday_on_or_after(date(year, 5, 1)),
           _monday_on_or_after(date(year, 5, 25)), _monday_on_or_after(date(year, 8, 25))}
    for d in (date(year, 1, 1), date(year, 12, 25), date(year, 12, 26)):
        while d.weekday() > 4 or d in out:
            d += _DAY
        out.add(d)
    return out


def build_term(spec: TermSpec, bank_holidays: frozenset[date], trim: bool = False) -> Term:
    """Expand a spec into its school days; trim moves start/end in to the first/last school day."""
    days, d = [], spec.start
    while d <= spec.end:
        if d.weekday() < 5 and d not in bank_holidays and not any(a <= d <= b for a, b in spec.breaks):
            days.append(d)
        d += _DAY
    start, end = (days[0], days[-1]) if trim and days else (spec.start, spec.end)
    return Term(spec.academic_year, spec.name, start, end, tuple(days))


@dataclass(frozen=True)
class _Year:
    start_year: int
    terms: tuple[Term, ...]  # autumn, spring, summer
    begins: date  # first day of the academic year
    source: str


class SchoolCalendar:
    """One school's (or LA's) calendar. Lookups are dict hits once the calendar year is warmed up."""

    def __init__(self, source: str, year_of: Callable[[int], _Year]):
        self.source = source
        self._year_of = year_of
        self._years: dict[int, _Year] = {}
        self._days: dict[date, tuple[str, Term | None, Term, bool]] = {}  # academic year, term_of, term_for, school?
        self._school_days: dict[int, list[date]] = {}  # per calendar year, sorted

    def __repr__(self) -> str:
        return f"SchoolCalendar({self.source!r})"

    def _year(self, start_year: int) -> _Year:
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
            d += _DAY
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


class CalendarRegistry:
    """Picks a calendar: per-school override first, then the LA's, then the default; years missing from
    a school's override fall back to its LA's published year, then to the default."""

    def __init__(
        self,
        la_terms: dict[str, list[TermSpec]],
        school_overrides: dict[str, list[TermSpec]],
        bank_holidays: frozenset[date],
        names: dict[str, str] | None = None,
    ):
        covered = {d.year for d in bank_holidays}  # other years get the computed pattern
        computed = (d for y in range(1950, 2151) if y not in covered for d in standard_bank_holidays(y))
        self.bank_holidays = frozenset(bank_holidays).union(computed)
        self._la = {k: _by_year(v) for k, v in la_terms.items()}
        self._school = {k: _by_year(v) for k, v in school_overrides.items()}
        self._names = names or {}
        self._default_years: dict[int, _Year] = {}
        self._cache: dict[tuple[str | None, str | None], SchoolCalendar] = {}
        self.default = SchoolCalendar(DEFAULT_SOURCE, self._default_year)

    def _default_year(self, start_year: int) -> _Year:
        y = self._default_years.get(start_year)
        if y is None:
            terms = tuple(build_term(s, self.bank_holidays, trim=True) for s in default_term_specs(start_year))
            y = self._default_years[start_year] = _Year(start_year, terms, date(start_year, 9, 1), DEFAULT_SOURCE)
        return y

    def _source(self, kind: str, key: str) -> str:
        name = self._names.get(f"{kind}:{key}")
        return f"{kind}:{key} ({name + ', ' if name else ''}published term dates)"

    def _calendar(self, layers: list[tuple[str, dict[int, tuple[TermSpec, ...]]]]) -> SchoolCalendar:
        def year_of(start_year: int) -> _Year:
            for source, by_year in layers:
                if start_year in by_year:
                    terms = tuple(build_term(s, self.bank_holidays) for s in by_year[start_year])
                    return _Year(start_year, terms, terms[0].start, source)
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


# ---- loaders (the only I/O) ----

_COLUMNS = {"academic_year", "event_type", "label", "start_date", "end_date"}


def load_bank_holidays(path: Path) -> frozenset[date]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return frozenset(date.fromisoformat(r["date"]) for r in csv.DictReader(f))


def load_term_file(path: Path, key_column: str) -> tuple[dict[str, list[TermSpec]], dict[str, str]]:
    """Read one term-dates CSV into TermSpecs per key (la_code or school_urn), validating as it goes.

    Raises ValueError naming the file and line for bad dates, end < start, overlapping terms or a year
    without all three terms."""

    def fail(line: int | str, msg: str) -> ValueError:
        return ValueError(f"{path}:{line}: {msg}")

    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = (_COLUMNS | {key_column}) - set(reader.fieldnames or ())
        if missing:
            raise fail(1, f"missing columns {sorted(missing)}")
        rows = list(enumerate(reader, start=2))
    terms: dict[tuple[str, int, str], list[tuple[date, date, int]]] = {}
    closed: dict[str, list[tuple[date, date]]] = {}
    names: dict[str, str] = {}
    for line, r in rows:
        key, kind = (r[key_column] or "").strip(), (r["event_type"] or "").strip()
        if not key:
            raise fail(line, f"empty {key_column}")
        if kind not in ("term", "half_term", "holiday"):
            raise fail(line, f"unknown event_type {kind!r}")
        try:
            year = parse_year((r["academic_year"] or "").strip())
            start = date.fromisoformat((r["start_date"] or "").strip())
            end_text = (r["end_date"] or "").strip()
            if not end_text and kind == "holiday":
                continue  # an open-ended holiday ("end of year holiday starts ...") closes no term days
            end = date.fromisoformat(end_text)
        except ValueError as e:
            raise fail(line, str(e)) from None
        if end < start:
            raise fail(line, f"end_date {end} is before start_date {start}")
        if key_column == "la_code" and r.get("la_name"):
            names[f"la:{key}"] = r["la_name"].strip()
        if kind != "term":
            closed.setdefault(key, []).append((start, end))
            continue
        if not (date(year, 8, 1) <= start and end <= date(year + 1, 8, 31)):
            raise fail(line, f"term {start}..{end} lies outside academic year {year_label(year)}")
        label = (r["label"] or "").lower()
        name = next((t for t in TERM_NAMES if t in label), None)
        name = name or ("autumn" if start.month >= 8 else "spring" if start.month <= 3 else "summer")
        terms.setdefault((key, year, name), []).append((start, end, line))

    out: dict[str, list[TermSpec]] = {}
    for key in sorted({k for k, _, _ in terms}):
        rows_k = sorted((s, e, ln) for (k, _, _), v in terms.items() if k == key for s, e, ln in v)
        for (_, e1, _), (s2, _, ln2) in zip(rows_k, rows_k[1:], strict=False):
            if s2 <= e1:
                raise fail(ln2, f"term starting {s2} overlaps the previous term of {key_column} {key}")
        specs: list[TermSpec] = []
        for year in sorted({y for k, y, _ in terms if k == key}):
            for name in TERM_NAMES:
                parts = sorted(terms.get((key, year, name), ()))
                if not parts:
                    first = min(ln for (k, y, _), v in terms.items() if (k, y) == (key, year) for _, _, ln in v)
                    raise fail(first, f"{key_column} {key} {year_label(year)} has no {name} term")
                start, end = parts[0][0], max(p[1] for p in parts)
                gaps = [(a[1] + _DAY, b[0] - _DAY) for a, b in zip(parts, parts[1:], strict=False) if b[0] > a[1] + _DAY]
                inside = [(a, b) for a, b in closed.get(key, ()) if a <= end and b >= start]
                spec = TermSpec(year_label(year), name, start, end, tuple(gaps + inside), f"{path}:{parts[0][2]}")
                if specs and specs[-1].end >= start:
                    raise fail(parts[0][2], f"{name} term {year_label(year)} overlaps the term before it")
                specs.append(spec)
        out[key] = specs
    return out, names


def load_registry(extra_dir: Path | None = None) -> CalendarRegistry:
    """The shipped calendars and bank holidays, plus CSV files in extra_dir (settings.calendars_dir,
    SIGNPOST_CALENDARS_DIR): la_term_dates_*.csv (la_code rows) and school_term_dates_*.csv (school_urn
    rows, per-school overrides such as academies). A later file replaces an earlier one's years for the
    same LA or school; extra files come after the shipped ones."""
    bank_holidays = load_bank_holidays(SHIPPED_DIR / BANK_HOLIDAYS_FILE)
    files = [(p, "la_code") for p in sorted(SHIPPED_DIR.glob("la_term_dates_*.csv"))]
    if extra_dir is not None:
        files += [(p, "la_code") for p in sorted(Path(extra_dir).glob("la_term_dates_*.csv"))]
        files += [(p, "school_urn") for p in sorted(Path(extra_dir).glob("school_term_dates_*.csv"))]
    merged: dict[str, dict[str, dict[str, list[TermSpec]]]] = {"la_code": {}, "school_urn": {}}
    names: dict[str, str] = {}
    for path, key_column in files:
        specs, file_names = load_term_file(path, key_column)
        names.update(file_names)
        for key, key_specs in specs.items():
            years = merged[key_column].setdefault(key, {})
            years.update({s.academic_year: [] for s in key_specs})  # replace whole years
            for s in key_specs:
                years[s.academic_year].append(s)
    for by_key in merged.values():  # years from different files must not overlap either
        for years in by_key.values():
            ordered = sorted((s for v in years.values() for s in v), key=lambda s: s.start)
            for a, b in zip(ordered, ordered[1:], strict=False):
                if b.start <= a.end:
                    raise ValueError(f"{b.origin}: {b.name} term {b.academic_year} overlaps the term from {a.origin}")
    flat = {k: {key: [s for v in years.values() for s in v] for key, years in by_key.items()} for k, by_key in merged.items()}
    return CalendarRegistry(flat["la_code"], flat["school_urn"], bank_holidays, names)
