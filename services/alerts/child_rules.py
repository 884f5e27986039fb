"""The issue-11 child rules (items 4-6), wired for the child stage: which facts an intake event
carries for them, and the findings over a child's facts. The detectors themselves are pure, in
`domain/` (protected, part_time, off_rolling, managed_moves, suspension_count, projection,
cancellation); this module only picks their calendars and inputs, so the stage stays thin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from schemas.topics import CALLS, EXCLUSION_CANCELLATIONS, EXCLUSION_NOTICES, LA_RETURN_RECORDS
from services.alerts.domain import (
    managed_moves,
    off_rolling,
    part_time,
    projection,
    protected,
    suspension_count,
)
from services.alerts.domain.rules import RuleConfig
from services.common.calendar import CalendarRegistry, SchoolCalendar
from services.common.exclusions import cancellation
from services.common.exclusions import grey_facts as g
from services.common.exclusions.findings import Finding
from services.common.exclusions.proceedings import Proceedings
from services.common.exclusions.suspension_days import YearSuspensions, combine


def facts_of(topic: str, event_id: str, doc: dict[str, Any]) -> list[g.RecordFact | g.CancellationFact]:
    """What an intake event (as JSON) tells these rules."""
    if topic == EXCLUSION_NOTICES.name:
        fact = g.from_notice(event_id, doc)
        return [fact] if fact else []
    if topic == LA_RETURN_RECORDS.name:
        fact = g.from_return(event_id, doc)
        return [fact] if fact else []
    if topic == CALLS.name:
        return list(g.threats_from_call(event_id, doc))
    if topic == EXCLUSION_CANCELLATIONS.name:
        return [g.from_cancellation(event_id, doc)]
    return []


def standing(year: YearSuspensions, records: g.ChildRecords, rules: RuleConfig, steps: Proceedings | None = None) -> YearSuspensions:
    """A school year's suspensions without those lawfully cancelled (R-CANCEL): not over 45 days,
    and not once the governing board has met on it (its decision, among the record's proceedings)."""
    board_met = cancellation.boards_met(steps) if steps else cancellation.no_board_meeting
    return cancellation.standing(year, records.cancellations.values(), limit=rules.suspension_days.limit, board_met=board_met)


def project(findings: list[Finding], year: YearSuspensions, academic_year: str, calendar: SchoolCalendar, rules: RuleConfig) -> list[Finding]:
    """The nearing alert's projected date on the child's (latest school's) calendar."""
    terms = calendar.terms(academic_year)
    return projection.with_projection(findings, year, calendar, year_first_day=terms[0].start, year_last_day=terms[-1].end,
                                      limit=rules.suspension_days.limit)  # fmt: skip


def _as_of(years: Iterable[YearSuspensions], records: g.ChildRecords) -> date | None:
    days = [r.start_date for ys in years for r in ys.counted()]
    days += [d for r in records.records.values() for d in (r.start_date, r.end_date) if d is not None]
    return max(days, default=None)


def detect(child_id: str, profile: Mapping[str, Any], years: Mapping[str, YearSuspensions], records: g.ChildRecords,
           calendars: CalendarRegistry, rules: RuleConfig) -> list[Finding]:  # fmt: skip
    """Every issue-11 child finding. `years` are the standing suspensions (cancellations applied)."""
    calendar_of = calendars.for_school
    child_calendar = calendar_of(profile.get("la_code"), profile.get("school_urn"))
    findings = protected.detect_permanent(records, profile, child_id=child_id, academic_year_of=child_calendar.academic_year)
    findings += protected.detect_social_care(records, years, profile, child_id=child_id, academic_year_of=child_calendar.academic_year)
    if records.records:  # most children have none of these facts: skip the work
        findings += part_time.detect(records, child_id=child_id, calendar_of=calendar_of, config=rules.part_time_timetables,
                                     as_of=_as_of(years.values(), records))  # fmt: skip
    findings += off_rolling.detect(records, years.values(), child_id=child_id, year_group=profile.get("year_group"), calendar_of=calendar_of,
                                   config=rules.off_rolling)  # fmt: skip
    findings += managed_moves.detect(records, child_id=child_id, academic_year_of=lambda la, urn, d: calendar_of(la, urn).academic_year(d))
    findings += suspension_count.detect(combine(years.values()), child_id=child_id, calendar_of=calendar_of, config=rules.suspensions_in_term)
    return findings
