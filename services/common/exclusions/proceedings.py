"""Proceedings: what follows an exclusion, as plain facts (issue 11, items 1-3).

A permanent exclusion, the board's decision, a parent's representations, an IRP application and
outcome, education arranged from day six: each is a `Step` about one exclusion of the child,
named by its school and start date. Every step has a natural key, its event id, so a step read
twice (a redelivery, a replay) counts once; the detectors read the set, never the arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

PERMANENT = "permanent"  # a permanent exclusion (notice or return record)
DECISION = "decision"  # the governing board's decision on reinstatement
REPRESENTATION = "representation"  # a parent's representations to the board
IRP_APPLICATION = "irp_application"
IRP_DECISION = "irp_decision"
PROVISION = "provision"  # education from day six (an event, or an alternative_provision return record)
KINDS = (PERMANENT, DECISION, REPRESENTATION, IRP_APPLICATION, IRP_DECISION, PROVISION)


@dataclass(frozen=True, slots=True)
class Step:
    """One reported step. `on` is the date that starts or stops a clock: a permanent exclusion's
    notification, a decision's or outcome's date, a representation's receipt, an application's
    sending, a provision's start. `until`: a decision's written notice to the parent, an outcome's
    notice to the board, a provision's end. `detail`: outcome, sending method or who arranged it."""

    kind: str
    event_id: str
    school_urn: str
    la_code: str
    exclusion_start: date | None  # None: a return record of provision, about no one exclusion
    on: date
    until: date | None = None
    detail: str = ""
    category: str = ""  # a decision's exclusion category: suspension | permanent
    noticed: str = ""  # a provision's parent_notified_at (UTC ISO), for R-DAY6-NOTICE

    def about(self, school_urn: str, start: date) -> bool:
        return self.school_urn == school_urn and self.exclusion_start == start


@dataclass(slots=True)
class Proceedings:
    """One record's steps, by event id."""

    by_event: dict[str, Step] = field(default_factory=dict)

    def of(self, kind: str) -> list[Step]:
        return sorted((s for s in self.by_event.values() if s.kind == kind), key=lambda s: (s.on, s.event_id))

    def __bool__(self) -> bool:
        return bool(self.by_event)


def record(state: Proceedings, step: Step) -> bool:
    """Add a step; False when this event was already recorded."""
    if step.event_id in state.by_event:
        return False
    state.by_event[step.event_id] = step
    return True


def combine(states: Iterable[Proceedings]) -> Proceedings:
    states = list(states)
    if len(states) == 1:
        return states[0]  # one record's is itself: detectors only read
    out = Proceedings()
    for state in states:
        out.by_event.update(state.by_event)
    return out


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def uk_date(timestamp: str) -> date:
    """The UK date of a timestamp (a notice sent at 23:30 UTC in summer was sent the next day in the UK)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(LONDON).date()


def from_event(kind: str, event_id: str, doc: dict[str, Any]) -> Step:
    """From a proceedings event (schemas/proceedings.py) as JSON."""
    urn, la, start = doc["school_urn"], doc["la_code"], date.fromisoformat(doc["exclusion_start_date"])
    if kind == DECISION:
        return Step(kind, event_id, urn, la, start, date.fromisoformat(doc["decided_on"]), _day(doc.get("parent_notified_on")), doc["outcome"],
                    doc["exclusion_category"])  # fmt: skip
    if kind == REPRESENTATION:
        return Step(kind, event_id, urn, la, start, date.fromisoformat(doc["received_on"]))
    if kind == IRP_APPLICATION:
        return Step(kind, event_id, urn, la, start, date.fromisoformat(doc["sent_on"]), detail=doc["method"])
    if kind == IRP_DECISION:
        return Step(kind, event_id, urn, la, start, date.fromisoformat(doc["decided_on"]), _day(doc.get("board_notified_on")), doc["outcome"])
    if kind == PROVISION:
        return Step(kind, event_id, urn, la, start, date.fromisoformat(doc["start_date"]), _day(doc.get("end_date")), doc["arranged_by"],
                    noticed=doc.get("parent_notified_at") or "")  # fmt: skip
    raise ValueError(f"unknown proceedings kind {kind!r}")


def from_notice(event_id: str, notice: dict[str, Any]) -> Step | None:
    """A permanent-exclusion notice: the board and the LA are notified when the school sends it."""
    if notice["category"] != "permanent":
        return None
    start = date.fromisoformat(notice["start_date"])
    return Step(PERMANENT, event_id, notice["school_urn"], notice["la_code"], start, uk_date(notice["notified_at"]), detail="notice")


def from_return(event_id: str, submitted: dict[str, Any]) -> Step | None:
    """A permanent exclusion or an alternative-provision placement in an LA return."""
    record_ = submitted["record"]
    start = date.fromisoformat(record_["start_date"])
    if record_["kind"] == "permanent_exclusion":
        return Step(PERMANENT, event_id, record_["school_urn"], submitted["la_code"], start, start, detail="return")
    if record_["kind"] == "alternative_provision":
        return Step(PROVISION, event_id, record_["school_urn"], submitted["la_code"], None, start, _day(record_.get("end_date")), "return")
    return None
