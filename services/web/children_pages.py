"""The child page (issue 10): the story told once, from the alerts API's story of the child, its
alerts, its referrals with their outcomes, and the consents held, with withdrawal."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web import pages, views
from services.web.api import ApiError

router = APIRouter(include_in_schema=False)


async def _context(request: Request, child_id: str) -> dict:
    who = pages.team(request)
    api = pages.api(request)
    story = await api.get(who, "alerts", f"/v1/children/{child_id}")
    alerts = await api.get(who, "alerts", "/v1/alerts", child_id=child_id, limit=100)
    referrals = await api.get(who, "referrals", "/v1/referrals", child_id=child_id, limit=100)
    try:
        consents = (await api.get(who, "referrals", f"/v1/consents/{child_id}"))["items"]
    except ApiError as exc:
        if exc.status != 404:  # the referrals service has never heard of the child: no consent recorded
            raise
        consents = []
    latest: dict[str, dict] = {}
    for entry in consents:
        latest[entry["recipient"]] = {**entry, **views.consent_source(entry["source"])}
    limit = story["limit"] or 45
    bars = [{"school_urn": s["school_urn"], "days": s["days"], "width": min(100, 5 * round(20 * s["days"] / limit))} for s in story["by_school"]]
    events = sorted([{"kind": "suspension", "on": x["start_date"], **x} for x in story["suspensions"]]
                    + [{"kind": "incident", "on": x["day"], **x} for x in story["incidents"]], key=lambda e: e["on"], reverse=True)
    total_step = min(100, 5 * round(20 * story["total_days"] / limit))
    return {"story": story, "events": events, "total_step": total_step, "child": story["profile"], "alerts": alerts["items"], "referrals": referrals["items"], "consents": consents,
            "consent_now": latest, "recipients": views.CONSENT_RECIPIENTS, "bases": views.LAWFUL_BASES, "bars": bars,
            }


@router.get("/children/{child_id}")
async def child_page(request: Request, child_id: str) -> Response:
    return pages.render(request, "child.html", **await _context(request, child_id))


@router.post("/children/{child_id}/consents/withdraw")
async def withdraw_consent(request: Request, child_id: str) -> Response:
    who = pages.team(request)
    fields = await pages.form(request)
    recipient = fields.get("recipient", "")
    if recipient not in views.CONSENT_RECIPIENTS:
        context = await _context(request, child_id)
        errors = [{"text": "Select who the family no longer agrees to share with", "href": "#withdraw-recipient"}]
        return pages.render(request, "child.html", status_code=422, errors=errors, **context)
    note = fields.get("note", "").strip() or None
    await pages.api(request).post(who, "referrals", f"/v1/consents/{child_id}/withdraw", params={"recipient": recipient, "note": note})
    return pages.done(request, f"/children/{child_id}#consent", f"Consent to share with {views.CONSENT_RECIPIENTS[recipient]} withdrawn")


@router.post("/children/{child_id}/consents/grant")
async def grant_consent(request: Request, child_id: str) -> Response:
    who = pages.team(request)
    fields = await pages.form(request)
    recipient, basis = fields.get("recipient", ""), fields.get("lawful_basis", "")
    errors = []
    if recipient not in views.CONSENT_RECIPIENTS:
        errors.append({"text": "Select who the family agrees to share with", "href": "#grant-recipient"})
    if basis not in views.LAWFUL_BASES:
        errors.append({"text": "Select the lawful basis for sharing", "href": "#grant-basis"})
    if errors:
        return pages.render(request, "child.html", status_code=422, errors=errors, **await _context(request, child_id))
    body = {"recipient": recipient, "lawful_basis": basis, "note": fields.get("note", "").strip() or None}
    await pages.api(request).post(who, "referrals", f"/v1/consents/{child_id}/grant", body)
    return pages.done(request, f"/children/{child_id}#consent", f"Consent to share with {views.CONSENT_RECIPIENTS[recipient]} recorded")
