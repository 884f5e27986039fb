"""The pages' typed dependencies: each reads what `bootstrap` built (on `app.state.web`) once.

A page handler names what it needs (`api: PagesApi`) instead of reaching into `app.state`.
`bootstrap` is imported for its types only: importing authlib waits for `quiet_authlib()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from services.web.api import Api
from services.web.people import Grant

if TYPE_CHECKING:
    from services.web.bootstrap import Web


def get_web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def get_api(request: Request) -> Api:
    return get_web(request).api


def get_templates(request: Request) -> Jinja2Templates:
    return get_web(request).templates


def get_oauth_client(request: Request) -> Any:
    """authlib's client of the identity provider (registered as "idp")."""
    return get_web(request).oauth.idp


def get_groups(request: Request) -> dict[str, Grant]:
    return get_web(request).groups


def get_public_url(request: Request) -> str:
    return get_web(request).public_url


def get_session_alive(request: Request) -> Callable[[Request], Awaitable[bool]]:
    """Whether the request's session is still stored (signed out, or idle past the timeout, is not)."""
    sessions = get_web(request).sessions

    async def alive(request: Request) -> bool:
        return await run_in_threadpool(sessions.alive, request.scope.get("session_id"))

    return alive


PagesApi = Annotated[Api, Depends(get_api)]
IdentityProvider = Annotated[Any, Depends(get_oauth_client)]
Groups = Annotated[dict[str, Grant], Depends(get_groups)]
PublicUrl = Annotated[str, Depends(get_public_url)]
SessionAlive = Annotated[Callable[[Request], Awaitable[bool]], Depends(get_session_alive)]
