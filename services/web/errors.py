"""What the pages answer when a handler can't: sign in, no access, an expired form, an API that
refused or is down. The person sees a page, never a stack trace or whether a child exists."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from services.web import pages
from services.web.api import ApiError

log = logging.getLogger(__name__)


async def sign_in_needed(request: Request, exc: pages.SignInNeeded) -> Response:
    return RedirectResponse(pages.sign_in_url(exc.next_path), status_code=303)


async def not_allowed(request: Request, exc: Exception) -> Response:
    return pages.render(request, "no_access.html", status_code=403)


async def bad_form(request: Request, exc: Exception) -> Response:
    return pages.render(request, "error.html", status_code=403, title="Your form has expired",
                        message="Go back, reload the page and try again. This protects you from forms sent by other sites.")


async def api_error(request: Request, exc: ApiError) -> Response:
    if exc.status in (403, 404):
        return pages.render(request, "not_found.html", status_code=404)  # never tells whether a child exists
    if exc.status == 401:
        log.error("the alerts or referrals API refused the pages' token", extra={"status": exc.status})
    return pages.render(request, "error.html", status_code=503, title="Sorry, there is a problem with the service",
                        message="Try again later. What you entered has not been saved.")


async def api_down(request: Request, exc: Any) -> Response:
    log.error("an API the pages need is not answering", extra={"error": type(exc).__name__})
    return pages.render(request, "error.html", status_code=503, title="Sorry, the service is unavailable",
                        message="Try again later. What you entered has not been saved.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(pages.SignInNeeded, sign_in_needed)  # type: ignore[arg-type]
    app.add_exception_handler(pages.NotAllowed, not_allowed)
    app.add_exception_handler(pages.BadForm, bad_form)
    app.add_exception_handler(ApiError, api_error)  # type: ignore[arg-type]
    app.add_exception_handler(httpx.HTTPError, api_down)
