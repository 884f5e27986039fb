"""Intake of what follows an exclusion (issue 11, items 1-3): board decisions, parents'
representations, IRP applications and outcomes, education from day six.

Each is one event on its own topic, keyed by the child like every intake event, with its own id
as the idempotency key (the same id and body again: 200 duplicate; another body: 409). Thin:
validate → submission → event log → answer, through the same helpers as the other endpoints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse

from schemas.intake import Accepted
from schemas.proceedings import (
    EducationProvision,
    GoverningBoardDecision,
    IRPApplication,
    IRPDecision,
    ParentRepresentation,
)
from schemas.pupil import child_key
from schemas.topics import (
    BOARD_DECISIONS,
    EDUCATION_PROVISIONS,
    IRP_APPLICATIONS,
    IRP_DECISIONS,
    REPRESENTATIONS,
    TopicSpec,
)
from services.common.http import LeanRoute, json_body
from services.intake.deps import intake_of
from services.intake.eventlog import LogRecord, Submission
from services.intake.routes import RESPONSES, _accept, _submitted


@dataclass(frozen=True)
class Kind:
    """One kind of event: its endpoint, model, id field, topic and event-id prefix."""

    path: str
    model: type[BaseModel]
    id_field: str
    topic: TopicSpec
    prefix: str  # event ids: "<prefix>:<id>", distinct from every other kind's
    summary: str


KINDS = (
    Kind("/governing-board-decisions", GoverningBoardDecision, "decision_id", BOARD_DECISIONS, "board-decision", "a governing board's decision on reinstatement"),
    Kind("/parent-representations", ParentRepresentation, "representation_id", REPRESENTATIONS, "representation", "a parent's representations to the board"),
    Kind("/irp-applications", IRPApplication, "application_id", IRP_APPLICATIONS, "irp-application", "an application for an independent review panel"),
    Kind("/irp-decisions", IRPDecision, "irp_decision_id", IRP_DECISIONS, "irp-decision", "an independent review panel's outcome"),
    Kind("/education-provisions", EducationProvision, "provision_id", EDUCATION_PROVISIONS, "provision", "education arranged from the sixth school day"),
)


def submission(kind: Kind, event: BaseModel, accepted_at: str | None = None) -> Submission:
    """Pure: one log record, keyed by the child; the body's own id is the idempotency key."""
    body = event.model_dump_json().encode()
    own_id = getattr(event, kind.id_field)
    when = accepted_at or datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    key = child_key(getattr(event, "la_code"), getattr(event, "pupil"))  # noqa: B009 - every kind has both
    record = LogRecord(kind.topic.name, f"{kind.prefix}:{own_id}", key, kind.topic.ce_type, when, body)
    return Submission(kind.prefix, own_id, hashlib.sha256(body).hexdigest(), (record,))


router = APIRouter(prefix="/v1", tags=["intake"])


def _endpoint(kind: Kind) -> None:
    async def post(request: Request) -> JSONResponse:  # a LeanRoute, as the intake's other single-event POSTs
        event = await _submitted(request, kind.model)
        return await _accept(intake_of(request), submission(kind, event), getattr(event, kind.id_field))

    post.__name__ = "post_" + kind.prefix.replace("-", "_")
    router.add_api_route(kind.path, post, methods=["POST"], status_code=202, response_model=Accepted, responses=RESPONSES,
                         summary=kind.summary, openapi_extra=json_body(kind.model), route_class_override=LeanRoute)  # fmt: skip


for _kind in KINDS:
    _endpoint(_kind)
