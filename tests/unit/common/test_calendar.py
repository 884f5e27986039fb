"""School-day arithmetic against the shipped (real) term calendars and the default pattern."""

from __future__ import annotations

import csv
from datetime import date, timedelta

import pytest

from services.common.calendar import (
    DEFAULT_SOURCE,
    SHIPPED_DIR,
    TERM_NAMES,
    CalendarRegistry,
    Term,
    TermSpec,
    load_registry,
    year_label,
)

HEADER = "la_code,la_name,academic_year,event_type,label,start_date,end_date,teaching_days_stated,source_url\n"


@pytest.fixture(scope="module")
def registry() -> CalendarRegistry:
    return load_registry()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def test_bromley_half_term_counts_match_stated(registry):
    cal = registry.for_la("305")
    assert cal.source == "la:305 (Bromley, published term dates)"
    with (SHIPPED_DIR / "la_term_dates_2024-25_bromley_solihull.csv").open(newline="", encoding="utf-8") as f:
        halves = [r for r in csv.DictReader(f) if r["la_code"] == "305" and r["event_type"] == "term"]
    assert len(halves) == 6
    for r in halves:
        start, end = date.fromisoformat(r["start_date"]), date.fromisoformat(r["end_date"])
        assert cal.school_days_between(start, end) == int(r["teaching_days_stated"]), r["label"]
    terms = cal.terms("2024/25")
    assert [t.name for t in terms] == list(TERM_NAMES)
    assert [len(t.school_days) for t in terms] == [74, 60, 61]
    assert sum(len(t.school_days) for t in terms) == 195
    assert terms[0].start == date(2024, 8, 27) and terms[2].end == date(2025, 7, 23)
    assert not cal.is_school_day(date(2024, 10, 21))  # the half term between the two halves
    assert cal.term_of(date(2024, 10, 21)) == terms[0]


def test_solihull_autumn_2024(registry):
    cal = registry.for_la("334")
    autumn = cal.terms("2024/25")[0]
    assert autumn.id == "2024/25-autumn"
    assert (autumn.start, autumn.end) == (date(2024, 9, 2), date(2024, 12, 20))
    assert len(autumn.school_days) == 75
    assert cal.school_days_between(autumn.start, autumn.end) == 75
    assert cal.last_school_days(autumn, 10) == tuple(d for d in _days(date(2024, 12, 9), date(2024, 12, 20)) if d.weekday() < 5)
    for d in _days(date(2024, 10, 28), date(2024, 11, 1)):
        assert not cal.is_school_day(d)
        assert cal.term_of(d) == autumn
    assert cal.term_of(date(2024, 12, 23)) is None
    spring = cal.term_for(date(2024, 12, 23))
    assert spring.id == "2024/25-spring" and spring.start == date(2025, 1, 6)
    assert cal.term_for(date(2024, 11, 5)) == autumn
    assert cal.term_for(date(2025, 7, 25)).id == "2025/26-autumn"  # next year is the default pattern
    assert cal.year_source("2025/26") == DEFAULT_SOURCE


def test_bank_holiday_inside_published_term(registry):
    cal = registry.for_la("305")
    assert cal.term_of(date(2025, 5, 5)).id == "2024/25-summer"
    assert not cal.is_school_day(date(2025, 5, 5))
    assert cal.is_school_day(date(2025, 5, 6))


def test_academic_year_boundaries(registry):
    cal = registry.for_la("305")
    assert cal.academic_year(date(2024, 8, 27)) == "2024/25"
    assert cal.academic_year(date(2024, 8, 26)) == "2023/24"
    assert cal.year_source("2023/24") == DEFAULT_SOURCE
    assert cal.year_source("2024/25").startswith("la:305")
    assert cal.academic_year(date(2025, 7, 31)) == "2024/25"
    assert cal.academic_year(date(2025, 8, 10)) == "2024/25"
    assert cal.academic_year(date(2025, 9, 1)) == "2025/26"
    assert cal.academic_year(date(2025, 1, 1)) == "2024/25"
    assert registry.default.academic_year(date(2024, 8, 31)) == "2023/24"
    assert registry.default.academic_year(date(2024, 9, 1)) == "2024/25"
    # 2025/26 has no published Bromley dates, so it is the default pattern
    assert cal.terms("2025/26") == registry.default.terms("2025/26")


def test_counting_across_half_term_and_weekend(registry):
    cal = registry.for_la("334")
    # Thu 24 Oct .. Tue 5 Nov 2024: Thu, Fri, (weekend, half term, weekend), Mon, Tue
    assert cal.school_days_between(date(2024, 10, 24), date(2024, 11, 5)) == 4
    assert cal.school_days_between(date(2024, 11, 5), date(2024, 10, 24)) == 0
    assert cal.school_days_between(date(2024, 10, 26), date(2024, 11, 3)) == 0
    assert cal.add_school_days(date(2024, 10, 24), 1) == date(2024, 10, 25)
    assert cal.add_school_days(date(2024, 10, 24), 2) == date(2024, 11, 4)
    assert cal.add_school_days(date(2024, 10, 24), 4) == date(2024, 11, 6)
    assert cal.add_school_days(date(2024, 10, 26), 0) == date(2024, 11, 4)
    assert cal.add_school_days(date(2024, 10, 25), 0) == date(2024, 10, 25)
    # across the Christmas holiday and the calendar-year change
    assert cal.add_school_days(date(2024, 12, 20), 1) == date(2025, 1, 6)
    assert cal.school_days_between(date(2024, 12, 19), date(2025, 1, 7)) == 4
    with pytest.raises(ValueError):
        cal.add_school_days(date(2024, 10, 24), -1)


def test_last_school_days_edge_cases(registry):
    autumn = registry.for_la("334").terms("2024/25")[0]
    assert registry.for_la("334").last_school_days(autumn, 0) == ()
    assert registry.for_la("334").last_school_days(autumn, 500) == autumn.school_days


def test_school_override_beats_la(tmp_path):
    (tmp_path / "school_term_dates_academy.csv").write_text(
        HEADER.replace("la_code", "school_urn")
        + "999001,Bromley,2024/25,term,Autumn term,2024-09-04,2024-12-18,,\n"
        + "999001,Bromley,2024/25,half_term,Autumn half term,2024-10-28,2024-11-08,,\n"
        + "999001,Bromley,2024/25,term,Spring term,2025-01-07,2025-04-04,,\n"
        + "999001,Bromley,2024/25,term,Summer term,2025-04-22,2025-07-18,,\n",
        encoding="utf-8",
    )
    reg = load_registry(extra_dir=tmp_path)
    school = reg.for_school("305", "999001")
    assert school.source == "school:999001 (published term dates)"
    assert school.terms("2024/25")[0].start == date(2024, 9, 4)
    assert not school.is_school_day(date(2024, 8, 28))  # a Bromley school day, but not this academy's
    assert reg.for_la("305").is_school_day(date(2024, 8, 28))
    assert not school.is_school_day(date(2024, 11, 5))  # its two-week half term
    assert school.academic_year(date(2024, 8, 30)) == "2023/24"
    assert reg.for_school("305", "123456") is reg.for_la("305")  # no override: the LA calendar
    assert reg.for_school("305", "999001") is school  # cached


def test_unknown_la_gets_default(registry):
    for la in ("999", None):
        cal = registry.for_school(la, None)
        assert cal.source == DEFAULT_SOURCE
        assert cal is registry.default


def test_default_years_are_plausible(registry):
    cal = registry.default
    for y in range(2015, 2031):
        terms = cal.terms(year_label(y))
        assert [t.name for t in terms] == list(TERM_NAMES)
        assert 185 <= sum(len(t.school_days) for t in terms) <= 195, y
        assert date(y, 9, 1) <= terms[0].start and terms[2].end <= date(y + 1, 7, 31)
        for a, b in zip(terms, terms[1:], strict=False):
            assert a.end < b.start
        for t in terms:
            assert t.school_days[0] == t.start and t.school_days[-1] == t.end
            assert all(d.weekday() < 5 and d not in registry.bank_holidays for d in t.school_days)
    # beyond the bank-holiday file: the computed early May bank holiday of 2031 is still not a school day
    assert cal.term_of(date(2031, 5, 5)) is not None and not cal.is_school_day(date(2031, 5, 5))


def test_default_2024_25_shape(registry):
    autumn, spring, summer = registry.default.terms("2024/25")
    assert (autumn.start, autumn.end) == (date(2024, 9, 3), date(2024, 12, 20))
    assert (spring.start, spring.end) == (date(2025, 1, 6), date(2025, 4, 11))  # Easter Sunday 20 Apr
    assert (summer.start, summer.end) == (date(2025, 4, 28), date(2025, 7, 18))
    assert date(2025, 2, 17) not in spring.school_days and date(2025, 5, 27) not in summer.school_days


def test_registry_from_specs_without_files():
    spec = TermSpec("2030/31", "autumn", date(2030, 9, 2), date(2030, 12, 13), ((date(2030, 10, 21), date(2030, 10, 25)),))
    others = [TermSpec("2030/31", "spring", date(2031, 1, 6), date(2031, 3, 28)), TermSpec("2030/31", "summer", date(2031, 4, 14), date(2031, 7, 18))]
    reg = CalendarRegistry({"800": [spec, *others]}, {}, frozenset())
    cal = reg.for_la("800")
    assert isinstance(cal.term_for(date(2030, 9, 2)), Term)
    assert not cal.is_school_day(date(2030, 10, 22))
    assert cal.terms("2030/31")[0].end == date(2030, 12, 13)


@pytest.mark.parametrize(
    "rows, message",
    [
        (["900,X,2024/25,term,Autumn,2024-12-20,2024-09-02,,"], "before start_date"),
        (["900,X,2024/25,term,Autumn,2024-09-02,2024-12-20,,", "900,X,2024/25,term,Spring,2024-12-19,2025-03-28,,"], "overlaps"),
        (["900,X,2024/25,term,Autumn,2024-09-02,not-a-date,,"], "not-a-date"),
        (["900,X,2024/25,term,Autumn,2024-09-02,2024-12-20,,"], "no spring term"),
        (["900,X,2024/25,exam,Autumn,2024-09-02,2024-12-20,,"], "unknown event_type"),
    ],
)
def test_malformed_extra_file_names_file_and_line(tmp_path, rows, message):
    path = tmp_path / "la_term_dates_bad.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_registry(extra_dir=tmp_path)
    assert str(path) in str(err.value)
    assert f"{path}:{len(rows) + 1 if message == 'overlaps' else 2}:" in str(err.value)


def test_extra_file_overlapping_shipped_year_replaces_it(tmp_path):
    (tmp_path / "la_term_dates_bromley_fix.csv").write_text(
        HEADER
        + "305,Bromley,2024/25,term,Autumn,2024-09-03,2024-12-20,,\n"
        + "305,Bromley,2024/25,term,Spring,2025-01-06,2025-04-04,,\n"
        + "305,Bromley,2024/25,term,Summer,2025-04-22,2025-07-22,,\n",
        encoding="utf-8",
    )
    cal = load_registry(extra_dir=tmp_path).for_la("305")
    assert cal.terms("2024/25")[0].start == date(2024, 9, 3)
    assert cal.academic_year(date(2024, 8, 28)) == "2023/24"


def test_lookups_are_cached_per_day(registry):
    cal = registry.for_la("334")
    d = date(2024, 11, 12)
    assert cal.term_for(d) is cal.term_for(d)
    assert d in cal._days  # warmed up: later lookups are a single dict hit


def test_years_from_different_files_must_not_overlap(tmp_path):
    (tmp_path / "la_term_dates_a.csv").write_text(
        HEADER
        + "900,X,2024/25,term,Autumn,2024-09-02,2024-12-20,,\n"
        + "900,X,2024/25,term,Spring,2025-01-06,2025-04-04,,\n"
        + "900,X,2024/25,term,Summer,2025-04-22,2025-08-20,,\n",
        encoding="utf-8",
    )
    (tmp_path / "la_term_dates_b.csv").write_text(
        HEADER
        + "900,X,2025/26,term,Autumn,2025-08-11,2025-12-19,,\n"
        + "900,X,2025/26,term,Spring,2026-01-05,2026-03-27,,\n"
        + "900,X,2025/26,term,Summer,2026-04-13,2026-07-22,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"la_term_dates_b\.csv:2: autumn term 2025/26 overlaps"):
        load_registry(extra_dir=tmp_path)
