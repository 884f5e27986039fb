"""Referrals: how a child reaches IAS, the exclusions officer, the REU or NAS."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.alerts import Note, Rule
from schemas.codes import Agency


class ReferralStatus(StrEnum):
    new = "new"
    accepted = "accepted"
    declined = "declined"
    closed = "closed"


class AlertReason(BaseModel):
    rule: Rule
    alert_id: str
    episode: int = Field(default=1, description="the alert's episode this reason was routed for")


class CallReason(BaseModel):
    source: Literal["call"] = "call"
    call_id: str


class NoticeReason(BaseModel):
    source: Literal["exclusion_notice"] = "exclusion_notice"
    notice_id: str


class ReturnRecordReason(BaseModel):
    source: Literal["la_return"] = "la_return"
    return_id: str
    record_id: str


ReferralReason = AlertReason | CallReason | NoticeReason | ReturnRecordReason


class HistoryEntry(BaseModel):
    at: datetime
    by: str = Field(description="principal, or 'signpost' for automatic changes")
    action: str = Field(
        description="created | reason_added | evidence_added | merged | split | accepted | declined | closed | escalated | delivered"
    )
    detail: str | None = None


class Referral(BaseModel):
    """A referral as one agency sees it: `child` carries only the fields that agency needs."""

    id: str
    agency: Agency
    child: dict[str, Any] = Field(description="child_id, names, date_of_birth, and the fields the agency's policy lists")
    reasons: list[ReferralReason]
    status: ReferralStatus
    created_at: datetime
    updated_at: datetime
    due_by: date | None = None
    overdue: bool = False
    due_in_school_days: int | None = Field(
        default=None, description="school days left until due_by on the child's school calendar (negative: overdue); while new or accepted"
    )
    outcome: str | None = None
    decline_reason: str | None = None
    history: list[HistoryEntry] | None = Field(default=None, description="in GET /v1/referrals/{id} only")


class ReferralPage(BaseModel):
    items: list[Referral]
    next_cursor: str | None = None


class AcceptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note | None = None


class DeclineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Note


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Note


class ReferralChanged(BaseModel):
    """A referral was created or changed: published on the referrals topic (ids only, no personal data)."""

    referral_id: str
    agency: Agency
    child_id: str
    status: ReferralStatus
    change: str
    at: datetime
