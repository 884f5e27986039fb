"""GET /v1/children/{child_id}: a child's story (issue 10), and GET /v1/alerts/counts for worklists.

Inclusion team and admin only, within their LAs; a child outside them answers 404 like one that
does not exist. Every read of a child's story is audited.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from schemas.alerts import AlertStatus, Rule, Severity
from schemas.pages import AlertChanges, AlertCounts, ChildStory
from services.alerts import queries
from services.alerts.deps import Calendars, Rules, Store
from services.alerts.domain import story
from services.alerts.routes import ERRORS, audit_reads
from services.common.auth import Principal, require
from services.common.db import aware
from services.common.problems import ProblemError

router = APIRouter(prefix="/v1", tags=["pages"])
Team = Annotated[Principal, Depends(require("inclusion_team"))]


@router.get("/alerts/counts", response_model=AlertCounts, responses=ERRORS, summary="how many alerts match, by status (the worklist's counts)")
async def alert_counts(
    principal: Team,
    store: Store,
    rule: Rule | None = None,
    severity: Severity | None = None,
    school_urn: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    la_code: Annotated[str | None, Query(pattern=r"^[0-9]{3}$")] = None,
    academic_year: Annotated[str | None, Query(pattern=r"^[0-9]{4}/[0-9]{2}$")] = None,
) -> dict[str, Any]:
    filters = {"rule": rule, "severity": severity, "school_urn": school_urn, "la_code": la_code, "academic_year": academic_year}
    scope = None if principal.has("admin") else principal.la_codes
    counts = await asyncio.to_thread(queries.count_by_status, store.engine, {k: str(v) for k, v in filters.items() if v}, scope)
    by_status = {s.value: counts.get(s.value, 0) for s in AlertStatus}
    return {"by_status": by_status, "total": sum(by_status.values())}


@router.get("/alerts/changes", response_model=AlertChanges, responses=ERRORS, summary="alerts changed at or after a time, oldest change first (the pages' live feed replays from here)")
async def alert_changes(
    principal: Team, store: Store, since: datetime, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> dict[str, Any]:
    scope = None if principal.has("admin") else principal.la_codes
    since = aware(since)
    rows = await asyncio.to_thread(queries.changed_since, store.engine, since, scope, limit)
    by_id = await asyncio.to_thread(store.alerts_by_ids, [r.id for r in rows])
    items = [by_id[r.id] for r in rows if r.id in by_id]
    await asyncio.to_thread(store.write_audit, audit_reads(principal, items, "stream_alert", None))
    return {"items": [a.model_dump(mode="json") for a in items]}


@router.get("/children/{child_id}", response_model=ChildStory, responses=ERRORS, summary="a child's story: every event, days per school this year, the projected date of the limit")
async def child_story(child_id: str, request: Request, principal: Team, store: Store, calendars: Calendars, rules: Rules, academic_year: Annotated[str | None, Query(pattern=r"^[0-9]{4}/[0-9]{2}$")] = None) -> dict[str, Any]:
    record = await asyncio.to_thread(queries.child_record, store.engine, child_id)
    profile: dict[str, Any] = orjson.loads(record["row"]["profile"]) if record else {}
    if record is None or not principal.sees_any([profile.get("la_code"), *profile.get("la_codes", [])]):
        raise ProblemError(404, "Not Found", "no such child")
    calendar = calendars.for_school(profile.get("la_code"), profile.get("school_urn"))
    today = datetime.now(UTC).date()
    year = academic_year or None
    told = story.tell(record["facts"], today=today, limit=rules.suspension_days.limit, year=year,
                      school_days_between=calendar.school_days_between, add_school_days=calendar.add_school_days,
                      year_end=_year_end(calendar, year or calendar.academic_year(today)))
    if year is None and told.academic_year:
        told = story.tell(record["facts"], today=today, limit=told.limit, year=told.academic_year, school_days_between=calendar.school_days_between,
                          add_school_days=calendar.add_school_days, year_end=_year_end(calendar, told.academic_year))
    await asyncio.to_thread(store.write_audit, [{"at": datetime.now(UTC), "principal": principal.name, "action": "read_child", "object_kind": "child",
                                                 "object_id": child_id, "child_id": child_id, "detail": request.headers.get("x-signpost-purpose")}])
    return {
        "child_id": child_id, "profile": profile, "linked_records": record["linked"],
        "academic_year": told.academic_year, "total_days": told.total_days, "limit": told.limit,
        "by_school": [{"school_urn": urn, "days": days} for urn, days in told.by_school],
        "suspensions": [{"event_id": s.event_id, "school_urn": s.school_urn, "la_code": s.la_code, "start_date": s.start_date, "sessions": s.sessions,
                         "days": s.days, "academic_year": s.academic_year} for s in told.suspensions],
        "incidents": [{"day": i.day, "event_id": i.event_id, "school_urn": i.school_urn, "la_code": i.la_code} for i in told.incidents],
        "projected_limit_date": told.projected_limit_date,
    }


def _year_end(calendar: Any, academic_year: str) -> date | None:
    terms = calendar.terms(academic_year)
    return terms[-1].end if terms else None
