"""Alerts API (contract: Alerts service) and identity decisions. Thin: auth → store/stage → answer.

Every read of a child's alert leaves an audit entry (who, when, what); an alert outside the
caller's LAs answers 404, exactly like one that doesn't exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from schemas.admin import AuditPage, CandidateDecided, CandidatePage, RebuildStatus
from schemas.alerts import (
    AcknowledgeRequest,
    Alert,
    AlertDetail,
    AlertPage,
    AlertStatus,
    ResolveRequest,
    Rule,
    Severity,
    SnoozeRequest,
)
from schemas.problem import Problem
from services.alerts.deps import AuditBuffer, Feed, Notify, Service, Store
from services.alerts.domain import lifecycle
from services.alerts.handlers import Handlers
from services.alerts.rebuild import rebuild_in_service
from services.alerts.store import AlertsStore
from services.common.auth import Principal, require
from services.common.problems import ProblemError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["alerts"])
Team = Annotated[Principal, Depends(require("inclusion_team"))]
Admin = Annotated[Principal, Depends(require("admin"))]
ERRORS: dict = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem}, 422: {"model": Problem}}


def _now() -> datetime:
    return datetime.now(UTC)


def audit_reads(principal: Principal, alerts: list[Alert], action: str, why: str | None) -> list[dict]:
    now = _now()
    return [
        {"at": now, "principal": principal.name, "action": action, "object_kind": "alert", "object_id": a.id,
         "child_id": a.subject.child_id, "detail": why}  # type: ignore[union-attr]
        for a in alerts
        if a.subject.kind == "child"
    ]


def _purpose(request: Request) -> str | None:
    return request.headers.get("x-signpost-purpose")  # why the caller looked: recorded, optional


@router.get("/alerts", response_model=AlertPage, responses=ERRORS, summary="alerts, newest first")
async def list_alerts(
    request: Request,
    principal: Team,
    store: Store,
    rule: Rule | None = None,
    status: AlertStatus | None = None,
    severity: Severity | None = None,
    upn: Annotated[str | None, Query(max_length=13)] = None,
    school_urn: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
    la_code: Annotated[str | None, Query(pattern=r"^[0-9]{3}$")] = None,
    academic_year: Annotated[str | None, Query(pattern=r"^[0-9]{4}/[0-9]{2}$")] = None,
    child_id: Annotated[str | None, Query(max_length=40, description="a child's alerts (the child page)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> AlertPage:
    filters = {"rule": rule, "status": status, "severity": severity, "upn": upn.upper() if upn else None, "school_urn": school_urn, "la_code": la_code,
               "academic_year": academic_year, "child_id": child_id}
    scope = None if principal.has("admin") else principal.la_codes
    try:
        items, next_cursor = await asyncio.to_thread(store.list_alerts, {k: str(v) for k, v in filters.items() if v}, scope, limit, cursor)
    except ValueError as exc:
        raise ProblemError(422, "Unprocessable Content", str(exc), errors=[{"loc": ["query", "cursor"], "msg": str(exc)}]) from exc
    await asyncio.to_thread(store.write_audit, audit_reads(principal, items, "read_alert", _purpose(request)))
    return AlertPage(items=items, next_cursor=next_cursor)


@router.get("/alerts/stream", response_class=EventSourceResponse, responses=ERRORS, summary="live feed: every new or changed alert (SSE)")
async def stream_alerts(request: Request, principal: Team, broadcaster: Feed, audit: AuditBuffer) -> AsyncIterator[ServerSentEvent]:
    queue = broadcaster.subscribe()
    audit.extend([{"at": _now(), "principal": principal.name, "action": "open_alert_stream", "object_kind": "stream", "object_id": "alerts", "child_id": None, "detail": _purpose(request)}])
    try:
        while True:
            alert: Alert = await queue.get()
            if not principal.sees_any([alert.la_code, *alert.la_codes]):
                continue
            audit.extend(audit_reads(principal, [alert], "stream_alert", None))
            yield ServerSentEvent(event="alert", id=f"{alert.id}:{alert.version}", data=alert.model_dump(mode="json"))
    finally:
        broadcaster.unsubscribe(queue)


async def _visible(store: AlertsStore, principal: Principal, alert_id: str) -> tuple[Alert, str | None]:
    found = await asyncio.to_thread(store.get_alert, alert_id)
    if found is None or not principal.sees_any([found[0].la_code, *found[0].la_codes]):
        raise ProblemError(404, "Not Found", "no such alert")
    return found


@router.get("/alerts/{alert_id}", response_model=AlertDetail, responses=ERRORS, summary="one alert with its evidence and its history")
async def get_alert(alert_id: str, request: Request, principal: Team, store: Store) -> AlertDetail:
    alert, _ = await _visible(store, principal, alert_id)
    history = await asyncio.to_thread(store.history, alert_id)
    await asyncio.to_thread(store.write_audit, audit_reads(principal, [alert], "read_alert", _purpose(request)))
    return AlertDetail(**alert.model_dump(), history=history)


async def _change(store: AlertsStore, handlers: Handlers, principal: Principal, alert_id: str, action: str, apply) -> Alert:  # noqa: ANN001
    """A person's transition: saved only on the version they acted on (the stream may change the alert
    at the same moment); history, audit and the alerts-topic message commit with it."""
    for _ in range(5):
        alert, school_urn = await _visible(store, principal, alert_id)
        try:
            changed = apply(alert)
        except lifecycle.TransitionError as exc:
            raise ProblemError(409, "Conflict", str(exc)) from exc
        entry = {"at": _now(), "principal": principal.name, "action": action, "object_kind": "alert", "object_id": alert.id,
                 "child_id": getattr(alert.subject, "child_id", None), "detail": changed.status_note}
        if await handlers.save_alert_change(changed, school_urn, alert.version, [entry], principal.name):
            return changed
    raise ProblemError(409, "Conflict", "the alert changed while saving; try again")


@router.post("/alerts/{alert_id}/acknowledge", response_model=Alert, responses=ERRORS, summary="status → acknowledged")
async def acknowledge(alert_id: str, body: AcknowledgeRequest, principal: Team, store: Store, handlers: Notify) -> Alert:
    return await _change(store, handlers, principal, alert_id, "acknowledge_alert", lambda a: lifecycle.acknowledge(a, body.note, _now()))


@router.post("/alerts/{alert_id}/snooze", response_model=Alert, responses=ERRORS, summary="status → snoozed until a time; then open again")
async def snooze(alert_id: str, body: SnoozeRequest, principal: Team, store: Store, handlers: Notify) -> Alert:
    return await _change(store, handlers, principal, alert_id, "snooze_alert", lambda a: lifecycle.snooze(a, body.until, body.reason, _now()))


@router.post("/alerts/{alert_id}/resolve", response_model=Alert, responses=ERRORS, summary="status → resolved")
async def resolve(alert_id: str, body: ResolveRequest, principal: Team, store: Store, handlers: Notify) -> Alert:
    return await _change(store, handlers, principal, alert_id, "resolve_alert", lambda a: lifecycle.resolve(a, body.note, _now(), principal.name))


# ---------------------------------------------------------------- identity: near matches a person decides


@router.get("/identity/candidates", tags=["identity"], response_model=CandidatePage, responses=ERRORS, summary="possible matches waiting for a person to decide")
async def list_candidates(
    principal: Team,
    store: Store,
    status: Literal["pending", "confirmed", "rejected", "undone"] | None = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    scope = None if principal.has("admin") else principal.la_codes
    rows = await asyncio.to_thread(store.candidates, status, scope, limit)
    children = await asyncio.to_thread(store.children, sorted({r["child_id"] for r in rows} | {r["candidate_child_id"] for r in rows}))
    # both children of a pair are shown: both reads are audited
    entries = [{"at": _now(), "principal": principal.name, "action": "read_candidate", "object_kind": "candidate", "object_id": r["id"], "child_id": child, "detail": None}
               for r in rows for child in (r["child_id"], r["candidate_child_id"])]
    await asyncio.to_thread(store.write_audit, entries)
    return {"items": [_candidate_view(r, children) for r in rows]}


def _candidate_view(row: dict, children: dict) -> dict:
    import orjson

    def child(cid: str) -> dict | None:
        c = children.get(cid)
        return orjson.loads(c["profile"]) if c else None

    return {k: row[k] for k in ("id", "child_id", "candidate_child_id", "reason", "status", "urgent", "urgent_reason", "created_at",
                                "decided_by", "decided_at", "note")} | {
        "child": child(row["child_id"]), "candidate": child(row["candidate_child_id"])}


class _Decision(AcknowledgeRequest):
    pass


@router.post("/identity/candidates/{candidate_id}/{decision}", tags=["identity"], response_model=CandidateDecided, responses=ERRORS, summary="confirm, reject or undo a possible match")
async def decide(candidate_id: str, decision: Literal["confirm", "reject", "undo"], body: _Decision, principal: Team, store: Store,
                 handlers: Notify) -> dict:
    row = await asyncio.to_thread(store.candidate, candidate_id)
    if row is None or not principal.sees_any([row["la_code"], row["candidate_la_code"]]):
        raise ProblemError(404, "Not Found", "no such candidate")
    allowed = {"confirm": ("pending", "rejected", "undone"), "reject": ("pending",), "undo": ("confirmed",)}[decision]
    if row["status"] not in allowed:
        raise ProblemError(409, "Conflict", f"the candidate is {row['status']}; {decision} needs {' or '.join(allowed)}")
    outcome = await handlers.identity_decision(candidate_id, decision, principal.name, body.note)
    return {"id": candidate_id, "status": outcome}


@router.post("/admin/rebuild", tags=["admin"], status_code=202, response_model=RebuildStatus, responses=ERRORS, summary="rebuild alert state from the intake topics (after a rule change)")
async def start_rebuild(principal: Admin, alerts: Service) -> dict:
    state = alerts.rebuild_state
    if state.get("status") == "running":
        raise ProblemError(409, "Conflict", "a rebuild is already running")
    state["status"] = "running"
    state["task"] = asyncio.get_running_loop().create_task(rebuild_in_service(alerts))
    alerts.store.write_audit([{"at": _now(), "principal": principal.name, "action": "rebuild", "object_kind": "service", "object_id": "alerts", "child_id": None, "detail": None}])
    return {"status": "running"}


@router.get("/admin/rebuild", tags=["admin"], response_model=RebuildStatus, responses=ERRORS, summary="progress of the last rebuild")
async def rebuild_status(principal: Admin, alerts: Service) -> dict:
    return {k: v for k, v in alerts.rebuild_state.items() if k != "task"}


@router.get("/audit", tags=["audit"], response_model=AuditPage, responses=ERRORS, summary="the audit trail (admin)")
async def audit_trail(principal: Admin, store: Store, child_id: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    rows = await asyncio.to_thread(store.audit_entries, child_id, limit)
    return {"items": rows}
