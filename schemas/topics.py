"""Kafka topics, their payloads, and the CloudEvents 1.0 binary-mode envelope.

Binary mode: the JSON payload is the record value; the event's attributes travel as
`ce_*` headers (CloudEvents Kafka protocol binding 1.0), `content-type` as its own header.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.alerts import AlertChanged, SuspensionCounted
from schemas.children import ChildEventResolved, ChildLinkChanged
from schemas.intake import Call, ExclusionCancellation, ExclusionNotice, LAReturnRecordSubmitted
from schemas.proceedings import (
    EducationProvision,
    GoverningBoardDecision,
    IRPApplication,
    IRPDecision,
    ParentRepresentation,
)
from schemas.referrals import ReferralChanged

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class TopicSpec:
    """A logical topic: its name without the deployment prefix, its CloudEvents type and payload."""

    name: str
    ce_type: str
    model: type[BaseModel]
    key: str
    description: str
    compacted: bool = False
    #: the record type of the retention schedule (services/common/retention.py) its retention.ms follows
    retention: str = "intake_events"


EXCLUSION_NOTICES = TopicSpec(
    "exclusion-notices.v1",
    "uk.signpost.intake.exclusion_notice.v1",
    ExclusionNotice,
    "child key",
    "Exclusion notices accepted by the intake service, in order per child.",
)
CALLS = TopicSpec(
    "calls.v1", "uk.signpost.intake.call.v1", Call, "child key", "Helpline calls accepted by the intake service."
)
LA_RETURN_RECORDS = TopicSpec(
    "la-return-records.v1",
    "uk.signpost.intake.la_return_record.v1",
    LAReturnRecordSubmitted,
    "child key",
    "One message per record of an accepted LA return (the return is all-or-nothing at intake).",
)
# issue 11, item 6 (R-CANCEL)
EXCLUSION_CANCELLATIONS = TopicSpec(
    "exclusion-cancellations.v1",
    "uk.signpost.intake.exclusion_cancellation.v1",
    ExclusionCancellation,
    "child key",
    "Cancellations of suspensions accepted by the intake service (not refused there), in order per child.",
)
# ---- issue 11 (items 1-3): what follows an exclusion; the alerts child stage tracks their clocks
BOARD_DECISIONS = TopicSpec(
    "governing-board-decisions.v1",
    "uk.signpost.intake.governing_board_decision.v1",
    GoverningBoardDecision,
    "child key",
    "Governing board decisions on reinstatement (upheld / reinstated), a reconsideration after an IRP included.",
)
REPRESENTATIONS = TopicSpec(
    "parent-representations.v1",
    "uk.signpost.intake.parent_representation.v1",
    ParentRepresentation,
    "child key",
    "Parents' representations to the governing board about an exclusion.",
)
IRP_APPLICATIONS = TopicSpec(
    "irp-applications.v1",
    "uk.signpost.intake.irp_application.v1",
    IRPApplication,
    "child key",
    "Applications for an independent review panel of a permanent exclusion.",
)
IRP_DECISIONS = TopicSpec(
    "irp-decisions.v1",
    "uk.signpost.intake.irp_decision.v1",
    IRPDecision,
    "child key",
    "Independent review panels' outcomes (upheld, reconsideration recommended, reconsideration directed).",
)
EDUCATION_PROVISIONS = TopicSpec(
    "education-provisions.v1",
    "uk.signpost.intake.education_provision.v1",
    EducationProvision,
    "child key",
    "Full-time education arranged for an excluded pupil from the sixth school day (by the school or the LA).",
)
PROCEEDINGS_TOPICS = (BOARD_DECISIONS, REPRESENTATIONS, IRP_APPLICATIONS, IRP_DECISIONS, EDUCATION_PROVISIONS)
# ---- end issue 11 (items 1-3)
CHILDREN = TopicSpec(
    "children.v1",
    "uk.signpost.alerts.child_event_resolved.v1",
    ChildEventResolved,
    "child_id",
    "Intake events after identity resolution, with the child's profile; consumed by referrals.",
    retention="children",
)
CHILD_LINKS = TopicSpec(
    "children.links.v1",
    "uk.signpost.alerts.child_link_changed.v1",
    ChildLinkChanged,
    "target child_id",
    "Links between two records of one child, made or undone (by a person, or an exact match); consumed by referrals.",
    retention="children",
)
ALERTS = TopicSpec(
    "alerts.v1",
    "uk.signpost.alerts.alert_changed.v1",
    AlertChanged,
    "alert subject (child_id, school URN or LA code)",
    "Every new or changed alert.",
    retention="alerts",
)
SCHOOL_SUSPENSIONS = TopicSpec(
    "alerts.school-suspensions.v1",
    "uk.signpost.alerts.suspension_counted.v1",
    SuspensionCounted,
    "school URN",
    "Internal to the alerts service: suspensions re-keyed by school for the end-of-term spike detector.",
)
REFERRALS = TopicSpec(
    "referrals.v1",
    "uk.signpost.referrals.referral_changed.v1",
    ReferralChanged,
    "child_id",
    "Every new or changed referral (ids and status only).",
    retention="referrals",
)

INTAKE_TOPICS = (EXCLUSION_NOTICES, CALLS, LA_RETURN_RECORDS, EXCLUSION_CANCELLATIONS, *PROCEEDINGS_TOPICS)
ALL_TOPICS = (*INTAKE_TOPICS, SCHOOL_SUSPENSIONS, CHILDREN, CHILD_LINKS, ALERTS, REFERRALS)
#: Failed messages with the reason, from whichever consumer gave up on them.
DEAD_LETTERS = "dead-letters.v1"
#: One record per broker lifetime (one partition): a relay or consumer that finds another record at
#: offset 0 than it remembers knows the broker lost everything (the embedded broker keeps nothing).
BROKER_EPOCH = "broker-epoch.v1"


def header(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...], name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode() if isinstance(value, bytes | bytearray) else value
    return None
