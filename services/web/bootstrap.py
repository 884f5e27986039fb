"""The pages' composition root: the one place their objects are built.

`bootstrap(settings)` refuses to build without the pages' API token (and, in production, without the
LA's identity provider and a session secret), then builds the session store, the HTTP client and
`Api` the pages call the alerts and referrals APIs with, the OpenID Connect client, the templates and
the session purge; it returns them in a `Web` dataclass. Nothing connects until the app's lifespan
starts them. Import it after `services.web.quiet.quiet_authlib()`, as `app.py`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from authlib.integrations.starlette_client import OAuth
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from services.common import db
from services.common import secrets as secrets_of
from services.common.background import Background
from services.common.settings import Settings
from services.web import dev_oidc, timers, views
from services.web.api import Api
from services.web.people import Grant, load_groups
from services.web.session import SessionStore, cookie_secure

HERE = Path(__file__).parent


@dataclass
class Web:
    """What `bootstrap` built: the app's lifespan starts and stops it, the pages read it (deps.py)."""

    settings: Settings
    engine: Engine
    sessions: SessionStore
    session_secret: str
    public_url: str
    secure: bool  # cookies only over https
    http: httpx.AsyncClient
    api: Api
    oauth: OAuth
    groups: dict[str, Grant]
    templates: Jinja2Templates
    purge: Background


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


def templates() -> Jinja2Templates:
    """The pages' templates, with the wording of views.py as filters."""
    found = Jinja2Templates(directory=str(HERE / "templates"))
    found.env.filters.update(rule=views.rule_label, agency=views.agency_label, day=views.day, when=views.when, days=views.days,
                             subject=views.alert_subject, due=views.due, child_name=views.child_name, history=views.history_label)
    found.env.globals.update(severity_tags=views.SEVERITY_TAGS, status_tags=views.STATUS_TAGS, agencies=views.AGENCIES)
    return found


def bootstrap(settings: Settings, *, client: httpx.AsyncClient | None = None, store: SessionStore | None = None,
              clock: Callable[[], float] | None = None) -> Web:
    """Build the pages. `client` is what reaches the APIs (a test's transport), `store` the sessions,
    `clock` the sessions' idea of now (seconds)."""
    web_token = secrets_of.given(settings.web_token, settings.web_token_file)
    if web_token is None:
        raise SystemExit("SIGNPOST_WEB_TOKEN is required: the pages' own API token (role web); `make run` writes a dev one")
    client_secret = secrets_of.given(settings.oidc_client_secret, settings.oidc_client_secret_file)
    if settings.env == "production" and not (settings.oidc_issuer and client_secret):
        raise SystemExit("SIGNPOST_OIDC_ISSUER and SIGNPOST_OIDC_CLIENT_SECRET(_FILE) are required in production: the LA's identity provider")
    issuer = settings.oidc_issuer or dev_oidc.issuer(settings)
    http = client or httpx.AsyncClient(timeout=30)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO line names each URL: a child's id is in some
    if store is None:
        store = SessionStore(db.make_engine(settings.database_url_for("web")), settings.web_idle_minutes * 60, clock or time.time)
    sessions = store
    secret = session_secret(settings)
    base = public_url(settings)
    oauth = OAuth()
    oauth.register("idp", client_id=settings.oidc_client_id,
                   client_secret=client_secret or "dev-secret",
                   server_metadata_url=f"{issuer.rstrip('/')}/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"})
    api = Api(http, web_token,
              {"alerts": settings.alerts_url or f"http://127.0.0.1:{settings.alerts_port}",
               "referrals": settings.referrals_url or f"http://127.0.0.1:{settings.referrals_port}"})
    purge = Background("web-session-purge", lambda: timers.purge_sessions(sessions))
    return Web(settings, sessions.engine, sessions, secret, base, cookie_secure(base), http, api, oauth,
               load_groups(settings.oidc_groups_file), templates(), purge)
