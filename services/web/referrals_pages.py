"""Each agency's inbox and the referral page (issue 10). The referrals API decides what an agency
may see (its own referrals, its receiver's fields: NAS gets no UPN and no school); these pages only
show what came back. The inclusion team sees every referral of its LAs, with its outcome."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web import pages, views
from services.web.api import Api, ApiError
from services.web.deps import PagesApi

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25


@router.get("/inbox")
async def inbox(request: Request, api: PagesApi, tab: str = "new", cursor: str | None = None) -> Response:
    who = pages.agency(request)
    tab = tab if tab in views.INBOX_TABS else "new"
    page = await api.get(who, "referrals", "/v1/referrals", **views.inbox_tab_params(tab), limit=PAGE_SIZE, cursor=cursor)
    items = page["items"]
    if tab == "closed":  # declined referrals are done with too
        declined = await api.get(who, "referrals", "/v1/referrals", status="declined", limit=PAGE_SIZE)
        items = sorted(items + declined["items"], key=lambda r: r["updated_at"], reverse=True)
    counts = await api.get(who, "referrals", "/v1/referrals/counts")
    return pages.render(request, "inbox.html", tab=tab, tabs=views.INBOX_TABS, counts=counts["tabs"], referrals=items,
                        next_cursor=page.get("next_cursor"), agency_name=views.agency_label(who.agency))


@router.get("/referrals")
async def team_referrals(request: Request, api: PagesApi, status: str = "", agency: str = "", cursor: str | None = None) -> Response:
    who = pages.team(request)
    page = await api.get(who, "referrals", "/v1/referrals", status=status, agency=agency, limit=PAGE_SIZE, cursor=cursor)
    return pages.render(request, "referrals.html", referrals=page["items"], next_cursor=page.get("next_cursor"), chosen={"status": status, "agency": agency},
                        agencies=views.AGENCIES)


async def _referral_context(request: Request, api: Api, ref_id: str) -> dict[str, Any]:
    who = pages.person(request)
    if not (who.is_team or who.is_agency):
        raise pages.NotAllowed()
    referral = await api.get(who, "referrals", f"/v1/referrals/{ref_id}")
    acts = who.is_agency and referral["agency"] == who.agency
    return {"referral": referral, "child": referral.get("child") or {}, "can_act": acts, "history": list(reversed(referral.get("history") or [])),
            "can_keep_consent": acts and who.agency in views.CONSENT_KEEPERS}


@router.get("/referrals/{ref_id}")
async def referral_page(request: Request, api: PagesApi, ref_id: str) -> Response:
    return pages.render(request, "referral.html", **await _referral_context(request, api, ref_id))


ACTIONS = {"accept": ("note", "Referral accepted"), "decline": ("reason", "Referral declined"), "close": ("outcome", "Referral closed")}
MISSING = {"reason": "Enter why you are declining the referral", "outcome": "Enter the outcome for the child and family"}


@router.post("/referrals/{ref_id}/{action}")
async def act(request: Request, api: PagesApi, ref_id: str, action: str) -> Response:
    who = pages.agency(request)
    fields = await pages.form(request)
    if action not in ACTIONS:
        return pages.render(request, "not_found.html", status_code=404)
    field, message = ACTIONS[action]
    text = fields.get(field, "").strip()
    errors = [{"text": MISSING[field], "href": f"#{action}-{field}"}] if field in MISSING and not text else []
    if not errors:
        try:
            await api.post(who, "referrals", f"/v1/referrals/{ref_id}/{action}", {field: text} if text else None)
            return pages.done(request, f"/referrals/{ref_id}", message)
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = pages.error_list(exc.errors, {field: f"{action}-{field}"}) if exc.status == 422 else [{"text": str(exc), "href": "#actions"}]
    context = await _referral_context(request, api, ref_id)
    return pages.render(request, "referral.html", status_code=422, errors=errors, posted=fields, posted_action=action, **context)
