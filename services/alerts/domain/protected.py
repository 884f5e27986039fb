"""Children the law protects most (issue 11, item 4).

R-EHCP-PEX: heads should as far as possible avoid permanently excluding a pupil with an EHC plan
or a looked-after child (exclusions guidance, via RBKC [S95]; domain.md §1.2, §6 rule 20): a
permanent exclusion of either is a `critical` alert.

R-SW-VSH: since SI 2022/788 the head must notify the social worker and the Virtual School Head of
every suspension and permanent exclusion of a looked-after child or one with a social worker
(reg 5/14/23 as amended [S1][S8]; §1.3, §6 rule 8): each one raises a `high` alert that the
default policy routes to the Virtual School as its copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from schemas.alerts import Rule, Severity
from services.common.exclusions.findings import Finding
from services.common.exclusions.grey_facts import PERMANENT, ChildRecords, RecordFact
from services.common.exclusions.suspension_days import YearSuspensions


def _by_year(pex: list[RecordFact], academic_year_of: Callable[[date], str]) -> dict[str, list[RecordFact]]:
    out: dict[str, list[RecordFact]] = {}
    for fact in pex:
        out.setdefault(academic_year_of(fact.start_date), []).append(fact)
    return out


def _distinct(pex: list[RecordFact]) -> int:
    """The school's notice and the LA's return of one exclusion are one exclusion."""
    return len({(p.school_urn, p.start_date) for p in pex})


def detect_permanent(records: ChildRecords, profile: Mapping[str, Any], *, child_id: str, academic_year_of: Callable[[date], str]) -> list[Finding]:
    """R-EHCP-PEX: one critical finding per school year with a permanent exclusion, for a child with
    an EHC plan (SEN status E) or looked after on any source."""
    if profile.get("sen_status") != "E" and not profile.get("looked_after"):
        return []
    findings = []
    for year, pex in sorted(_by_year(records.of_kind(PERMANENT), academic_year_of).items()):
        last = pex[-1]
        findings.append(Finding(Rule.protected_child_permanently_excluded, "child", child_id, last.la_code, year, None, Severity.critical,
                                _distinct(pex), 1, tuple(sorted(p.event_id for p in pex)), last.school_urn))  # fmt: skip
    return findings


def detect_social_care(
    records: ChildRecords, years: Mapping[str, YearSuspensions], profile: Mapping[str, Any], *, child_id: str, academic_year_of: Callable[[date], str]
) -> list[Finding]:
    """R-SW-VSH: per school year, every suspension and permanent exclusion of a looked-after child or
    one with a social worker (value: how many); the Virtual School gets a copy."""
    if not profile.get("looked_after") and not profile.get("has_social_worker"):
        return []
    pex = _by_year(records.of_kind(PERMANENT), academic_year_of)
    findings = []
    for year in sorted(set(pex) | {y for y, ys in years.items() if ys.by_key}):
        ys = years.get(year, YearSuspensions())
        counted = ys.counted()
        latest: list[tuple[date, str, str | None]] = [(r.start_date, r.la_code, r.school_urn) for r in counted]
        latest += [(p.start_date, p.la_code, p.school_urn) for p in pex.get(year, ())]
        _, la_code, school_urn = max(latest, key=lambda x: (x[0], x[1], x[2] or ""))
        evidence = tuple(sorted({*ys.evidence(), *(p.event_id for p in pex.get(year, ()))}))
        findings.append(Finding(Rule.social_care_child_excluded, "child", child_id, la_code, year, None, Severity.high,
                                len(counted) + _distinct(pex.get(year, [])), 1, evidence, school_urn))  # fmt: skip
    return findings
