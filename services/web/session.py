"""Sessions for the pages: held on the server, named by a signed cookie (issue 10).

The cookie carries only a random session id, signed (itsdangerous) so a forged or edited one is
refused before any lookup; it is HttpOnly, SameSite=Lax, and Secure unless the pages are served
on loopback over plain HTTP. A session unused for the idle timeout is gone, and signing out
deletes it on the server, so a copied cookie stops working at once. Each session has its own
CSRF token, checked on every form post.

Sessions live in the web service's database (services/web/tables.py), so a restart keeps people
signed in and several web processes behind one proxy share them, without sticky sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Engine, delete, select, update
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import db
from services.web import tables as t

COOKIE = "signpost_session"


def id_hash(sid: str) -> str:
    """The row's key: the id itself never reaches the database (nor its backups)."""
    return hashlib.sha256(sid.encode()).hexdigest()


def expired(touched: float, now: float, idle: float) -> bool:
    return now - touched > idle


def touch_due(touched: float, now: float, idle: float) -> bool:
    """Record a use at most every tenth of the idle timeout (a minute at most): a page view is then
    not a database write, and a session can expire at most that much before its full idle time."""
    return now - touched >= min(60.0, idle / 10)


class SessionStore:
    """Sessions in a table, keyed by a hash of the session id (docs/design.md: Pages)."""

    def __init__(self, engine: Engine, idle_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.idle, self.clock = engine, idle_seconds, clock

    def get(self, sid: str, touch: bool = True) -> dict[str, Any] | None:
        key, now = id_hash(sid), self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(select(t.sessions.c.data, t.sessions.c.touched).where(t.sessions.c.id_hash == key)).first()
        if row is None:
            return None
        if expired(row.touched, now, self.idle):
            self.drop(sid)
            return None
        if touch and touch_due(row.touched, now, self.idle):
            with db.write(self.engine) as conn:
                conn.execute(update(t.sessions).where(t.sessions.c.id_hash == key).values(touched=now))
        data: dict[str, Any] = json.loads(row.data)
        return data

    def alive(self, sid: str | None) -> bool:
        return sid is not None and self.get(sid, touch=False) is not None

    def save(self, sid: str, data: dict[str, Any]) -> None:
        with db.write(self.engine) as conn:
            conn.execute(db.upsert(self.engine, t.sessions, ["id_hash"], ["data", "touched"]),
                         [{"id_hash": id_hash(sid), "data": json.dumps(data), "touched": self.clock()}])

    def drop(self, sid: str) -> None:
        with db.write(self.engine) as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.id_hash == id_hash(sid)))

    def purge(self) -> int:
        """Delete every session idle past the timeout (run periodically: nobody may come back for them)."""
        with db.write(self.engine) as conn:
            return conn.execute(delete(t.sessions).where(t.sessions.c.touched < self.clock() - self.idle)).rowcount or 0


def cookie_secure(base: str) -> bool:
    """Secure unless served on loopback over plain HTTP. Behind the TLS proxy (docker-compose.yml) the
    public URL is https://, so the cookie is Secure whatever scheme the proxy speaks to us: the
    setting decides, never a forwarded header a client could have sent."""
    host = urlparse(base).hostname or ""
    return base.startswith("https://") or host not in ("127.0.0.1", "localhost", "::1")


def csrf_token(session: dict[str, Any]) -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def csrf_ok(session: dict[str, Any], sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(str(expected), sent))


def new_session(scope: Scope) -> None:
    """After sign-in: a fresh id (no fixation) and a fresh CSRF token, the old session's data kept."""
    scope["session_rotate"] = True


def end_session(scope: Scope) -> None:
    scope["session_end"] = True


class Sessions:
    """ASGI middleware: scope["session"] is the signed-in person's session dict (Starlette's
    request.session, which authlib's client also keeps its OIDC state in)."""

    def __init__(self, app: ASGIApp, store: SessionStore, secret: str, secure: bool) -> None:
        self.app, self.store, self.secure = app, store, secure
        self.signer = URLSafeSerializer(secret, salt="signpost-session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        sid: str | None = None
        cookie = HTTPConnection(scope).cookies.get(COOKIE)
        if cookie:
            try:
                sid = str(self.signer.loads(cookie))
            except BadSignature:
                sid = None
        # a live feed is no activity: an open worklist must not keep its session from timing out
        live = scope.get("path", "").startswith("/live/")
        data = await run_in_threadpool(self.store.get, sid, not live) if sid else None
        if data is None:
            sid, data = None, {}
        scope["session"] = data
        scope["session_id"] = sid
        before = json.dumps(data, sort_keys=True)  # a change anywhere inside it is saved

        async def send_with_cookie(message: Message) -> None:
            nonlocal sid
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if scope.get("session_end"):
                    if sid:
                        await run_in_threadpool(self.store.drop, sid)
                    headers.append("Set-Cookie", self._cookie("", max_age=0))
                elif scope.get("session_rotate") or (sid is None and scope["session"]):
                    if sid:
                        await run_in_threadpool(self.store.drop, sid)
                    sid = secrets.token_urlsafe(32)
                    await run_in_threadpool(self.store.save, sid, scope["session"])
                    headers.append("Set-Cookie", self._cookie(self.signer.dumps(sid)))
                elif sid and json.dumps(scope["session"], sort_keys=True) != before:
                    await run_in_threadpool(self.store.save, sid, scope["session"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str, max_age: int | None = None) -> str:
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
