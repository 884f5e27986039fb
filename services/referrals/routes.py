"""Referrals API (contract: Referrals service), consent withdrawal and policy reload.

Agencies see only their own referrals and only the fields their receiver lists; the
inclusion team and admins see everything in their LAs. Every read and change of a child's
referral leaves an audit entry. A child's consents are kept by the inclusion team and by IAS
for the children referred to it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import IntegrityError

from schemas.admin import (
    AuditPage,
    ConsentGrant,
    ConsentGranted,
    ConsentLedger,
    ConsentRecipient,
    ConsentWithdrawn,
    PolicyReloaded,
)
from schemas.codes import Agency
from schemas.problem import Problem
from schemas.referrals import (
    AcceptRequest,
    CloseRequest,
    DeclineRequest,
    Referral,
    ReferralPage,
    ReferralStatus,
)
from services.common.auth import Principal, require
from services.common.problems import ProblemError
from services.referrals.deps import Desk, Notify, Policy, Store, View
from services.referrals.domain import consent as consent_ledger
from services.referrals.domain import lifecycle
from services.referrals.inputs import ConsentRecorded
from services.referrals.store import ReferralRecord, ReferralStore
from services.referrals.views import audit_entries, is_agency_view

router = APIRouter(prefix="/v1", tags=["referrals"])
Reader = Annotated[Principal, Depends(require("agency", "inclusion_team"))]
Agent = Annotated[Principal, Depends(require("agency"))]
Keeper = Annotated[Principal, Depends(require("inclusion_team", "agency"))]  # a child's consents: see _may_keep_consent
Admin = Annotated[Principal, Depends(require("admin"))]
ERRORS: dict = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}


def _now() -> datetime:
    return datetime.now(timezone.utc)


@router.get("/referrals", response_model=ReferralPage, response_model_exclude_none=True, responses=ERRORS, summary="referrals, newest first")
async def list_referrals(
    request: Request,
    principal: Reader,
    store: Store,
    policy: Policy,
    view: View,
    agency: Agency | None = None,
    status: ReferralStatus | None = None,
    upn: Annotated[str | None, Query(max_length=13)] = None,
    overdue: bool | None = None,
    child_id: Annotated[str | None, Query(max_length=40, description="a child's referrals (the child page)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> ReferralPage:
    if is_agency_view(principal):
        if agency is not None and agency != principal.agency:
            return ReferralPage(items=[], next_cursor=None)  # an agency sees its own referrals only
        assert principal.agency is not None  # an agency view is an agency's token
        agency = Agency(principal.agency)
        if upn and not any("upn" in r.fields for r in policy.policy.receivers_for_agency(agency)):
            # An agency that is never given a UPN (NAS, ACE, Coram) finds nothing by one, whatever the UPN:
            # an answer would tell it whether a child it was never told about has a referral.
            return ReferralPage(items=[], next_cursor=None)
    scope = None if principal.has("admin") else principal.la_codes
    try:
        records, next_cursor = await asyncio.to_thread(
            store.list, agency=agency, status=status, upn=upn.upper() if upn else None, overdue=overdue, la_codes=scope, today=_now().date(), limit=limit, cursor=cursor,
            child_id=child_id,
        )
    except ValueError as exc:
        raise ProblemError(422, "Unprocessable Content", str(exc), errors=[{"loc": ["query", "cursor"], "msg": str(exc)}]) from exc
    await asyncio.to_thread(store.write_audit, audit_entries(principal, records, "read_referral", request.headers.get("x-signpost-purpose")))
    return ReferralPage(items=[view(r, principal) for r in records], next_cursor=next_cursor)


async def _visible(store: ReferralStore, principal: Principal, ref_id: str) -> ReferralRecord:
    record = await asyncio.to_thread(store.get, ref_id)
    las = record.la_codes or [record.row["la_code"]] if record is not None else []
    if record is None or not any(principal.sees_la(la) for la in las) or (is_agency_view(principal) and record.row["agency"] != principal.agency):
        raise ProblemError(404, "Not Found", "no such referral")
    return record


@router.get("/referrals/{ref_id}", response_model=Referral, response_model_exclude_none=True, responses=ERRORS, summary="one referral with its history")
async def get_referral(ref_id: str, request: Request, principal: Reader, store: Store, view: View) -> Referral:
    record = await _visible(store, principal, ref_id)
    await asyncio.to_thread(store.write_audit, audit_entries(principal, [record], "read_referral", request.headers.get("x-signpost-purpose")))
    return view(record, principal, with_history=True)


class Acting:
    """What an agency's action needs: the store, what follows a change, and the view to answer with."""

    def __init__(self, store: Store, notify: Notify, view: View) -> None:
        self.store, self.notify, self.view = store, notify, view


async def _act(acting: Acting, principal: Principal, ref_id: str, action: str, text: str | None) -> Referral:
    store = acting.store
    record = await _visible(store, principal, ref_id)
    if not principal.has("admin") and principal.agency != record.row["agency"]:
        raise ProblemError(403, "Forbidden", "only the agency the referral is routed to may do this")
    try:
        saved = await asyncio.to_thread(store.transition, ref_id, action, principal.name, text, record.row["version"], _now())
    except lifecycle.TransitionError as exc:
        raise ProblemError(409, "Conflict", str(exc)) from exc
    if not saved:
        raise ProblemError(409, "Conflict", "the referral changed meanwhile; read it again")
    updated = await asyncio.to_thread(store.get, ref_id)
    assert updated is not None  # saved just now
    await acting.notify.referral_changed(updated, action)
    return acting.view(updated, principal, with_history=True)


@router.post("/referrals/{ref_id}/accept", response_model=Referral, response_model_exclude_none=True, responses=ERRORS, summary="new → accepted")
async def accept(ref_id: str, acting: Annotated[Acting, Depends()], principal: Agent, body: AcceptRequest | None = None) -> Referral:
    return await _act(acting, principal, ref_id, "accept", body.note if body else None)


@router.post("/referrals/{ref_id}/decline", response_model=Referral, response_model_exclude_none=True, responses=ERRORS, summary="→ declined, with a reason")
async def decline(ref_id: str, body: DeclineRequest, acting: Annotated[Acting, Depends()], principal: Agent) -> Referral:
    return await _act(acting, principal, ref_id, "decline", body.reason)


@router.post("/referrals/{ref_id}/close", response_model=Referral, response_model_exclude_none=True, responses=ERRORS, summary="→ closed, with an outcome")
async def close(ref_id: str, body: CloseRequest, acting: Annotated[Acting, Depends()], principal: Agent) -> Referral:
    return await _act(acting, principal, ref_id, "close", body.outcome)


async def _child_in_scope(store: ReferralStore, principal: Principal, child_id: str) -> None:
    if principal.la_codes is None or principal.has("admin"):
        return
    las = await asyncio.to_thread(store.child_las, child_id)
    if not las & set(principal.la_codes):
        raise ProblemError(404, "Not Found", "no such child")


async def _may_keep_consent(store: ReferralStore, principal: Principal, child_id: str) -> None:
    """The inclusion team, within its LAs; an agency that keeps consent (IAS) only for a child with a
    referral routed to it, in any status. Any other child is 404, as an unknown one is: whether a child
    exists is need-to-know too. An agency that keeps none is refused whatever the child (403)."""
    if principal.has("inclusion_team"):
        return await _child_in_scope(store, principal, child_id)
    if not consent_ledger.keeps_consent(principal.agency):
        raise ProblemError(403, "Forbidden", "this agency does not record consent")
    referred, _ = await asyncio.to_thread(store.list, agency=principal.agency, status=None, upn=None, overdue=None,
                                          la_codes=principal.la_codes, today=_now().date(), limit=1, cursor=None, child_id=child_id)
    if not referred:
        raise ProblemError(404, "Not Found", "no such child")


@router.get("/consents/{child_id}", tags=["consent"], response_model=ConsentLedger, responses=ERRORS,
            summary="a child's consent ledger (the inclusion team; IAS for a child referred to it)")
async def consents(child_id: str, principal: Keeper, store: Store) -> dict:
    await _may_keep_consent(store, principal, child_id)
    rows = await asyncio.to_thread(store.consents, child_id)
    await asyncio.to_thread(store.write_audit, [{"at": _now(), "principal": principal.name, "action": "read_consents", "object_kind": "consent", "object_id": child_id, "child_id": child_id, "detail": None}])
    return {"child_id": child_id, "items": rows}


@router.post("/consents/{child_id}/withdraw", tags=["consent"], response_model=ConsentWithdrawn, responses=ERRORS, summary="the family withdraws a consent: no further sharing")
async def withdraw(child_id: str, principal: Keeper, store: Store, recipient: Annotated[ConsentRecipient, Query()], note: str | None = None) -> dict:
    await _may_keep_consent(store, principal, child_id)
    await asyncio.to_thread(store.withdraw, child_id, recipient, principal.name, note, _now())
    return {"child_id": child_id, "recipient": recipient, "granted": False}


@router.post("/consents/{child_id}/grant", tags=["consent"], response_model=ConsentGranted, responses=ERRORS,
             summary="record the family's consent to share with a recipient, and its lawful basis; held reasons are routed now")
async def grant(child_id: str, body: ConsentGrant, principal: Keeper, store: Store, desk: Desk, notify: Notify) -> dict:
    await _may_keep_consent(store, principal, child_id)
    grant = ConsentRecorded(child_id, body.recipient, body.lawful_basis, principal.name, _now(), body.note)
    for attempt in range(3):  # the stage may open the same referral at the same moment: the unique index refuses one, try again
        try:
            result = await asyncio.to_thread(desk.handle, [grant], _now())
            break
        except IntegrityError:
            if attempt == 2:
                raise ProblemError(409, "Conflict", "the child's referrals changed meanwhile; try again") from None
    notify.desk_outcome(result)  # a consent recorded over HTTP changes referrals as the stage does
    return {"child_id": child_id, "recipient": body.recipient, "granted": True}


@router.post("/admin/policy/reload", tags=["admin"], response_model=PolicyReloaded, responses=ERRORS, summary="re-read the routing policy file; a bad file keeps the old policy")
async def reload_policy(principal: Admin, policy: Policy) -> dict:
    error = policy.reload()
    if error:
        raise ProblemError(422, "Unprocessable Content", f"the policy was not changed: {error}", errors=[{"loc": ["policy"], "msg": error}])
    return {"status": "reloaded", "source": policy.policy.source}


@router.get("/audit", tags=["audit"], response_model=AuditPage, responses=ERRORS, summary="the audit trail (admin)")
async def audit_trail(principal: Admin, store: Store, child_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    return {"items": await asyncio.to_thread(store.audit_entries, child_id, limit)}
