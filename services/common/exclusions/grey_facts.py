"""Facts for the issue-11 rules (items 4-6), in plain data: permanent exclusions, the LA return
kinds that were accepted and ignored before (part-time timetables, removals from roll, EHE
registrations, managed moves), permanent-exclusion threats from calls, and cancellations.

Each fact is keyed by the event that reported it, so a redelivery or a replay counts once; the
detectors read them as sets, which is what keeps their outcome independent of arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from services.common.exclusions.facts import LONDON, suspension_key, utc_iso

PERMANENT = "permanent_exclusion"
THREAT = "exclusion_threat"  # a call raising a permanent exclusion (a threat, or one done informally)
GREY_KINDS = frozenset({"part_time_timetable", "removal_from_roll", "ehe_registration", "managed_move"})
LEAVING_KINDS = frozenset({"removal_from_roll", "ehe_registration"})


@dataclass(frozen=True, slots=True)
class RecordFact:
    """One reported event of a child that is not a suspension."""

    kind: str  # permanent_exclusion | exclusion_threat | part_time_timetable | removal_from_roll | ehe_registration | managed_move
    event_id: str
    school_urn: str | None
    la_code: str
    start_date: date
    end_date: date | None = None
    review_date: date | None = None
    behaviour: bool = False  # part-time timetable: behaviour is the reason (a reason code or timetable_reason)
    trial: bool = False  # managed move recorded as a trial
    intended_return: date | None = None  # managed move: the date the pupil is meant to return
    year_group: str | None = None  # as the report gave it


@dataclass(frozen=True, slots=True)
class CancellationFact:
    """A head's cancellation of one suspension (its natural key: UPN + school + start date)."""

    suspension_key: str
    event_id: str
    cancelled_at: str  # UTC, ISO: comparable with reports' reported_at
    school_urn: str
    la_code: str
    start_date: date


@dataclass(slots=True)
class ChildRecords:
    """One record's (or a linked group's) facts for the issue-11 rules, by event id."""

    records: dict[str, RecordFact] = field(default_factory=dict)
    cancellations: dict[str, CancellationFact] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> list[RecordFact]:
        if not self.records:
            return []  # most children: every rule asks, none has any
        return sorted((r for r in self.records.values() if r.kind in kinds), key=lambda r: (r.start_date, r.event_id))


def record(state: ChildRecords, fact: RecordFact | CancellationFact) -> bool:
    """Add a fact; False when this event was already recorded (a redelivery or a replay)."""
    book: dict[str, Any] = state.cancellations if isinstance(fact, CancellationFact) else state.records
    if fact.event_id in book:
        return False
    book[fact.event_id] = fact
    return True


def combine(states: Iterable[ChildRecords]) -> ChildRecords:
    states = list(states)
    if len(states) == 1:
        return states[0]  # one record's is itself: detectors only read
    out = ChildRecords()
    for state in states:
        out.records.update(state.records)
        out.cancellations.update(state.cancellations)
    return out


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def from_notice(event_id: str, notice: dict[str, Any]) -> RecordFact | None:
    if notice["category"] != "permanent":
        return None
    return RecordFact(PERMANENT, event_id, notice["school_urn"], notice["la_code"], date.fromisoformat(notice["start_date"]),
                      year_group=notice["pupil"].get("year_group"))  # fmt: skip


def from_return(event_id: str, submitted: dict[str, Any]) -> RecordFact | None:
    """A permanent exclusion or a grey-kind record of an LA return."""
    rec = submitted["record"]
    kind = rec["kind"]
    if kind != PERMANENT and kind not in GREY_KINDS:
        return None
    behaviour = kind == "part_time_timetable" and (rec.get("timetable_reason") == "behaviour" or bool(rec.get("reason_codes")))
    return RecordFact(
        kind, event_id, rec["school_urn"], submitted["la_code"], date.fromisoformat(rec["start_date"]), _day(rec.get("end_date")),
        _day(rec.get("review_date")), behaviour, bool(rec.get("trial")), _day(rec.get("intended_return_date")), rec["pupil"].get("year_group"),
    )  # fmt: skip


def threats_from_call(event_id: str, call: dict[str, Any]) -> list[RecordFact]:
    """A call about a permanent exclusion: one threat per incident date, else the call's own (UK) date."""
    if "permanent_exclusion" not in call["concerns"]:
        return []
    days = [date.fromisoformat(d) for d in call.get("incident_dates") or ()]
    if not days:
        days = [datetime.fromisoformat(call["received_at"].replace("Z", "+00:00")).astimezone(LONDON).date()]
    year_group = call["pupil"].get("year_group")
    return [RecordFact(THREAT, f"{event_id}#{d.isoformat()}", call.get("school_urn"), call["la_code"], d, year_group=year_group) for d in days]


def from_cancellation(event_id: str, doc: dict[str, Any]) -> CancellationFact:
    start = date.fromisoformat(doc["start_date"])
    key = suspension_key(doc["pupil"]["upn"], doc["school_urn"], start)
    return CancellationFact(key, event_id, utc_iso(doc["cancelled_at"]), doc["school_urn"], doc["la_code"], start)
