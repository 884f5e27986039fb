"""Consent to share, recorded and withdrawn per recipient with its lawful basis (issue 10): on the
child page by the inclusion team, and by IAS on a consent page reached from its referral. The
referrals API decides who may (IAS only for a child referred to it; any other child is "Page not
found"); these pages only read the ledger, check the form and post it as the person."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web import pages, views
from services.web.api import Api, ApiError
from services.web.deps import PagesApi
from services.web.people import Person

router = APIRouter(include_in_schema=False)


async def ledger(api: Api, who: Person, child_id: str) -> dict[str, Any]:
    """The template context of `_consent.html`: the latest word per recipient, who and on what basis."""
    try:
        entries = (await api.get(who, "referrals", f"/v1/consents/{child_id}"))["items"]
    except ApiError as exc:
        if exc.status != 404 or who.is_agency:  # the team: the referrals service has never heard of the child, no consent recorded
            raise
        entries = []
    latest: dict[str, dict] = {}
    for entry in entries:
        latest[entry["recipient"]] = {**entry, **views.consent_source(entry["source"])}
    return {"consents": entries, "consent_now": latest, "recipients": views.CONSENT_RECIPIENTS, "bases": views.LAWFUL_BASES}


def grant_errors(fields: dict[str, str]) -> list[dict[str, str]]:
    errors = []
    if fields.get("recipient", "") not in views.CONSENT_RECIPIENTS:
        errors.append({"text": "Select who the family agrees to share with", "href": "#grant-recipient"})
    if fields.get("lawful_basis", "") not in views.LAWFUL_BASES:
        errors.append({"text": "Select the lawful basis for sharing", "href": "#grant-basis"})
    return errors


def withdraw_errors(fields: dict[str, str]) -> list[dict[str, str]]:
    if fields.get("recipient", "") not in views.CONSENT_RECIPIENTS:
        return [{"text": "Select who the family no longer agrees to share with", "href": "#withdraw-recipient"}]
    return []


async def grant(api: Api, who: Person, child_id: str, fields: dict[str, str]) -> str:
    body = {"recipient": fields["recipient"], "lawful_basis": fields["lawful_basis"], "note": fields.get("note", "").strip() or None}
    await api.post(who, "referrals", f"/v1/consents/{child_id}/grant", body)
    return f"Consent to share with {views.CONSENT_RECIPIENTS[fields['recipient']]} recorded"


async def withdraw(api: Api, who: Person, child_id: str, fields: dict[str, str]) -> str:
    params = {"recipient": fields["recipient"], "note": fields.get("note", "").strip() or None}
    await api.post(who, "referrals", f"/v1/consents/{child_id}/withdraw", params=params)
    return f"Consent to share with {views.CONSENT_RECIPIENTS[fields['recipient']]} withdrawn"


# ------------------------------------------------------------------ IAS: the consent page of a referral


def keeper(request: Request) -> Person:
    who = pages.agency(request)
    if who.agency not in views.CONSENT_KEEPERS:
        raise pages.NotAllowed()
    return who


async def _referral_consent(api: Api, who: Person, ref_id: str) -> dict[str, Any]:
    referral = await api.get(who, "referrals", f"/v1/referrals/{ref_id}")
    child = referral.get("child") or {}
    if referral["agency"] != who.agency or not child.get("child_id"):
        raise pages.NotAllowed()
    return {"referral": referral, "child": child, "consent_action": f"/referrals/{ref_id}/consent",
            **await ledger(api, who, child["child_id"])}


@router.get("/referrals/{ref_id}/consent")
async def consent_page(request: Request, api: PagesApi, ref_id: str) -> Response:
    who = keeper(request)
    return pages.render(request, "consent.html", **await _referral_consent(api, who, ref_id))


@router.post("/referrals/{ref_id}/consent/{change}")
async def change_consent(request: Request, api: PagesApi, ref_id: str, change: str) -> Response:
    who = keeper(request)
    fields = await pages.form(request)
    if change not in ("grant", "withdraw"):
        return pages.render(request, "not_found.html", status_code=404)
    context = await _referral_consent(api, who, ref_id)  # the referral is still IAS's: the child comes from it, never the form
    errors = grant_errors(fields) if change == "grant" else withdraw_errors(fields)
    if errors:
        return pages.render(request, "consent.html", status_code=422, errors=errors, **context)
    act = grant if change == "grant" else withdraw
    message = await act(api, who, context["child"]["child_id"], fields)
    return pages.done(request, f"/referrals/{ref_id}/consent#consent", message)
