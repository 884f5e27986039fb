"""Sessions and CSRF (services/web/session.py), and the API's trust in the pages' person header."""

from __future__ import annotations

import pytest

from services.common.auth import Principal, acting_for, person_header
from services.common.problems import ProblemError
from services.web.session import SessionStore, csrf_ok, csrf_token


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_idle_session_is_gone_and_use_keeps_it_alive() -> None:
    clock = Clock()
    store = SessionStore(idle_seconds=60, clock=clock)
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


def _app(secure: bool):  # noqa: ANN202
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
    store = SessionStore(idle_seconds=60)
    return Sessions(app, store=store, secret="test-secret", secure=secure), store


def _client(app, base: str = "http://testserver"):  # noqa: ANN001, ANN202
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base)


async def test_the_cookie_is_signed_httponly_lax_and_secure_off_loopback_only() -> None:
    app, _ = _app(secure=True)
    async with _client(app, "https://testserver") as client:
        cookie = (await client.get("/in")).headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
        assert (await client.get("/who")).text == "p"
    app, _ = _app(secure=False)
    async with _client(app) as client:
        assert "Secure" not in (await client.get("/in")).headers["set-cookie"]


async def test_a_forged_cookie_is_nobody_and_sign_out_ends_the_session_on_the_server() -> None:
    from services.web.session import COOKIE

    app, _ = _app(secure=False)
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
