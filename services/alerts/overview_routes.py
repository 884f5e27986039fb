"""The school and LA pages' reads (issue 10): a school's suspensions per school day across each
term, and an LA's alerts by month and children by suspension-days band. Counts only, no child's
details; inclusion team and admin within their LAs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from schemas.pages import LAOverview, SchoolTerms
from services.alerts import queries
from services.alerts.deps import Calendars, Rules, Store
from services.alerts.domain import overview
from services.alerts.routes import ERRORS
from services.common.auth import Principal, require
from services.common.problems import ProblemError

router = APIRouter(prefix="/v1", tags=["pages"])
Team = Annotated[Principal, Depends(require("inclusion_team"))]
Year = Annotated[str | None, Query(pattern=r"^[0-9]{4}/[0-9]{2}$")]


@router.get("/schools/{school_urn}/terms", response_model=SchoolTerms, responses=ERRORS, summary="a school's suspensions per school day of each term, the end-of-term window marked")
async def school_terms(school_urn: str, principal: Team, store: Store, calendars: Calendars, rules: Rules,
                       academic_year: Year = None) -> dict[str, Any]:
    rows = await asyncio.to_thread(queries.school_starts, store.engine, school_urn)
    las = {r.la_code for r in rows}
    if not rows or not principal.sees_any(las):
        raise ProblemError(404, "Not Found", "no suspensions known at this school")
    calendar = calendars.for_school(sorted(las)[0], school_urn)
    year = academic_year or calendar.academic_year(max(r.start_date for r in rows))
    window = rules.end_of_term_spike.window_school_days
    try:
        year_terms = calendar.terms(year)
    except (ValueError, OverflowError) as exc:  # a year the calendar cannot hold (year 0)
        raise ProblemError(422, "Unprocessable Content", "no such academic year", errors=[{"loc": ["query", "academic_year"], "msg": "no such academic year"}]) from exc
    terms = []
    for term in year_terms:
        starts = [r.start_date for r in rows if r.term_id == term.id]
        days = overview.term_days(starts, term.school_days, window)
        terms.append({"term": term.name, "start": term.start, "end": term.end, "suspensions": len(starts),
                      "days": [{"day": d.day, "suspensions": d.suspensions, "end_of_term": d.in_window} for d in days]})
    return {"school_urn": school_urn, "la_codes": sorted(las), "academic_year": year, "window_school_days": window, "terms": terms}


@router.get("/las/{la_code}/overview", response_model=LAOverview, responses=ERRORS, summary="an LA's alerts raised per month by rule, and children by suspension-days band")
async def la_overview(la_code: str, principal: Team, store: Store, calendars: Calendars, academic_year: Year = None) -> dict[str, Any]:
    if not principal.sees_la(la_code):
        raise ProblemError(404, "Not Found", "no such LA among yours")
    engine = store.engine
    year = academic_year or calendars.for_la(la_code).academic_year(datetime.now(UTC).date())
    raised = await asyncio.to_thread(queries.alerts_raised, engine, la_code, year)
    days = await asyncio.to_thread(queries.days_per_child, engine, la_code, year)
    return {"la_code": la_code, "academic_year": year,
            "alerts_by_month": [{"month": m, "by_rule": counts} for m, counts in overview.alerts_by_month((r, at.date()) for r, at in raised)],
            "children_by_band": [{"band": band, "children": n} for band, n in overview.children_by_band(days)]}
