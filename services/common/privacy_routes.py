"""The data-protection endpoints every service with personal data mounts (admin only): its part of
a subject-access export, erasure of a child recorded in error, and who saw a child (from its
audit trail). Each is audited (`export_child`, `erase_child` with the reason, `read_audit`) in the
service's audit log, which the service hands to `router` with its exporter and eraser."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from schemas.problem import Problem
from services.common import subject_access
from services.common.audit import AuditLog
from services.common.auth import Principal, require

Admin = Annotated[Principal, Depends(require("admin"))]
ERRORS: dict = {401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}}
#: (child id, intake keys) → ({record type: rows}, the child's intake keys)
Exporter = Callable[[str, list[str]], tuple[dict[str, list[dict]], list[str]]]
#: (child id, intake keys) → {record type: rows deleted}
Eraser = Callable[[str, list[str]], dict[str, int]]


class ErasureRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="why erasure is lawful, e.g. 'recorded in error, ticket 123': audited")
    keys: list[str] = Field(default_factory=list, max_length=200, description="intake only: the child's keys (from the alerts export)")


class Erased(BaseModel):
    service: str
    child_id: str
    deleted: dict[str, int] = Field(description="record type → rows deleted")


class SubjectAccessPart(BaseModel):
    service: str
    child_id: str
    keys: list[str] = Field(description="the intake keys of the child's events (the alerts service knows them)")
    parts: dict[str, list[dict[str, Any]]] = Field(description="record type → every row held about the child")


class Reader(BaseModel):
    principal: str
    reads: int
    actions: list[str]
    first: str
    last: str


class Readers(BaseModel):
    child_id: str
    items: list[Reader]


def router(service: str, export: Exporter, erase: Eraser, audit_log: AuditLog | None) -> APIRouter:
    """`audit_log`: the service's own; None for a service that keeps none (no audit, no readers endpoint)."""
    r = APIRouter(prefix="/v1/admin", tags=["data protection"])

    def audit(request: Request, principal: Principal, action: str, child_id: str, detail: str | None = None) -> None:
        if audit_log is not None:
            audit_log.write([{"at": datetime.now(UTC), "principal": principal.name, "action": action, "object_kind": "child",
                              "object_id": child_id, "child_id": child_id, "detail": detail or request.headers.get("x-signpost-purpose")}])

    @r.get("/children/{child_id}/export", response_model=SubjectAccessPart, responses=ERRORS,
           summary=f"subject access: everything the {service} service holds about a child")
    async def export_child(child_id: str, request: Request, principal: Admin,
                           key: Annotated[list[str], Query(max_length=200, description="intake only: the child's keys")] = []) -> SubjectAccessPart:  # noqa: B006
        parts, keys = await asyncio.to_thread(export, child_id, key)
        await asyncio.to_thread(audit, request, principal, "export_child", child_id)
        return SubjectAccessPart(service=service, child_id=child_id, keys=keys, parts=parts)

    @r.post("/children/{child_id}/erase", response_model=Erased, responses=ERRORS,
            summary=f"erasure where lawful (a child recorded in error): everything the {service} service holds about a child")
    async def erase_child(child_id: str, body: ErasureRequest, request: Request, principal: Admin) -> Erased:
        deleted = await asyncio.to_thread(erase, child_id, body.keys)
        await asyncio.to_thread(audit, request, principal, "erase_child", child_id, body.reason)
        return Erased(service=service, child_id=child_id, deleted=deleted)

    if audit_log is not None:
        trail = audit_log

        @r.get("/children/{child_id}/readers", response_model=Readers, responses=ERRORS, summary="who saw a child, from the audit trail")
        async def child_readers(child_id: str, request: Request, principal: Admin) -> Readers:
            entries = await asyncio.to_thread(trail.entries, child_id, 100_000)
            await asyncio.to_thread(audit, request, principal, "read_audit", child_id)
            return Readers(child_id=child_id, items=[Reader(**e) for e in subject_access.readers(entries)])

    return r
