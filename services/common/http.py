"""The FastAPI shell every service shares: health, readiness, metrics, limits, problem+json."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import problems
from services.common.auth import TokenRegistry
from services.common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from services.common.problems import ProblemError, problem_response

ReadinessCheck = Callable[[], Awaitable[str | None]]  # returns None when ready, else why not


class _TooLarge(Exception):
    pass


class BodyLimit:
    """413 for bodies over the limit, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                return await self._reject(scope, send)
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        err = ProblemError(413, "Content Too Large", f"the body is over {self.limit} bytes")
        await problem_response(err, scope.get("path"))(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


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


def create_app(
    service: str,
    *,
    tokens: TokenRegistry,
    readiness: list[ReadinessCheck],
    lifespan: Any = None,
    max_body_bytes: int = 5 * 1024 * 1024,
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

    @app.get("/healthz", tags=["ops"], summary="the process is up")
    async def healthz() -> dict:
        return {"status": "ok", "service": service}

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

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(HttpMetrics, service=service)
    return app
