"""The referrals HTTP API (contract: Referrals service, Authentication and roles) with the lifespan running
(faust worker on the session broker). Referrals are seeded through the desk bootstrap built (app.state.referrals); the API reads and changes them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
import yaml
from conftest import TOKEN_ROLES, TestTokens, build_settings, serve_app

from services.referrals.app import build_app

from .builders import AUTISTIC, NON_SEND, SEND, alert, call, profile, reason_of

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
EXTRA_ROLES = {"team_999": {"roles": ["inclusion_team"], "la_codes": [999]}, "team_998": {"roles": ["inclusion_team"], "la_codes": [998]},
               "web": {"roles": ["web"]}}


def make_tokens() -> TestTokens:
    """The suite's roles plus an inclusion team limited to LA 999 (for an isolated listing)."""
    roles = {**TOKEN_ROLES, **EXTRA_ROLES}
    bearer = {role: f"test-{role}-{uuid.uuid4().hex}" for role in roles}
    entries = [{"token": bearer[role], "principal": f"test-{role}", **spec} for role, spec in roles.items()]
    return TestTokens(bearer, yaml.safe_dump({"tokens": entries}, sort_keys=False))


class Api:
    def __init__(self, app, client, tokens: TestTokens):
        self.app, self.client, self.tokens = app, client, tokens

    def seed(self, items: list, at: datetime | None = None):
        return self.app.state.referrals.desk.handle(items, at or datetime.now(UTC))

    def store(self):
        return self.app.state.referrals.store

    def ref(self, child_id: str, agency: str) -> dict:
        """The (newest) referral of that child at that agency, as a row."""
        rows = [r.row for r in self._all() if r.row["child_id"] == child_id and r.row["agency"] == agency]
        assert rows, f"no {agency} referral for {child_id}"
        return rows[0]

    def _all(self):
        records, _ = self.store().list(
            agency=None,
            status=None,
            upn=None,
            overdue=None,
            la_codes=None,
            today=datetime.now(UTC).date(),
            limit=500,
            cursor=None,
        )
        return records

    async def request(self, role: str | None, method: str, url: str, **kw):
        headers = self.tokens.headers(role) if role else {}
        return await self.client.request(method, url, headers=headers, **kw)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(kafka_bootstrap, tmp_path_factory) -> AsyncIterator[Api]:
    tokens = make_tokens()
    settings = build_settings(kafka_bootstrap, tmp_path_factory.mktemp("referrals-api"))
    app = build_app(settings, tokens)
    async with serve_app(app) as client:
        yield Api(app, client, tokens)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status and {"type", "title", "status"} <= set(body)
    return body


# --------------------------------------------------------------------------- every role against every endpoint

ROLES = [
    None,
    "intake",
    "intake_305",
    "ops",
    "inclusion_team",
    "admin",
    "ias",
    "exclusions_officer",
    "reu",
    "nas",
]
ENDPOINTS = ["list", "get", "accept", "decline", "close", "consents", "withdraw", "reload", "audit"]
ACTIONS = {"accept", "decline", "close"}


def expected_status(role: str | None, endpoint: str) -> int:
    """The seeded referral is routed to IAS (a SEND child nearing the limit: reu and ias)."""
    if role is None:
        return 401
    if role in ("intake", "intake_305", "ops"):
        return 403
    if role == "admin":
        return 200
    if role == "inclusion_team":
        return 200 if endpoint in ("list", "get", "consents", "withdraw") else 403
    # agencies
    if endpoint in ("consents", "withdraw"):  # IAS keeps the consents of a child referred to it (issue 10); no other agency does
        return 200 if role == "ias" else 403
    if endpoint in ("reload", "audit"):
        return 403
    if endpoint == "list":
        return 200
    return 200 if role == "ias" else 404  # another agency's referral does not exist for it


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES, ids=[r or "no_token" for r in ROLES])
async def test_role_against_endpoint(api: Api, role, endpoint):
    kid = profile(**SEND)
    api.seed([alert(kid, "suspension_days_nearing_limit")])
    ref = api.ref(kid["child_id"], "ias")
    expected = expected_status(role, endpoint)
    if endpoint == "close" and expected == 200:  # only an accepted or declined referral can be closed
        api.store().transition(ref["id"], "accept", "test-setup", None, ref["version"], datetime.now(UTC))

    url, method, body = {
        "list": ("/v1/referrals", "GET", None),
        "get": (f"/v1/referrals/{ref['id']}", "GET", None),
        "accept": (f"/v1/referrals/{ref['id']}/accept", "POST", None),
        "decline": (f"/v1/referrals/{ref['id']}/decline", "POST", {"reason": "no capacity this term"}),
        "close": (f"/v1/referrals/{ref['id']}/close", "POST", {"outcome": "family supported at tribunal"}),
        "consents": (f"/v1/consents/{kid['child_id']}", "GET", None),
        "withdraw": (f"/v1/consents/{kid['child_id']}/withdraw?recipient=nas", "POST", None),
        "reload": ("/v1/admin/policy/reload", "POST", None),
        "audit": ("/v1/audit", "GET", None),
    }[endpoint]
    response = await api.request(role, method, url, json=body)

    if expected != 200:
        assert_problem(response, expected)
        if expected == 401:
            assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
        if endpoint in ACTIONS:  # nothing changed
            after = api.store().get(ref["id"]).row
            assert (after["status"], after["version"]) == ("new", ref["version"])
        return
    assert response.status_code == 200, response.text
    data = response.json()
    if endpoint == "list":
        agencies = {item["agency"] for item in data["items"]}
        if role in ("ias", "exclusions_officer", "reu", "nas"):
            assert agencies <= {role}
            ids = {item["id"] for item in data["items"]}
            assert (ref["id"] in ids) == (role == "ias")
    elif endpoint in ACTIONS:
        assert data["status"] == {"accept": "accepted", "decline": "declined", "close": "closed"}[endpoint]
        assert data["history"][-1]["by"] == f"test-{role}"
    elif endpoint == "get":
        assert data["id"] == ref["id"] and data["history"]


async def test_unknown_token_is_401(api: Api):
    response = await api.client.get("/v1/referrals", headers={"Authorization": "Bearer not-a-token"})
    assert_problem(response, 401)
    response = await api.client.get("/v1/referrals", headers={"Authorization": "Basic abc"})
    assert_problem(response, 401)


async def test_an_agency_never_given_upns_finds_nothing_by_one_even_its_own_referral(api: Api):
    kid = profile(**AUTISTIC)
    api.seed([call(kid, received_by="la_inclusion", share_with_nas=True)])
    assert api.ref(kid["child_id"], "nas")["status"] == "new"
    mine = await api.request("nas", "GET", f"/v1/referrals?child_id={kid['child_id']}")
    assert [r["child"]["child_id"] for r in mine.json()["items"]] == [kid["child_id"]]  # it has this child's referral
    for upn in (kid["upn"], profile(**AUTISTIC)["upn"]):  # its own referral's child, and a child it was never told about
        response = await api.request("nas", "GET", f"/v1/referrals?upn={upn}")
        assert (response.status_code, response.json()) == (200, {"items": []})


async def test_an_agency_lists_only_its_own_referrals(api: Api):
    kid = profile(**SEND)
    api.seed([alert(kid, "suspension_days_nearing_limit"), alert(kid, "suspension_days_limit_exceeded")])
    upn = kid["upn"]
    for agency in ("ias", "reu", "exclusions_officer"):
        response = await api.request(agency, "GET", f"/v1/referrals?upn={upn}")
        assert response.status_code == 200
        assert [item["agency"] for item in response.json()["items"]] == [agency]
        for other in ("ias", "reu", "exclusions_officer", "nas"):
            if other != agency:
                response = await api.request(agency, "GET", f"/v1/referrals?upn={upn}&agency={other}")
                assert response.status_code == 200
                assert response.json() == {"items": []}
        response = await api.request(agency, "GET", f"/v1/referrals?upn={upn}&agency={agency}")
        assert [item["agency"] for item in response.json()["items"]] == [agency]
    response = await api.request("nas", "GET", f"/v1/referrals?upn={upn}")
    assert response.json()["items"] == []
    response = await api.request("inclusion_team", "GET", f"/v1/referrals?upn={upn}")
    assert sorted(item["agency"] for item in response.json()["items"]) == ["exclusions_officer", "ias", "reu"]
    response = await api.request("inclusion_team", "GET", f"/v1/referrals?upn={upn}&agency=reu")
    assert [item["agency"] for item in response.json()["items"]] == ["reu"]


async def test_an_la_scoped_team_sees_nothing_of_other_las(api: Api):
    kid = profile(**NON_SEND)  # LA 305
    api.seed([alert(kid, "informal_exclusions_repeated")])
    ref = api.ref(kid["child_id"], "exclusions_officer")
    response = await api.request("team_999", "GET", f"/v1/referrals?upn={kid['upn']}")
    assert response.json()["items"] == []
    assert_problem(await api.request("team_999", "GET", f"/v1/referrals/{ref['id']}"), 404)
    # the same 404 as for an id that does not exist: nothing leaks
    assert_problem(await api.request("team_999", "GET", "/v1/referrals/ref_doesnotexist0000000"), 404)
    assert_problem(await api.request("ias", "GET", "/v1/referrals/ref_doesnotexist0000000"), 404)


# --------------------------------------------------------------------------- need to know


async def test_each_agency_sees_only_the_fields_it_needs(api: Api):
    kid = profile(**AUTISTIC, looked_after=True)
    item = call(kid, received_by="la_inclusion", share_with_nas=True)
    api.seed([item])
    nas_ref, ias_ref = api.ref(kid["child_id"], "nas"), api.ref(kid["child_id"], "ias")

    nas = (await api.request("nas", "GET", f"/v1/referrals/{nas_ref['id']}")).json()
    assert "upn" not in nas["child"] and "school_urn" not in nas["child"]
    assert set(nas["child"]) == {
        "child_id",
        "first_name",
        "last_name",
        "date_of_birth",
        "year_group",
        "la_code",
        "sen_needs",
    }
    assert nas["child"]["sen_needs"] == ["ASD"]
    assert nas["reasons"] == [reason_of(item)]
    listed = (await api.request("nas", "GET", "/v1/referrals?agency=nas&limit=500")).json()["items"]
    (nas_listed,) = [i for i in listed if i["id"] == nas_ref["id"]]
    assert "upn" not in nas_listed["child"] and "school_urn" not in nas_listed["child"]
    ias = (await api.request("ias", "GET", f"/v1/referrals/{ias_ref['id']}")).json()
    assert ias["child"]["upn"] == kid["upn"] and ias["child"]["school_urn"] == kid["school_urn"]
    assert "looked_after" not in ias["child"] and "has_social_worker" not in ias["child"]

    for role in ("inclusion_team", "admin"):
        for ref in (nas_ref, ias_ref):
            full = (await api.request(role, "GET", f"/v1/referrals/{ref['id']}")).json()
            assert full["child"] == kid


# --------------------------------------------------------------------------- lifecycle over HTTP


async def test_lifecycle_accept_decline_close(api: Api):
    kid = profile(**NON_SEND)
    api.seed([alert(kid, "informal_exclusions_repeated")])
    ref = api.ref(kid["child_id"], "exclusions_officer")
    base = f"/v1/referrals/{ref['id']}"
    eo = "exclusions_officer"

    accepted = await api.request(eo, "POST", f"{base}/accept", json={"note": "picked up by JB"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert_problem(await api.request(eo, "POST", f"{base}/accept"), 409)  # accepted twice

    body = assert_problem(await api.request(eo, "POST", f"{base}/decline"), 422)  # no body
    assert body.get("errors")
    assert_problem(await api.request(eo, "POST", f"{base}/decline", json={}), 422)
    assert_problem(await api.request(eo, "POST", f"{base}/decline", json={"reason": "   "}), 422)
    assert (await api.request("inclusion_team", "GET", base)).json()[
        "status"
    ] == "accepted"  # a 422 changes nothing

    declined = await api.request(
        eo, "POST", f"{base}/decline", json={"reason": "the school has withdrawn the exclusion"}
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "declined"
    assert declined.json()["decline_reason"] == "the school has withdrawn the exclusion"
    assert_problem(await api.request(eo, "POST", f"{base}/accept"), 409)

    assert_problem(await api.request(eo, "POST", f"{base}/close", json={}), 422)
    closed = await api.request(eo, "POST", f"{base}/close", json={"outcome": "resolved with the school"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"

    for action, payload in (("accept", None), ("decline", {"reason": "x"}), ("close", {"outcome": "again"})):
        body = assert_problem(await api.request(eo, "POST", f"{base}/{action}", json=payload), 409)
        assert body["detail"]

    seen = (await api.request("inclusion_team", "GET", base)).json()
    assert seen["status"] == "closed"
    assert seen["outcome"] == "resolved with the school"
    assert seen["decline_reason"] == "the school has withdrawn the exclusion"
    history = seen["history"]
    assert [(h["by"], h["action"], h["detail"]) for h in history] == [
        ("signpost", "created", history[0]["detail"]),
        ("test-exclusions_officer", "accepted", "picked up by JB"),
        ("test-exclusions_officer", "declined", "the school has withdrawn the exclusion"),
        ("test-exclusions_officer", "closed", "resolved with the school"),
    ]
    times = [datetime.fromisoformat(h["at"]) for h in history]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    listed = (await api.request("inclusion_team", "GET", f"/v1/referrals?upn={kid['upn']}")).json()["items"]
    assert listed[0]["outcome"] == "resolved with the school"
    assert "history" not in listed[0]  # the list has no history; GET /{id} has


async def test_a_new_referral_cannot_be_closed(api: Api):
    kid = profile(**NON_SEND)
    api.seed([alert(kid, "suspension_days_nearing_limit")])
    ref = api.ref(kid["child_id"], "reu")
    assert_problem(
        await api.request("reu", "POST", f"/v1/referrals/{ref['id']}/close", json={"outcome": "done"}), 409
    )
    admin = await api.request(
        "admin",
        "POST",
        f"/v1/referrals/{ref['id']}/decline",
        json={"reason": "duplicate of a paper referral"},
    )
    assert admin.status_code == 200 and admin.json()["status"] == "declined"
    assert admin.json()["history"][-1]["by"] == "test-admin"


async def test_inclusion_team_cannot_act_for_an_agency(api: Api):
    kid = profile(**NON_SEND)
    api.seed([alert(kid, "suspension_days_nearing_limit")])
    ref = api.ref(kid["child_id"], "reu")
    assert_problem(await api.request("inclusion_team", "POST", f"/v1/referrals/{ref['id']}/accept"), 403)
    assert (await api.request("inclusion_team", "GET", f"/v1/referrals/{ref['id']}")).json()[
        "status"
    ] == "new"


# --------------------------------------------------------------------------- audit


async def test_every_read_and_change_leaves_an_audit_row(api: Api):
    kid = profile(**AUTISTIC)
    api.seed([call(kid, received_by="la_inclusion", share_with_nas=True)])
    ias = api.ref(kid["child_id"], "ias")
    child_id = kid["child_id"]

    steps = [
        ("ias", "GET", f"/v1/referrals?upn={kid['upn']}", None, "read_referral"),
        ("inclusion_team", "GET", f"/v1/referrals/{ias['id']}", None, "read_referral"),
        ("ias", "POST", f"/v1/referrals/{ias['id']}/accept", None, "accept_referral"),
        (
            "ias",
            "POST",
            f"/v1/referrals/{ias['id']}/decline",
            {"reason": "over capacity"},
            "decline_referral",
        ),
        ("ias", "POST", f"/v1/referrals/{ias['id']}/close", {"outcome": "signposted"}, "close_referral"),
        ("inclusion_team", "GET", f"/v1/consents/{child_id}", None, "read_consents"),
        (
            "inclusion_team",
            "POST",
            f"/v1/consents/{child_id}/withdraw?recipient=nas&note=mum+asked",
            None,
            "withdraw_consent",
        ),
    ]
    for role, method, url, body, _ in steps:
        response = await api.request(role, method, url, json=body)
        assert response.status_code == 200, (url, response.text)

    response = await api.request("admin", "GET", f"/v1/audit?child_id={child_id}&limit=1000")
    assert response.status_code == 200
    items = response.json()["items"]
    assert all(i["child_id"] == child_id for i in items)
    got = [(i["principal"], i["action"]) for i in reversed(items)]  # newest first in the API
    assert got == [(f"test-{role}", action) for role, _, _, _, action in steps]
    referral_rows = [i for i in items if i["object_kind"] == "referral"]
    assert {i["object_id"] for i in referral_rows} == {ias["id"]}

    everything = (await api.request("admin", "GET", "/v1/audit?limit=1000")).json()["items"]
    assert {i["id"] for i in items} <= {i["id"] for i in everything}

    consents = (await api.request("inclusion_team", "GET", f"/v1/consents/{child_id}")).json()["items"]
    nas = [c for c in consents if c["recipient"] == "nas"]
    assert [c["granted"] for c in nas] == [True, False]


async def test_a_list_audits_each_referral_it_shows(api: Api):
    kid = profile(**SEND)
    api.seed([alert(kid, "suspension_days_limit_exceeded")])
    await api.request("inclusion_team", "GET", f"/v1/referrals?upn={kid['upn']}")
    items = (await api.request("admin", "GET", f"/v1/audit?child_id={kid['child_id']}")).json()["items"]
    assert sorted(i["object_id"] for i in items) == sorted(
        [api.ref(kid["child_id"], "ias")["id"], api.ref(kid["child_id"], "exclusions_officer")["id"]]
    )
    assert {i["action"] for i in items} == {"read_referral"}


# --------------------------------------------------------------------------- pagination


async def test_pagination_newest_first_without_duplicates(api: Api):
    now = datetime.now(UTC).replace(microsecond=0)
    made = []
    # two share a time across the first page boundary (the id breaks the tie), one is seeded out of order
    minutes_ago = [70, 60, 50, 30, 30, 20, 10]
    for i in (0, 1, 2, 3, 6, 4, 5):
        kid = profile(la_code="998", **NON_SEND)  # LA 998 is this test's alone: the listing holds its referrals only, in any test order
        api.seed([alert(kid, "informal_exclusions_repeated")], now - timedelta(minutes=minutes_ago[i]))
        made.append(api.ref(kid["child_id"], "exclusions_officer"))
    expected = [r["id"] for r in sorted(made, key=lambda r: (r["created_at"], r["id"]), reverse=True)]

    pages, cursor = [], None
    for _ in range(5):
        url = "/v1/referrals?limit=3" + (f"&cursor={cursor}" if cursor else "")
        response = await api.request("team_998", "GET", url)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [i for p in pages for i in p]
    assert len(set(flat)) == 7
    assert flat == expected
    created = [r["created_at"] for r in sorted(made, key=lambda r: expected.index(r["id"]))]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize("cursor", ["garbage", "!!!", "eyJ4IjoxfQ", "WyJub3QgYSBkYXRlIiwieCJd"])
async def test_a_garbage_cursor_is_422(api: Api, cursor):
    body = assert_problem(await api.request("inclusion_team", "GET", f"/v1/referrals?cursor={cursor}"), 422)
    assert body["errors"][0]["loc"] == ["query", "cursor"]


# --------------------------------------------------------------------------- races, reload, LA scope of consents


async def test_two_agency_staff_acting_at_once_one_wins(api: Api):
    import asyncio

    kid = profile(**NON_SEND)
    api.seed([alert(kid, "informal_exclusions_repeated")])
    ref = api.ref(kid["child_id"], "exclusions_officer")
    base = f"/v1/referrals/{ref['id']}"
    # Both accept: at once, the store's compare-and-set lets one win; one after the other (a busy
    # machine may serialise them), the second finds it accepted already. 200 + 409 either way.
    responses = await asyncio.gather(
        api.request("exclusions_officer", "POST", f"{base}/accept"),
        api.request("exclusions_officer", "POST", f"{base}/accept"),
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.headers["content-type"].startswith(PROBLEM)
    history = (await api.request("inclusion_team", "GET", base)).json()["history"]
    assert len(history) == 2  # created + the winner's change only


async def test_policy_reload_over_http_keeps_the_old_policy_on_a_bad_file(api: Api, tmp_path):
    holder = api.app.state.referrals.policy
    old_policy, old_path = holder.policy, holder.path
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        old_path.read_text().replace("service_level_school_days: 5", "service_level_school_days: five")
    )
    try:
        holder.path = bad
        body = assert_problem(await api.request("admin", "POST", "/v1/admin/policy/reload"), 422)
        assert body["errors"][0]["loc"] == ["policy"] and str(bad) in body["errors"][0]["msg"]
        assert holder.policy is old_policy
        # routing goes on with the old policy
        kid = profile(**NON_SEND)
        api.seed([alert(kid, "informal_exclusions_repeated")])
        assert api.ref(kid["child_id"], "exclusions_officer")
    finally:
        holder.path = old_path
    ok = await api.request("admin", "POST", "/v1/admin/policy/reload")
    assert ok.status_code == 200 and ok.json()["status"] == "reloaded"


async def test_an_la_scoped_team_cannot_read_another_las_consents(api: Api):
    kid = profile(**AUTISTIC)  # LA 305
    api.seed([call(kid, received_by="la_inclusion", share_with_nas=True)])
    response = await api.request("team_999", "GET", f"/v1/consents/{kid['child_id']}")
    assert response.status_code == 404, response.text
    # the same answer as for a child nobody knows: the LA learns nothing of the child's existence
    unknown = await api.request("team_999", "GET", "/v1/consents/c-nobody-knows-this-child")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, response.json()["detail"])


async def test_an_la_scoped_team_cannot_withdraw_another_las_consent(api: Api):
    kid = profile(**AUTISTIC)  # LA 305
    api.seed([call(kid, received_by="la_inclusion", share_with_nas=True)])
    response = await api.request("team_999", "POST", f"/v1/consents/{kid['child_id']}/withdraw?recipient=nas")
    assert response.status_code in (403, 404), response.text
    assert [c["granted"] for c in api.store().consents(kid["child_id"]) if c["recipient"] == "nas"] == [True]


async def test_an_la_scoped_team_sees_referrals_of_a_child_its_la_has_a_duty_towards(api: Api):
    """Contract: visible to every LA with a duty towards the child (the profile's la_codes), not only its latest school's."""
    kid = profile(**NON_SEND, la_codes=["305", "999"])  # the latest school is in 305; LA 999 has a duty too
    api.seed([alert(kid, "informal_exclusions_repeated")])
    ref = api.ref(kid["child_id"], "exclusions_officer")
    listed = (await api.request("team_999", "GET", f"/v1/referrals?upn={kid['upn']}")).json()["items"]
    assert [item["id"] for item in listed] == [ref["id"]]
    single = await api.request("team_999", "GET", f"/v1/referrals/{ref['id']}")
    assert single.status_code == 200 and single.json()["id"] == ref["id"]
    consents = await api.request("team_999", "GET", f"/v1/consents/{kid['child_id']}")
    assert consents.status_code == 200


async def test_a_lifecycle_change_is_in_the_outbox_in_its_own_transaction(api: Api):
    from sqlalchemy import select

    from services.referrals import tables

    kid = profile(**NON_SEND)
    api.seed([alert(kid, "informal_exclusions_repeated")])
    ref = api.ref(kid["child_id"], "exclusions_officer")
    response = await api.request("exclusions_officer", "POST", f"/v1/referrals/{ref['id']}/accept")
    assert response.status_code == 200
    with api.store().engine.connect() as conn:
        rows = [(r.event_id, r.value) for r in conn.execute(select(tables.outbox.c.event_id, tables.outbox.c.value).where(
            tables.outbox.c.event_id.in_([f"{ref['id']}:v1", f"{ref['id']}:v2"])))]
    changes = {event_id: json.loads(value)["change"] for event_id, value in rows}
    assert changes == {f"{ref['id']}:v1": "created", f"{ref['id']}:v2": "accepted"}


async def test_the_advice_services_consent_is_in_the_ledger_and_can_be_withdrawn(api: Api):
    """Issue 11, item 7: a family without SEND agrees to ACE (not Coram); the ledger shows it, withdrawal works."""
    kid = profile(**NON_SEND)
    api.seed([call(kid, share_with_ace=True), alert(kid, "informal_exclusions_repeated", severity="high")])
    assert api.ref(kid["child_id"], "ace")["status"] == "new"
    consents = (await api.request("inclusion_team", "GET", f"/v1/consents/{kid['child_id']}")).json()["items"]
    assert {c["recipient"] for c in consents} == {"la", "ias", "ace"}
    response = await api.request("inclusion_team", "POST", f"/v1/consents/{kid['child_id']}/withdraw?recipient=ace")
    assert response.status_code == 200 and response.json()["recipient"] == "ace"
    response = await api.request("inclusion_team", "POST", f"/v1/consents/{kid['child_id']}/withdraw?recipient=coram")
    assert response.status_code == 200
# --------------------------------------------------------------------------- the pages' token acting for a person (issue 10)


def as_person(api: Api, name: str, roles: list[str], agency: str | None = None) -> dict[str, str]:
    from services.common.auth import PERSON_HEADER, person_header

    return {**api.tokens.headers("web"), PERSON_HEADER: person_header(name, roles, agency, None)}


async def test_the_pages_token_acts_for_the_person_it_names_and_the_audit_names_them(api: Api):
    kid = profile(**AUTISTIC)
    api.seed([call(kid, received_by="la_inclusion", share_with_nas=True)])
    nas_ref = api.ref(kid["child_id"], "nas")
    alone = await api.client.get(f"/v1/referrals/{nas_ref['id']}", headers=api.tokens.headers("web"))
    assert_problem(alone, 403)  # the pages' token grants nothing by itself
    seen = await api.client.get(f"/v1/referrals/{nas_ref['id']}", headers=as_person(api, "nadia", ["agency"], "nas"))
    assert seen.status_code == 200 and "upn" not in seen.json()["child"] and "school_urn" not in seen.json()["child"]
    other = await api.client.get(f"/v1/referrals/{nas_ref['id']}", headers=as_person(api, "aisha", ["agency"], "ias"))
    assert_problem(other, 404)
    accepted = await api.client.post(f"/v1/referrals/{nas_ref['id']}/accept", headers=as_person(api, "nadia", ["agency"], "nas"))
    assert accepted.status_code == 200 and accepted.json()["history"][-1]["by"] == "person:nadia"
    audit = (await api.request("admin", "GET", f"/v1/audit?child_id={kid['child_id']}")).json()["items"]
    assert {"person:nadia"} <= {e["principal"] for e in audit} and not any(e["principal"].startswith("test-web") for e in audit)


async def test_inbox_counts_are_per_agency_and_child_lists_filter_by_child(api: Api):
    kid = profile(**SEND)
    api.seed([alert(kid, "suspension_days_nearing_limit")])
    counts = (await api.request("ias", "GET", "/v1/referrals/counts")).json()
    assert counts["agency"] == "ias" and set(counts["tabs"]) == {"new", "overdue", "accepted", "closed"} and counts["tabs"]["new"] >= 1
    assert (await api.request("ias", "GET", "/v1/referrals/counts?agency=nas")).json()["agency"] == "ias"  # never another agency's
    mine = (await api.request("inclusion_team", "GET", f"/v1/referrals?child_id={kid['child_id']}")).json()["items"]
    assert {r["agency"] for r in mine} == {"reu", "ias"} and all(r["child"]["child_id"] == kid["child_id"] for r in mine)
    assert_problem(await api.request("intake", "GET", "/v1/referrals/counts"), 403)


async def test_a_consent_a_person_records_routes_the_held_reasons_and_keeps_its_basis(api: Api):
    kid = profile(**AUTISTIC)
    api.seed([alert(kid, "suspension_days_nearing_limit")])
    assert not [r for r in api._all() if r.row["child_id"] == kid["child_id"] and r.row["agency"] == "nas"]  # held: no consent
    body = {"recipient": "nas", "lawful_basis": "consent", "note": "mother agreed on the phone"}
    assert_problem(await api.request("nas", "POST", f"/v1/consents/{kid['child_id']}/grant", json=body), 403)
    assert_problem(await api.request("inclusion_team", "POST", f"/v1/consents/{kid['child_id']}/grant", json={**body, "lawful_basis": "whim"}), 422)
    granted = await api.client.post(f"/v1/consents/{kid['child_id']}/grant", json=body, headers=as_person(api, "ines", ["inclusion_team"]))
    assert granted.status_code == 200 and granted.json()["granted"] is True
    assert api.ref(kid["child_id"], "nas")["status"] == "new"  # the held reason went to NAS
    ledger = (await api.request("inclusion_team", "GET", f"/v1/consents/{kid['child_id']}")).json()["items"]
    assert [(e["recipient"], e["granted"], e["source"].split(":")[1:4]) for e in ledger] == [("nas", True, ["consent", "person", "ines"])]


async def changes_since(api: Api, who: str, since: datetime) -> list[dict]:
    """Every change the caller may see since `since`, page after page (oldest first; a page's last time
    starts the next, so a change at that very time comes twice and is counted once)."""
    seen: dict[tuple[str, str], dict] = {}
    after = since.isoformat()
    while True:
        page = (await api.request(who, "GET", f"/v1/referrals/changes?since={after.replace('+', '%2B')}&limit=500")).json()["items"]
        assert [r["updated_at"] for r in page] == sorted(r["updated_at"] for r in page)  # oldest change first
        seen.update({(r["id"], r["updated_at"]): r for r in page})
        if len(page) < 500 or page[-1]["updated_at"] == after:
            return list(seen.values())
        after = page[-1]["updated_at"]


async def test_the_changes_list_replays_what_each_caller_may_see(api: Api):
    since = datetime.now(UTC) - timedelta(seconds=1)
    kid = profile(**AUTISTIC)
    api.seed([call(kid, received_by="la_inclusion", share_with_nas=True)])
    nas = await changes_since(api, "nas", since)
    assert nas and {r["agency"] for r in nas} == {"nas"} and all("upn" not in r["child"] and "school_urn" not in r["child"] for r in nas)
    team = await changes_since(api, "inclusion_team", since)  # other tests' changes of the same second come too, in any order of tests
    assert {"nas", "ias"} <= {r["agency"] for r in team if r["child"]["child_id"] == kid["child_id"]}


# --------------------------------------------------------------------------- IAS keeps consent for the children referred to it (issue 10)


async def test_ias_records_and_withdraws_consent_for_a_child_referred_to_it_and_the_audit_names_the_person(api: Api):
    kid = profile(**AUTISTIC)
    api.seed([alert(kid, "suspension_days_nearing_limit")])
    assert api.ref(kid["child_id"], "ias")["status"] == "new"
    assert not [r for r in api._all() if r.row["child_id"] == kid["child_id"] and r.row["agency"] == "nas"]  # held for consent
    iris = as_person(api, "iris", ["agency"], "ias")
    body = {"recipient": "nas", "lawful_basis": "consent", "note": "mother agreed at the drop-in"}
    granted = await api.client.post(f"/v1/consents/{kid['child_id']}/grant", json=body, headers=iris)
    assert granted.status_code == 200, granted.text
    assert api.ref(kid["child_id"], "nas")["status"] == "new"  # the held reason went to NAS
    ledger = await api.client.get(f"/v1/consents/{kid['child_id']}", headers=iris)
    assert ledger.status_code == 200
    assert [(e["recipient"], e["granted"], e["source"].split(":")[1:4]) for e in ledger.json()["items"]] == [("nas", True, ["consent", "person", "iris"])]
    withdrawn = await api.client.post(f"/v1/consents/{kid['child_id']}/withdraw?recipient=nas&note=father+phoned", headers=iris)
    assert withdrawn.status_code == 200 and withdrawn.json()["granted"] is False
    trail = (await api.request("admin", "GET", f"/v1/audit?child_id={kid['child_id']}")).json()["items"]
    done = {(e["principal"], e["action"]) for e in trail}
    assert {("person:iris", "record_consent"), ("person:iris", "read_consents"), ("person:iris", "withdraw_consent")} <= done


async def test_ias_cannot_see_or_change_consent_for_a_child_not_referred_to_it(api: Api):
    kid = profile(**NON_SEND)
    api.seed([alert(kid, "informal_exclusions_repeated")])  # the exclusions officer's, not IAS's
    assert api.ref(kid["child_id"], "exclusions_officer")
    iris = as_person(api, "iris", ["agency"], "ias")
    read = await api.client.get(f"/v1/consents/{kid['child_id']}", headers=iris)
    unknown = await api.client.get("/v1/consents/c-nobody-knows-this-child", headers=iris)
    assert (read.status_code, read.json()["detail"]) == (unknown.status_code, unknown.json()["detail"]) == (404, "no such child")
    assert_problem(await api.request("ias", "POST", f"/v1/consents/{kid['child_id']}/grant", json={"recipient": "ias", "lawful_basis": "consent"}), 404)
    assert_problem(await api.request("ias", "POST", f"/v1/consents/{kid['child_id']}/withdraw?recipient=la"), 404)
    assert api.store().consents(kid["child_id"]) == []


@pytest.mark.parametrize("agency", ["nas", "reu", "exclusions_officer"])
async def test_other_agencies_never_keep_consent_even_for_their_own_child(api: Api, agency: str):
    kid = profile(**AUTISTIC)
    api.seed([call(kid, received_by="la_inclusion", share_with_nas=True), alert(kid, "suspension_days_nearing_limit"),
              alert(kid, "informal_exclusions_repeated")])
    assert api.ref(kid["child_id"], agency)  # referred to it, and still refused
    person = as_person(api, "someone", ["agency"], agency)
    assert_problem(await api.client.get(f"/v1/consents/{kid['child_id']}", headers=person), 403)
    assert_problem(await api.client.post(f"/v1/consents/{kid['child_id']}/grant", json={"recipient": "nas", "lawful_basis": "consent"}, headers=person), 403)
    assert_problem(await api.client.post(f"/v1/consents/{kid['child_id']}/withdraw?recipient=nas", headers=person), 403)
    assert [c["granted"] for c in api.store().consents(kid["child_id"]) if c["recipient"] == "nas"] == [True]
