"""What a detector concludes. The alert store turns a finding into a new alert or an update of
the one alert per (rule, subject, academic year, term)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from schemas.alerts import Rule, Severity


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    subject_kind: str  # "child" | "school" | "la"
    subject_id: str  # child_id, school URN or LA code
    la_code: str
    academic_year: str
    term: str | None
    severity: Severity
    value: float
    threshold: float
    evidence: tuple[str, ...]
    school_urn: str | None = None  # the school concerned, for the school_urn filter
    limit_reached: bool = False  # exactly at the legal limit: one more suspension is unlawful
    la_codes: tuple[str, ...] = ()  # every LA with a duty (the stage adds the child's LAs)
    projected_limit_date: date | None = None  # nearing the 45 days: when the child's rate would pass them (issue 11)
    due_on: date | None = None  # deadline rules: the statutory deadline
    # A deadline that passed long before today is history, not news: it updates an alert that exists
    # but raises none (rules.Deadlines.watch_school_days), so loading old data alerts nobody.
    quiet: bool = False

    def with_la_codes(self, la_codes: tuple[str, ...]) -> Finding:
        """This finding with every LA that has a duty (`dataclasses.replace`, without its per-field work: the
        stage does this for every finding of every detection)."""
        return Finding(self.rule, self.subject_kind, self.subject_id, self.la_code, self.academic_year, self.term, self.severity, self.value,
                       self.threshold, self.evidence, self.school_urn, self.limit_reached, la_codes, self.projected_limit_date, self.due_on,
                       self.quiet)  # fmt: skip

    @property
    def alert_id(self) -> str:
        """Deterministic: a rebuild finds the same alert again instead of making a second one."""
        return alert_id(self.rule, self.subject_kind, self.subject_id, self.academic_year, self.term)


def alert_id(rule: str, subject_kind: str, subject_id: str, academic_year: str, term: str | None) -> str:
    raw = f"{rule}|{subject_kind}|{subject_id}|{academic_year}|{term or ''}"
    return "al_" + hashlib.sha256(raw.encode()).hexdigest()[:20]


SEVERITY_RANK = {Severity.info: 0, Severity.warning: 1, Severity.high: 2, Severity.critical: 3}
