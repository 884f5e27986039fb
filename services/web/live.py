"""Live updates for the worklist and the inboxes (issue 10): Server-Sent Events that resume after a reconnect.

Each event's id is the change time of the alert it carries. A browser that reconnects sends the
last id it saw (Last-Event-ID, which EventSource does by itself), and the feed replays every change
from that time on, read from the alerts API's changes list (GET /v1/alerts/changes, GET /v1/referrals/changes). It reads
again from a few seconds before the last change it sent, because two writers can commit changes
stamped a moment apart in the other order; what it already sent on this connection it does not
send twice. A change is sent at least once; the page applies it by id and version.

Polling the API, rather than holding its stream, keeps the pages stateless behind a load
balancer and lets the person's session and rights be checked on every read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from services.common.db import aware
from services.web import pages, views
from services.web.api import Api, ApiError
from services.web.deps import PagesApi, SessionAlive

router = APIRouter(include_in_schema=False)
OVERLAP = timedelta(seconds=5)
POLL_SECONDS = 1.0


def parse_event_id(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return aware(moment)


def unseen(items: list[dict[str, Any]], seen: set[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The changes not yet sent on this connection (the re-read overlap brings some back): an alert's
    version, a referral's change time."""
    out = [a for a in items if (a["id"], a.get("version", a["updated_at"])) not in seen]
    seen.update((a["id"], a.get("version", a["updated_at"])) for a in out)
    return out


def event(alert: dict[str, Any]) -> str:
    data = {"id": alert["id"], "version": alert["version"], "rule": views.rule_label(alert["rule"]), "status": alert["status"],
            "severity": alert["severity"], "value": alert["value"], "updated": views.when(alert["updated_at"])}
    return f"id: {alert['updated_at']}\nevent: alert\ndata: {json.dumps(data)}\n\n"


def referral_event(referral: dict[str, Any]) -> str:
    data = {"id": referral["id"], "status": referral["status"], "overdue": referral.get("overdue", False), "updated": views.when(referral["updated_at"])}
    return f"id: {referral['updated_at']}\nevent: referral\ndata: {json.dumps(data)}\n\n"


def _feed(request: Request, who: pages.Person, api: Api, session_alive: Callable[[Request], Awaitable[bool]], service: str, path: str,
          render: Any) -> StreamingResponse:
    """Poll the API's changes list as the person; replay from Last-Event-ID; end with the session."""
    since = parse_event_id(request.headers.get("last-event-id") or request.query_params.get("last_event_id")) or datetime.now(UTC)

    async def changes() -> AsyncIterator[str]:
        nonlocal since
        seen: set[tuple[str, Any]] = set()
        yield "retry: 2000\n\n"
        while not await request.is_disconnected() and await session_alive(request):
            try:
                page = await api.get(who, service, path, since=(since - OVERLAP).isoformat(), limit=200)
            except ApiError:
                return  # signed out, or rights changed: the browser reconnects and is sent to sign in
            for item in unseen(page["items"], seen):
                since = max(since, parse_event_id(item["updated_at"]) or since)
                yield render(item)
            yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(changes(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/live/alerts")
async def live_alerts(request: Request, api: PagesApi, session_alive: SessionAlive) -> StreamingResponse:
    return _feed(request, pages.team(request), api, session_alive, "alerts", "/v1/alerts/changes", event)


@router.get("/live/referrals")
async def live_referrals(request: Request, api: PagesApi, session_alive: SessionAlive) -> StreamingResponse:
    return _feed(request, pages.agency(request), api, session_alive, "referrals", "/v1/referrals/changes", referral_event)
