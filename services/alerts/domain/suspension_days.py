"""Suspension days in an academic year, across all schools: nearing the limit, and over it.

The law: no more than 45 school days of suspension in a school year, counting suspensions
from previous schools; a lunchtime counts as half a day (domain.md §1.2, rule R-45).
Alerting at 30 (warning) and 40 (high) is a local choice, configurable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.alerts import Rule, Severity
from services.alerts.domain.facts import SuspensionFact
from services.alerts.domain.findings import Finding
from services.alerts.domain.rules import SuspensionDays


@dataclass(slots=True)
class YearSuspensions:
    """One child's suspensions in one academic year, by natural key: days and the event behind each."""

    by_key: dict[str, tuple[float, str]] = field(default_factory=dict)

    @property
    def days(self) -> float:
        return sum(days for days, _ in self.by_key.values())

    def evidence(self) -> tuple[str, ...]:
        return tuple(event_id for _, event_id in self.by_key.values())


def record(state: YearSuspensions, fact: SuspensionFact) -> bool:
    """Add the suspension; False when it was already counted (same UPN, school, start date, sessions)."""
    if fact.key in state.by_key:
        return False
    state.by_key[fact.key] = (fact.days, fact.event_id)
    return True


def detect(
    state: YearSuspensions, *, child_id: str, la_code: str, school_urn: str | None, academic_year: str, config: SuspensionDays
) -> list[Finding]:
    """The findings for the child's year so far (none below the warning threshold)."""
    days = state.days
    if days < config.warning_at:
        return []
    evidence = state.evidence()
    high = days >= config.high_at
    findings = [
        Finding(
            Rule.suspension_days_nearing_limit,
            "child",
            child_id,
            la_code,
            academic_year,
            None,
            Severity.high if high else Severity.warning,
            days,
            config.high_at if high else config.warning_at,
            evidence,
            school_urn,
        )
    ]
    if days > config.limit:
        findings.append(
            Finding(Rule.suspension_days_limit_exceeded, "child", child_id, la_code, academic_year, None, Severity.critical, days, config.limit, evidence, school_urn)
        )
    return findings
