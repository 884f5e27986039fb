"""Per-token write rate limit (429 + Retry-After, counted) and a 413 that a write-before-read client
reads (issue 12, item 8)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import TestTokens, build_settings, free_port
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.common.http import BodyLimit
from services.intake.app import build_app as intake_app


def rate_limited() -> float:
    return REGISTRY.get_sample_value("signpost_http_rate_limited_total", {"service": "intake", "method": "POST"}) or 0.0


async def test_a_token_over_its_write_limit_gets_429_with_retry_after(tmp_path: Path, tokens: TestTokens) -> None:
    app = intake_app(build_settings(None, tmp_path, write_rate_limit="3/minute"), tokens)
    before = rate_limited()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answers = [(await client.post("/v1/calls", content=b"{}", headers=tokens.headers("intake"))).status_code for _ in range(4)]
        refused = await client.post("/v1/calls", content=b"{}", headers=tokens.headers("intake"))
        other_token = await client.post("/v1/calls", content=b"{}", headers=tokens.headers("intake_305"))
        read = await client.get("/v1/calls", headers=tokens.headers("intake"))
    assert answers == [422, 422, 422, 429]
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert refused.json()["type"].endswith("/rate-limited")
    assert other_token.status_code == 422, "the limit is per token"
    assert read.status_code != 429, "reads are not limited"
    assert rate_limited() - before == 2


@pytest.fixture
def server() -> Iterator[int]:
    """A real uvicorn (httptools, as `make run`) serving an app behind BodyLimit(1 MiB)."""

    async def echo(request):  # noqa: ANN001, ANN202
        return PlainTextResponse(str(len(await request.body())))

    app = BodyLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), limit=1024 * 1024)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off", http="httptools", loop="asyncio")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.01)
    yield port
    srv.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("size_mib", [1.2, 3])
def test_a_write_before_read_client_gets_the_413(server: int, size_mib: float) -> None:
    """urllib sends the whole body, then reads: the 413 must still reach it (not a connection reset)."""
    body = b"x" * int(size_mib * 1024 * 1024)
    request = urllib.request.Request(f"http://127.0.0.1:{server}/", data=body, method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310 - a loopback test server
    assert caught.value.code == 413
    assert caught.value.headers["content-type"] == "application/problem+json"


def test_a_body_within_the_limit_is_read(server: int) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{server}/", data=b"x" * 1000, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.read() == b"1000"
