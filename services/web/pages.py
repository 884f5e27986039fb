"""What every page handler shares: the signed-in person, rendering, CSRF on form posts, flashes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse

from services.web.deps import get_templates
from services.web.people import Person
from services.web.session import csrf_ok, csrf_token


class SignInNeeded(Exception):
    """No session (or it timed out): the handler sends the person to sign in, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class NotAllowed(Exception):
    """Signed in, but this page is for another role."""


class BadForm(Exception):
    """A form post without the session's CSRF token."""


def person(request: Request) -> Person:
    doc = request.session.get("person")
    if not doc:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(target)
    return Person.from_session(doc)


def team(request: Request) -> Person:
    who = person(request)
    if not who.is_team:
        raise NotAllowed()
    return who


def agency(request: Request) -> Person:
    who = person(request)
    if not who.is_agency:
        raise NotAllowed()
    return who


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates = get_templates(request)
    doc = request.session.get("person")
    flash = request.session.pop("flash", None)
    base = {"person": Person.from_session(doc) if doc else None, "csrf_token": csrf_token(request.session) if doc else "", "flash": flash,
            "path": request.url.path}
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


async def form(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matches the session's."""
    data = await request.form()
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    if not csrf_ok(request.session, fields.get("csrf_token")):
        raise BadForm()
    return fields


def done(request: Request, to: str, message: str) -> RedirectResponse:
    """Post/redirect/get, with a one-time success banner on the next page."""
    request.session["flash"] = message
    return RedirectResponse(to, status_code=303)


def sign_in_url(next_path: str) -> str:
    return f"/sign-in?next={quote(next_path, safe='')}"


def error_list(errors: list[dict[str, Any]], fields: dict[str, str]) -> list[dict[str, str]]:
    """API field errors → the GOV.UK error summary's items, each linked to its field on the page."""
    out = []
    for e in errors:
        loc = [str(x) for x in e.get("loc", [])]
        name = next((fields[x] for x in reversed(loc) if x in fields), None)
        out.append({"text": str(e.get("msg", "Check this answer")), "href": f"#{name}" if name else "#main-content"})
    return out or [{"text": "Check your answers", "href": "#main-content"}]
