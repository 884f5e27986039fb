"""Local settings of the issue-11 rules (items 5 and 6), with their defaults. They sit in the
rules file (SIGNPOST_RULES_FILE) beside the contract's rules; docs/rules.md says which thresholds
are law and which are local choices."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PartTimeTimetables(BaseModel):
    """R-PTT: LAs set a review at 6-8 weeks (local practice, not national law)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    review_weeks: int = Field(6, ge=1, description="school weeks from the start by which a part-time timetable must be reviewed")


class OffRolling(BaseModel):
    """R-OFFROLL: a removal from roll or EHE registration soon after a suspension, a threat or a managed move."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    window_weeks: int = Field(6, ge=1, description="school weeks between the trigger and the removal (local choice)")
    year10_weight: float = Field(2.0, ge=1, description="weight of a Year 10 (or Year 11 before the January census) removal")


class SuspensionsInTerm(BaseModel):
    """The 45 days seen coming: the n-th suspension in one term (local choice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    count: int = Field(3, ge=2, description="suspensions_in_term fires at this many suspensions starting in one term")


class LateNotifications(BaseModel):
    """R-LA-ALL: a school's share of suspensions that reached the LA only through a return (local choice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_suspensions: int = Field(4, ge=1, description="at least this many suspensions in the term before a share means anything")
    share: float = Field(0.25, gt=0, le=1, description="late_notifications_high fires at this share of late notifications")
