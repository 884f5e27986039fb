"""Sessions and CSRF (services/web/session.py), and the API's trust in the pages' person header.
The store's own tests, on SQLite and PostgreSQL, are in tests/integration/test_web_sessions.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common import db
from services.common.auth import Principal, acting_for, person_header
from services.common.problems import ProblemError
from services.web import tables
from services.web.session import SessionStore, cookie_secure, csrf_ok, csrf_token, expired, touch_due


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store_in(tmp_path: Path, idle_seconds: float = 60, clock: Clock | None = None) -> SessionStore:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'web.sqlite3'}")
    db.migrate(engine, tables.metadata)
    return SessionStore(engine, idle_seconds=idle_seconds, **({"clock": clock} if clock else {}))


def test_idle_expiry_and_how_often_a_use_is_written() -> None:
    assert not expired(0, 60, 60) and expired(0, 60.5, 60)
    assert not touch_due(0, 5, 60) and touch_due(0, 6, 60)  # a tenth of the idle time
    assert not touch_due(0, 59, 1800) and touch_due(0, 60, 1800)  # at most a minute


def test_an_idle_session_is_gone_and_use_keeps_it_alive(tmp_path: Path) -> None:
    clock = Clock()
    store = store_in(tmp_path, clock=clock)
    store.save("s", {"person": {}})
    clock.now = 50
    assert store.get("s") is not None
    clock.now = 100  # 50 s since last use
    assert store.get("s") is not None
    clock.now = 161
    assert store.get("s") is None


def test_csrf_token_is_per_session_and_checked_exactly() -> None:
    session: dict = {}
    token = csrf_token(session)
    assert csrf_ok(session, token) and not csrf_ok(session, token + "x") and not csrf_ok(session, None) and not csrf_ok({}, token)


WEB = Principal("pages", frozenset({"web"}), la_codes=frozenset({"305", "334"}))


def test_the_pages_token_speaks_for_the_person_it_names_within_its_own_las() -> None:
    person = acting_for(WEB, person_header("ines", ["inclusion_team"], None, ["305", "999"]))
    assert person.name == "person:ines" and person.roles == {"inclusion_team"} and person.la_codes == {"305"}
    assert acting_for(WEB, person_header("ines", ["inclusion_team"], None, None)).la_codes == {"305", "334"}


def test_the_person_header_from_any_other_token_is_ignored() -> None:
    team = Principal("a-token", frozenset({"inclusion_team"}))
    assert acting_for(team, person_header("someone", ["admin"], None, None)) is team


def test_no_header_grants_the_pages_token_nothing_and_a_bad_one_is_refused() -> None:
    assert not acting_for(WEB, None).has("inclusion_team")
    assert acting_for(WEB, person_header("x", ["intake", "web"], None, None)).roles == frozenset()  # machines' roles are not for people
    with pytest.raises(ProblemError):
        acting_for(WEB, "not-base64-json")


def _app(secure: bool, tmp_path: Path):  # noqa: ANN202
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from services.web.session import Sessions, end_session, new_session

    async def sign_in(request):  # noqa: ANN001, ANN202
        request.session["person"] = "p"
        new_session(request.scope)
        return PlainTextResponse("in")

    async def who(request):  # noqa: ANN001, ANN202
        return PlainTextResponse(request.session.get("person", "nobody"))

    async def sign_out(request):  # noqa: ANN001, ANN202
        end_session(request.scope)
        return PlainTextResponse("out")

    app = Starlette(routes=[Route("/in", sign_in), Route("/who", who), Route("/out", sign_out)])
    store = store_in(tmp_path)
    return Sessions(app, store=store, secret="test-secret", secure=secure), store


def _client(app, base: str = "http://testserver"):  # noqa: ANN001, ANN202
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def test_the_cookie_is_signed_httponly_lax_and_secure_off_loopback_only(tmp_path: Path) -> None:
    app, _ = _app(secure=True, tmp_path=tmp_path)
    async with _client(app, "https://testserver") as client:
        cookie = (await client.get("/in")).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
        assert (await client.get("/who")).text == "p"
    app, _ = _app(secure=False, tmp_path=tmp_path)
    async with _client(app) as client:
        assert "Secure" not in (await client.get("/in")).headers["set-cookie"]


async def test_a_forged_cookie_is_nobody_and_sign_out_ends_the_session_on_the_server(tmp_path: Path) -> None:
    from services.web.session import COOKIE

    app, _ = _app(secure=False, tmp_path=tmp_path)
    async with _client(app) as client:
        await client.get("/in")
        stolen = client.cookies.get(COOKIE)
        client.cookies.set(COOKIE, stolen[:-2] + "xx")
        assert (await client.get("/who")).text == "nobody"
        client.cookies.set(COOKIE, stolen)
        assert (await client.get("/who")).text == "p"
        await client.get("/out")
    async with _client(app) as replay:  # the copied cookie no longer works
        replay.cookies.set(COOKIE, stolen)
        assert (await replay.get("/who")).text == "nobody"


def test_behind_the_tls_proxy_the_cookie_is_secure_by_setting_not_by_header() -> None:
    assert cookie_secure("https://signpost.example.gov.uk")  # docker-compose.yml: SIGNPOST_WEB_PUBLIC_URL
    assert cookie_secure("http://signpost.internal:8000")  # off loopback: never sent in clear by the browser
    assert not cookie_secure("http://127.0.0.1:8000") and not cookie_secure("http://localhost:8000")
