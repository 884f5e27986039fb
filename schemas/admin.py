"""Typed answers of the /v1 admin, audit, consent and identity endpoints (no untyped objects in the
OpenAPI documents: issue 12)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.children import ChildProfile


class AuditEntry(BaseModel):
    """Who read or changed what about a child, when, and why where a purpose was given."""

    id: int
    at: datetime
    principal: str
    action: str = Field(description="e.g. read_alert, read_referral, export_child, accept_referral")
    object_kind: str
    object_id: str
    child_id: str | None = None
    detail: str | None = Field(default=None, description="a note or purpose the caller gave")


class AuditPage(BaseModel):
    items: list[AuditEntry]


class RebuildStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["idle", "running", "done", "failed"] = "idle"
    started_at: datetime | None = None
    progress: dict[str, int] = Field(default_factory=dict, description="events replayed, by topic")
    events: int | None = None
    suspensions: int | None = None
    alerts_changed: int | None = None
    generation: str | None = None
    error: str | None = Field(default=None, description="the failure's class name")


class Candidate(BaseModel):
    """A possible match between two children's records, waiting for (or decided by) a person."""

    id: str
    child_id: str
    candidate_child_id: str
    reason: str
    status: Literal["pending", "confirmed", "rejected", "undone"]
    urgent: bool
    urgent_reason: str | None = None
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None
    child: ChildProfile | None = None
    candidate: ChildProfile | None = None


class CandidatePage(BaseModel):
    items: list[Candidate]


class CandidateDecided(BaseModel):
    id: str
    status: str


#: whom a family may agree to share with (ace, coram: the level-1 advice services of issue 11, item 7)
ConsentRecipient = Literal["nas", "ias", "la", "ace", "coram"]


class ConsentEntry(BaseModel):
    child_id: str
    recipient: ConsentRecipient
    source: str = Field(description='"call:<id>", "api:<principal>:<time>" (a withdrawal) or "basis:<lawful basis>:<principal>:<time>" (recorded by a person)')
    granted: bool
    at: datetime


class ConsentLedger(BaseModel):
    child_id: str
    items: list[ConsentEntry]


LawfulBasis = Literal["consent", "legal_obligation", "public_task", "vital_interests"]


class ConsentGrant(BaseModel):
    """POST /v1/consents/{child_id}/grant: a person records the family's word (the pages, issue 10)."""

    model_config = ConfigDict(extra="forbid")
    recipient: ConsentRecipient
    lawful_basis: LawfulBasis = Field(description="UK GDPR Article 6 basis the sharing rests on")
    note: str | None = Field(default=None, max_length=2000, description="how the family gave it")


class ConsentGranted(BaseModel):
    child_id: str
    recipient: ConsentRecipient
    granted: Literal[True] = True


class ConsentWithdrawn(BaseModel):
    child_id: str
    recipient: ConsentRecipient
    granted: Literal[False] = False


class PolicyReloaded(BaseModel):
    status: Literal["reloaded"] = "reloaded"
    source: str
