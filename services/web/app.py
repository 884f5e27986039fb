"""The pages' app (issue 10): what `bootstrap` built (sessions, OpenID Connect sign-in, the API
client), started and stopped by the lifespan, the GOV.UK Design System assets, and the page routers.
The pages hold no data: every read and change goes to the alerts and referrals APIs as the
signed-in person."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.common import db
from services.common.auth import TokenRegistry
from services.common.http import create_app
from services.common.readiness import ReadinessCheck
from services.common.settings import Settings
from services.web import (
    alerts_pages,
    children_pages,
    consent_pages,
    errors,
    live,
    matches_pages,
    overview_pages,
    referrals_pages,
    signin,
    tables,
)
from services.web.bootstrap import HERE, Web, bootstrap
from services.web.headers import PageHeaders
from services.web.session import Sessions

NODE = HERE / "node_modules"
ASSETS = {  # URL prefix → folder: the npm packages' precompiled dist, as published (package-lock.json pins them)
    "/assets": NODE / "govuk-frontend" / "dist" / "govuk" / "assets",
    "/static/govuk": NODE / "govuk-frontend" / "dist" / "govuk",
    "/static/moj": NODE / "@ministryofjustice" / "frontend" / "moj",
    "/static/signpost": HERE / "static",
}
ROUTERS = (signin.router, alerts_pages.router, referrals_pages.router, consent_pages.router, children_pages.router, live.router,
           matches_pages.router, overview_pages.router)


def lifespan(web: Web) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Migrate the sessions table and start the purge; stop it, then close the API client and the engine."""

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(db.migrate, web.engine, tables.metadata)
        web.purge.start()
        try:
            yield
        finally:
            await web.purge.stop()
            await web.http.aclose()
            web.engine.dispose()

    return running


def readiness(web: Web) -> list[ReadinessCheck]:
    """The GOV.UK assets are installed and the sessions database answers."""

    async def assets_built() -> str | None:
        return None if (NODE / "govuk-frontend").is_dir() else "the GOV.UK assets are not installed (make run / make test run npm ci)"

    async def sessions_stored() -> str | None:
        try:
            await asyncio.to_thread(db.ping, web.engine)
        except db.UNAVAILABLE:
            return "the sessions database is not answering"
        return None

    return [assets_built, sessions_stored]


def build_app(settings: Settings, client: httpx.AsyncClient | None = None) -> FastAPI:
    web = bootstrap(settings, client=client)
    app = create_app("web", tokens=TokenRegistry(None), readiness=readiness(web), lifespan=lifespan(web), description="Signpost's pages")
    app.add_middleware(Sessions, store=web.sessions, secret=web.session_secret, secure=web.secure)
    app.add_middleware(PageHeaders)
    app.state.web = web  # the pages read it through deps.py
    for prefix, folder in ASSETS.items():
        app.mount(prefix, StaticFiles(directory=folder, check_dir=False), name=prefix.strip("/").replace("/", "-"))
    for router in ROUTERS:
        app.include_router(router)
    errors.install(app)
    return app
