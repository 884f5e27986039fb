"""Intake endpoints (contract: Intake service). Thin: validate → submission → event log → answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

from schemas.intake import (
    MAX_RETURN_RECORDS,
    Accepted,
    Call,
    ExclusionCancellation,
    ExclusionNotice,
    LAReturn,
)
from schemas.problem import Problem
from schemas.pupil import LACode
from services.common import collector
from services.common.auth import Principal, authorize, require
from services.common.http import LeanRoute, json_body
from services.common.problems import (
    ProblemError,
    field_errors,
    is_malformed,
    malformed,
    unavailable,
    validation_problem,
)
from services.intake import cancellations, csv_columns, csv_returns
from services.intake.bootstrap import Intake as IntakeService
from services.intake.deps import Service, intake_of
from services.intake.eventlog import Submission
from services.intake.submissions import (
    ReturnHeader,
    call_submission,
    cancellation_submission,
    csv_return_submission,
    notice_submission,
    return_submission,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[JSONResponse]]
router = APIRouter(prefix="/v1", tags=["intake"])
Intake = Annotated[Principal, Depends(require("intake"))]

RESPONSES: dict = {
    200: {"model": Accepted, "description": "the same id with an identical body was accepted before: nothing is processed twice"},
    401: {"model": Problem},
    403: {"model": Problem},
    409: {"model": Problem, "description": "the same id was accepted before with a different body"},
    413: {"model": Problem},
    422: {"model": Problem},
    503: {"model": Problem, "description": "broker or store unavailable: not accepted, retry after Retry-After seconds"},
}


def _check_la(principal: Principal, la_code: str) -> None:
    if not principal.sees_la(la_code):
        raise ProblemError(403, "Forbidden", "this token may not submit events for that LA")


class _Answer(JSONResponse):
    """The bytes JSONResponse writes for an answer here (compact UTF-8; ids and counts, no floats), by orjson: a tenth of the cost."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def _accept(intake: IntakeService, submission: Submission, source_id: str, records: int | None = None) -> JSONResponse:
    if not intake.relay.broker_ok:
        raise unavailable("the broker is unavailable; the event was not accepted", retry_after=5)
    try:
        outcome = await intake.committer.submit(submission)
    except Exception as exc:
        log.warning("store unavailable", extra={"error": type(exc).__name__})
        raise unavailable("the event store is unavailable; the event was not accepted", retry_after=5) from exc
    if outcome == "conflict":
        raise ProblemError(409, "Conflict", f"{submission.kind} id was accepted before with a different body", type_="https://signpost.example/problems/idempotency-conflict")
    body: dict = {"id": source_id, "status": "accepted" if outcome == "accepted" else "duplicate"}
    if records is not None:
        body["records"] = records
    return _Answer(body, status_code=202 if outcome == "accepted" else 200)


# The hot path: the body is validated straight from its bytes by pydantic-core (no decode to dicts
# first) and the role is checked without dependency injection. This doubles what one intake
# process takes (docs/benchmarks.md). The OpenAPI document still shows each body's schema.
# Strict: JSON's own types only ("yes" is not a boolean, "4" not a number); dates and times as ISO
# 8601 strings, which strict JSON validation takes.
async def _parse(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body(), strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_input=False)
        if is_malformed(errors):
            raise malformed() from None
        raise validation_problem(field_errors(errors)) from None


async def _submitted(request: Request, model: type[M]) -> M:
    """An intake token's body, parsed, about an LA the token may submit for (every intake body names its LA)."""
    principal = authorize(request, "intake")
    body = await _parse(request, model)
    _check_la(principal, getattr(body, "la_code"))  # noqa: B009 - M is any intake body
    return body


def _write(path: str, **kwargs: Any) -> Callable[[Endpoint], Endpoint]:
    """A hot single-event POST: a LeanRoute, so the endpoint takes only the Request (no dependency solving)."""

    def add(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(path, endpoint, methods=["POST"], status_code=202, response_model=Accepted, route_class_override=LeanRoute, **kwargs)
        return endpoint

    return add


@_write("/exclusion-notices", responses=RESPONSES, summary="a school's exclusion or suspension notice", openapi_extra=json_body(ExclusionNotice))
async def post_exclusion_notice(request: Request) -> JSONResponse:
    notice = await _submitted(request, ExclusionNotice)
    return await _accept(intake_of(request), notice_submission(notice), notice.notice_id)


@_write("/calls", responses=RESPONSES, summary="a helpline call", openapi_extra=json_body(Call))
async def post_call(request: Request) -> JSONResponse:
    call = await _submitted(request, Call)
    return await _accept(intake_of(request), call_submission(call), call.call_id)


@_write("/la-returns", responses=RESPONSES, summary="an LA return (all or nothing)", openapi_extra=json_body(LAReturn))
async def post_la_return(request: Request) -> JSONResponse:
    with collector.paused():
        la_return = await _submitted(request, LAReturn)
    return await _accept(intake_of(request), return_submission(la_return), la_return.return_id, len(la_return.records))


# ---------------------------------------------------------------- issue 11, item 6 (R-CANCEL)
CANCEL_REFUSED = "https://signpost.example/problems/cancellation-refused"
CANCEL_RESPONSES: dict = {**RESPONSES, 422: {"model": Problem, "description": "invalid, or refused: the pupil has been suspended for more than "
                                             "45 school days in that school year, or the governing board has decided on the suspension "
                                             "(type .../cancellation-refused)"}}  # fmt: skip


@_write("/exclusion-cancellations", responses=CANCEL_RESPONSES,
        summary="a head's cancellation of a suspension (refused over 45 days or once the board has met)", openapi_extra=json_body(ExclusionCancellation))  # fmt: skip
async def post_exclusion_cancellation(request: Request) -> JSONResponse:
    cancellation = await _submitted(request, ExclusionCancellation)
    intake = intake_of(request)
    refused = await asyncio.to_thread(cancellations.refusal, intake.engine, intake.calendars, cancellation)
    if refused is not None and refused.reason == "board_met":
        raise ProblemError(422, "Cancellation refused", "the governing board has already decided on this suspension: a head may not cancel it "
                           "once the board has met (SI 2023/571)", type_=CANCEL_REFUSED)  # fmt: skip
    if refused is not None:
        raise ProblemError(422, "Cancellation refused", f"the pupil has been suspended for {refused.days:g} school days in that school year, more than "
                           "45: a head may not cancel a suspension then (SI 2023/571)", type_=CANCEL_REFUSED)  # fmt: skip
    return await _accept(intake, cancellation_submission(cancellation), cancellation.cancellation_id)


CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")


@router.post(
    "/la-returns/csv",
    status_code=202,
    response_model=Accepted,
    responses=RESPONSES,
    summary="an LA return as CSV (all or nothing)",
    openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def post_la_return_csv(
    request: Request,
    principal: Intake,
    intake: Service,
    la_code: Annotated[LACode, Query()],
    return_id: Annotated[str, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-/]+$")],
    period_start: Annotated[str | None, Query()] = None,
    period_end: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    _check_la(principal, la_code)
    ctype = request.headers.get("content-type", "text/csv").split(";")[0].strip().lower()
    if ctype not in CSV_TYPES:
        raise ProblemError(415, "Unsupported Media Type", "send the return as text/csv")
    with collector.paused():  # 100k rows make millions of short-lived, acyclic objects: the collector would only re-scan them
        return await _csv_return(request, intake, la_code, return_id, period_start, period_end)


async def _csv_return(request: Request, intake: IntakeService, la_code: str, return_id: str, period_start: str | None, period_end: str | None) -> JSONResponse:
    names, rows, lines, errors = await _read_csv(request)
    if not rows:
        raise validation_problem([{"loc": ["records"], "msg": "the CSV has no data rows"}])
    submitted_at = datetime.now(UTC)
    if not errors and len(rows) <= MAX_RETURN_RECORDS:
        # The fast path: columns checked once, records' JSON written straight from the cells. Any
        # doubt about the return and the model below decides it, and words the problem.
        checked = csv_columns.check_rows(names, rows, date.today())  # type: ignore[arg-type]  # no errors: no None rows
        period = csv_columns.check_period(period_start, period_end, checked) if checked else None
        if checked and period:
            head = ReturnHeader(return_id, la_code, period[0], period[1], submitted_at)
            return await _accept(intake, csv_return_submission(head, checked), return_id, len(rows))
    doc = csv_returns.return_document(names, rows, return_id=return_id, la_code=la_code, period_start=period_start, period_end=period_end,
                                      submitted_at=submitted_at)  # fmt: skip
    try:  # through JSON, so that the CSV's cells meet the same strict types as a JSON body's
        la_return = LAReturn.model_validate_json(orjson.dumps(doc), strict=True)
    except ValidationError as exc:
        broken = {e["loc"][1] for e in errors}  # rows with the wrong number of cells are reported once
        errors += [e for e in field_errors(exc.errors(include_input=False)) if len(e["loc"]) < 2 or e["loc"][1] not in broken]
        la_return = None
    if errors:
        for err in errors:  # point a data officer at the line as well as the record index
            loc = err["loc"]
            if len(loc) > 1 and loc[0] == "records" and isinstance(loc[1], int) and loc[1] < len(lines):
                err["line"] = lines[loc[1]]
        errors.sort(key=lambda e: (e["loc"][1] if len(e["loc"]) > 1 and isinstance(e["loc"][1], int) else -1))
        raise validation_problem(errors, f"{len({str(e['loc'][:2]) for e in errors})} record(s) failed validation; nothing was accepted")
    assert la_return is not None
    return await _accept(intake, return_submission(la_return, hash_submitted_at=False), la_return.return_id, len(la_return.records))


async def _read_csv(request: Request) -> tuple[list[str], list[list[str] | None], list[int], list[dict]]:
    """(header, each data row's cells or None when unreadable, each row's line, the unreadable rows' errors)."""
    splitter = csv_returns.LineSplitter()
    state: dict = {}
    rows: list[list[str] | None] = []
    lines: list[int] = []
    errors: list[dict] = []

    def take(chunk_lines: list[str]) -> None:
        for line_no, values, error in csv_returns.parse_cells(chunk_lines, state):
            if error:
                errors.append({"loc": ["records", len(rows)], "msg": f"line {line_no} {error}", "line": line_no})
            rows.append(values)
            lines.append(line_no)

    try:
        async for chunk in request.stream():
            take(splitter.feed(chunk))
        take(splitter.feed(b"", final=True))
    except csv_returns.CsvHeaderError as exc:
        raise validation_problem([{"loc": ["header"], "msg": str(exc)}]) from exc
    except UnicodeDecodeError as exc:
        raise validation_problem([{"loc": ["body"], "msg": "the CSV is not UTF-8"}]) from exc
    if "names" not in state:
        raise validation_problem([{"loc": ["header"], "msg": "the CSV has no header row"}])
    return state["names"], rows, lines, errors
