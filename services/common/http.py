"""The FastAPI shell every service shares: health, readiness, metrics, limits, problem+json."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common import problems
from services.common.auth import PERSON_HEADER, TokenRegistry, acting_for
from services.common.metrics import BUILD_INFO, HTTP_LATENCY, HTTP_REQUESTS
from services.common.metrics import RATE_LIMITED as HTTP_RATE_LIMITED
from services.common.problems import ProblemError, problem_response
from services.common.ratelimit import MovingWindow
from services.common.readiness import ReadinessCheck
from services.common.version import build


class BodyLimit:
    """413 for bodies over the limit, whether or not Content-Length is sent.

    The rest of the body is read (and dropped) before the 413 goes out, up to `drain_factor` times
    the limit: a client that writes its whole body before reading (Python's urllib) otherwise has
    the connection reset under it and never sees the answer (issue 12). Past that, or when the
    client asked `Expect: 100-continue` (it will not send the body unasked), no draining."""

    def __init__(self, app: ASGIApp, limit: int, by_path: dict[str, int] | None = None, drain_factor: int = 4) -> None:
        self.app, self.default, self.drain_factor = app, limit, drain_factor
        self.by_path = by_path or {}  # routes that stream their body (a CSV return) have a limit of their own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.by_path.get(scope.get("path", ""), self.default)
        length, expects_continue, chunked = _framing(scope)
        if length is not None and length > limit:
            if not expects_continue and length <= limit * self.drain_factor:
                await self._drain(receive, 0, limit * self.drain_factor)
            return await self._reject(scope, send, limit)
        if length is not None and not chunked:  # the server reads no more than Content-Length: nothing to count
            return await self.app(scope, receive, send)
        await self._counting(scope, receive, send, limit)

    async def _counting(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A body of unknown length (chunked): counted as it arrives."""
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
                    if message.get("more_body", False):
                        await self._drain(receive, seen, limit * self.drain_factor)
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

    async def _drain(self, receive: Receive, seen: int, up_to: int) -> None:
        while seen <= up_to:
            message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _reject(self, scope: Scope, send: Send, limit: int) -> None:
        err = ProblemError(413, "Content Too Large", f"the body is over {limit} bytes")
        await problem_response(err, scope.get("path"))(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


def _framing(scope: Scope) -> tuple[int | None, bool, bool]:
    """(Content-Length if a number, Expect: 100-continue?, any Transfer-Encoding?) in one pass."""
    length, expects_continue, chunked = None, False, False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"expect":
            expects_continue = value.lower() == b"100-continue"
        elif name == b"transfer-encoding":
            chunked = True
    return length, expects_continue, chunked


class RequireBearer:
    """Every /v1 request needs a known bearer token, checked before anything reads the body
    (so a request without one gets 401, never a validation error). Roles are checked per route."""

    def __init__(self, app: ASGIApp, tokens: TokenRegistry) -> None:
        self.app, self.tokens = app, tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith("/v1/"):
            header, person = _auth_headers(scope)
            scheme, _, token = header.partition(" ")
            principal = self.tokens.lookup(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if principal is None:
                err = ProblemError(401, "Unauthorized", "send Authorization: Bearer <a known token>", headers={"WWW-Authenticate": "Bearer"})
                return await problem_response(err, scope.get("path"))(scope, receive, send)
            try:
                principal = acting_for(principal, person)
            except ProblemError as err:
                return await problem_response(err, scope.get("path"))(scope, receive, send)
            scope["principal"] = principal  # looked up once per request
        await self.app(scope, receive, send)


_PERSON = PERSON_HEADER.encode()


def _auth_headers(scope: Scope) -> tuple[str, str | None]:
    """(Authorization, the person header or None) in one pass; the last of a repeated header wins, as in a dict."""
    header, person = b"", b""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            header = value
        elif name == _PERSON:
            person = value
    return header.decode("latin-1"), person.decode("latin-1") or None


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WriteRateLimit:
    """A per-token limit on /v1 writes (moving window, `limits` syntax such as "20/second;600/minute"):
    429 + Retry-After as problem+json, counted in `signpost_http_rate_limited_total`. Runs after
    RequireBearer (it keys on the token's principal) and before anything reads the body."""

    def __init__(self, app: ASGIApp, service: str, limit: str) -> None:
        from limits import parse_many

        self.app, self.service = app, service
        self.window = MovingWindow([(item.amount, item.get_expiry(), str(item)) for item in parse_many(limit)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("principal")
        if scope["type"] == "http" and principal is not None and scope.get("method") in WRITE_METHODS:
            over = self.window.hit(principal.name)
            if over is not None:
                written, wait = over
                retry = max(1, int(wait) + 1)
                HTTP_RATE_LIMITED.labels(self.service, scope["method"]).inc()  # not yet routed: no route template
                err = ProblemError(429, "Too Many Requests", f"this token is over its write limit ({written}); retry after {retry} s",
                                   type_=problems.TYPE_BASE + "rate-limited", headers={"Retry-After": str(retry)})
                return await problem_response(err, scope.get("path"))(scope, _empty_receive, send)
        await self.app(scope, receive, send)


Observe = Callable[[float], None]


class HttpMetrics:
    """RED metrics by route template (never the raw path: it may hold ids).

    The label children are looked up once per (method, template, status) and kept: `labels()`
    costs ~3 µs a call, twice a request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service
        self.children: dict[tuple[str, str, int], tuple[Callable[[], None], Observe]] = {}

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
            count, observe = self._children(scope.get("method", "GET"), getattr(scope.get("route"), "path", None) or "unmatched", status)
            count()
            observe(time.perf_counter() - start)

    def _children(self, method: str, template: str, status: int) -> tuple[Callable[[], None], Observe]:
        key = (method, template, status)
        children = self.children.get(key)
        if children is None:
            children = self.children[key] = (HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc,
                                              HTTP_LATENCY.labels(self.service, method, template).observe)
        return children


class LeanRoute(APIRoute):
    """A hot route whose endpoint takes only the Request and answers a Response: the endpoint is called
    as it is, without FastAPI's request handler around it (dependency solving, body sniffing,
    telemetry hooks: a quarter to a third of the ASGI stack's cost of a write). Its OpenAPI entry is built as any
    route's. Add it with `route_class_override=LeanRoute`, and include its router without dependencies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        only_the_request = len(inspect.signature(self.endpoint).parameters) == 1 and self.dependant.request_param_name is not None
        if self.dependant.dependencies or not only_the_request:  # the router's dependencies are the route's too
            raise TypeError(f"{self.path}: a LeanRoute's endpoint takes the Request and nothing else")
        return self.endpoint


LeanRoutes = dict[tuple[str, str], LeanRoute]  # (method, path) → the route


class LeanDispatch:
    """Calls the LeanRoutes `include_lean` registered straight from the middleware stack, innermost (after
    the bearer check and the write rate limit, which stay as they are for every request): an exact
    (method, path) match, so FastAPI's routing, which matches a route of an included router twice (the
    app's router, then the included one's), its exception and exit-stack middlewares and Starlette's
    request/response wrapper are skipped. What those did for such a route is done here: the scope gets
    the route (HttpMetrics' template), the endpoint and empty path parameters; an exception the app has a
    handler for (ProblemError, validation, HTTPException) is answered by that same handler, looked up as
    Starlette's ExceptionMiddleware does; any other goes up to the server-error middleware as before.
    Every other request (another method on the same path too) goes through the router."""

    def __init__(self, app: ASGIApp, routes: LeanRoutes) -> None:
        self.app, self.routes = app, routes
        self.handlers: dict[Any, Callable[..., Any]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" and not scope.get("root_path") else None
        if route is None:
            return await self.app(scope, receive, send)
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = self._handler(scope, exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)

    def _handler(self, scope: Scope, exc: Exception) -> Callable[..., Any] | None:
        """The app's handler for `exc`, as ExceptionMiddleware finds it: an HTTPException's status first, then the class and its bases."""
        if self.handlers is None:  # all registered by the first request; 500 and Exception are the server-error middleware's
            self.handlers = {key: value for key, value in scope["app"].exception_handlers.items() if key not in (500, Exception)}
        if isinstance(exc, HTTPException) and exc.status_code in self.handlers:
            return self.handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


def include_lean(app: FastAPI, router: APIRouter) -> None:
    """`app.include_router(router)` (no prefix of its own: its routes' paths are full), and its LeanRoutes
    registered for LeanDispatch. Include it before any router with a path parameter that could match its paths."""
    app.include_router(router)
    lean: LeanRoutes = app.state.lean_routes
    for route in router.routes:
        if isinstance(route, LeanRoute) and not route.param_convertors:
            for method in route.methods or ():
                lean.setdefault((method, route.path), route)


def json_body(model: type[BaseModel]) -> dict:
    """openapi_extra for a route that reads its body itself: the body's schema, by reference."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _honest_openapi(app: FastAPI, models: dict[str, type[BaseModel]]) -> None:
    """The document as the service behaves (issue 12): bodies read by hand get their schema by
    reference; every /v1 operation needs the bearer token (so /docs "Try it out" sends it); every
    error is application/problem+json with the Problem schema; writes may answer 413 and 429."""
    from schemas.problem import Problem

    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        every: dict[str, type[BaseModel]] = {**models, "Problem": Problem}
        for name, model in every.items():
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for def_name, definition in js.pop("$defs", {}).items():
                schemas.setdefault(def_name, definition)
            schemas[name] = js
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "description": "a token from the tokens file (one per principal)"}}
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                if path.startswith("/v1/"):
                    op["security"] = [{"bearer": []}]
                    responses.setdefault("401", {"description": "no known bearer token"})
                    if method.upper() in WRITE_METHODS:
                        responses.setdefault("413", {"description": "the body is over the size limit"})
                        responses.setdefault("429", {"description": "this token is over its write rate limit; see Retry-After",
                                                     "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}})
                for code, response in responses.items():
                    if int(code) >= 400:
                        response["content"] = problem
                        response["description"] = response.get("description") or "problem details (RFC 9457)"
                        if response["description"] in ("Validation Error", "Successful Response"):
                            response["description"] = "problem details (RFC 9457)"
                    for media, body in response.get("content", {}).items():
                        if "itemSchema" in body:  # an OpenAPI 3.2 keyword FastAPI emits for SSE; invalid in 3.1
                            body.pop("itemSchema")
                            body["schema"] = {"type": "string", "description": f"{media}: one JSON event per `data:` line"}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
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
    write_rate_limit: str | None = None,
) -> FastAPI:
    app = FastAPI(
        title=f"Signpost {service}",
        version="1",
        description=description,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # operation ids that read as names
        # FastAPI's native OpenTelemetry stays off: nothing here exports it, and its checks cost every
        # request; its logs would carry rejected input (personal data) if a provider were ever set.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
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
    _honest_openapi(app, app.state.body_models)
    app.state.lean_routes = {}  # include_lean fills it
    app.add_middleware(LeanDispatch, routes=app.state.lean_routes)  # the innermost of ours
    if write_rate_limit:
        app.add_middleware(WriteRateLimit, service=service, limit=write_rate_limit)
    app.add_middleware(RequireBearer, tokens=tokens)
    app.add_middleware(BodyLimit, limit=max_body_bytes, by_path=body_limits)
    app.add_middleware(HttpMetrics, service=service)
    return app
