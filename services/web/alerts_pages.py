"""The inclusion team's alert worklist and alert page (issue 10): filters, counts and paging done
by the alerts API; acknowledge, snooze and resolve as plain form posts (no JavaScript needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web import pages, views
from services.web.api import Api, ApiError
from services.web.deps import PagesApi

router = APIRouter(include_in_schema=False)
FILTERS = ("status", "rule", "severity", "la_code", "school_urn", "academic_year")
PAGE_SIZE = 25


def _filters(request: Request) -> dict[str, str]:
    chosen = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    if "status" not in request.query_params:
        chosen["status"] = "open"  # the worklist opens on what needs someone
    return chosen


@router.get("/alerts")
async def worklist(request: Request, api: PagesApi) -> Response:
    who = pages.team(request)
    chosen = _filters(request)
    cursor = request.query_params.get("cursor") or None
    try:
        page = await api.get(who, "alerts", "/v1/alerts", **chosen, limit=PAGE_SIZE, cursor=cursor)
        counts = await api.get(who, "alerts", "/v1/alerts/counts", **{k: v for k, v in chosen.items() if k != "status"})
        errors: list[dict[str, str]] = []
    except ApiError as exc:
        if exc.status != 422:
            raise
        page, counts = {"items": [], "next_cursor": None}, {"by_status": {}, "total": 0}
        errors = pages.error_list(exc.errors, {k: k for k in FILTERS})
    query = {k: v for k, v in chosen.items() if v or k == "status"}
    return pages.render(request, "alerts.html", alerts=page["items"], next_cursor=page.get("next_cursor"), counts=counts, chosen=chosen,
                        query_qs=urlencode(query), filters_qs=urlencode({k: v for k, v in query.items() if k != "status"}),
                        rules=views.RULES, errors=errors, paged=bool(cursor))


async def _alert_context(request: Request, api: Api, alert_id: str) -> dict[str, Any]:
    who = pages.team(request)
    alert = await api.get(who, "alerts", f"/v1/alerts/{alert_id}")
    return {"alert": alert, "history": list(reversed(alert.get("history") or [])),
            "snooze_default": (datetime.now(UTC) + timedelta(days=7)).date().isoformat()}


@router.get("/alerts/{alert_id}")
async def alert_page(request: Request, api: PagesApi, alert_id: str) -> Response:
    return pages.render(request, "alert.html", **await _alert_context(request, api, alert_id))


ACTIONS = {"acknowledge": "Alert acknowledged", "snooze": "Alert snoozed", "resolve": "Alert resolved"}


@router.post("/alerts/{alert_id}/{action}")
async def act(request: Request, api: PagesApi, alert_id: str, action: str) -> Response:
    who = pages.team(request)
    fields = await pages.form(request)
    if action not in ACTIONS:
        return pages.render(request, "not_found.html", status_code=404)
    errors = []
    body: dict[str, Any] = {"note": fields.get("note", "").strip() or None}
    if action == "snooze":
        until, reason = fields.get("until", "").strip(), fields.get("reason", "").strip()
        if not reason:
            errors.append({"text": "Enter why you are snoozing the alert", "href": "#snooze-reason"})
        try:
            day = datetime.fromisoformat(until).date() if until else None
        except ValueError:
            day = None
        if day is None or day <= datetime.now(UTC).date():
            errors.append({"text": "Enter a date after today to snooze until, like 2026-12-31", "href": "#snooze-until"})
        body = {"until": f"{day.isoformat()}T08:00:00Z" if day else until, "reason": reason}
    if not errors:
        try:
            await api.post(who, "alerts", f"/v1/alerts/{alert_id}/{action}", body)
            return pages.done(request, f"/alerts/{alert_id}", ACTIONS[action])
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = pages.error_list(exc.errors, {"until": "snooze-until", "reason": "snooze-reason", "note": f"{action}-note"}) \
                if exc.status == 422 else [{"text": str(exc), "href": "#actions"}]
    context = await _alert_context(request, api, alert_id)
    return pages.render(request, "alert.html", status_code=422 if errors else 200, errors=errors, posted=fields, posted_action=action, **context)
