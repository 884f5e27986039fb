"""The child page (issue 10): the story told once, from the alerts API's story of the child, its
alerts, its referrals with their outcomes, and the consents held, with withdrawal."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web import consent_pages, pages
from services.web.api import Api
from services.web.deps import PagesApi

router = APIRouter(include_in_schema=False)


async def _context(request: Request, api: Api, child_id: str) -> dict:
    who = pages.team(request)
    story = await api.get(who, "alerts", f"/v1/children/{child_id}")
    alerts = await api.get(who, "alerts", "/v1/alerts", child_id=child_id, limit=100)
    referrals = await api.get(who, "referrals", "/v1/referrals", child_id=child_id, limit=100)
    limit = story["limit"] or 45
    bars = [{"school_urn": s["school_urn"], "days": s["days"], "width": min(100, 5 * round(20 * s["days"] / limit))} for s in story["by_school"]]
    events = sorted([{"kind": "suspension", "on": x["start_date"], **x} for x in story["suspensions"]]
                    + [{"kind": "incident", "on": x["day"], **x} for x in story["incidents"]], key=lambda e: e["on"], reverse=True)
    total_step = min(100, 5 * round(20 * story["total_days"] / limit))
    return {"story": story, "events": events, "total_step": total_step, "child": story["profile"], "alerts": alerts["items"], "referrals": referrals["items"],
            "bars": bars, "consent_action": f"/children/{child_id}/consents", **await consent_pages.ledger(api, who, child_id)}


@router.get("/children/{child_id}")
async def child_page(request: Request, api: PagesApi, child_id: str) -> Response:
    return pages.render(request, "child.html", **await _context(request, api, child_id))


@router.post("/children/{child_id}/consents/{change}")
async def change_consent(request: Request, api: PagesApi, child_id: str, change: str) -> Response:
    who = pages.team(request)
    fields = await pages.form(request)
    if change not in ("grant", "withdraw"):
        return pages.render(request, "not_found.html", status_code=404)
    errors = consent_pages.grant_errors(fields) if change == "grant" else consent_pages.withdraw_errors(fields)
    if errors:
        return pages.render(request, "child.html", status_code=422, errors=errors, **await _context(request, api, child_id))
    act = consent_pages.grant if change == "grant" else consent_pages.withdraw
    return pages.done(request, f"/children/{child_id}#consent", await act(api, who, child_id, fields))
