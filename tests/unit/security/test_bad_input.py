"""Bad input gets a problem+json 4xx with the field path, never a 500 or an echo (issue 12, item 8).

Each case is one the issue found failing. The apps run without their lifespan (no broker, no
store): everything here is refused before either is touched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from conftest import TestTokens, build_settings
from factories import make_call, make_notice, make_return

from services.alerts.app import build_app as alerts_app
from services.intake.app import build_app as intake_app
from services.referrals.app import build_app as referrals_app

UPN = "W305541021101"
HEADER = "record_id,kind,school_urn,upn,first_name,last_name,date_of_birth,start_date,sessions,reason_codes,suspected_send\n"


def row(first_name: str = "Amara", suspected_send: str = "false", sessions: str = "4") -> str:
    return f"r1,suspension,101676,{UPN},{first_name},Okafor,2011-03-14,2024-09-16,{sessions},DB,{suspected_send}\n"


@pytest_asyncio.fixture
async def call(tmp_path: Path, tokens: TestTokens) -> AsyncIterator:
    settings = build_settings(None, tmp_path)
    apps = {"intake": intake_app(settings, tokens), "alerts": alerts_app(settings, tokens), "referrals": referrals_app(settings, tokens)}

    async def request(service: str, role: str, method: str, path: str, **kw) -> httpx.Response:  # noqa: ANN003
        transport = httpx.ASGITransport(app=apps[service], raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, headers=tokens.headers(role) | kw.pop("headers", {}), **kw)

    yield request


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert UPN not in response.text and "Amara" not in response.text, "an error never echoes input"
    return response.json()


@pytest.mark.parametrize("field,value", [
    ("notified_at", "0001-01-01T00:00:00+03:04"),   # OverflowError converting to UTC
    ("notified_at", "9999-12-31T23:59:59-01:00"),
    ("notified_at", "0001-01-01T00:00:00Z"),
])  # fmt: skip
async def test_calendar_edge_times_are_422(call, field: str, value: str) -> None:  # noqa: ANN001
    body = problem(await call("intake", "intake", "POST", "/v1/exclusion-notices", json={**make_notice(), field: value}), 422)
    assert body["errors"][0]["loc"] == [field]


async def test_a_call_received_in_year_1_is_422(call) -> None:  # noqa: ANN001
    body = problem(await call("intake", "intake", "POST", "/v1/calls", json={**make_call(), "received_at": "0001-01-01T00:00:00Z"}), 422)
    assert body["errors"][0]["loc"] == ["received_at"]


async def test_a_period_start_in_year_1_is_422(call) -> None:  # noqa: ANN001
    body = problem(await call("intake", "intake", "POST", "/v1/la-returns", json={**make_return(), "period_start": "0001-01-01"}), 422)
    assert ["period_start"] in [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize("value", ["yes", "true", 1])
async def test_only_json_booleans_are_booleans(call, value: object) -> None:  # noqa: ANN001
    notice = make_notice()
    response = await call("intake", "intake", "POST", "/v1/exclusion-notices", json={**notice, "pupil": {**notice["pupil"], "suspected_send": value}})
    assert problem(response, 422)["errors"][0]["loc"] == ["pupil", "suspected_send"]


async def test_a_number_as_a_string_is_refused(call) -> None:  # noqa: ANN001
    response = await call("intake", "intake", "POST", "/v1/exclusion-notices", json={**make_notice(), "sessions": "4"})
    assert problem(response, 422)["errors"][0]["loc"] == ["sessions"]


async def csv_post(call, text: str) -> httpx.Response:  # noqa: ANN001
    return await call("intake", "intake", "POST", "/v1/la-returns/csv?la_code=305&return_id=R1&period_start=2024-09-01&period_end=2024-12-31",
                      content=text.encode(), headers={"content-type": "text/csv"})


@pytest.mark.parametrize("cells,expected", [
    ({"first_name": "A" * 140_000}, "over 131072 characters"),
    ({"first_name": "Am\rara"}, "carriage return"),
])  # fmt: skip
async def test_unreadable_csv_rows_are_422_with_their_line(call, cells: dict, expected: str) -> None:  # noqa: ANN001
    body = problem(await csv_post(call, HEADER + row() .replace("r1", "r0") + row(**cells)), 422)
    assert [(e["loc"], e["line"]) for e in body["errors"]] == [(["records", 1], 3)]
    assert expected in body["errors"][0]["msg"]


async def test_yes_is_not_a_csv_boolean(call) -> None:  # noqa: ANN001
    body = problem(await csv_post(call, HEADER + row(suspected_send="yes")), 422)
    assert [e["loc"] for e in body["errors"]] == [["records", 0, "pupil", "suspected_send"]]


async def test_a_well_formed_csv_row_is_typed_for_the_strict_model(call) -> None:  # noqa: ANN001
    response = await csv_post(call, HEADER + row(suspected_send="TRUE"))
    assert response.status_code == 503, response.text  # past validation: only the absent broker refuses it


@pytest.mark.parametrize("service,role,path", [
    ("intake", "intake", "/v1/calls"),
    ("alerts", "inclusion_team", "/v1/alerts/al_x/snooze"),
    ("referrals", "ias", "/v1/referrals/ref_x/decline"),
])  # fmt: skip
@pytest.mark.parametrize("body", [b'{"reason": "Amara', b"\xff\xfe{", b"{not json"])
async def test_a_body_that_is_not_json_is_422_in_every_service(call, service: str, role: str, path: str, body: bytes) -> None:  # noqa: ANN001
    """As the intake always answered; alerts and referrals answered a bare 400 for a body not UTF-8."""
    response = await call(service, role, "POST", path, content=body, headers={"content-type": "application/json"})
    assert problem(response, 422)["errors"] == [{"loc": [], "msg": "the body is not well-formed JSON"}]


async def test_a_snooze_until_year_1_with_an_offset_is_422(call) -> None:  # noqa: ANN001
    response = await call("alerts", "inclusion_team", "POST", "/v1/alerts/al_x/snooze", json={"until": "0001-01-01T00:00:00+03:04", "reason": "r"})
    assert problem(response, 422)["errors"][0]["loc"] == ["until"]
