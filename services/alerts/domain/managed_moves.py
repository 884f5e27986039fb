"""Managed moves recorded as trials (issue 11, item 5; R-MM).

A managed move starts a permanent transfer to another school, agreed by all; the DfE parent guide
says "trial periods" or "trial admissions" should not be used [S24b][S29] (domain.md §1.9, §6 rule 17).
A managed move recorded as a trial, or with an intended date of return to the home school, is a
`warning`: one alert per child and school year, the value the number of such moves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from schemas.alerts import Rule, Severity
from services.common.exclusions.findings import Finding
from services.common.exclusions.grey_facts import ChildRecords, RecordFact


def is_trial(fact: RecordFact) -> bool:
    return fact.trial or fact.intended_return is not None


def detect(records: ChildRecords, *, child_id: str, academic_year_of: Callable[[str, str | None, date], str]) -> list[Finding]:
    by_year: dict[str, list[RecordFact]] = {}
    for fact in records.of_kind("managed_move"):
        if is_trial(fact):
            by_year.setdefault(academic_year_of(fact.la_code, fact.school_urn, fact.start_date), []).append(fact)
    return [
        Finding(Rule.managed_move_trial, "child", child_id, moves[-1].la_code, year, None, Severity.warning, len(moves), 1,
                tuple(sorted(m.event_id for m in moves)), moves[-1].school_urn)
        for year, moves in sorted(by_year.items())
    ]  # fmt: skip
