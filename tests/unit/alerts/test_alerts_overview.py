"""What the school and LA pages draw (services/alerts/domain/overview.py)."""

from __future__ import annotations

from datetime import date

from services.alerts.domain import overview

DAYS = [date(2024, 12, d) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13)]


def test_each_school_day_counts_the_suspensions_starting_on_it_and_the_window_is_marked() -> None:
    days = overview.term_days([date(2024, 12, 2), date(2024, 12, 13), date(2024, 12, 13)], DAYS, window=3)
    assert [d.suspensions for d in days] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert [d.in_window for d in days] == [False] * 7 + [True] * 3


def test_a_suspension_starting_on_a_weekend_counts_on_the_next_school_day() -> None:
    days = overview.term_days([date(2024, 12, 7)], DAYS, window=3)
    assert {d.day: d.suspensions for d in days}[date(2024, 12, 9)] == 1


def test_children_fall_into_the_bands_the_45_day_rule_cares_about() -> None:
    bands = dict(overview.children_by_band([0, 2, 14.5, 30, 44.5, 45, 45.5, 60]))
    assert bands == {"Under 5 days": 1, "5 to 14.5 days": 1, "15 to 29.5 days": 0, "30 to 39.5 days (nearing)": 1,
                     "40 to 45 days (high)": 2, "Over 45 days (unlawful)": 2}


def test_alerts_are_counted_per_month_and_rule_oldest_month_first() -> None:
    months = overview.alerts_by_month([("a", date(2024, 11, 3)), ("b", date(2024, 9, 1)), ("a", date(2024, 11, 30))])
    assert months == (("2024-09", {"b": 1}), ("2024-11", {"a": 2}))
