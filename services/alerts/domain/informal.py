"""Repeated informal exclusions: a child sent home "to cool off" again and again.

Informal exclusion is unlawful whatever the parents agreed (guidance para 20; domain.md
§1.9, rule R-INFORMAL). Two or more distinct incidents (distinct days) within 20 school
days raise a high alert; the value is the most incidents found in any such window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from schemas.alerts import Rule, Severity
from services.alerts.domain.facts import IncidentFact
from services.alerts.domain.findings import Finding
from services.alerts.domain.rules import InformalExclusions


@dataclass(slots=True)
class Incidents:
    """One child's informal-exclusion incidents, one per day (two calls about one day are one incident)."""

    by_day: dict[date, list[str]] = field(default_factory=dict)  # day -> event ids reporting it

    def days(self) -> list[date]:
        return sorted(self.by_day)


def record(state: Incidents, fact: IncidentFact) -> bool:
    """Add the incident; False when nothing new was learnt."""
    reports = state.by_day.setdefault(fact.day, [])
    if fact.event_id in reports:
        return False
    reports.append(fact.event_id)
    return len(reports) == 1


def largest_cluster(days: list[date], school_days_between: Callable[[date, date], int], window: int) -> list[date]:
    """The longest run of incidents where the last falls within `window` school days after the first."""
    best: list[date] = []
    start = 0
    for end in range(len(days)):
        while school_days_between(days[start] + timedelta(days=1), days[end]) > window:
            start += 1
        if end - start + 1 > len(best):
            best = days[start : end + 1]
    return best


def detect(
    state: Incidents,
    *,
    child_id: str,
    la_code: str,
    school_urn: str | None,
    academic_year_of: Callable[[date], str],
    school_days_between: Callable[[date, date], int],
    config: InformalExclusions,
) -> list[Finding]:
    """One finding per academic year with a cluster of at least `min_incidents` incidents."""
    by_year: dict[str, list[date]] = {}
    for day in state.days():
        by_year.setdefault(academic_year_of(day), []).append(day)
    findings = []
    for year, days in by_year.items():
        cluster = largest_cluster(days, school_days_between, config.window_school_days)
        if len(cluster) < config.min_incidents:
            continue
        evidence = tuple(dict.fromkeys(e for d in days for e in state.by_day[d]))
        findings.append(
            Finding(Rule.informal_exclusions_repeated, "child", child_id, la_code, year, None, Severity.high, len(cluster), config.min_incidents, evidence, school_urn)
        )
    return findings
