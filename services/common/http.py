"""The FastAPI shell every service shares: health, readiness, metrics, limits, problem+json."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import db, problems
from services.common.auth import TokenRegistry
from services.common.metrics import BUILD_INFO, HTTP_LATENCY, HTTP_REQUESTS
from services.common.problems import ProblemError, problem_response
from services.common.version import build

ReadinessCheck = Callable[[], Awaitable[str | None]]  # returns None when ready, else why not


def store_check(engine: Engine) -> ReadinessCheck:
    async def store_ready() -> str | None:
        try:
            await asyncio.to_thread(db.ping, engine)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; the class of it says why
            return f"store unavailable ({type(exc).__name__})"
        return None

    return store_ready


class BodyLimit:
    """413 for bodies over the limit, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int, by_path: dict[str, int] | None = None):
        self.app, self.default = app, limit
        self.by_path = by_path or {}  # routes that stream their body (a CSV return) have a limit of their own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.by_path.get(scope.get("path", ""), self.default)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                return await self._reject(scope, send, limit)
        seen = 0
        started = rejected = False

        async def counted() -> Message:
            # Over the limit: answer 413 here, and tell the app the client went away (an exception
            # would reach the framework's body parser and come out as a 400).
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit and not started:
                    rejected = True
                    await self._reject(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent; whatever the app answers is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except Exception:
            if not rejected:
                raise

    async def _reject(self, scope: Scope, send: Send, limit: int) -> None:
        err = ProblemError(413, "Content Too Large", f"the body is over {limit} bytes")
        await problem_response(err, scope.get("path"))(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


class RequireBearer:
    """Every /v1 request needs a known bearer token, checked before anything reads the body
    (so a request without one gets 401, never a validation error). Roles are checked per route."""

    def __init__(self, app: ASGIApp, tokens: TokenRegistry):
        self.app, self.tokens = app, tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/v1/"):
            header = dict(scope.get("headers", ())).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = header.partition(" ")
            principal = self.tokens.lookup(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if principal is None:
                err = ProblemError(401, "Unauthorized", "send Authorization: Bearer <a known token>", headers={"WWW-Authenticate": "Bearer"})
                return await problem_response(err, scope.get("path"))(scope, receive, send)
            scope["principal"] = principal  # looked up once per request
        await self.app(scope, receive, send)


class HttpMetrics:
    """RED metrics by route template (never the raw path: it may hold ids)."""

    def __init__(self, app: ASGIApp, service: str):
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, template).observe(time.perf_counter() - start)


def json_body(model: type[BaseModel]) -> dict:
    """openapi_extra for a route that reads its body itself: the body's schema, by reference."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _with_body_schemas(app: FastAPI, models: dict[str, type[BaseModel]]) -> None:
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in models.items():
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for def_name, definition in js.pop("$defs", {}).items():
                components.setdefault(def_name, definition)
            components[name] = js
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    service: str,
    *,
    tokens: TokenRegistry,
    readiness: list[ReadinessCheck],
    lifespan: Any = None,
    max_body_bytes: int = 5 * 1024 * 1024,
    body_limits: dict[str, int] | None = None,
    description: str = "",
) -> FastAPI:
    app = FastAPI(
        title=f"Signpost {service}",
        version="1",
        description=description,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.tokens = tokens
    app.state.readiness = readiness
    problems.install(app)
    running = build()
    BUILD_INFO.labels(service, running.version, running.commit).set(1)

    @app.get("/healthz", tags=["ops"], summary="the process is up, and which build it runs")
    async def healthz(request: Request) -> dict:
        details = getattr(request.app.state, "health_details", None)  # a service's own processes (the alerts school stage)
        return {"status": "ok", "service": service, "version": running.version, "commit": running.commit, **(details() if details else {})}

    @app.get("/readyz", tags=["ops"], summary="connected to broker and store, consuming")
    async def readyz(request: Request) -> Response:
        for check in request.app.state.readiness:
            why = await check()
            if why:
                return problem_response(problems.unavailable(why, retry_after=2))
        return JSONResponse({"status": "ready", "service": service})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (no personal data)")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.state.body_models = {}
    _with_body_schemas(app, app.state.body_models)
    app.add_middleware(RequireBearer, tokens=tokens)
    app.add_middleware(BodyLimit, limit=max_body_bytes, by_path=body_limits)
    app.add_middleware(HttpMetrics, service=service)
    return app
