"""R-LA-ALL (issue 11, item 5): a school's share of suspensions notified late (only through a return)."""

from __future__ import annotations

from datetime import date

from schemas.alerts import Rule, Severity
from services.alerts.domain import late_notice
from services.alerts.domain.grey_rules import LateNotifications
from tests.unit.alerts.grey_helpers import BROMLEY, calendar_of

BROM = calendar_of(*BROMLEY)


def term_reports(*suspensions: tuple[date, list[tuple[str, str]]]) -> dict[str, late_notice.TermReports]:
    """Suspensions (start, reports as (via, reported_at)) bucketed by their term on Bromley's calendar."""
    out: dict[str, late_notice.TermReports] = {}
    for i, (start, reports) in enumerate(suspensions):
        state = out.setdefault(BROM.term_for(start).id, late_notice.TermReports())
        for j, (via, at) in enumerate(reports):
            late_notice.record(state, f"s{i}", f"{via}:{i}.{j}", via, at)
    return out


def detect(state: late_notice.TermReports, config: LateNotifications | None = None) -> list:
    return late_notice.detect(state, school_urn="101676", la_code="305", academic_year="2024/25", term="autumn", config=config or LateNotifications())


NOTICE = [("notice", "2024-09-10T09:00:00+00:00")]
RETURN = [("return", "2025-01-10T09:00:00+00:00")]


def test_one_late_in_four_is_the_threshold_none_in_four_is_not():
    terms = term_reports((date(2024, 9, 9), NOTICE), (date(2024, 9, 16), NOTICE), (date(2024, 10, 7), NOTICE), (date(2024, 11, 4), RETURN))
    [finding] = detect(terms["2024/25-autumn"])
    assert (finding.rule, finding.severity, finding.value, finding.threshold) == (Rule.late_notifications_high, Severity.warning, 0.25, 0.25)
    on_time = term_reports(*((date(2024, 9, d), NOTICE + RETURN) for d in (9, 16, 23, 30)))
    assert detect(on_time["2024/25-autumn"]) == []


def test_a_notice_after_the_return_is_late_whatever_the_order_of_arrival():
    late = [("return", "2024-10-01T09:00:00+00:00"), ("notice", "2024-10-02T09:00:00+00:00")]
    assert late_notice.is_late({"a": late[0], "b": late[1]})
    assert late_notice.is_late({"b": late[1], "a": late[0]})
    assert not late_notice.is_late({"a": ("notice", "2024-10-01T09:00:00+00:00"), "b": ("return", "2024-10-02T09:00:00+00:00")})


def test_too_few_suspensions_mean_nothing():
    terms = term_reports((date(2024, 9, 9), RETURN), (date(2024, 9, 16), RETURN), (date(2024, 10, 7), NOTICE))
    assert detect(terms["2024/25-autumn"]) == []
    assert len(detect(terms["2024/25-autumn"], LateNotifications(min_suspensions=3))) == 1


def test_a_half_term_start_counts_in_its_term_and_a_holiday_start_in_the_next():
    # Bromley: 21 Oct 2024 is half term (autumn); 1 Jan 2025 is the Christmas holiday (spring)
    terms = term_reports((date(2024, 10, 21), RETURN), (date(2025, 1, 1), RETURN))
    assert sorted(terms) == ["2024/25-autumn", "2024/25-spring"]
