"""Alerts: what the LA inclusion team sees and acts on."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.children import ChildProfile
from schemas.intake import Timestamp


class Rule(StrEnum):
    suspension_days_nearing_limit = "suspension_days_nearing_limit"
    suspension_days_limit_exceeded = "suspension_days_limit_exceeded"
    informal_exclusions_repeated = "informal_exclusions_repeated"
    end_of_term_spike = "end_of_term_spike"
    # issue 11, items 4-6 (docs/rules.md maps each to its R-id)
    protected_child_permanently_excluded = "protected_child_permanently_excluded"  # R-EHCP-PEX
    social_care_child_excluded = "social_care_child_excluded"  # R-SW-VSH
    part_time_timetable_concern = "part_time_timetable_concern"  # R-PTT
    off_rolling_review = "off_rolling_review"  # R-OFFROLL
    managed_move_trial = "managed_move_trial"  # R-MM
    late_notifications_high = "late_notifications_high"  # R-LA-ALL
    suspensions_in_term = "suspensions_in_term"  # the 45 days seen coming: a count trigger
    # issue 11 (items 1-3): statutory clocks after an exclusion (docs/rules.md maps them to the R-ids)
    governing_board_review_due = "governing_board_review_due"
    governing_board_decision_overdue = "governing_board_decision_overdue"
    irp_application_window_open = "irp_application_window_open"
    irp_review_overdue = "irp_review_overdue"
    governing_board_reconsideration_overdue = "governing_board_reconsideration_overdue"
    education_from_day_six_missing = "education_from_day_six_missing"
    la_education_from_day_six_missing = "la_education_from_day_six_missing"
    education_from_day_six_notice_late = "education_from_day_six_notice_late"


#: Issue 11 (items 1-3): the statutory clocks' child alerts (the referrals' policy file decides which route where).
DEADLINE_RULES = frozenset({
    Rule.governing_board_review_due, Rule.governing_board_decision_overdue, Rule.irp_application_window_open,
    Rule.irp_review_overdue, Rule.governing_board_reconsideration_overdue, Rule.education_from_day_six_missing,
    Rule.la_education_from_day_six_missing, Rule.education_from_day_six_notice_late,
})  # fmt: skip
#: The rules about one child: the alerts' child stage detects them and the referrals route them. The
#: others (end_of_term_spike, late_notifications_high) are about a school or an LA.
CHILD_RULES = frozenset({
    Rule.suspension_days_nearing_limit, Rule.suspension_days_limit_exceeded, Rule.informal_exclusions_repeated,
    # issue 11, items 4-6 (docs/rules.md)
    Rule.protected_child_permanently_excluded, Rule.social_care_child_excluded, Rule.part_time_timetable_concern,
    Rule.off_rolling_review, Rule.managed_move_trial, Rule.suspensions_in_term,
    *DEADLINE_RULES,
})  # fmt: skip


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    high = "high"
    critical = "critical"


class AlertStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    snoozed = "snoozed"
    resolved = "resolved"


class ChildSubject(BaseModel):
    kind: Literal["child"] = "child"
    child_id: str
    upn: str | None = None

    @property
    def id(self) -> str:
        """The subject's one id: its alerts' Kafka key and the store's subject_id."""
        return self.child_id


class SchoolSubject(BaseModel):
    kind: Literal["school"] = "school"
    school_urn: str

    @property
    def id(self) -> str:
        return self.school_urn


class LASubject(BaseModel):
    kind: Literal["la"] = "la"
    la_code: str

    @property
    def id(self) -> str:
        return self.la_code


Subject = Annotated[ChildSubject | SchoolSubject | LASubject, Field(discriminator="kind")]


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    rule: Rule
    severity: Severity
    subject: Subject
    la_code: str = Field(description="the LA of the school behind the latest evidence")
    la_codes: list[str] = Field(
        default_factory=list,
        description="every LA with a duty towards the subject: the LA of each school whose events count, and the child's home LA "
        "when a call or return names it. The alert is visible to each of them.",
    )
    academic_year: str = Field(examples=["2024/25"])
    term: str | None = Field(default=None, description="autumn | spring | summer, for termly rules")
    value: float
    threshold: float
    evidence: list[str] = Field(default_factory=list, description="ids of the intake events behind it")
    limit_reached: bool = Field(
        default=False, description="the child has exactly the legal limit of suspension days: one more suspension is unlawful"
    )
    projected_limit_date: date | None = Field(
        default=None,
        description="suspension_days_nearing_limit: the school day on which the child would pass the 45-day limit at their rate this "
        "school year (school days on the school's calendar); null when that rate does not reach it this year",
    )
    due_on: date | None = Field(default=None, description="deadline rules: the statutory deadline the alert tracks (a school day of the school's calendar)")
    status: AlertStatus = AlertStatus.open
    status_note: str | None = None
    snoozed_until: datetime | None = None
    resolved_by: str | None = Field(default=None, description="who resolved it: a person's principal, or 'signpost' when it no longer held")
    episode: int = Field(
        default=1, description="1, 2, ...: new evidence after a person resolved the alert opens the next episode (same id), routed again"
    )
    created_at: datetime
    updated_at: datetime
    version: int = Field(default=1, description="increases with every change; each change is one message on the alerts topic")


class AlertTransition(BaseModel):
    """One change of an alert, as its history lists it."""

    version: int
    episode: int
    at: datetime
    by: str = Field(description="a person's principal, or 'signpost' for the stream's changes")
    change: str = Field(description="raised | evidence | updated | status")
    status: AlertStatus
    severity: Severity
    value: float
    note: str | None = None


class AlertDetail(Alert):
    """GET /v1/alerts/{id}: the alert with every transition, oldest first."""

    history: list[AlertTransition] = Field(default_factory=list)


class AlertPage(BaseModel):
    items: list[Alert]
    next_cursor: str | None = None


#: A person's free text on a change (an alert's note or snooze reason, a referral's note, decline reason or outcome).
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note | None = None


class SnoozeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: Timestamp
    reason: Note


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note | None = None


class SuspensionCounted(BaseModel):
    """A report of a suspension, re-keyed by school for the end-of-term spike detector.

    The alerts service's child stage publishes one for every report it reads (a repeat, a
    correction and the LA's copy of a notice included, under the same `suspension_id`), keyed by
    school URN; its school stage counts each `suspension_id` once. One worker owns each school's
    term counts (a repartition, as faust's group_by); re-sending on every read is what keeps them
    whole when a broker restart makes the child stage read its topics again."""

    model_config = ConfigDict(extra="forbid")

    suspension_id: str = Field(description="a hash of UPN + school + start date, the suspension's natural key (no UPN in clear)")
    event_id: str
    school_urn: str
    la_code: str
    start_date: date
    sessions: int
    # issue 11, item 5 (R-LA-ALL): how this report reached the LA, and when it was reported
    via: Literal["notice", "return"] | None = Field(default=None, description="notice: the school's own notice; return: an LA return record")
    reported_at: str | None = Field(default=None, description="when the notice or return was made (UTC, ISO)")


class AlertChanged(BaseModel):
    """An alert was raised or changed: published on the alerts topic for the referrals service.

    `change`: raised (new alert); evidence (new evidence: a further suspension, incident or call, which
    re-opens an acknowledged or snoozed alert, or opens the next episode of a resolved one); updated
    (other changes: the child's details, a correction that lowered the value); status (a person, a
    snooze expiring, or Signpost resolving an alert that no longer holds)."""

    model_config = ConfigDict(extra="forbid")

    alert: Alert
    change: Literal["raised", "evidence", "updated", "status"]
    child: ChildProfile | None = Field(default=None, description="the child's profile when the subject is a child")
