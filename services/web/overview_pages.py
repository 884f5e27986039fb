"""The school page (suspensions per school day across each term, the end-of-term window shaded)
and the LA overview (alerts by month and rule, children by suspension-days band). Each chart is
drawn in CSS for sighted users and given as a data table for everyone (issue 10)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from services.web import pages, views
from services.web.deps import PagesApi

router = APIRouter(include_in_schema=False)


def _step(n: int, top: int) -> int:
    """A bar's length as a class step (0, 5, ..., 100): the pages' CSP allows no inline styles."""
    return 0 if top <= 0 else min(100, 5 * round(20 * n / top))


@router.get("/schools/{school_urn}")
async def school_page(request: Request, api: PagesApi, school_urn: str, academic_year: str = "") -> Response:
    who = pages.team(request)
    data = await api.get(who, "alerts", f"/v1/schools/{school_urn}/terms", academic_year=academic_year)
    top = max((d["suspensions"] for t in data["terms"] for d in t["days"]), default=0)
    for term in data["terms"]:
        for d in term["days"]:
            d["step"] = _step(d["suspensions"], top)
    return pages.render(request, "school.html", data=data, top=top)


@router.get("/las")
async def choose_la(request: Request, la_code: str = "") -> Response:
    who = pages.team(request)
    if la_code:
        if not (len(la_code) == 3 and la_code.isdigit()):
            return pages.render(request, "las.html", status_code=422, la_codes=[], la_code=la_code,
                                errors=[{"text": "Enter an LA code of 3 digits, like 305", "href": "#la_code"}])
        return RedirectResponse(f"/las/{la_code}", status_code=303)
    if who.la_codes is not None and len(who.la_codes) == 1:
        return RedirectResponse(f"/las/{next(iter(who.la_codes))}", status_code=303)
    return pages.render(request, "las.html", la_codes=sorted(who.la_codes or []))


@router.get("/las/{la_code}")
async def la_page(request: Request, api: PagesApi, la_code: str, academic_year: str = "") -> Response:
    who = pages.team(request)
    data = await api.get(who, "alerts", f"/v1/las/{la_code}/overview", academic_year=academic_year)
    rules = list(views.RULES)
    months: list[dict[str, Any]] = data["alerts_by_month"]
    top_month = max((sum(m["by_rule"].values()) for m in months), default=0)
    for m in months:
        m["total"] = sum(m["by_rule"].values())
        m["step"] = _step(m["total"], top_month)
    top_band = max((b["children"] for b in data["children_by_band"]), default=0)
    for b in data["children_by_band"]:
        b["step"] = _step(b["children"], top_band)
    return pages.render(request, "la.html", data=data, rules=rules)
