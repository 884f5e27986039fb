"""RFC 9457 problem+json for every error, with field paths for validation errors.

Error bodies never echo input values: a rejected UPN or name must not come back in a
response that may end up in somebody's logs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://signpost.example/problems/"


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.type = type_ or "about:blank"
        self.errors, self.headers = errors, headers or {}


def problem_response(err: ProblemError, instance: str | None = None) -> Response:
    body: dict[str, Any] = {"type": err.type, "title": err.title, "status": err.status}
    if err.detail:
        body["detail"] = err.detail
    if instance:
        body["instance"] = instance
    if err.errors is not None:
        body["errors"] = err.errors
    return Response(orjson.dumps(body), status_code=err.status, media_type=PROBLEM_JSON, headers=err.headers)


def field_errors(errors: Sequence[Mapping[str, Any]], prefix: tuple[str | int, ...] = (), drop: tuple[str, ...] = ("body",)) -> list[dict]:
    """pydantic errors → [{"loc": [...], "msg": ...}] without the offending values."""
    out = []
    for e in errors:
        loc = list(e.get("loc", ()))
        while loc and loc[0] in drop:
            loc = loc[1:]
        # model validators report at the model; pydantic adds no loc for them
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"loc": [*prefix, *loc], "msg": msg})
    return out


def validation_problem(errors: list[dict], detail: str | None = None) -> ProblemError:
    return ProblemError(
        422,
        "Unprocessable Content",
        detail or f"{len(errors)} field(s) failed validation; nothing was accepted",
        type_=TYPE_BASE + "validation",
        errors=errors,
    )


def malformed() -> ProblemError:
    """A body that is not JSON at all (a syntax error, not UTF-8): 422 in every service, as the
    intake always answered (contract: validation failure is 422); FastAPI's own answer for a body
    that is not UTF-8 was a bare 400 (issue 12). No position or excerpt: the bytes around a syntax
    error may be a child's name."""
    return validation_problem([{"loc": [], "msg": "the body is not well-formed JSON"}], "the body is not well-formed JSON; nothing was accepted")


def is_malformed(errors: Sequence[Mapping[str, Any]]) -> bool:
    return any(e.get("type") == "json_invalid" for e in errors)


def unavailable(detail: str, retry_after: int = 5) -> ProblemError:
    return ProblemError(503, "Service Unavailable", detail, type_=TYPE_BASE + "unavailable", headers={"Retry-After": str(retry_after)})


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if is_malformed(list(exc.errors())):
            return problem_response(malformed(), request.url.path)
        return problem_response(validation_problem(field_errors(list(exc.errors()))), request.url.path)

    @app.exception_handler(ValidationError)
    async def _pydantic(request: Request, exc: ValidationError) -> Response:
        if is_malformed(exc.errors(include_input=False)):
            return problem_response(malformed(), request.url.path)
        return problem_response(validation_problem(field_errors(exc.errors(include_input=False))), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":  # FastAPI: not UTF-8
            return problem_response(malformed(), request.url.path)
        titles = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large", 415: "Unsupported Media Type"}
        err = ProblemError(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail) if exc.detail else None, headers=getattr(exc, "headers", None))
        return problem_response(err, request.url.path)
