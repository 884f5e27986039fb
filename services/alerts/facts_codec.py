"""A record's facts (suspension reports by academic year, informal-exclusion incidents) as one
value in its children row: the child stage writes a child once per batch that changes it, not
a row per fact, and reads one row back on a cache miss.

Flat JSON lists keep it small and fast with orjson:
    {"s": [[year, key, event_id, sessions, reported_at, school_urn, la_code, start_date], ...],
     "i": [[day, event_id, school_urn, la_code], ...],
     "p": [[kind, event_id, school_urn, la_code, exclusion_start, on, until, detail, category, noticed], ...]}

"p" (issue 11: proceedings, services/alerts/domain/proceedings.py) is written only when the record has
some; a row written before it decodes as none.
"""

from __future__ import annotations

from datetime import date

import orjson

from services.alerts.domain import informal, proceedings, suspension_days
from services.alerts.domain.facts import IncidentFact


def encode(years: dict[str, suspension_days.YearSuspensions], incidents: informal.Incidents, steps: proceedings.Proceedings | None = None) -> bytes:
    s = [[year, key, r.event_id, r.sessions, r.reported_at, r.school_urn, r.la_code, r.start_date]
         for year, ys in years.items() for key, reports in ys.by_key.items() for r in reports.values()]  # fmt: skip
    i = [[day, event_id, urn, la] for day, reports in incidents.by_day.items() for event_id, (urn, la) in reports.items()]
    doc: dict[str, list] = {"s": s, "i": i}
    if steps:
        doc["p"] = [[p.kind, p.event_id, p.school_urn, p.la_code, p.exclusion_start, p.on, p.until, p.detail, p.category, p.noticed]
                    for p in steps.by_event.values()]  # fmt: skip
    return orjson.dumps(doc)


def decode_proceedings(value: bytes | str | None) -> proceedings.Proceedings:
    """The record's proceedings (none in a row written before issue 11)."""
    out = proceedings.Proceedings()
    if not value or (b'"p":' not in value if isinstance(value, bytes) else '"p":' not in value):
        return out
    for kind, event_id, urn, la, start, on, until, detail, category, *more in orjson.loads(value).get("p", ()):
        step = proceedings.Step(kind, event_id, urn, la, date.fromisoformat(start) if start else None, date.fromisoformat(on),
                                date.fromisoformat(until) if until else None, detail, category, *more)  # fmt: skip
        proceedings.record(out, step)
    return out


def decode(value: bytes | str | None) -> tuple[dict[str, suspension_days.YearSuspensions], informal.Incidents]:
    years: dict[str, suspension_days.YearSuspensions] = {}
    incidents = informal.Incidents()
    if not value:
        return years, incidents
    doc = orjson.loads(value)
    for year, key, event_id, sessions, reported_at, urn, la, start in doc.get("s", ()):
        report = suspension_days.Report(event_id, sessions, reported_at, urn, la, date.fromisoformat(start))
        years.setdefault(year, suspension_days.YearSuspensions()).by_key.setdefault(key, {})[event_id] = report
    for day, event_id, urn, la in doc.get("i", ()):
        informal.record(incidents, IncidentFact(date.fromisoformat(day), event_id, urn, la))
    return years, incidents
