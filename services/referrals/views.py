"""A referral as its reader may see it (the API, the pages' live inbox and the webhooks all send this).

An agency gets its receiver's need-to-know fields only; the inclusion team and admins see the whole
child. Every read of a child's referral is audited (`audit_entries`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from schemas.referrals import Referral
from services.common.auth import Principal
from services.common.calendar import CalendarRegistry
from services.common.db import aware
from services.referrals import routing
from services.referrals.domain import lifecycle
from services.referrals.policy import Policy, PolicyHolder
from services.referrals.store import ReferralRecord


def now() -> datetime:
    return datetime.now(timezone.utc)


def is_agency_view(principal: Principal) -> bool:
    return "agency" in principal.roles and not principal.has("inclusion_team")


def view(record: ReferralRecord, principal: Principal, *, policy: Policy, calendars: CalendarRegistry, with_history: bool = False) -> Referral:
    """The referral as this caller may see it: an agency gets its receiver's fields only."""
    row, child = record.row, record.child
    if is_agency_view(principal):
        receivers = policy.receivers_for_agency(row["agency"])
        child = routing.project(child, receivers[0]) if receivers else {k: child.get(k) for k in ("child_id", "first_name", "last_name", "date_of_birth")}
    today = now().date()
    return Referral(
        id=row["id"],
        agency=row["agency"],
        child=child,
        reasons=record.reasons,
        status=row["status"],
        created_at=aware(row["created_at"]),
        updated_at=aware(row["updated_at"]),
        due_by=row["due_by"],
        overdue=lifecycle.overdue(row["status"], row["due_by"], today),
        due_in_school_days=due_in(calendars, record, today),
        outcome=row["outcome"],
        decline_reason=row["decline_reason"],
        history=[{"at": aware(h["at"]), "by": h["by"], "action": h["action"], "detail": h["detail"]} for h in record.history] if with_history and record.history is not None else None,
    )


def due_in(calendars: CalendarRegistry, record: ReferralRecord, today: date) -> int | None:
    """School days left on the child's school calendar (the service level is counted in school days)."""
    due = record.row["due_by"]
    if due is None or record.row["status"] not in ("new", "accepted"):
        return None
    calendar = calendars.for_school(record.child.get("la_code"), record.child.get("school_urn"))
    if due >= today:
        return int(calendar.school_days_between(today + timedelta(days=1), due))
    return -int(calendar.school_days_between(due + timedelta(days=1), today))


def audit_entries(principal: Principal, records: list[ReferralRecord], action: str, why: str | None) -> list[dict]:
    at = now()
    return [{"at": at, "principal": principal.name, "action": action, "object_kind": "referral", "object_id": r.row["id"], "child_id": r.row["child_id"], "detail": why}
            for r in records]


class Viewer:
    """`view` with the live policy and the calendars: what a route or a webhook calls."""

    def __init__(self, policy: PolicyHolder, calendars: CalendarRegistry) -> None:
        self.policy, self.calendars = policy, calendars

    def __call__(self, record: ReferralRecord, principal: Principal, with_history: bool = False) -> Referral:
        return view(record, principal, policy=self.policy.policy, calendars=self.calendars, with_history=with_history)
