"""A record's facts (suspension reports by academic year, informal-exclusion incidents) as one
value in its children row: the child stage writes a child once per batch that changes it, not
a row per fact, and reads one row back on a cache miss.

Flat JSON lists keep it small and fast with orjson:
    {"s": [[year, key, event_id, sessions, reported_at, school_urn, la_code, start_date], ...],

Issue 11 adds three keys, each written only when the record has some (a row written before them
decodes as none):
    "r": [[kind, event_id, school_urn, la_code, start, end, review, behaviour, trial, intended_return, year_group], ...]
        LA return records behind the grey-exclusion rules (services/common/exclusions/grey_facts.py)
    "c": [[suspension_key, event_id, cancelled_at, school_urn, la_code, start_date], ...]
        cancellations (services/common/exclusions/grey_facts.py)
    "p": [[kind, event_id, school_urn, la_code, exclusion_start, on, until, detail, category, noticed], ...]
        proceedings after an exclusion: board, IRP, provision (services/common/exclusions/proceedings.py);
        `noticed` was added later and may be absent
"""

from __future__ import annotations

import sys
from datetime import date

import orjson

from services.alerts.domain import informal
from services.common.exclusions import grey_facts, proceedings, suspension_days
from services.common.exclusions.facts import IncidentFact
from services.common.messages import held_json


def encode(
    years: dict[str, suspension_days.YearSuspensions],
    incidents: informal.Incidents,
    records: grey_facts.ChildRecords | None = None,
    steps: proceedings.Proceedings | None = None,
) -> bytes:
    s = [[year, key, r.event_id, r.sessions, r.reported_at, r.school_urn, r.la_code, r.start_date]
         for year, ys in years.items() for key, reports in ys.by_key.items() for r in reports]  # fmt: skip
    i = [[day, event_id, urn, la] for day, reports in incidents.by_day.items() for event_id, (urn, la) in reports.items()]
    doc: dict[str, list] = {"s": s, "i": i}
    if records is not None and records.records:
        doc["r"] = [[r.kind, r.event_id, r.school_urn, r.la_code, r.start_date, r.end_date, r.review_date, r.behaviour, r.trial, r.intended_return,
                     r.year_group] for r in records.records.values()]  # fmt: skip
    if records is not None and records.cancellations:
        doc["c"] = [[c.suspension_key, c.event_id, c.cancelled_at, c.school_urn, c.la_code, c.start_date] for c in records.cancellations.values()]
    if steps:
        doc["p"] = [[p.kind, p.event_id, p.school_urn, p.la_code, p.exclusion_start, p.on, p.until, p.detail, p.category, p.noticed]
                    for p in steps.by_event.values()]  # fmt: skip
    return held_json(doc)  # in the batch's children rows until the commit


def shared_code(value: str) -> str:
    """A code that repeats across children (LA, school, year group, SEN) as one string object: cached
    records hold it, and orjson makes a new string each time it decodes one. The child stage's one
    place for this: events (child_events), records read back (child_records) and their facts (here)."""
    return sys.intern(value) if type(value) is str else value


def decode(value: bytes | str | None) -> tuple[dict[str, suspension_days.YearSuspensions], informal.Incidents]:
    years: dict[str, suspension_days.YearSuspensions] = {}
    incidents = informal.Incidents()
    if not value:
        return years, incidents
    doc = orjson.loads(value)
    for year, key, event_id, sessions, reported_at, urn, la, start in doc.get("s", ()):
        report = suspension_days.Report(event_id, sessions, reported_at, shared_code(urn), shared_code(la), date.fromisoformat(start))
        by_key = years.setdefault(year, suspension_days.YearSuspensions()).by_key
        by_key[key] = (*by_key.get(key, ()), report)  # each event once: encoded from the reports
    for day, event_id, urn, la in doc.get("i", ()):
        informal.record(incidents, IncidentFact(date.fromisoformat(day), event_id, urn, la))
    return years, incidents


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _has(value: bytes | str, key: str) -> bool:
    """Most rows hold no issue-11 facts: skip parsing the value again for them."""
    return (f'"{key}":'.encode() in value) if isinstance(value, bytes) else (f'"{key}":' in value)


def decode_records(value: bytes | str | None) -> grey_facts.ChildRecords:
    """The grey-exclusion records and cancellations of a record (none in a row written before issue 11)."""
    out = grey_facts.ChildRecords()
    if not value or not (_has(value, "r") or _has(value, "c")):
        return out
    doc = orjson.loads(value)
    for kind, event_id, urn, la, start, end, review, behaviour, trial, intended, year_group in doc.get("r", ()):
        grey_facts.record(out, grey_facts.RecordFact(kind, event_id, urn, la, date.fromisoformat(start), _day(end), _day(review), behaviour, trial,
                                                     _day(intended), year_group))  # fmt: skip
    for key, event_id, cancelled_at, urn, la, start in doc.get("c", ()):
        grey_facts.record(out, grey_facts.CancellationFact(key, event_id, cancelled_at, urn, la, date.fromisoformat(start)))
    return out


def decode_proceedings(value: bytes | str | None) -> proceedings.Proceedings:
    """The record's proceedings (none in a row written before issue 11)."""
    out = proceedings.Proceedings()
    if not value or not _has(value, "p"):
        return out
    for kind, event_id, urn, la, start, on, until, detail, category, *more in orjson.loads(value).get("p", ()):
        step = proceedings.Step(kind, event_id, urn, la, _day(start), date.fromisoformat(on), _day(until), detail, category, *more)
        proceedings.record(out, step)
    return out
