"""services/common/http.py and ratelimit.py: the lean request path (issue 9) answers as before."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
import yaml
from conftest import TestTokens
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import REGISTRY
from pydantic import BaseModel
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Message

from services.common.auth import authorize, person_header
from services.common.http import BodyLimit, LeanRoute, create_app, include_lean
from services.common.problems import ProblemError
from services.common.ratelimit import MovingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the moving window
def test_a_key_gets_its_amount_in_a_window_then_waits_for_the_oldest_hit_to_leave() -> None:
    clock = Clock()
    window = MovingWindow([(3, 10.0, "3 per 10 seconds")], clock)
    answers = []
    for _ in range(3):
        answers.append(window.hit("a"))
        clock.now += 1
    assert answers == [None, None, None]
    assert window.hit("a") == ("3 per 10 seconds", 7.0)  # the first hit, at 1000, leaves at 1010; now 1003
    assert window.hit("b") is None, "per key"
    clock.now = 1010.0
    assert window.hit("a") is not None, "a hit exactly the window old still counts, as in `limits`"
    clock.now = 1010.5
    assert window.hit("a") is None


def test_a_hit_counts_in_each_limit_up_to_the_first_that_refuses_it() -> None:
    clock = Clock()
    window = MovingWindow([(5, 60.0, "5 per 1 minute"), (2, 1.0, "2 per 1 second")], clock)
    assert [window.hit("a") for _ in range(3)] == [None, None, ("2 per 1 second", 1.0)]
    clock.now += 2
    assert window.hit("a") is None and window.hit("a") is None  # hits 4 and 5 in the minute (the refused one counted there)
    clock.now += 2
    assert window.hit("a") == ("5 per 1 minute", 56.0)


def test_keys_idle_for_the_longest_window_are_dropped() -> None:
    clock = Clock()
    window = MovingWindow([(5, 60.0, "5 per 1 minute")], clock)
    window.hit("gone")
    clock.now += 30
    window.hit("kept")
    clock.now += 31
    window.hit("kept")
    assert {key for key, _ in window.hits} == {"kept"}


# ---------------------------------------------------------------- LeanRoute
def test_a_lean_route_refuses_an_endpoint_that_needs_more_than_the_request() -> None:
    async def needs(request: Request, n: int) -> JSONResponse:
        return JSONResponse(n)

    async def depends(request: Request, name: Annotated[str, Depends(lambda: "x")]) -> JSONResponse:
        return JSONResponse(name)

    async def answers(request: Request, response: Response) -> JSONResponse:
        return JSONResponse(None)

    async def guarded(request: Request) -> JSONResponse:
        return JSONResponse(None)

    for endpoint in (needs, depends, answers):
        with pytest.raises(TypeError, match="takes the Request and nothing else"):
            APIRouter().add_api_route("/x", endpoint, methods=["POST"], route_class_override=LeanRoute)
    with pytest.raises(TypeError, match="takes the Request and nothing else"):
        APIRouter(dependencies=[Depends(lambda: None)]).add_api_route("/x", guarded, methods=["POST"], route_class_override=LeanRoute)
    APIRouter().add_api_route("/x", guarded, methods=["POST"], route_class_override=LeanRoute)


@pytest.fixture
def tokens() -> TestTokens:
    """An intake token, an agency's, and the pages' own (role web), which speaks for a person."""
    roles = {"intake": {"roles": ["intake"]}, "ias": {"roles": ["agency"], "agency": "ias"}, "web": {"roles": ["web"]}}
    bearer = {role: f"lean-{role}-token" for role in roles}
    entries = [{"token": bearer[role], "principal": f"test-{role}", **spec} for role, spec in roles.items()]
    return TestTokens(bearer, yaml.safe_dump({"tokens": entries}))


def lean_app(tokens: TestTokens, service: str) -> object:
    app = create_app(service, tokens=tokens, readiness=[], write_rate_limit="1000/second")
    router = APIRouter(prefix="/v1")

    async def lean(request: Request) -> JSONResponse:
        principal = authorize(request, "intake", "inclusion_team")
        if request.query_params.get("fail"):
            raise ProblemError(409, "Conflict", "as asked")
        return JSONResponse({"principal": principal.name, "bytes": len(await request.body())}, status_code=202)

    router.add_api_route("/lean/{kind}", lean, methods=["POST"], route_class_override=LeanRoute)
    app.include_router(router)
    return app


async def test_a_lean_route_answers_authenticates_and_words_its_problems_as_any_route(tokens: TestTokens) -> None:
    app = lean_app(tokens, "lean-test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:  # type: ignore[arg-type]
        ok = await client.post("/v1/lean/a", content=b"12345", headers=tokens.headers("intake"))
        failed = await client.post("/v1/lean/a?fail=1", content=b"", headers=tokens.headers("intake"))
        anonymous = await client.post("/v1/lean/a", content=b"")
        forbidden = await client.post("/v1/lean/a", content=b"", headers=tokens.headers("ias"))
        person = person_header("Ann Example", ["inclusion_team"], None, ["886"])
        acting = await client.post("/v1/lean/a", content=b"", headers={**tokens.headers("web"), "x-signpost-person": person})
    assert (ok.status_code, ok.json()) == (202, {"principal": "test-intake", "bytes": 5})
    assert failed.status_code == 409 and failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["instance"] == "/v1/lean/a"
    assert anonymous.status_code == 401 and forbidden.status_code == 403
    assert (acting.status_code, acting.json()["principal"]) == (202, "person:Ann Example")


def requests_counted(service: str, status: str) -> float:
    labels = {"service": service, "method": "POST", "route": "/v1/lean/{kind}", "status": status}
    return REGISTRY.get_sample_value("signpost_http_requests_total", labels) or 0.0


async def test_metrics_count_by_route_template_and_status_request_after_request(tokens: TestTokens) -> None:
    app = lean_app(tokens, "lean-metrics")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:  # type: ignore[arg-type]
        for path in ("/v1/lean/a", "/v1/lean/b", "/v1/lean/a?fail=1", "/v1/lean/c"):
            await client.post(path, content=b"{}", headers=tokens.headers("intake"))
    assert (requests_counted("lean-metrics", "202"), requests_counted("lean-metrics", "409")) == (3.0, 1.0)
    seconds = {"service": "lean-metrics", "method": "POST", "route": "/v1/lean/{kind}"}
    assert REGISTRY.get_sample_value("signpost_http_request_duration_seconds_count", seconds) == 4.0


# ---------------------------------------------------------------- LeanDispatch (include_lean)
class Body(BaseModel):
    n: int


def dispatched_app(tokens: TestTokens, service: str, rate: str = "1000/second", *, lean: bool = True) -> object:
    app = create_app(service, tokens=tokens, readiness=[], write_rate_limit=rate)
    router = APIRouter(prefix="/v1")

    async def direct(request: Request) -> JSONResponse:
        principal = authorize(request, "intake")
        how = request.query_params.get("how")
        if how == "problem":
            raise ProblemError(409, "Conflict", "as asked")
        if how == "invalid":
            Body.model_validate_json(await request.body())
        if how == "crash":
            raise RuntimeError("a bug")
        return JSONResponse({"principal": principal.name, "route": request.scope["route"].path}, status_code=202)

    router.add_api_route("/direct", direct, methods=["POST"], route_class_override=LeanRoute)
    if lean:
        include_lean(app, router)
    else:
        app.include_router(router)
    return app


async def answers(app: object, tokens: TestTokens) -> list[tuple[int, str, bytes]]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    intake = tokens.headers("intake")
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        responses = [await client.post("/v1/direct", content=b"{}", headers=intake),
                     await client.post("/v1/direct?how=problem", content=b"{}", headers=intake),
                     await client.post("/v1/direct?how=invalid", content=b'{"n": "x"}', headers=intake),
                     await client.post("/v1/direct?how=invalid", content=b"{", headers=intake),
                     await client.post("/v1/direct?how=crash", content=b"{}", headers=intake),
                     await client.post("/v1/direct", content=b"{}"),
                     await client.post("/v1/direct", content=b"{}", headers=tokens.headers("ias")),
                     await client.get("/v1/direct", headers=intake),
                     await client.post("/v1/direct/", content=b"{}", headers=intake)]  # fmt: skip
    return [(r.status_code, r.headers.get("content-type", ""), r.content) for r in responses]


async def test_an_included_lean_route_is_called_without_the_router_and_answers_as_through_it(tokens: TestTokens) -> None:
    app = dispatched_app(tokens, "lean-dispatch")
    seen: list[bool] = []
    router_app = app.router.middleware_stack  # type: ignore[attr-defined]

    async def watched(scope, receive, send) -> None:  # noqa: ANN001 - a bare ASGI app
        seen.append(scope["path"] == "/v1/direct" and scope["method"] == "POST")
        await router_app(scope, receive, send)

    app.router.middleware_stack = watched  # type: ignore[attr-defined]
    dispatched = await answers(app, tokens)
    assert dispatched == await answers(dispatched_app(tokens, "lean-routed", lean=False), tokens), "every answer byte for byte as through the router"
    assert len(seen) == 2 and not any(seen), "the GET and the other path were routed; no POST to the lean path reached the router"
    assert [status for status, _, _ in dispatched] == [202, 409, 422, 422, 500, 401, 403, 405, 307]
    assert all(ctype == "application/problem+json" for status, ctype, _ in dispatched if 400 <= status < 500)
    labels = {"service": "lean-dispatch", "method": "POST", "route": "/v1/direct"}
    assert REGISTRY.get_sample_value("signpost_http_requests_total", {**labels, "status": "202"}) == 1.0
    assert REGISTRY.get_sample_value("signpost_http_requests_total", {**labels, "status": "409"}) == 1.0


async def test_an_included_lean_route_stays_rate_limited(tokens: TestTokens) -> None:
    app = dispatched_app(tokens, "lean-dispatch-limit", rate="2/minute")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:  # type: ignore[arg-type]
        statuses = [(await client.post("/v1/direct", content=b"{}", headers=tokens.headers("intake"))).status_code for _ in range(3)]
    assert statuses == [202, 202, 429]


# ---------------------------------------------------------------- BodyLimit and the body's framing
async def call(app: BodyLimit, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes]:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def echo(scope, receive, send) -> None:  # noqa: ANN001 - a bare ASGI app
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await PlainTextResponse(str(len(body)))(scope, receive, send)


async def test_a_body_within_its_declared_length_is_read_whole() -> None:
    app = BodyLimit(echo, limit=1024)
    assert await call(app, [(b"content-length", b"1024")], [b"x" * 512, b"x" * 512]) == (200, b"1024")


async def test_a_chunked_body_is_counted_even_beside_a_small_content_length() -> None:
    app = BodyLimit(echo, limit=1024)
    headers = [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")]
    status, _ = await call(app, headers, [b"x" * 800, b"x" * 800])
    assert status == 413
    assert await call(app, [(b"transfer-encoding", b"chunked")], [b"x" * 500, b"x" * 500]) == (200, b"1000")
