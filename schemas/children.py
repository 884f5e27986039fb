"""A child as Signpost knows them after linking sources, and the resolved events about them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.codes import CallTaker, Concern, NoticeCategory, ReturnRecordKind, SenNeed, SenStatus
from schemas.intake import Consent


class ChildProfile(BaseModel):
    """What every source together says about a child (the latest value wins, needs accumulate)."""

    model_config = ConfigDict(extra="forbid")

    child_id: str
    la_code: str
    upn: str | None = None
    first_name: str
    last_name: str
    date_of_birth: date
    year_group: str | None = None
    school_urn: str | None = None
    sen_status: SenStatus = SenStatus.unknown
    sen_needs: list[SenNeed] = Field(default_factory=list, description="every primary need any source gave")
    suspected_send: bool = False
    looked_after: bool = False
    has_social_worker: bool = False

    @property
    def has_send(self) -> bool:
        return self.sen_status in (SenStatus.E, SenStatus.K) or self.suspected_send

    @property
    def autistic(self) -> bool:
        return SenNeed.ASD in self.sen_needs


SourceKind = Literal["exclusion_notice", "call", "la_return_record"]


class ChildEventResolved(BaseModel):
    """An intake event after identity resolution: published on the children topic, keyed by child_id.

    The referrals service routes from these (calls, permanent exclusions, consent) without
    having to resolve identity again.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(description="the CloudEvents id of the intake event")
    source: SourceKind
    source_id: str = Field(description="notice_id, call_id, or return_id|record_id")
    occurred_at: datetime
    child: ChildProfile
    category: NoticeCategory | None = None
    record_kind: ReturnRecordKind | None = None
    concerns: list[Concern] = Field(default_factory=list)
    received_by: CallTaker | None = None
    consent: Consent | None = None
