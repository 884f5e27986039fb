"""The intake HTTP API against a real Kafka-protocol broker (contract: Intake service, Errors, Authentication)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from conftest import (
    build_settings,
    closed_port,
    consume_all,
    count_messages,
    running_app,
    serve_app,
    wait_relayed,
)
from factories import (
    csv_row,
    invalid_upn,
    make_call,
    make_notice,
    make_record,
    make_return,
    new_id,
    to_csv,
    valid_upn,
)
from sqlalchemy.exc import OperationalError

from schemas.intake import Call, ExclusionNotice, LAReturn, LAReturnRecordSubmitted
from schemas.pupil import Pupil, child_key
from schemas.topics import CALLS, EXCLUSION_NOTICES, LA_RETURN_RECORDS
from services.intake.app import build_app

pytestmark = pytest.mark.integration

NOTICES, CALLS_T, RECORDS = EXCLUSION_NOTICES.name, CALLS.name, LA_RETURN_RECORDS.name
PROBLEM = "application/problem+json"
MAX = 5 * 1024 * 1024


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "status"} <= set(body)
    return body


def assert_ce_headers(headers: dict[str, str], ce_id: str, ce_type: str) -> None:
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == ce_id
    assert headers["ce_source"]
    assert headers["ce_type"] == ce_type
    assert headers["ce_time"].endswith("Z") and "T" in headers["ce_time"]
    assert headers["content-type"] == "application/json"


@pytest_asyncio.fixture
async def intake(settings, tokens) -> AsyncIterator:
    """A running intake app on this test's settings: (app, client)."""
    app = build_app(settings, tokens)
    async with running_app(app) as client:
        yield app, client


# --------------------------------------------------------------------------- accepted + published


async def test_notice_is_accepted_and_published_as_a_cloudevent(intake, settings, tokens) -> None:
    app, client = intake
    notice = make_notice()
    response = await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
    assert response.status_code == 202, response.text
    assert response.json() == {"id": notice["notice_id"], "status": "accepted"}

    [msg] = await consume_all(settings, NOTICES, expected=1, timeout=10)
    assert msg.topic == settings.topic_prefix + "exclusion-notices.v1"
    assert_ce_headers(msg.headers, f"notice:{notice['notice_id']}", EXCLUSION_NOTICES.ce_type)
    assert msg.key == child_key(notice["la_code"], Pupil(**notice["pupil"]))
    assert msg.json() == json.loads(ExclusionNotice.model_validate(notice).model_dump_json())
    assert ExclusionNotice.model_validate_json(msg.value) == ExclusionNotice.model_validate(notice)


async def test_calls_are_published_keyed_by_upn_or_by_person(intake, settings, tokens) -> None:
    app, client = intake
    with_upn = make_call()
    without_upn = make_call(pupil_overrides={"upn": None}, received_by="la_inclusion", incident_dates=[])
    for call in (with_upn, without_upn):
        response = await client.post("/v1/calls", json=call, headers=tokens.headers("intake"))
        assert response.status_code == 202, response.text
        assert response.json() == {"id": call["call_id"], "status": "accepted"}

    messages = await consume_all(settings, CALLS_T, expected=2, timeout=10)
    by_id = {m.headers["ce_id"]: m for m in messages}
    assert set(by_id) == {f"call:{with_upn['call_id']}", f"call:{without_upn['call_id']}"}
    for call in (with_upn, without_upn):
        msg = by_id[f"call:{call['call_id']}"]
        assert_ce_headers(msg.headers, f"call:{call['call_id']}", CALLS.ce_type)
        assert msg.key == child_key(call["la_code"], Pupil(**call["pupil"]))
        assert msg.json() == json.loads(Call.model_validate(call).model_dump_json())
    assert by_id[f"call:{with_upn['call_id']}"].key.startswith("u:")
    assert by_id[f"call:{without_upn['call_id']}"].key.startswith("p:")
    # keys are pseudonymous: no UPN or name on the broker outside the value
    assert with_upn["pupil"]["upn"] not in by_id[f"call:{with_upn['call_id']}"].key


async def test_la_return_is_published_one_message_per_record(intake, settings, tokens) -> None:
    app, client = intake
    la_return = make_return(n_records=3)
    response = await client.post("/v1/la-returns", json=la_return, headers=tokens.headers("intake"))
    assert response.status_code == 202, response.text
    assert response.json() == {"id": la_return["return_id"], "status": "accepted", "records": 3}

    messages = await consume_all(settings, RECORDS, expected=3, timeout=10)
    assert len(messages) == 3
    validated = LAReturn.model_validate(la_return)
    by_id = {m.headers["ce_id"]: m for m in messages}
    for record in validated.records:
        ce_id = f"la-return:{la_return['return_id']}|{record.record_id}"
        msg = by_id[ce_id]
        assert_ce_headers(msg.headers, ce_id, LA_RETURN_RECORDS.ce_type)
        assert msg.key == child_key(la_return["la_code"], record.pupil)
        got = LAReturnRecordSubmitted.model_validate_json(msg.value)
        assert got == LAReturnRecordSubmitted(
            return_id=validated.return_id,
            la_code=validated.la_code,
            period_start=validated.period_start,
            period_end=validated.period_end,
            submitted_at=validated.submitted_at,
            record=record,
        )


# --------------------------------------------------------------------------- idempotency

ENDPOINTS = {
    "notice": ("/v1/exclusion-notices", make_notice, "notice_id", NOTICES),
    "call": ("/v1/calls", make_call, "call_id", CALLS_T),
    "return": ("/v1/la-returns", lambda: make_return(n_records=2), "return_id", RECORDS),
}


def _changed(kind: str, body: dict) -> dict:
    other = json.loads(json.dumps(body))
    if kind == "notice":
        other["sessions"] = body["sessions"] + 1
    elif kind == "call":
        other["concerns"] = ["isolation"]
    else:
        other["records"][0]["sessions"] = body["records"][0]["sessions"] + 1
    return other


@pytest.mark.parametrize("kind", list(ENDPOINTS))
async def test_same_id_same_body_is_a_duplicate_and_other_body_a_conflict(
    kind, intake, settings, tokens
) -> None:
    app, client = intake
    path, factory, id_field, topic = ENDPOINTS[kind]
    body = factory()
    per_post = len(body.get("records", [None]))
    first = await client.post(path, json=body, headers=tokens.headers("intake"))
    assert first.status_code == 202, first.text

    # identical body, even with keys in another order: 200 duplicate
    reordered = dict(reversed(list(body.items())))
    again = await client.post(
        path,
        content=json.dumps(reordered, indent=2),
        headers={**tokens.headers("intake"), "content-type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "duplicate"
    assert again.json()["id"] == body[id_field]

    conflict = await client.post(path, json=_changed(kind, body), headers=tokens.headers("intake"))
    problem = assert_problem(conflict, 409)
    assert problem.get("detail")

    await wait_relayed(app)
    await asyncio.sleep(0.3)  # let any stray second publication land
    assert await count_messages(settings, topic) == per_post
    messages = await consume_all(settings, topic, expected=per_post + 1, timeout=1.0)
    assert len(messages) == per_post
    assert len({m.headers["ce_id"] for m in messages}) == per_post


async def test_idempotency_survives_a_restart(settings, tokens) -> None:
    notice = make_notice()
    app = build_app(settings, tokens)
    async with running_app(app) as client:
        assert (
            await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
        ).status_code == 202
        await wait_relayed(app)

    again = build_app(settings, tokens)  # a new process on the same data dir (same SQLite file)
    async with running_app(again) as client:
        response = await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
        assert response.status_code == 200, response.text
        assert response.json() == {"id": notice["notice_id"], "status": "duplicate"}
        conflict = await client.post(
            "/v1/exclusion-notices", json={**notice, "sessions": 9}, headers=tokens.headers("intake")
        )
        assert_problem(conflict, 409)
        await wait_relayed(again)
    await asyncio.sleep(0.2)
    assert await count_messages(settings, NOTICES) == 1


# --------------------------------------------------------------------------- validation


async def test_invalid_upn_check_letter_is_422_at_pupil_upn_without_echoing_personal_data(
    intake, settings, tokens
) -> None:
    app, client = intake
    bad_upn = invalid_upn()
    notice = make_notice(
        pupil_overrides={"upn": bad_upn, "first_name": "Ptolemy", "last_name": "Quartermaine"}
    )
    response = await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["pupil", "upn"]
    assert problem["errors"][0]["msg"]
    for secret in (bad_upn, bad_upn[1:], "Ptolemy", "Quartermaine"):
        assert secret.lower() not in response.text.lower()


async def test_suspension_without_sessions_is_422(intake, tokens) -> None:
    app, client = intake
    notice = make_notice(sessions=..., pupil_overrides={"first_name": "Ignatius", "last_name": "Wolfenden"})
    response = await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
    problem = assert_problem(response, 422)
    assert any("sessions" in e["msg"] or "sessions" in e["loc"] for e in problem["errors"])
    for secret in (notice["pupil"]["upn"], "Ignatius", "Wolfenden"):
        assert secret.lower() not in response.text.lower()


async def test_wrong_types_and_unknown_fields_are_422_without_echo(intake, tokens) -> None:
    app, client = intake
    notice = make_notice(
        category="sent-home-for-the-afternoon",
        school_urn="12345X",
        reason_codes=["ZZ"],
        extra_field="Wolfenden",
    )
    notice["pupil"]["date_of_birth"] = "not-a-date-Wolfenden"
    response = await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
    problem = assert_problem(response, 422)
    locs = [tuple(e["loc"]) for e in problem["errors"]]
    assert ("category",) in locs
    assert ("school_urn",) in locs
    assert ("pupil", "date_of_birth") in locs
    assert ("extra_field",) in locs
    assert "Wolfenden" not in response.text
    assert notice["pupil"]["upn"] not in response.text


async def test_malformed_json_is_422_problem(intake, tokens) -> None:
    app, client = intake
    response = await client.post(
        "/v1/exclusion-notices",
        content=b'{"notice_id": "N-1", ',
        headers={**tokens.headers("intake"), "content-type": "application/json"},
    )
    assert_problem(response, 422)


async def test_la_return_with_bad_records_lists_each_index_and_publishes_nothing(
    intake, settings, tokens
) -> None:
    app, client = intake
    la_return = make_return(n_records=5)
    good = json.loads(json.dumps(la_return))
    la_return["records"][1]["pupil"]["upn"] = invalid_upn(la_return["records"][1]["pupil"]["upn"])
    la_return["records"][3]["sessions"] = 0
    response = await client.post("/v1/la-returns", json=la_return, headers=tokens.headers("intake"))
    problem = assert_problem(response, 422)
    locs = [e["loc"] for e in problem["errors"]]
    assert ["records", 1, "pupil", "upn"] in locs
    assert any(loc[:2] == ["records", 3] for loc in locs)
    assert {tuple(loc[:2]) for loc in locs} == {("records", 1), ("records", 3)}
    assert la_return["records"][1]["pupil"]["upn"] not in response.text

    # nothing accepted: the corrected return with the same id is a first acceptance, not a 409
    fixed = await client.post("/v1/la-returns", json=good, headers=tokens.headers("intake"))
    assert fixed.status_code == 202, fixed.text
    assert fixed.json()["records"] == 5
    await wait_relayed(app)
    messages = await consume_all(settings, RECORDS, expected=6, timeout=1.5)
    assert len(messages) == 5  # only the corrected return's records were ever published


async def test_rejected_la_return_publishes_nothing(intake, settings, tokens) -> None:
    app, client = intake
    bad = make_return(n_records=3)
    bad["records"][2]["kind"] = "holiday"
    assert_problem(await client.post("/v1/la-returns", json=bad, headers=tokens.headers("intake")), 422)
    # a good notice after it: once it is relayed, the rejected return would have been too
    assert (
        await client.post("/v1/exclusion-notices", json=make_notice(), headers=tokens.headers("intake"))
    ).status_code == 202
    await wait_relayed(app)
    assert await count_messages(settings, NOTICES) == 1
    assert await count_messages(settings, RECORDS) == 0


# --------------------------------------------------------------------------- body size


def _oversized() -> bytes:
    head, tail = b'{"notice_id": "N-big", "notes": "', b'"}'
    return head + b"a" * (MAX + 1 - len(head) - len(tail)) + tail


async def _chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


@pytest.mark.parametrize("path", ["/v1/exclusion-notices", "/v1/la-returns"])
async def test_body_over_5_mib_with_content_length_is_413(path, intake, tokens) -> None:
    app, client = intake
    body = _oversized()
    assert len(body) == MAX + 1
    response = await client.post(
        path, content=body, headers={**tokens.headers("intake"), "content-type": "application/json"}
    )
    assert "content-length" in {k.lower() for k in response.request.headers}
    assert_problem(response, 413)


async def test_chunked_json_body_over_5_mib_is_413(intake, tokens) -> None:
    app, client = intake
    response = await client.post(
        "/v1/exclusion-notices",
        content=_chunks(_oversized()),
        headers={**tokens.headers("intake"), "content-type": "application/json"},
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_problem(response, 413)


async def test_chunked_csv_body_over_its_own_limit_is_413(settings_factory, tokens) -> None:
    """A CSV return is streamed: its limit is SIGNPOST_MAX_CSV_BYTES (64 MiB as shipped), set low here."""
    settings = settings_factory(max_csv_bytes=MAX)
    row = to_csv([csv_row()]).split("\r\n", 1)[1].encode()
    body = to_csv([]).encode() + row * (MAX // len(row) + 1)
    assert len(body) > MAX
    async with running_app(build_app(settings, tokens)) as client:
        response = await client.post(
            "/v1/la-returns/csv?la_code=305&return_id=R-big",
            content=_chunks(body),
            headers={**tokens.headers("intake"), "content-type": "text/csv"},
        )
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert_problem(response, 413)
    assert await count_messages(settings, RECORDS) == 0


async def test_body_of_exactly_5_mib_is_not_413(intake, tokens) -> None:
    app, client = intake
    head, tail = b'{"notice_id": "N-big", "notes": "', b'"}'
    body = head + b"a" * (MAX - len(head) - len(tail)) + tail
    response = await client.post(
        "/v1/exclusion-notices",
        content=body,
        headers={**tokens.headers("intake"), "content-type": "application/json"},
    )
    assert_problem(response, 422)  # read in full, then refused as an invalid notice


# --------------------------------------------------------------------------- authentication and roles


async def test_no_token_or_unknown_token_is_401_with_www_authenticate(intake, tokens) -> None:
    app, client = intake
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ):
        response = await client.post("/v1/exclusion-notices", json=make_notice(), headers=headers)
        assert_problem(response, 401)
        assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


async def test_authentication_comes_before_body_validation(intake, tokens) -> None:
    app, client = intake
    invalid = make_notice(sessions=..., school_urn="bad")
    assert_problem(await client.post("/v1/exclusion-notices", json=invalid), 401)
    assert_problem(await client.post("/v1/la-returns/csv", params={"la_code": "3"}, content=b"x"), 401)
    assert_problem(
        await client.post("/v1/exclusion-notices", json=invalid, headers=tokens.headers("ops")), 403
    )


async def test_no_token_and_malformed_json_is_401(intake) -> None:
    app, client = intake
    response = await client.post(
        "/v1/exclusion-notices", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 401)


@pytest.mark.parametrize("role", ["inclusion_team", "ops", "ias", "exclusions_officer", "reu", "nas"])
async def test_roles_without_intake_get_403(role, intake, settings, tokens) -> None:
    app, client = intake
    response = await client.post("/v1/exclusion-notices", json=make_notice(), headers=tokens.headers(role))
    assert_problem(response, 403)


async def test_admin_may_post(intake, tokens) -> None:
    app, client = intake
    response = await client.post("/v1/exclusion-notices", json=make_notice(), headers=tokens.headers("admin"))
    assert response.status_code == 202, response.text


async def test_token_limited_to_an_la_may_post_only_for_that_la(intake, settings, tokens) -> None:
    app, client = intake
    elsewhere = make_notice(la_code="334")
    response = await client.post(
        "/v1/exclusion-notices", json=elsewhere, headers=tokens.headers("intake_305")
    )
    assert_problem(response, 403)
    assert (
        await client.post("/v1/calls", json=make_call(la_code="334"), headers=tokens.headers("intake_305"))
    ).status_code == 403
    assert (
        await client.post(
            "/v1/la-returns", json=make_return(la_code="334"), headers=tokens.headers("intake_305")
        )
    ).status_code == 403
    csv_403 = await client.post(
        "/v1/la-returns/csv?la_code=334&return_id=R-1",
        content=to_csv([csv_row()]),
        headers={**tokens.headers("intake_305"), "content-type": "text/csv"},
    )
    assert csv_403.status_code == 403
    home = make_notice(la_code="305")
    response = await client.post("/v1/exclusion-notices", json=home, headers=tokens.headers("intake_305"))
    assert response.status_code == 202, response.text
    await wait_relayed(app)
    [msg] = await consume_all(settings, NOTICES, expected=1, timeout=5)
    assert msg.headers["ce_id"] == f"notice:{home['notice_id']}"  # the refused notice was not published


# role × endpoint ----------------------------------------------------------------------------

EXPECTED = {
    None: 401,
    "unknown": 401,
    "intake": 202,
    "admin": 202,
    "intake_305": 202,  # the payloads are for LA 305
    "inclusion_team": 403,
    "ops": 403,
    "ias": 403,
    "exclusions_officer": 403,
    "reu": 403,
    "nas": 403,
}
MATRIX_ENDPOINTS = ["exclusion-notices", "calls", "la-returns", "la-returns/csv"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def shared_intake(kafka_bootstrap, tmp_path_factory, tokens) -> AsyncIterator:
    settings = build_settings(kafka_bootstrap, tmp_path_factory.mktemp("intake-matrix"))
    app = build_app(settings, tokens)
    async with running_app(app) as client:
        yield app, client


def _request(endpoint: str) -> dict:
    if endpoint == "exclusion-notices":
        return {"url": "/v1/exclusion-notices", "json": make_notice(la_code="305")}
    if endpoint == "calls":
        return {"url": "/v1/calls", "json": make_call(la_code="305")}
    if endpoint == "la-returns":
        return {"url": "/v1/la-returns", "json": make_return(la_code="305")}
    return {
        "url": "/v1/la-returns/csv",
        "params": {"la_code": "305", "return_id": new_id("R")},
        "content": to_csv([csv_row(), csv_row()]),
        "headers": {"content-type": "text/csv"},
    }


@pytest.mark.parametrize("endpoint", MATRIX_ENDPOINTS)
@pytest.mark.parametrize("role", list(EXPECTED))
async def test_every_role_against_every_intake_endpoint(role, endpoint, shared_intake, tokens) -> None:
    app, client = shared_intake
    request = _request(endpoint)
    headers = dict(request.pop("headers", {}))
    if role == "unknown":
        headers["Authorization"] = "Bearer unknown-token"
    elif role is not None:
        headers.update(tokens.headers(role))
    response = await client.post(**request, headers=headers)
    assert response.status_code == EXPECTED[role], response.text
    if EXPECTED[role] == 202:
        assert response.json()["status"] == "accepted"
    else:
        assert response.headers["content-type"].startswith(PROBLEM)


async def test_ops_endpoints_need_no_token(shared_intake) -> None:
    app, client = shared_intake
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert "text/plain" in metrics.headers["content-type"]


# --------------------------------------------------------------------------- unavailable


async def test_store_down_is_503_with_retry_after_and_a_retry_after_recovery_succeeds(
    intake, settings, tokens, monkeypatch
) -> None:
    app, client = intake
    eventlog = app.state.intake.eventlog

    def broken_append(batch):  # noqa: ANN001, ANN202 - failure injection only
        raise OperationalError("INSERT INTO intake_submissions", {}, Exception("disk I/O error"))

    monkeypatch.setattr(eventlog, "append", broken_append)
    notice = make_notice()
    response = await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
    problem = assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0
    assert "disk I/O" not in problem.get("detail", "")

    monkeypatch.undo()
    retry = await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))
    assert retry.status_code == 202, retry.text
    await wait_relayed(app)
    [msg] = await consume_all(settings, NOTICES, expected=1, timeout=5)
    assert msg.headers["ce_id"] == f"notice:{notice['notice_id']}"


async def test_broker_unavailable_is_503_and_not_ready_but_healthy(settings_factory, tokens) -> None:
    settings = settings_factory(kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}")
    app = build_app(settings, tokens)
    async with serve_app(app) as client:
        await asyncio.sleep(0.3)  # give the relay a chance to fail to connect
        response = await client.post(
            "/v1/exclusion-notices", json=make_notice(), headers=tokens.headers("intake")
        )
        assert_problem(response, 503)
        assert int(response.headers["retry-after"]) > 0
        ready = await client.get("/readyz")
        assert_problem(ready, 503)
        assert "retry-after" in ready.headers
        health = await client.get("/healthz")
        assert health.status_code == 200
        # refused means refused: nothing went into the event log
        assert await asyncio.to_thread(app.state.intake.eventlog.last_seq) == 0


# --------------------------------------------------------------------------- event id collisions


async def test_distinct_returns_whose_ids_contain_colons_are_both_accepted(intake, settings, tokens) -> None:
    app, client = intake
    base = f"X{valid_upn()[1:6]}"
    first = make_return(return_id=base, records=[make_record(record_id="a:b")])
    second = make_return(return_id=f"{base}:a", records=[make_record(record_id="b")])
    assert (
        await client.post("/v1/la-returns", json=first, headers=tokens.headers("intake"))
    ).status_code == 202
    response = await client.post("/v1/la-returns", json=second, headers=tokens.headers("intake"))
    assert response.status_code == 202, response.text
