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


Facts = tuple[dict[str, suspension_days.YearSuspensions], informal.Incidents, grey_facts.ChildRecords, proceedings.Proceedings]
_DATES: dict[str, date] = {}  # the days facts name repeat across children: one date object each (and no parse)


def _date(value: str) -> date:
    if (day := _DATES.get(value)) is None:
        day = _DATES[value] = date.fromisoformat(value)
    return day


def _day(value: str | None) -> date | None:
    return _date(value) if value else None


def decode_all(value: bytes | str | None) -> Facts:
    """Every fact of a record (its children row's value), parsed once."""
    doc = orjson.loads(value) if value else {}
    return _years(doc), _incidents(doc), _records(doc), _steps(doc)


def decode(value: bytes | str | None) -> tuple[dict[str, suspension_days.YearSuspensions], informal.Incidents]:
    doc = orjson.loads(value) if value else {}
    return _years(doc), _incidents(doc)


def decode_records(value: bytes | str | None) -> grey_facts.ChildRecords:
    """The grey-exclusion records and cancellations of a record (none in a row written before issue 11)."""
    return _records(orjson.loads(value) if value else {})


def decode_proceedings(value: bytes | str | None) -> proceedings.Proceedings:
    """The record's proceedings (none in a row written before issue 11)."""
    return _steps(orjson.loads(value) if value else {})


def _years(doc: dict) -> dict[str, suspension_days.YearSuspensions]:
    years: dict[str, suspension_days.YearSuspensions] = {}
    for year, key, event_id, sessions, reported_at, urn, la, start in doc.get("s", ()):
        report = suspension_days.Report(event_id, sessions, reported_at, shared_code(urn), shared_code(la), _date(start))
        by_key = years.setdefault(year, suspension_days.YearSuspensions()).by_key
        by_key[key] = (*by_key.get(key, ()), report)  # each event once: encoded from the reports
    return years


def _incidents(doc: dict) -> informal.Incidents:
    incidents = informal.Incidents()
    for day, event_id, urn, la in doc.get("i", ()):
        informal.record(incidents, IncidentFact(_date(day), event_id, urn, la))
    return incidents


def _records(doc: dict) -> grey_facts.ChildRecords:
    out = grey_facts.ChildRecords()
    for kind, event_id, urn, la, start, end, review, behaviour, trial, intended, year_group in doc.get("r", ()):
        grey_facts.record(out, grey_facts.RecordFact(kind, event_id, urn, la, _date(start), _day(end), _day(review), behaviour, trial,
                                                     _day(intended), year_group))  # fmt: skip
    for key, event_id, cancelled_at, urn, la, start in doc.get("c", ()):
        grey_facts.record(out, grey_facts.CancellationFact(key, event_id, cancelled_at, urn, la, _date(start)))
    return out


def _steps(doc: dict) -> proceedings.Proceedings:
    out = proceedings.Proceedings()
    for kind, event_id, urn, la, start, on, until, detail, category, *more in doc.get("p", ()):
        proceedings.record(out, proceedings.Step(kind, event_id, urn, la, _day(start), _date(on), _day(until), detail, category, *more))
    return out
