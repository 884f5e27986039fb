"""Off-rolling (issue 11, item 5; R-OFFROLL).

Ofsted: off-rolling is removing a pupil from roll without a formal permanent exclusion, or
encouraging a parent to do so, in the school's interests rather than the pupil's [S24]; schools may
not promote elective home education as an alternative to exclusion [S31][S84] (domain.md §1.9, §6
rule 16). A removal from roll or an EHE registration within `off_rolling.window_weeks` school weeks
(a local choice, default 6) after a suspension, a permanent-exclusion threat (a call about one) or
a managed move at the same school raises an off-rolling review.

Ofsted found the losses concentrated between Year 10 and Year 11 [S32]: a pupil gone before the
January census of Year 11 is not in the school's results. A removal in Year 10, or in Year 11 before
that census (the third Thursday of January [S45]), weighs `year10_weight` (default 2) and makes the
alert `critical`; otherwise each removal weighs 1 and the alert is `high`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from schemas.alerts import Rule, Severity
from services.alerts.domain.grey_rules import OffRolling
from services.common.exclusions.findings import Finding
from services.common.exclusions.grey_facts import LEAVING_KINDS, THREAT, ChildRecords, RecordFact
from services.common.exclusions.suspension_days import YearSuspensions


class Calendar(Protocol):
    def add_school_days(self, d: date, n: int) -> date: ...
    def academic_year(self, d: date) -> str: ...


@dataclass(frozen=True, slots=True)
class Trigger:
    day: date
    event_id: str
    school_urn: str | None


def january_census(academic_year: str) -> date:
    """The spring (January) census day: the third Thursday of January [S45]."""
    first = date(int(academic_year[:4]) + 1, 1, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 14)


def triggers(records: ChildRecords, years: Iterable[YearSuspensions]) -> list[Trigger]:
    out = [Trigger(r.start_date, r.event_id, r.school_urn) for ys in years for r in ys.counted()]
    # a threat is keyed per incident date (`<event id>#<date>`): the evidence cites the call itself
    out += [Trigger(r.start_date, r.event_id.split("#")[0], r.school_urn) for r in records.of_kind(THREAT, "managed_move")]
    return sorted(out, key=lambda t: (t.day, t.event_id))


def weight(removal: RecordFact, year_group: str | None, academic_year: str, config: OffRolling) -> float:
    group = removal.year_group or year_group
    if group == "10" or (group == "11" and removal.start_date < january_census(academic_year)):
        return config.year10_weight
    return 1.0


def detect(
    records: ChildRecords, years: Iterable[YearSuspensions], *, child_id: str, year_group: str | None,
    calendar_of: Callable[[str, str | None], Calendar], config: OffRolling,
) -> list[Finding]:  # fmt: skip
    """One finding per school year with a removal that follows a trigger at its school within the window."""
    removals = records.of_kind(*LEAVING_KINDS)
    if not removals:  # most children: nothing to look back from
        return []
    before = triggers(records, years)
    by_year: dict[str, list[tuple[RecordFact, float, list[Trigger]]]] = {}
    for removal in removals:
        calendar = calendar_of(removal.la_code, removal.school_urn)
        behind = [t for t in before if t.day <= removal.start_date and t.school_urn in (None, removal.school_urn)
                  and removal.start_date <= calendar.add_school_days(t.day, 5 * config.window_weeks)]  # fmt: skip
        if behind:
            year = calendar.academic_year(removal.start_date)
            by_year.setdefault(year, []).append((removal, weight(removal, year_group, year, config), behind))
    findings = []
    for year, found in sorted(by_year.items()):
        last = found[-1][0]
        value = sum(w for _, w, _ in found)
        severity = Severity.critical if any(w > 1 for _, w, _ in found) else Severity.high
        evidence = tuple(sorted({e for r, _, ts in found for e in (r.event_id, *(t.event_id for t in ts))}))
        findings.append(Finding(Rule.off_rolling_review, "child", child_id, last.la_code, year, None, severity, value, 1, evidence, last.school_urn))
    return findings
