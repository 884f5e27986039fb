"""GET /v1/referrals/counts: the inbox's tabs (issue 10). An agency counts its own referrals only;
the inclusion team and admins count every referral in their LAs."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine, Select, and_, case, func, select

from schemas.codes import Agency
from schemas.pages import ReferralChanges, ReferralCounts
from services.common.auth import Principal, require
from services.common.db import aware
from services.referrals import tables as t
from services.referrals.deps import Store, View
from services.referrals.routes import ERRORS
from services.referrals.views import audit_entries

router = APIRouter(prefix="/v1", tags=["pages"])
Reader = Annotated[Principal, Depends(require("agency", "inclusion_team"))]
TABS = ("new", "overdue", "accepted", "closed")


def _scoped(query: Select[Any], agency: str | None, la_codes: frozenset[str] | None) -> Select[Any]:
    """Only one agency's referrals (an agency reads its own), only those about the caller's LAs."""
    r = t.referrals.c
    if agency:
        query = query.where(r.agency == agency)
    if la_codes is not None:
        rl = t.referral_las.c
        query = query.where(r.id.in_(select(rl.referral_id).where(rl.la_code.in_(sorted(la_codes)))))
    return query


def count_tabs(engine: Engine, agency: str | None, la_codes: frozenset[str] | None, today: date) -> dict[str, int]:
    """new (in time), overdue (new past its due date), accepted, closed (closed or declined)."""
    r = t.referrals.c
    tab = case((and_(r.status == "new", r.due_by < today), "overdue"), (r.status == "declined", "closed"), else_=r.status)
    query = _scoped(select(tab.label("tab"), func.count()).group_by(tab), agency, la_codes)
    with engine.connect() as conn:
        found = {str(name): int(n) for name, n in conn.execute(query).tuples()}
    return {name: found.get(name, 0) for name in TABS}


@router.get("/referrals/counts", response_model=ReferralCounts, responses=ERRORS, summary="how many referrals in each inbox tab: new, overdue, accepted, closed")
async def referral_counts(principal: Reader, store: Store, agency: Agency | None = None) -> dict[str, Any]:
    is_agency = "agency" in principal.roles and not principal.has("inclusion_team")
    chosen = principal.agency if is_agency else (agency.value if agency else None)
    scope = None if principal.has("admin") else principal.la_codes
    tabs = await asyncio.to_thread(count_tabs, store.engine, chosen, scope, datetime.now(UTC).date())
    return {"agency": chosen, "tabs": tabs}


def changed_since(engine: Engine, since: datetime, agency: str | None, la_codes: frozenset[str] | None, limit: int) -> list[str]:
    r = t.referrals.c
    query = _scoped(select(r.id).where(r.updated_at >= since).order_by(r.updated_at, r.id).limit(limit), agency, la_codes)
    with engine.connect() as conn:
        return [str(i) for i in conn.execute(query).scalars()]


@router.get("/referrals/changes", response_model=ReferralChanges, response_model_exclude_none=True, responses=ERRORS,
            summary="referrals changed at or after a time, oldest change first (the pages' live inbox replays from here)")
async def referral_changes(principal: Reader, store: Store, view: View, since: datetime, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    is_agency = "agency" in principal.roles and not principal.has("inclusion_team")
    scope = None if principal.has("admin") else principal.la_codes
    since = aware(since)
    ids = await asyncio.to_thread(changed_since, store.engine, since, principal.agency if is_agency else None, scope, limit)
    records = [r for r in [await asyncio.to_thread(store.get, i) for i in ids] if r is not None]
    await asyncio.to_thread(store.write_audit, audit_entries(principal, records, "stream_referral", None))
    return {"items": [view(r, principal) for r in records]}
