"""What schools, call handlers and LA data teams send to the intake service."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from schemas.codes import (
    CallerRole,
    CallTaker,
    Concern,
    ExclusionReason,
    NoticeCategory,
    PartTimeReason,
    ReturnRecordKind,
)
from schemas.pupil import URN, LACode, Pupil

LONDON = ZoneInfo("Europe/London")

EventId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-/]+$"),
    Field(description="the sender's own id: the idempotency key"),
]


#: Times and dates Signpost takes: nothing about a pupil happens before 1990 (the earliest date of
#: birth taken) or after 2100. Bounded also because an offset at the edge of the calendar
#: (`0001-01-01T00:00:00+03:04`) overflows on conversion to UTC (issue 12).
EARLIEST_YEAR, LATEST_YEAR = 1990, 2100


def _utc(value: datetime) -> datetime:
    # A timestamp without an offset is taken as UTC (documented in docs/contract-decisions.md).
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"the time is outside {EARLIEST_YEAR} to {LATEST_YEAR}") from None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the time is outside {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


def _plausible(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the date is outside {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


Timestamp = Annotated[datetime, AfterValidator(_utc)]
PlausibleDate = Annotated[date, AfterValidator(_plausible)]


def _distinct(codes: list[ExclusionReason]) -> list[ExclusionReason]:
    if len(set(codes)) != len(codes):
        raise ValueError("reason codes must not repeat")
    return codes


ReasonCodes = Annotated[
    list[ExclusionReason],
    Field(min_length=1, max_length=3, description="1 to 3 DfE exclusion reason codes"),
    AfterValidator(_distinct),
]
OptionalReasonCodes = Annotated[
    list[ExclusionReason],
    Field(max_length=3, description="up to 3 DfE exclusion reason codes"),
    AfterValidator(_distinct),
]
Sessions = Annotated[int, Field(ge=1, le=1000, description="half-day sessions")]
Notes = Annotated[str, StringConstraints(max_length=4000)]


def _check_dates(start: date, end: date | None, born: date) -> None:
    if end is not None and end < start:
        raise ValueError("end_date is before start_date")
    if start <= born:
        raise ValueError("start_date is not after the pupil's date of birth")
    age = start.year - born.year - ((start.month, start.day) < (born.month, born.day))
    if not 2 <= age <= 25:
        raise ValueError("the pupil's age on start_date is not that of a pupil (2 to 25)")


class ExclusionNotice(BaseModel):
    """A school's notice of a suspension, lunchtime suspension or permanent exclusion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_id: EventId
    school_urn: URN
    la_code: LACode
    pupil: Pupil
    category: NoticeCategory
    start_date: PlausibleDate
    end_date: PlausibleDate | None = None
    sessions: Sessions | None = Field(default=None, description="required for a suspension")
    lunchtimes: Sessions | None = Field(default=None, description="required for a lunchtime suspension")
    reason_codes: ReasonCodes
    notified_at: Timestamp
    notes: Notes | None = Field(default=None, description="free text: personal data, never logged")

    @model_validator(mode="after")
    def _consistent(self) -> ExclusionNotice:
        if self.pupil.upn is None:
            raise ValueError("pupil.upn is required in an exclusion notice")
        if self.category is NoticeCategory.suspension and self.sessions is None:
            raise ValueError("sessions is required for a suspension")
        if self.category is NoticeCategory.lunchtime and self.lunchtimes is None and self.sessions is None:
            raise ValueError("lunchtimes is required for a lunchtime suspension")
        _check_dates(self.start_date, self.end_date, self.pupil.date_of_birth)
        return self

    @property
    def suspension_sessions(self) -> int:
        """Half-day sessions towards the 45-day limit: a lunchtime counts as one session."""
        return suspension_sessions(self.category, self.sessions, self.lunchtimes)


def suspension_sessions(category: str, sessions: int | None, lunchtimes: int | None) -> int:
    """Half-day sessions a notice counts towards the 45-day limit (domain.md §1.2, R-45): a suspension
    its sessions; a lunchtime suspension one session a lunchtime (its `lunchtimes`, else the sessions
    given); a permanent exclusion none. The one definition: the model and the alerts' facts use it."""
    if category == NoticeCategory.lunchtime:
        return lunchtimes or sessions or 0
    if category == NoticeCategory.suspension:
        return sessions or 0
    return 0


class Consent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    share_with_la: bool = False
    share_with_ias: bool = False
    share_with_nas: bool = False
    # issue 11, item 7: the level-1 advice services for families without SEND (charities, like NAS)
    share_with_ace: bool = False
    share_with_coram: bool = False


#: Each consent a family gives (a `Consent` field) -> the recipient it lets receive the child: the
#: referrals' consent ledger, the policy's `requires_consent` and its `consent_<field>` labels all read
#: this one map. ACE and Coram (issue 11, item 7) are charities, like NAS.
CONSENT_RECIPIENTS: Mapping[str, str] = {
    "share_with_nas": "nas", "share_with_ias": "ias", "share_with_la": "la", "share_with_ace": "ace", "share_with_coram": "coram",
}  # fmt: skip


class Call(BaseModel):
    """A helpline call, logged by whoever took it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: EventId
    received_at: Timestamp
    received_by: CallTaker
    caller_role: CallerRole
    la_code: LACode
    school_urn: URN | None = None
    pupil: Pupil
    concerns: Annotated[list[Concern], Field(min_length=1)]
    incident_dates: list[PlausibleDate] = Field(default_factory=list, description="dates the child was sent home, etc.")
    consent: Consent = Field(default_factory=Consent)
    summary: Notes | None = Field(default=None, description="free text: personal data, never logged")

    @field_validator("incident_dates")
    @classmethod
    def _unique_sorted(cls, value: list[date]) -> list[date]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _dates(self) -> Call:
        received_on = self.received_at.astimezone(LONDON).date()  # the caller's "today" is a UK date
        for day in self.incident_dates:
            if day > received_on:
                raise ValueError("an incident date is after the call was received")
            if day <= self.pupil.date_of_birth:
                raise ValueError("an incident date is before the pupil's date of birth")
        return self


class LAReturnRecord(BaseModel):
    """One row of an LA data return."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: EventId
    kind: ReturnRecordKind
    school_urn: URN
    pupil: Pupil
    start_date: PlausibleDate
    end_date: PlausibleDate | None = None
    sessions: Sessions | None = None
    reason_codes: OptionalReasonCodes = Field(default_factory=list)
    # issue 11, item 5 (grey exclusions): optional, for part-time timetables and managed moves
    review_date: PlausibleDate | None = Field(default=None, description="part_time_timetable: when it is next formally reviewed")
    timetable_reason: PartTimeReason | None = Field(default=None, description="part_time_timetable: why it was set (behaviour is not lawful)")
    trial: bool = Field(default=False, description="managed_move: recorded as a trial (DfE parent guide: trials should not be used)")
    intended_return_date: PlausibleDate | None = Field(default=None, description="managed_move: the date the pupil is meant to return")

    @model_validator(mode="after")
    def _consistent(self) -> LAReturnRecord:
        if self.pupil.upn is None:
            raise ValueError("pupil.upn is required in an LA return")
        if self.kind is ReturnRecordKind.suspension and self.sessions is None:
            raise ValueError("sessions is required for a suspension")
        if self.kind in (ReturnRecordKind.suspension, ReturnRecordKind.permanent_exclusion) and not self.reason_codes:
            raise ValueError("reason_codes needs 1 to 3 codes for a suspension or permanent exclusion")
        _check_dates(self.start_date, self.end_date, self.pupil.date_of_birth)
        return self


MAX_RETURN_RECORDS = 200_000


class LAReturn(BaseModel):
    """An LA data team's return: all of it is accepted, or none of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    return_id: EventId
    la_code: LACode
    period_start: PlausibleDate
    period_end: PlausibleDate
    submitted_at: Timestamp
    records: Annotated[list[LAReturnRecord], Field(min_length=1, max_length=MAX_RETURN_RECORDS)]

    @model_validator(mode="after")
    def _consistent(self) -> LAReturn:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        seen: set[str] = set()
        for record in self.records:
            if record.record_id in seen:
                raise ValueError(f"record_id {record.record_id!r} appears twice")
            seen.add(record.record_id)
        return self


class LAReturnRecordSubmitted(BaseModel):
    """One LA-return record as it travels on Kafka: the record plus its return's header."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    return_id: str
    la_code: LACode
    period_start: date
    period_end: date
    submitted_at: datetime
    record: LAReturnRecord


class Accepted(BaseModel):
    id: str
    status: Literal["accepted", "duplicate"]
    records: int | None = None


# ---------------------------------------------------------------- issue 11, item 6: cancellations


class ExclusionCancellation(BaseModel):
    """A head teacher's cancellation of a suspension (SI 2023/571; domain.md §1.8, R-CANCEL).

    Names the suspension as the contract matches reports of it: UPN + school + start date. It takes
    the suspension out of the 45-day count, unless the pupil has been (or would be) suspended for more
    than 45 school days in that school year, or the governing board has met on it: then the intake
    refuses it (422, problem type `cancellation-refused`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cancellation_id: EventId
    school_urn: URN
    la_code: LACode
    pupil: Pupil
    start_date: PlausibleDate = Field(description="the start date of the suspension cancelled")
    cancelled_at: Timestamp
    reason: Notes | None = Field(default=None, description="free text: personal data, never logged")

    @model_validator(mode="after")
    def _consistent(self) -> ExclusionCancellation:
        if self.pupil.upn is None:
            raise ValueError("pupil.upn is required in a cancellation")
        _check_dates(self.start_date, None, self.pupil.date_of_birth)
        return self
