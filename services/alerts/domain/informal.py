"""Repeated informal exclusions: a child sent home "to cool off" again and again.

Informal exclusion is unlawful whatever the parents agreed (guidance para 20; domain.md
§1.9, rule R-INFORMAL). Two or more distinct incidents (distinct days) within 20 school
days raise a high alert; the value is the most incidents found in any such window. A
cluster that spans the summer holiday (21 July, then 4 September) belongs to the later
academic year: the school days between them are what counts, not the year boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from schemas.alerts import Rule, Severity
from services.alerts.domain.rules import InformalExclusions
from services.common.exclusions.facts import IncidentFact
from services.common.exclusions.findings import Finding


@dataclass(slots=True)
class Incidents:
    """One child's informal-exclusion incidents, one per day (two calls about one day are one incident).

    by_day: day -> event id -> (school URN, LA code) of each report of that day."""

    by_day: dict[date, dict[str, tuple[str | None, str]]] = field(default_factory=dict)

    def days(self) -> list[date]:
        return sorted(self.by_day)


def record(state: Incidents, fact: IncidentFact) -> bool:
    """Add the report; False when this event was already recorded for that day."""
    reports = state.by_day.setdefault(fact.day, {})
    if fact.event_id in reports:
        return False
    reports[fact.event_id] = (fact.school_urn, fact.la_code)
    return True


def combine(states: Iterable[Incidents]) -> Incidents:
    states = list(states)
    if len(states) == 1:
        return states[0]  # one record's is itself: detectors only read
    out = Incidents()
    for state in states:
        for day, reports in state.by_day.items():
            out.by_day.setdefault(day, {}).update(reports)
    return out


def clusters_by_year(
    days: list[date], school_days_between: Callable[[date, date], int], window: int, academic_year_of: Callable[[date], str]
) -> dict[str, list[date]]:
    """Per academic year, the longest run of incidents within `window` school days whose last incident
    falls in that year (a run may start in the year before)."""
    best: dict[str, list[date]] = {}
    start = 0
    for end in range(len(days)):
        while school_days_between(days[start] + timedelta(days=1), days[end]) > window:
            start += 1
        year = academic_year_of(days[end])
        if end - start + 1 > len(best.get(year, ())):
            best[year] = days[start : end + 1]
    return best


def detect(
    state: Incidents,
    *,
    child_id: str,
    academic_year_of: Callable[[date], str],
    school_days_between: Callable[[date, date], int],
    config: InformalExclusions,
) -> list[Finding]:
    """One finding per academic year with a cluster of at least `min_incidents` incidents."""
    days = state.days()
    findings = []
    for year, cluster in sorted(clusters_by_year(days, school_days_between, config.window_school_days, academic_year_of).items()):
        if len(cluster) < config.min_incidents:
            continue
        behind = sorted({*cluster, *(d for d in days if academic_year_of(d) == year)})
        evidence = tuple(sorted({e for d in behind for e in state.by_day[d]}))
        last_event = max(state.by_day[behind[-1]])
        school_urn, la_code = state.by_day[behind[-1]][last_event]
        findings.append(
            Finding(Rule.informal_exclusions_repeated, "child", child_id, la_code, year, None, Severity.high, len(cluster),
                    config.min_incidents, evidence, school_urn)
        )
    return findings
