"""Suspension days in an academic year, across all schools: nearing the limit, and over it.

The law: no more than 45 school days of suspension in a school year, counting suspensions
from previous schools; a lunchtime counts as half a day (domain.md §1.2, rule R-45).
Alerting at 30 (warning) and 40 (high) is a local choice, configurable. A child at exactly
the limit is flagged (`limit_reached`): one more suspension would be unlawful.

A suspension is keyed by UPN + school + start date. Several reports of it (the school's
notice, the LA's return, a correction) count once: the latest report, by when it was
reported, gives its sessions; the first report is the evidence the alert cites.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from schemas.alerts import Rule, Severity
from services.common.exclusions.facts import SuspensionFact
from services.common.exclusions.findings import Finding
from services.common.exclusions.thresholds import SuspensionDays


@dataclass(frozen=True, slots=True)
class Report:
    """One report of a suspension."""

    event_id: str
    sessions: int
    reported_at: str
    school_urn: str
    la_code: str
    start_date: date

    @property
    def days(self) -> float:
        return self.sessions / 2


def report_of(fact: SuspensionFact) -> Report:
    return Report(fact.event_id, fact.sessions, fact.reported_at, fact.school_urn, fact.la_code, fact.start_date)


# Every report of one suspension, each event once, in the order recorded. A tuple, not a dict by event id:
# most suspensions have one report, and a one-entry dict is 224 bytes against a 1-tuple's 48 (a national
# year caches millions of them).
Reports = tuple[Report, ...]


def winner(reports: Reports) -> Report:
    """The report that counts: the latest reported (ties: the greater event id), whatever the arrival order."""
    if len(reports) == 1:  # most suspensions have one report
        return reports[0]
    return max(reports, key=lambda r: (r.reported_at, r.event_id))


def first_reported(reports: Reports) -> Report:
    """The report the alert cites as evidence: the earliest reported (ties: the smaller event id)."""
    return min(reports, key=lambda r: (r.reported_at, r.event_id))


def merged(reports: Reports, more: Iterable[Report]) -> Reports:
    """Both sets of reports, each event once (one event's report is the same fact wherever it was recorded)."""
    known = {r.event_id for r in reports}
    return reports + tuple(r for r in more if r.event_id not in known)


@dataclass(slots=True)
class YearSuspensions:
    """One child's suspensions in one academic year: natural key -> its reports."""

    by_key: dict[str, Reports] = field(default_factory=dict)
    # what the rules read of the year, worked out once per change (`record` forgets them): a child's
    # every rule reads them, for each of its suspensions (the k-th report of a year would cost O(k) each time)
    _counted: tuple[Report, ...] | None = field(default=None, compare=False, repr=False)
    _evidence: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    _pairs: tuple[tuple[Report, str], ...] | None = field(default=None, compare=False, repr=False)

    def counted(self) -> tuple[Report, ...]:
        if self._counted is None:
            self._counted = tuple(winner(reports) for reports in self.by_key.values())
        return self._counted

    @property
    def days(self) -> float:
        return sum(r.sessions for r in self.counted()) / 2

    def evidence(self) -> tuple[str, ...]:
        """One event per suspension: the first report of it (a confirming return or a correction
        changes its days, not what the alert cites, so it is not mistaken for a new suspension)."""
        if self._evidence is None:
            self._evidence = tuple(sorted(first_reported(reports).event_id for reports in self.by_key.values()))
        return self._evidence

    def counted_with_evidence(self) -> tuple[tuple[Report, str], ...]:
        """Per suspension, the report that counts and the event the alert cites (its first report)."""
        if self._pairs is None:
            self._pairs = tuple((winner(reports), first_reported(reports).event_id) for reports in self.by_key.values())
        return self._pairs

    def latest(self) -> Report | None:
        """The counted suspension that started last: its school and LA are the alert's."""
        return _latest(self.counted())


def _latest(counted: Iterable[Report]) -> Report | None:
    return max(counted, key=lambda r: (r.start_date, r.reported_at, r.event_id), default=None)


def record(state: YearSuspensions, fact: SuspensionFact) -> bool:
    """Add a report; False when this event was already recorded (a redelivery or a replay)."""
    reports = state.by_key.get(fact.key, ())
    if any(r.event_id == fact.event_id for r in reports):
        return False
    state.by_key[fact.key] = (*reports, report_of(fact))
    state._counted = state._evidence = state._pairs = None
    return True


def combine(states: Iterable[YearSuspensions]) -> YearSuspensions:
    """Several records of one child (linked): their suspensions together. One record's is itself
    (most children have one record; detectors only read)."""
    states = list(states)
    if len(states) == 1:
        return states[0]
    out = YearSuspensions()
    for state in states:
        for key, reports in state.by_key.items():
            out.by_key[key] = merged(out.by_key.get(key, ()), reports)
    return out


def detect(state: YearSuspensions, *, child_id: str, academic_year: str, config: SuspensionDays) -> list[Finding]:
    """The findings for the child's year so far (none below the warning threshold)."""
    counted = state.counted()
    days = sum(r.sessions for r in counted) / 2
    if days < config.warning_at:
        return []
    evidence = state.evidence()
    latest = _latest(counted)
    assert latest is not None
    high = days >= config.high_at
    findings = [
        Finding(
            Rule.suspension_days_nearing_limit, "child", child_id, latest.la_code, academic_year, None,
            Severity.high if high else Severity.warning, days, config.high_at if high else config.warning_at, evidence,
            latest.school_urn, limit_reached=days == config.limit,
        )
    ]  # fmt: skip
    if days > config.limit:
        findings.append(
            Finding(Rule.suspension_days_limit_exceeded, "child", child_id, latest.la_code, academic_year, None, Severity.critical, days,
                    config.limit, evidence, latest.school_urn)
        )
    return findings
