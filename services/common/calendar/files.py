"""The published term dates and bank holidays: CSV files read into a `CalendarRegistry` (the only I/O).

Files (shipped in ``services/common/calendars/``, and extra ones from settings.calendars_dir) have ``term``
rows (a whole term, or each half of it as Bromley lists them), ``half_term`` and ``holiday`` rows. Term
rows are grouped into autumn/spring/summer by label (else by start month); a term spans its first to its
last day. Gaps between its halves, half terms or holidays inside it are closed ranges of the term.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from services.common.calendar.registry import CalendarRegistry
from services.common.calendar.terms import DAY, TERM_NAMES, TermSpec, parse_year, year_label

SHIPPED_DIR = Path(__file__).parent.parent / "calendars"
BANK_HOLIDAYS_FILE = "bank_holidays_england_and_wales_2012_2028.csv"

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
                gaps = [(a[1] + DAY, b[0] - DAY) for a, b in zip(parts, parts[1:], strict=False) if b[0] > a[1] + DAY]
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
