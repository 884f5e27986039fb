"""The pages' sessions in their database (services/web/session.py, docs/design.md: Pages), on SQLite and
on PostgreSQL: a session survives a restart and is shared by two web processes, idles out, ends at
sign-out, is purged, and its id is never stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from services.common import db
from services.web import tables
from services.web.session import COOKIE, Sessions, SessionStore, end_session, new_session

pytestmark = pytest.mark.integration
IDLE = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_schema_url"))
    return f"sqlite:///{tmp_path / 'web.sqlite3'}"


@pytest.fixture
def engines(store_url: str) -> Iterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def web_process(store_url: str, engines: list[Engine], clock: Clock) -> tuple[Sessions, SessionStore]:
    """What one web process builds: its own engine and store on the shared database (as build_app does)."""
    engine = db.make_engine(store_url)
    engines.append(engine)
    db.migrate(engine, tables.metadata)  # idempotent: the second process upgrades nothing

    async def sign_in(request: Request) -> PlainTextResponse:
        request.session["person"] = {"sub": "ines", "roles": ["inclusion_team"]}
        new_session(request.scope)
        return PlainTextResponse("in")

    async def who(request: Request) -> PlainTextResponse:
        return PlainTextResponse((request.session.get("person") or {}).get("sub", "nobody"))

    async def remember(request: Request) -> PlainTextResponse:
        request.session["person"]["seen"] = True  # a change inside the session is saved too
        return PlainTextResponse("ok")

    async def sign_out(request: Request) -> PlainTextResponse:
        request.session.clear()
        end_session(request.scope)
        return PlainTextResponse("out")

    app = Starlette(routes=[Route("/in", sign_in), Route("/who", who), Route("/remember", remember), Route("/out", sign_out)])
    store = SessionStore(engine, idle_seconds=IDLE, clock=clock)
    return Sessions(app, store=store, secret="the-same-secret-in-every-process", secure=True), store


def browser(app: Sessions, cookie: str | None = None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver")
    if cookie:
        client.cookies.set(COOKIE, cookie)
    return client


def rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(select(tables.sessions))]


async def test_a_session_survives_a_restart_and_is_shared_by_two_web_processes(store_url: str, engines: list[Engine]) -> None:
    clock = Clock()
    first, _ = web_process(store_url, engines, clock)
    async with browser(first) as client:
        await client.get("/in")
        cookie = client.cookies[COOKIE]
        assert (await client.get("/remember")).text == "ok"
    engines[0].dispose()  # the first process stops

    second, _ = web_process(store_url, engines, clock)  # restarted, or another replica behind the proxy
    async with browser(second, cookie) as client:
        assert (await client.get("/who")).text == "ines"
    stored = rows(engines[1])
    assert len(stored) == 1 and '"seen": true' in stored[0]["data"]


async def test_the_session_id_is_never_stored(store_url: str, engines: list[Engine]) -> None:
    import hashlib

    app, _ = web_process(store_url, engines, Clock())
    async with browser(app) as client:
        await client.get("/in")
        sid = str(app.signer.loads(client.cookies[COOKIE]))
    [row] = rows(engines[0])
    assert row["id_hash"] == hashlib.sha256(sid.encode()).hexdigest() and sid not in str(row)


async def test_an_idle_session_is_gone_in_every_process_and_use_keeps_it(store_url: str, engines: list[Engine]) -> None:
    clock = Clock()
    first, _ = web_process(store_url, engines, clock)
    second, _ = web_process(store_url, engines, clock)
    async with browser(first) as client:
        await client.get("/in")
        cookie = client.cookies[COOKIE]
    clock.now += IDLE - 1
    async with browser(second, cookie) as client:  # a use in the other process counts
        assert (await client.get("/who")).text == "ines"
    clock.now += IDLE - 1
    async with browser(first, cookie) as client:
        assert (await client.get("/who")).text == "ines"
    clock.now += IDLE + 1
    async with browser(second, cookie) as client:
        assert (await client.get("/who")).text == "nobody"
    assert rows(engines[0]) == []  # refused and deleted on read


async def test_sign_out_deletes_the_row_so_a_copied_cookie_is_nobody_anywhere(store_url: str, engines: list[Engine]) -> None:
    clock = Clock()
    first, _ = web_process(store_url, engines, clock)
    second, _ = web_process(store_url, engines, clock)
    async with browser(first) as client:
        await client.get("/in")
        copied = client.cookies[COOKIE]
        await client.get("/out")
    assert rows(engines[0]) == []
    async with browser(second, copied) as client:
        assert (await client.get("/who")).text == "nobody"


async def test_the_purge_deletes_only_sessions_idle_past_the_timeout(store_url: str, engines: list[Engine]) -> None:
    clock = Clock()
    app, store = web_process(store_url, engines, clock)
    store.save("old", {"person": {"sub": "a"}})
    clock.now += IDLE + 1
    store.save("new", {"person": {"sub": "b"}})
    assert store.purge() == 1
    assert store.get("new") is not None and store.get("old") is None and len(rows(engines[0])) == 1
