"""Shared makers for the issue-11 detector tests: facts on the real Bromley (305) and Solihull (334) calendars."""

from __future__ import annotations

from datetime import date

from services.common.calendar import CalendarRegistry, load_registry
from services.common.exclusions import grey_facts as g
from services.common.exclusions import suspension_days
from services.common.exclusions.facts import SuspensionFact, suspension_key

BROMLEY, SOLIHULL = ("305", "101676"), ("334", "104119")
UPN = "B801200005001"
_REGISTRY: CalendarRegistry | None = None


def registry() -> CalendarRegistry:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry()
    return _REGISTRY


def calendar_of(la: str, urn: str | None):  # noqa: ANN201 - a SchoolCalendar
    return registry().for_school(la, urn)


def records(*facts: g.RecordFact | g.CancellationFact) -> g.ChildRecords:
    state = g.ChildRecords()
    for fact in facts:
        g.record(state, fact)
    return state


def fact(kind: str, start: date, where: tuple[str, str] = SOLIHULL, event_id: str | None = None, **kw) -> g.RecordFact:
    la, urn = where
    return g.RecordFact(kind, event_id or f"ev:{kind}:{start.isoformat()}", urn, la, start, **kw)


def suspensions(*items: tuple[date, int], where: tuple[str, str] = SOLIHULL, reported_at: str = "2024-09-01T00:00:00+00:00") -> suspension_days.YearSuspensions:
    state = suspension_days.YearSuspensions()
    la, urn = where
    for start, sessions in items:
        suspension_days.record(state, SuspensionFact(suspension_key(UPN, urn, start), f"notice:{start.isoformat()}", UPN, urn, la, start, sessions,
                                                     reported_at))  # fmt: skip
    return state
