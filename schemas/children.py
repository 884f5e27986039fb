"""A child as Signpost knows them after linking sources, and the resolved events about them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.codes import CallTaker, Concern, NoticeCategory, ReturnRecordKind, SenNeed, SenStatus, is_send
from schemas.intake import Consent


class ChildProfile(BaseModel):
    """What every source together says about a child (the latest value wins, needs accumulate)."""

    model_config = ConfigDict(extra="forbid")

    child_id: str
    la_code: str = Field(description="the LA of the child's latest school (else of the latest source)")
    la_codes: list[str] = Field(default_factory=list, description="every LA any source about the child named: each has a duty")
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
        return is_send(self.sen_status, self.suspected_send, self.sen_needs)

    @property
    def autistic(self) -> bool:
        return SenNeed.ASD in self.sen_needs


SourceKind = Literal["exclusion_notice", "call", "la_return_record"]


class ChildEventResolved(BaseModel):
    """An intake event after identity resolution: published on the children topic, keyed by child_id (the
    child the event's record counts as, with the profile merged over every record linked with it).

    The referrals service routes from these (calls, permanent exclusions, consent) without
    having to resolve identity again.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(description="the CloudEvents id of the intake event")
    record_child_id: str | None = Field(
        default=None, description="the event's own record, when it counts as another child (`child.child_id`: linked, children.links.v1)"
    )
    source: SourceKind
    source_id: str = Field(description="notice_id, call_id, or return_id|record_id")
    occurred_at: datetime
    child: ChildProfile
    category: NoticeCategory | None = None
    record_kind: ReturnRecordKind | None = None
    concerns: list[Concern] = Field(default_factory=list)
    received_by: CallTaker | None = None
    consent: Consent | None = None


class ChildLinkChanged(BaseModel):
    """Two records turned out to be one child (linked), or a link was undone: published on the
    child-links topic, keyed by the target child, so the referrals service can merge (or split) the
    two children's consent ledgers and referrals."""

    model_config = ConfigDict(extra="forbid")

    link_id: str = Field(description="the identity candidate behind the link (GET /v1/identity/candidates)")
    source_child_id: str = Field(description="the record that is (or was) linked into the target")
    target_child_id: str
    linked: bool = Field(description="true: source counts as target from now on; false: the link was undone")
    by: str = Field(description="a person's principal, or 'signpost' for an exact match")
    reason: str
    at: datetime
    version: int = Field(description="increases with every change of this link: a consumer ignores an older one")
    child: ChildProfile = Field(description="the target's profile after the change (merged with the source's when linked)")
    source_child: ChildProfile = Field(description="the source's own profile")
