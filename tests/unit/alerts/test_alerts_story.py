"""A child's story told once (services/alerts/domain/story.py): days per school, the projection."""

from __future__ import annotations

from datetime import date, timedelta

from services.alerts.domain import informal, story
from services.common.exclusions import suspension_days
from services.common.exclusions.facts import IncidentFact


def weekdays_between(a: date, b: date) -> int:
    return sum(1 for n in range((b - a).days + 1) if (a + timedelta(n)).weekday() < 5)


def add_weekdays(d: date, n: int) -> date:
    while n > 0:
        d += timedelta(1)
        n -= d.weekday() < 5
    return d


def facts(*reports: tuple[str, str, date, int], year: str = "2024/25") -> story.Facts:
    ys = suspension_days.YearSuspensions()
    for event_id, urn, start, sessions in reports:
        key = f"{urn}:{start}"
        ys.by_key[key] = (*ys.by_key.get(key, ()), suspension_days.Report(event_id, sessions, "2024-01-01T00:00:00Z", urn, "305", start))
    return {year: ys}, informal.Incidents()


def tell(records: list[story.Facts], today: date) -> story.Story:
    return story.tell(records, today=today, limit=45, year=None, school_days_between=weekdays_between, add_school_days=add_weekdays,
                      year_end=date(2025, 7, 22))


def test_days_are_summed_per_school_across_linked_records() -> None:
    told = tell([facts(("n1", "100001", date(2024, 9, 16), 20)), facts(("n2", "100002", date(2024, 10, 7), 10), ("n3", "100001", date(2024, 11, 4), 4))],
                today=date(2024, 11, 8))
    assert told.academic_year == "2024/25" and told.total_days == 17
    assert told.by_school == (("100001", 12.0), ("100002", 5.0))
    assert [s.event_id for s in told.suspensions] == ["n3", "n2", "n1"]


def test_the_limit_date_is_projected_at_the_current_rate_in_school_days() -> None:
    told = tell([facts(("n1", "100001", date(2024, 9, 2), 30))], today=date(2024, 9, 13))  # 15 days in 10 school days
    assert told.projected_limit_date == add_weekdays(date(2024, 9, 13), 20)


def test_no_projection_at_or_over_the_limit_or_beyond_the_year() -> None:
    assert tell([facts(("n1", "100001", date(2024, 9, 2), 90))], today=date(2024, 9, 13)).projected_limit_date is None
    assert tell([facts(("n1", "100001", date(2024, 9, 2), 2))], today=date(2025, 7, 1)).projected_limit_date is None


def test_incidents_are_told_too_once_per_report() -> None:
    years, incidents = facts()
    informal.record(incidents, IncidentFact(date(2024, 10, 14), "c1", None, "305"))
    told = tell([(years, incidents), (years, incidents)], today=date(2024, 11, 1))
    assert [(i.day, i.event_id) for i in told.incidents] == [(date(2024, 10, 14), "c1")] and told.academic_year is None
