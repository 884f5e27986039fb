"""Sign in with OpenID Connect (authlib), sign out, and the pages around them (issue 10).

The provider's claims become a Person through the groups file (services/web/people.py); the
session id is renewed at sign-in, so a session id planted before it is worthless after.
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from services.web import pages
from services.web.deps import Groups, IdentityProvider, PublicUrl
from services.web.people import person_from_claims
from services.web.session import end_session, new_session

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or urlparse(value).netloc:
        return "/"
    return value


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return pages.render(request, "sign_in.html", next=_safe_next(next))


@router.get("/sign-in/start")
async def sign_in_start(request: Request, idp: IdentityProvider, base: PublicUrl, next: str | None = None) -> Response:
    request.session["next"] = _safe_next(next)
    redirect_uri = f"{base}/sign-in/callback"
    return await idp.authorize_redirect(request, redirect_uri)  # type: ignore[no-any-return]


@router.get("/sign-in/callback")
async def sign_in_callback(request: Request, client: IdentityProvider, groups: Groups) -> Response:
    try:
        token = await client.authorize_access_token(request)
        claims = dict(token.get("userinfo") or {})
        if "groups" not in claims:
            claims.update(await client.userinfo(token=token))
    except OAuthError as exc:
        log.warning("sign-in failed at the identity provider", extra={"error": exc.error})
        return pages.render(request, "sign_in.html", status_code=400, next="/", failed=True)
    who = person_from_claims(claims, groups)
    if who is None:
        return pages.render(request, "no_access.html", status_code=403)
    target = _safe_next(request.session.pop("next", None))
    request.session.clear()
    request.session["person"] = who.as_session()
    new_session(request.scope)
    log.info("signed in", extra={"roles": sorted(who.roles), "agency": who.agency})  # never the person's name
    return RedirectResponse(target if target != "/" else home_of(who), status_code=303)


def home_of(who: pages.Person) -> str:
    if who.is_team:
        return "/alerts"
    if who.is_agency:
        return "/inbox"
    return "/no-access"


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse(home_of(pages.person(request)), status_code=303)


@router.get("/no-access")
async def no_access(request: Request) -> Response:
    pages.person(request)
    return pages.render(request, "no_access.html", status_code=403)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await pages.form(request)
    request.session.clear()
    end_session(request.scope)
    return RedirectResponse("/signed-out", status_code=303)


@router.get("/signed-out")
async def signed_out(request: Request) -> Response:
    return pages.render(request, "signed_out.html")
