"""Near-match review (issue 10): two records side by side, confirm / reject / undo with the reason.
The alerts API records each decision (audited, with the person's name) and the child stage applies
it to the link in its next batch."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from services.web import pages
from services.web.api import ApiError
from services.web.deps import PagesApi

router = APIRouter(include_in_schema=False)
STATUSES = {"pending": "Waiting for a decision", "confirmed": "Confirmed", "rejected": "Rejected", "undone": "Undone"}
DECISIONS = {"confirm": "Match confirmed: the records now count as one child", "reject": "Match rejected: the records stay apart",
             "undo": "Match undone: the records are apart again"}
FIELDS = (("upn", "UPN"), ("first_name", "First name"), ("last_name", "Last name"), ("date_of_birth", "Date of birth"), ("la_code", "LA"),
          ("school_urn", "School URN"), ("year_group", "Year group"))


@router.get("/matches")
async def matches(request: Request, api: PagesApi, status: str = "pending") -> Response:
    who = pages.team(request)
    status = status if status in STATUSES else "pending"
    page = await api.get(who, "alerts", "/v1/identity/candidates", status=status, limit=100)
    return pages.render(request, "matches.html", candidates=page["items"], status=status, statuses=STATUSES, fields=FIELDS)


@router.post("/matches/{candidate_id}/{decision}")
async def decide(request: Request, api: PagesApi, candidate_id: str, decision: str) -> Response:
    who = pages.team(request)
    fields = await pages.form(request)
    if decision not in DECISIONS:
        return pages.render(request, "not_found.html", status_code=404)
    note = fields.get("note", "").strip()
    errors = [] if note else [{"text": "Enter the reason for your decision", "href": f"#note-{candidate_id}"}]
    if not errors:
        try:
            await api.post(who, "alerts", f"/v1/identity/candidates/{candidate_id}/{decision}", {"note": note})
            return pages.done(request, "/matches", DECISIONS[decision])
        except ApiError as exc:
            if exc.status != 409:
                raise
            errors = [{"text": str(exc), "href": f"#match-{candidate_id}"}]
    page = await api.get(who, "alerts", "/v1/identity/candidates", status="pending", limit=100)
    return pages.render(request, "matches.html", status_code=422, candidates=page["items"], status="pending", statuses=STATUSES,
                        fields=FIELDS, errors=errors, error_for=candidate_id)
