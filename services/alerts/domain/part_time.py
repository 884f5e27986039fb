"""Part-time timetables (issue 11, item 5; R-PTT).

*Working together to improve school attendance* (statutory from 19 Aug 2024 [S37][S83]): a part-time
timetable only in very exceptional circumstances, for the shortest time necessary, with a time limit
and formal regular review, and never to manage behaviour [S25b][S90]. LAs set the review at 6-8
weeks: local practice, a setting here (`part_time_timetables.review_weeks`, default 6) [S90].

A timetable is a concern when:
- behaviour is its reason (a `timetable_reason` of behaviour, or exclusion reason codes) → `high`;
- it has no review date, or its review falls after `review_weeks` school weeks from its first school
  day → `warning`;
- it ran on past its review date (its end date is after it), or is still running on `as_of` past it.
Dates are school days on the school's calendar: a review date in a holiday counts from the next
school day. One alert per child and school year; the value is the number of timetables of concern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from schemas.alerts import Rule, Severity
from services.alerts.domain.grey_rules import PartTimeTimetables
from services.common.exclusions.findings import Finding
from services.common.exclusions.grey_facts import ChildRecords, RecordFact


class Calendar(Protocol):
    def add_school_days(self, d: date, n: int) -> date: ...
    def academic_year(self, d: date) -> str: ...


@dataclass(frozen=True, slots=True)
class Concern:
    fact: RecordFact
    why: str  # behaviour | no_review | review_late | past_review


def review_deadline(start: date, calendar: Calendar, weeks: int) -> date:
    """The last school day of the `weeks`-th school week, counting the timetable's first school day as day 1."""
    return calendar.add_school_days(calendar.add_school_days(start, 0), 5 * weeks - 1)


def concern(fact: RecordFact, calendar: Calendar, config: PartTimeTimetables, as_of: date | None) -> Concern | None:
    if fact.behaviour:
        return Concern(fact, "behaviour")
    if fact.review_date is None:
        return Concern(fact, "no_review")
    review = calendar.add_school_days(fact.review_date, 0)  # a review date in a holiday is the next school day
    if review > review_deadline(fact.start_date, calendar, config.review_weeks):
        return Concern(fact, "review_late")
    ran_to = fact.end_date or as_of
    if ran_to is not None and ran_to > review:
        return Concern(fact, "past_review")
    return None


def detect(
    records: ChildRecords, *, child_id: str, calendar_of: Callable[[str, str | None], Calendar], config: PartTimeTimetables, as_of: date | None
) -> list[Finding]:
    """`as_of`: the latest date known for the child (deterministic, whatever the arrival order); the
    wall-clock tick of items 1-3 may pass today's date instead."""
    by_year: dict[str, list[Concern]] = {}
    for fact in records.of_kind("part_time_timetable"):
        calendar = calendar_of(fact.la_code, fact.school_urn)
        found = concern(fact, calendar, config, as_of)
        if found is not None:
            by_year.setdefault(calendar.academic_year(fact.start_date), []).append(found)
    findings = []
    for year, concerns in sorted(by_year.items()):
        last = concerns[-1].fact
        severity = Severity.high if any(c.why == "behaviour" for c in concerns) else Severity.warning
        findings.append(Finding(Rule.part_time_timetable_concern, "child", child_id, last.la_code, year, None, severity, len(concerns), 1,
                                tuple(sorted(c.fact.event_id for c in concerns)), last.school_urn))  # fmt: skip
    return findings
