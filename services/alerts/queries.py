"""Read-only queries the pages need beyond the contract's list: counts by status, and a child's story.

Plain SQL over the alerts store's tables; the rules that shape the answer (days per school, the
projected date) are pure functions in services/alerts/domain/story.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, select

from services.alerts import facts_codec
from services.alerts import tables as t


def alert_conditions(filters: dict[str, str], la_codes: frozenset[str] | None) -> list[ColumnElement[bool]]:
    """The WHERE of GET /v1/alerts (and its counts): each filter, and the caller's LAs (any LA with a duty)."""
    c = t.alerts.c
    out: list[ColumnElement[bool]] = [getattr(c, name) == filters[name] for name in ("rule", "status", "severity", "upn", "school_urn", "academic_year")
                                      if filters.get(name)]
    if filters.get("child_id"):
        out.append(c.subject_id == filters["child_id"])
    if filters.get("la_code"):
        out.append(c.id.in_(select(t.alert_las.c.alert_id).where(t.alert_las.c.la_code == filters["la_code"])))
    if la_codes is not None:
        out.append(c.id.in_(select(t.alert_las.c.alert_id).where(t.alert_las.c.la_code.in_(sorted(la_codes)))))
    return out


def count_by_status(engine: Engine, filters: dict[str, str], la_codes: frozenset[str] | None) -> dict[str, int]:
    c = t.alerts.c
    query = select(c.status, func.count()).where(*alert_conditions({k: v for k, v in filters.items() if k != "status"}, la_codes)).group_by(c.status)
    with engine.connect() as conn:
        return {str(status): int(n) for status, n in conn.execute(query).tuples()}


def child_record(engine: Engine, child_id: str) -> dict[str, Any] | None:
    """The child's own record and every record linked to it (its profile and facts), or None."""
    c = t.children.c
    with engine.connect() as conn:
        row = conn.execute(select(t.children).where(c.child_id == child_id)).first()
        if row is None:
            return None
        linked = list(conn.execute(select(t.children).where(c.merged_into == child_id)))
    records = [row, *linked]
    return {"row": row._asdict(), "facts": [facts_codec.decode(r.facts) for r in records], "linked": [r.child_id for r in linked]}


def changed_since(engine: Engine, since: datetime, la_codes: frozenset[str] | None, limit: int) -> list[Any]:
    """Alert rows changed at or after `since`, oldest change first (the pages' live feed replays from here)."""
    c = t.alerts.c
    query = select(t.alerts).where(c.updated_at >= since, *alert_conditions({}, la_codes)).order_by(c.updated_at, c.id).limit(limit)
    with engine.connect() as conn:
        return list(conn.execute(query))


def school_starts(engine: Engine, school_urn: str) -> list[Any]:
    """Every suspension counted at a school (its natural key once), for its term chart."""
    c = t.school_suspensions.c
    with engine.connect() as conn:
        return list(conn.execute(select(c.term_id, c.start_date, c.la_code).where(c.school_urn == school_urn)))


def alerts_raised(engine: Engine, la_code: str, academic_year: str) -> list[tuple[str, datetime]]:
    c = t.alerts.c
    query = select(c.rule, c.created_at).where(c.academic_year == academic_year, *alert_conditions({"la_code": la_code}, None))
    with engine.connect() as conn:
        return [(str(rule), created) for rule, created in conn.execute(query).tuples()]


def days_per_child(engine: Engine, la_code: str, academic_year: str) -> list[float]:
    """Each child record of the LA (its latest school's LA) with suspension days that year; linked
    records are counted with the child they count as. Reads every record of the LA: a page for an LA
    team, not a hot path."""
    c = t.children.c
    totals: dict[str, float] = {}
    with engine.connect() as conn:
        for child_id, merged_into, blob in conn.execute(select(c.child_id, c.merged_into, c.facts).where(c.la_code == la_code)).tuples():
            years, _ = facts_codec.decode(blob)
            if academic_year in years:
                key = merged_into or child_id
                totals[key] = totals.get(key, 0.0) + years[academic_year].days
    return list(totals.values())
