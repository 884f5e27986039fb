"""Live updates for the worklist (issue 10): Server-Sent Events that resume after a reconnect.

Each event's id is the change time of the alert it carries. A browser that reconnects sends the
last id it saw (Last-Event-ID, which EventSource does by itself), and the feed replays every change
from that time on, read from the alerts API's changes list (GET /v1/alerts/changes). It reads
again from a few seconds before the last change it sent, because two writers can commit changes
stamped a moment apart in the other order; what it already sent on this connection it does not
send twice. A change is sent at least once; the page applies it by id and version.

Polling the API, rather than holding its stream, keeps the pages stateless behind a load
balancer and lets the person's session and rights be checked on every read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from services.web import pages, views
from services.web.api import ApiError

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
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def unseen(items: list[dict[str, Any]], seen: set[tuple[str, int]]) -> list[dict[str, Any]]:
    """The changes not yet sent on this connection (the re-read overlap brings some back)."""
    out = [a for a in items if (a["id"], a["version"]) not in seen]
    seen.update((a["id"], a["version"]) for a in out)
    return out


def event(alert: dict[str, Any]) -> str:
    data = {"id": alert["id"], "version": alert["version"], "rule": views.rule_label(alert["rule"]), "status": alert["status"],
            "severity": alert["severity"], "value": alert["value"], "updated": views.when(alert["updated_at"])}
    return f"id: {alert['updated_at']}\nevent: alert\ndata: {json.dumps(data)}\n\n"


@router.get("/live/alerts")
async def live_alerts(request: Request) -> StreamingResponse:
    who = pages.team(request)
    api = pages.api(request)
    since = parse_event_id(request.headers.get("last-event-id") or request.query_params.get("last_event_id")) or datetime.now(UTC)
    session_alive = request.app.state.session_alive

    async def changes() -> AsyncIterator[str]:
        nonlocal since
        seen: set[tuple[str, int]] = set()
        yield "retry: 2000\n\n"
        while not await request.is_disconnected() and session_alive(request):
            try:
                page = await api.get(who, "alerts", "/v1/alerts/changes", since=(since - OVERLAP).isoformat(), limit=200)
            except ApiError:
                return  # signed out, or rights changed: the browser reconnects and is sent to sign in
            for alert in unseen(page["items"], seen):
                since = max(since, parse_event_id(alert["updated_at"]) or since)
                yield event(alert)
            yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(changes(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
