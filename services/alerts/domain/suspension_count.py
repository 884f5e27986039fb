"""The 45 days, seen coming (issue 11, item 6): a trigger on the number of suspensions in a term.

Not law: a local choice (`suspensions_in_term.count`, default 3) so that a child suspended again and
again reaches the Re-engagement Unit long before the 45-day limit (R-45 [S53]). The term is the
school's own (its calendar; a suspension starting in a holiday counts in the next term). One alert
per child, school year and term; the value is the number of suspensions starting in it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Protocol

from schemas.alerts import Rule, Severity
from services.alerts.domain.grey_rules import SuspensionsInTerm
from services.common.exclusions.findings import Finding
from services.common.exclusions.suspension_days import Report, YearSuspensions


class Term(Protocol):
    @property
    def academic_year(self) -> str: ...
    @property
    def name(self) -> str: ...


class Calendar(Protocol):
    def term_for(self, d: date) -> Term: ...


def detect(state: YearSuspensions, *, child_id: str, calendar_of: Callable[[str, str | None], Calendar], config: SuspensionsInTerm) -> list[Finding]:
    if len(state.by_key) < config.count:
        return []  # fewer suspensions in all than the count: no term reaches it (most children; no calendar lookups)
    by_term: dict[tuple[str, str], list[tuple[Report, str]]] = {}
    for report, first in state.counted_with_evidence():  # worked out once per change of the year
        term = calendar_of(report.la_code, report.school_urn).term_for(report.start_date)
        by_term.setdefault((term.academic_year, term.name), []).append((report, first))
    findings = []
    for (year, term_name), found in sorted(by_term.items()):
        if len(found) < config.count:
            continue
        latest = max(found, key=lambda x: (x[0].start_date, x[0].reported_at, x[0].event_id))[0]
        findings.append(Finding(Rule.suspensions_in_term, "child", child_id, latest.la_code, year, term_name, Severity.warning, len(found),
                                config.count, tuple(sorted(e for _, e in found)), latest.school_urn))  # fmt: skip
    return findings
