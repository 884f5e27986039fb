"""Sessions for the pages: held on the server, named by a signed cookie (issue 10).

The cookie carries only a random session id, signed (itsdangerous) so a forged or edited one is
refused before any lookup; it is HttpOnly, SameSite=Lax, and Secure unless the pages are served
on loopback over plain HTTP. A session unused for the idle timeout is gone, and signing out
deletes it on the server, so a copied cookie stops working at once. Each session has its own
CSRF token, checked on every form post.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "signpost_session"


@dataclass
class Held:
    data: dict[str, Any]
    touched: float = field(default_factory=time.monotonic)


class SessionStore:
    """In memory, one web process (docs/design.md: Pages); a restart signs everyone out."""

    def __init__(self, idle_seconds: float, clock: Any = time.monotonic):
        self.idle, self.clock = idle_seconds, clock
        self._held: dict[str, Held] = {}

    def get(self, sid: str, touch: bool = True) -> dict[str, Any] | None:
        held = self._held.get(sid)
        now = self.clock()
        if held is None or now - held.touched > self.idle:
            self._held.pop(sid, None)
            return None
        if touch:
            held.touched = now
        return held.data

    def alive(self, sid: str | None) -> bool:
        return sid is not None and self.get(sid, touch=False) is not None

    def save(self, sid: str, data: dict[str, Any]) -> None:
        self._held[sid] = Held(data, self.clock())
        if len(self._held) % 256 == 0:
            self._sweep()

    def drop(self, sid: str) -> None:
        self._held.pop(sid, None)

    def _sweep(self) -> None:
        now = self.clock()
        for sid in [s for s, h in self._held.items() if now - h.touched > self.idle]:
            del self._held[sid]


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

    def __init__(self, app: ASGIApp, store: SessionStore, secret: str, secure: bool):
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
        data = self.store.get(sid, touch=not scope.get("path", "").startswith("/live/")) if sid else None
        if data is None:
            sid, data = None, {}
        scope["session"] = data
        scope["session_id"] = sid
        before = dict(data)

        async def send_with_cookie(message: Message) -> None:
            nonlocal sid
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if scope.get("session_end"):
                    if sid:
                        self.store.drop(sid)
                    headers.append("Set-Cookie", self._cookie("", max_age=0))
                elif scope.get("session_rotate") or (sid is None and scope["session"]):
                    if sid:
                        self.store.drop(sid)
                    sid = secrets.token_urlsafe(32)
                    self.store.save(sid, scope["session"])
                    headers.append("Set-Cookie", self._cookie(self.signer.dumps(sid)))
                elif sid and scope["session"] != before:
                    self.store.save(sid, scope["session"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str, max_age: int | None = None) -> str:
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)
