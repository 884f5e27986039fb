"""A record's facts (suspension reports by academic year, informal-exclusion incidents) as one
value in its children row: the child stage writes a child once per batch that changes it, not
a row per fact, and reads one row back on a cache miss.

Flat JSON lists keep it small and fast with orjson:
    {"s": [[year, key, event_id, sessions, reported_at, school_urn, la_code, start_date], ...],
     "i": [[day, event_id, school_urn, la_code], ...]}
"""

from __future__ import annotations

from datetime import date

import orjson

from services.alerts.domain import informal, suspension_days
from services.alerts.domain.facts import IncidentFact


def encode(years: dict[str, suspension_days.YearSuspensions], incidents: informal.Incidents) -> bytes:
    s = [[year, key, r.event_id, r.sessions, r.reported_at, r.school_urn, r.la_code, r.start_date]
         for year, ys in years.items() for key, reports in ys.by_key.items() for r in reports.values()]  # fmt: skip
    i = [[day, event_id, urn, la] for day, reports in incidents.by_day.items() for event_id, (urn, la) in reports.items()]
    return orjson.dumps({"s": s, "i": i})


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
