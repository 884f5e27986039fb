"""What follows an exclusion, as schools, LAs and review panels report it (issue 11, items 1-3).

The governing board's decision and the parent's representations (domain.md §1.5), the
independent review panel's application and outcome (§1.6), and the education arranged from
the sixth school day (§1.4). Each is about one exclusion, named by its school and start date
(the natural key the alerts service counts a suspension by). Each has its own id, the
idempotency key, like every intake event.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.intake import EventId, Notes, PlausibleDate, Timestamp, _check_dates
from schemas.pupil import URN, LACode, Pupil


class BoardOutcome(StrEnum):
    upheld = "upheld"
    reinstated = "reinstated"


class PanelOutcome(StrEnum):
    """The three outcomes an independent review panel may reach (domain.md §1.6)."""

    upheld = "upheld"
    reconsideration_recommended = "reconsideration_recommended"
    reconsideration_directed = "reconsideration_directed"  # the panel quashed the decision


ExclusionCategory = Literal["suspension", "permanent"]
SendingMethod = Literal["post", "email", "online", "hand"]


class _AboutAnExclusion(BaseModel):
    """What every event about one exclusion carries: the school, the pupil, the exclusion's start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    school_urn: URN
    la_code: LACode
    pupil: Pupil
    exclusion_start_date: PlausibleDate = Field(description="the start date of the exclusion it is about (with the school: its key)")
    notes: Notes | None = Field(default=None, description="free text: personal data, never logged")

    def _check(self, *later: date | None) -> None:
        if self.pupil.upn is None:
            raise ValueError("pupil.upn is required")
        _check_dates(self.exclusion_start_date, None, self.pupil.date_of_birth)
        for day in later:
            if day is not None and day < self.exclusion_start_date - _NOTICE_AHEAD:
                raise ValueError("a date is before the exclusion could have been notified")

    def _check_decision(self, decided_on: date, notified: str, notified_on: date | None) -> None:
        """A decision's dates: as `_check`'s, and its notice (the field `notified`) not before it."""
        self._check(decided_on, notified_on)
        if notified_on is not None and notified_on < decided_on:
            raise ValueError(f"{notified} is before decided_on")


# A notice may come a few days before the exclusion starts (a suspension from Monday, notified Friday).
_NOTICE_AHEAD = timedelta(days=14)


class GoverningBoardDecision(_AboutAnExclusion):
    """The governing board's (or management committee's, or proprietor's) decision on reinstatement
    (reg 6, 15 and 24 of SI 2012/1033). A decision after an independent review panel's outcome is the
    board's reconsideration."""

    decision_id: EventId
    exclusion_category: ExclusionCategory
    outcome: BoardOutcome
    decided_on: PlausibleDate
    parent_notified_on: PlausibleDate | None = Field(
        default=None, description="when the parent was given written notice of the decision (default: decided_on): the IRP window runs from it"
    )

    @model_validator(mode="after")
    def _consistent(self) -> GoverningBoardDecision:
        self._check_decision(self.decided_on, "parent_notified_on", self.parent_notified_on)
        return self


class ParentRepresentation(_AboutAnExclusion):
    """Representations a parent made to the board about a suspension (R-GB-50: over 5 and up to 15
    days in a term, the board must then consider reinstatement within 50 school days)."""

    representation_id: EventId
    received_on: PlausibleDate

    @model_validator(mode="after")
    def _consistent(self) -> ParentRepresentation:
        self._check(self.received_on)
        return self


class IRPApplication(_AboutAnExclusion):
    """A parent's application for an independent review of a permanent exclusion (R-IRP-APPLY)."""

    application_id: EventId
    sent_on: PlausibleDate
    method: SendingMethod = Field(description="post: the application counts as made on the 2nd working day after posting")
    sen_expert_requested: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> IRPApplication:
        self._check(self.sent_on)
        return self


class IRPDecision(_AboutAnExclusion):
    """The independent review panel's outcome (R-IRP-HOLD; R-RECON after a reconsideration outcome)."""

    irp_decision_id: EventId
    outcome: PanelOutcome
    decided_on: PlausibleDate
    board_notified_on: PlausibleDate | None = Field(
        default=None, description="when the board was notified of the outcome (default: decided_on): the reconsideration clock runs from it"
    )

    @model_validator(mode="after")
    def _consistent(self) -> IRPDecision:
        self._check_decision(self.decided_on, "board_notified_on", self.board_notified_on)
        return self


class EducationProvision(_AboutAnExclusion):
    """Full-time education arranged for an excluded pupil (R-DAY6): by the school for a suspension of
    more than 5 school days, by the LA for a permanent exclusion, from the sixth school day."""

    provision_id: EventId
    arranged_by: Literal["school", "la"]
    start_date: PlausibleDate
    end_date: PlausibleDate | None = None
    parent_notified_at: Timestamp | None = Field(default=None, description="when the parent was told where and when (R-DAY6-NOTICE)")

    @model_validator(mode="after")
    def _consistent(self) -> EducationProvision:
        self._check()  # a placement may have started before the exclusion (it then covers day 6 already)
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


PROCEEDINGS = (GoverningBoardDecision, ParentRepresentation, IRPApplication, IRPDecision, EducationProvision)
