"""Composition root of the web pages (issue 10): sessions, OpenID Connect sign-in, the GOV.UK
Design System assets, and the page routers. The pages hold no data: every read and change goes
to the alerts and referrals APIs as the signed-in person."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from authlib.integrations.starlette_client import OAuth
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import db
from services.common import secrets as secrets_of
from services.common.auth import TokenRegistry
from services.common.background import Background
from services.common.http import create_app
from services.common.settings import Settings
from services.web import (
    alerts_pages,
    children_pages,
    consent_pages,
    dev_oidc,
    live,
    matches_pages,
    overview_pages,
    pages,
    referrals_pages,
    signin,
    tables,
    views,
)
from services.web.api import Api, ApiError
from services.web.people import load_groups
from services.web.session import Sessions, SessionStore, cookie_secure

log = logging.getLogger(__name__)
PURGE_EVERY_S = 300.0  # sessions idle past the timeout are deleted this often (a stale row is refused on read anyway)
HERE = Path(__file__).parent
NODE = HERE / "node_modules"
ASSETS = {  # URL prefix → folder: the npm packages' precompiled dist, as published (package-lock.json pins them)
    "/assets": NODE / "govuk-frontend" / "dist" / "govuk" / "assets",
    "/static/govuk": NODE / "govuk-frontend" / "dist" / "govuk",
    "/static/moj": NODE / "@ministryofjustice" / "frontend" / "moj",
    "/static/signpost": HERE / "static",
}
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class PageHeaders:
    """Security headers on every answer; no caching of pages (they hold children's details)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith(("/assets/", "/static/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS, *([] if static else [(b"cache-control", b"no-store")])]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _purge_loop(sessions: SessionStore) -> None:
    while True:
        await asyncio.sleep(min(PURGE_EVERY_S, sessions.idle))
        try:
            await asyncio.to_thread(sessions.purge)
        except db.UNAVAILABLE as exc:  # the database is down: sessions are refused on read meanwhile, the next run catches up
            log.warning("session purge failed", extra={"error": type(exc).__name__})


def session_secret(settings: Settings) -> str:
    given = secrets_of.given(settings.web_session_secret, settings.web_session_secret_file)
    if given is not None:
        return given
    if settings.env == "production":
        raise SystemExit("SIGNPOST_WEB_SESSION_SECRET is required in production")
    path = settings.data_dir / "web-session.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def public_url(settings: Settings) -> str:
    return (settings.web_public_url or f"http://{settings.host}:{settings.web_port}").rstrip("/")


def build_app(settings: Settings, client: httpx.AsyncClient | None = None) -> FastAPI:
    web_token = secrets_of.given(settings.web_token, settings.web_token_file)
    if web_token is None:
        raise SystemExit("SIGNPOST_WEB_TOKEN is required: the pages' own API token (role web); `make run` writes a dev one")
    client_secret = secrets_of.given(settings.oidc_client_secret, settings.oidc_client_secret_file)
    if settings.env == "production" and not (settings.oidc_issuer and client_secret):
        raise SystemExit("SIGNPOST_OIDC_ISSUER and SIGNPOST_OIDC_CLIENT_SECRET(_FILE) are required in production: the LA's identity provider")
    issuer = settings.oidc_issuer or dev_oidc.issuer(settings)
    http = client or httpx.AsyncClient(timeout=30)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO line names each URL: a child's id is in some
    engine = db.make_engine(settings.database_url_for("web"))
    sessions = SessionStore(engine, settings.web_idle_minutes * 60)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, engine, tables.metadata)
        purge = Background("web-session-purge", lambda: _purge_loop(sessions))
        purge.start()
        try:
            yield
        finally:
            await purge.stop()
            await http.aclose()
            engine.dispose()

    async def assets_built() -> str | None:
        return None if (NODE / "govuk-frontend").is_dir() else "the GOV.UK assets are not installed (make run / make test run npm ci)"

    async def sessions_stored() -> str | None:
        try:
            await asyncio.to_thread(db.ping, engine)
        except db.UNAVAILABLE:
            return "the sessions database is not answering"
        return None

    app = create_app("web", tokens=TokenRegistry(None), readiness=[assets_built, sessions_stored], lifespan=lifespan, description="Signpost's pages")
    base = public_url(settings)
    secure = cookie_secure(base)
    app.add_middleware(Sessions, store=sessions, secret=session_secret(settings), secure=secure)

    async def session_alive(request: Request) -> bool:
        return await run_in_threadpool(sessions.alive, request.scope.get("session_id"))

    app.state.session_alive = session_alive
    app.add_middleware(PageHeaders)

    oauth = OAuth()
    oauth.register("idp", client_id=settings.oidc_client_id,
                   client_secret=client_secret or "dev-secret",
                   server_metadata_url=f"{issuer.rstrip('/')}/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"})
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(rule=views.rule_label, agency=views.agency_label, day=views.day, when=views.when, days=views.days,
                                 subject=views.alert_subject, due=views.due, child_name=views.child_name, history=views.history_label)
    templates.env.globals.update(severity_tags=views.SEVERITY_TAGS, status_tags=views.STATUS_TAGS, agencies=views.AGENCIES)
    app.state.templates, app.state.oauth, app.state.public_url = templates, oauth, base
    app.state.groups = load_groups(settings.oidc_groups_file)
    app.state.api = Api(http, web_token,
                        {"alerts": settings.alerts_url or f"http://127.0.0.1:{settings.alerts_port}",
                         "referrals": settings.referrals_url or f"http://127.0.0.1:{settings.referrals_port}"})
    for prefix, folder in ASSETS.items():
        app.mount(prefix, StaticFiles(directory=folder, check_dir=False), name=prefix.strip("/").replace("/", "-"))
    for router in (signin.router, alerts_pages.router, referrals_pages.router, consent_pages.router, children_pages.router, live.router,
                   matches_pages.router, overview_pages.router):
        app.include_router(router)
    _handlers(app)
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(pages.SignInNeeded)
    async def sign_in_needed(request: Request, exc: pages.SignInNeeded) -> Response:
        return RedirectResponse(pages.sign_in_url(exc.next_path), status_code=303)

    @app.exception_handler(pages.NotAllowed)
    async def not_allowed(request: Request, exc: Exception) -> Response:
        return pages.render(request, "no_access.html", status_code=403)

    @app.exception_handler(pages.BadForm)
    async def bad_form(request: Request, exc: Exception) -> Response:
        return pages.render(request, "error.html", status_code=403, title="Your form has expired",
                            message="Go back, reload the page and try again. This protects you from forms sent by other sites.")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if exc.status in (403, 404):
            return pages.render(request, "not_found.html", status_code=404)  # never tells whether a child exists
        if exc.status == 401:
            log.error("the alerts or referrals API refused the pages' token", extra={"status": exc.status})
        return pages.render(request, "error.html", status_code=503, title="Sorry, there is a problem with the service",
                            message="Try again later. What you entered has not been saved.")

    @app.exception_handler(httpx.HTTPError)
    async def api_down(request: Request, exc: Any) -> Response:
        log.error("an API the pages need is not answering", extra={"error": type(exc).__name__})
        return pages.render(request, "error.html", status_code=503, title="Sorry, the service is unavailable",
                            message="Try again later. What you entered has not been saved.")
