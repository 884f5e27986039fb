"""Issue 11 at the intake: cancellations (R-CANCEL: refused over 45 days) and the LA return's new
optional fields, in JSON and CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from conftest import consume_all, running_app
from factories import (
    csv_row,
    make_notice,
    make_proceeding,
    make_pupil,
    make_record,
    make_return,
    new_id,
    to_csv,
)

from schemas.intake import ExclusionCancellation, LAReturnRecordSubmitted
from schemas.topics import EXCLUSION_CANCELLATIONS, LA_RETURN_RECORDS
from services.intake.app import build_app

pytestmark = pytest.mark.integration
REFUSED = "https://signpost.example/problems/cancellation-refused"


@pytest_asyncio.fixture
async def intake(settings, tokens) -> AsyncIterator:
    app = build_app(settings, tokens)
    async with running_app(app) as client:
        yield app, client


def cancellation(pupil: dict, start: str, **kw) -> dict:
    return {"cancellation_id": new_id("X"), "school_urn": "101676", "la_code": "305", "pupil": pupil, "start_date": start,
            "cancelled_at": "2025-03-20T09:00:00Z", **kw}  # fmt: skip


async def test_a_cancellation_is_accepted_published_and_idempotent(intake, settings, tokens) -> None:
    _, client = intake
    pupil = make_pupil()
    notice = make_notice(school_urn="101676", la_code="305", pupil=pupil, start_date="2025-03-03", sessions=4)
    assert (await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))).status_code == 202
    body = cancellation(pupil, "2025-03-03", reason="the head reviewed the evidence")
    response = await client.post("/v1/exclusion-cancellations", json=body, headers=tokens.headers("intake"))
    assert response.status_code == 202, response.text
    again = await client.post("/v1/exclusion-cancellations", json=body, headers=tokens.headers("intake"))
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    [msg] = await consume_all(settings, EXCLUSION_CANCELLATIONS.name, expected=1)
    assert msg.headers["ce_id"] == f"cancellation:{body['cancellation_id']}"
    assert ExclusionCancellation.model_validate_json(msg.value).start_date.isoformat() == "2025-03-03"


async def test_a_cancellation_over_45_days_is_refused_with_a_problem(intake, settings, tokens) -> None:
    _, client = intake
    pupil = make_pupil()
    for start, sessions in (("2024-11-04", 60), ("2025-01-13", 30), ("2025-03-03", 2)):  # 46 days, reported before the cancellation
        notice = make_notice(school_urn="101676", la_code="305", pupil=pupil, start_date=start, end_date=None, sessions=sessions,
                             notified_at=f"{start}T09:00:00Z")  # fmt: skip
        assert (await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))).status_code == 202
    response = await client.post("/v1/exclusion-cancellations", json=cancellation(pupil, "2025-03-03"), headers=tokens.headers("intake"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["type"], problem["title"]) == (REFUSED, "Cancellation refused")
    assert "46 school days" in problem["detail"] and pupil["upn"] not in response.text
    # at exactly 45 (another child) it is allowed
    other = make_pupil()
    for start, sessions in (("2024-11-04", 60), ("2025-01-13", 30)):
        notice = make_notice(school_urn="101676", la_code="305", pupil=other, start_date=start, end_date=None, sessions=sessions, notified_at=f"{start}T09:00:00Z")
        assert (await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))).status_code == 202
    assert (await client.post("/v1/exclusion-cancellations", json=cancellation(other, "2025-01-13"), headers=tokens.headers("intake"))).status_code == 202


async def test_a_cancellation_without_a_upn_is_422(intake, tokens) -> None:
    _, client = intake
    pupil = make_pupil()
    del pupil["upn"]
    response = await client.post("/v1/exclusion-cancellations", json=cancellation(pupil, "2025-03-03"), headers=tokens.headers("intake"))
    assert response.status_code == 422


async def test_return_records_carry_the_new_optional_fields_in_json_and_csv(intake, settings, tokens) -> None:
    _, client = intake
    ptt = make_record(kind="part_time_timetable", sessions=..., reason_codes=[], review_date="2025-03-14", timetable_reason="behaviour")
    move = make_record(kind="managed_move", sessions=..., reason_codes=[], trial=True, intended_return_date="2025-04-28")
    response = await client.post("/v1/la-returns", json=make_return(records=[ptt, move]), headers=tokens.headers("intake"))
    assert response.status_code == 202, response.text
    rows = [csv_row(kind="part_time_timetable", sessions="", reason_codes="", review_date="2025-03-14", timetable_reason="medical"),
            csv_row(kind="managed_move", sessions="", reason_codes="", trial="true", intended_return_date="2025-04-28")]  # fmt: skip
    header = "record_id,kind,school_urn,upn,first_name,last_name,date_of_birth,start_date,review_date,timetable_reason,trial,intended_return_date"
    response = await client.post("/v1/la-returns/csv?la_code=305&return_id=" + new_id("R"), content=to_csv(rows, header=header),
                                 headers={**tokens.headers("intake"), "content-type": "text/csv"})  # fmt: skip
    assert response.status_code == 202, response.text
    messages = await consume_all(settings, LA_RETURN_RECORDS.name, expected=4)
    records = [LAReturnRecordSubmitted.model_validate_json(m.value).record for m in messages]
    assert {(r.kind, r.timetable_reason, r.trial) for r in records} >= {("part_time_timetable", "behaviour", False), ("managed_move", None, True),
                                                                        ("part_time_timetable", "medical", False)}  # fmt: skip
    bad = [csv_row(kind="managed_move", sessions="", reason_codes="", trial="yes")]
    response = await client.post("/v1/la-returns/csv?la_code=305&return_id=" + new_id("R"), content=to_csv(bad, header=header + ""),
                                 headers={**tokens.headers("intake"), "content-type": "text/csv"})  # fmt: skip
    assert response.status_code == 422


@pytest.mark.parametrize("la, urn, refused", [("305", "101676", False), ("334", "104119", True)])
async def test_the_school_year_of_the_total_is_the_schools_own(intake, tokens, la, urn, refused) -> None:
    """Bromley's 2024/25 starts on Tue 27 Aug 2024, Solihull's on Mon 2 Sep: a suspension on 28 Aug is in a new
    school year in Bromley (the 46 days before it are last year's) but in the same one in Solihull."""
    _, client = intake
    pupil = make_pupil()
    for start, sessions in (("2024-07-15", 90), ("2024-08-28", 2)):
        notice = make_notice(school_urn=urn, la_code=la, pupil=pupil, start_date=start, end_date=None, sessions=sessions, notified_at=f"{start}T09:00:00Z")
        assert (await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))).status_code == 202
    body = {**cancellation(pupil, "2024-08-28"), "school_urn": urn, "la_code": la, "cancelled_at": "2024-08-29T09:00:00Z"}
    response = await client.post("/v1/exclusion-cancellations", json=body, headers=tokens.headers("intake"))
    assert response.status_code == (422 if refused else 202), response.text


async def test_a_cancellation_after_the_governing_board_decided_on_the_suspension_is_refused_and_a_retry_of_an_accepted_one_is_a_duplicate(intake, tokens) -> None:
    _, client = intake
    pupil = make_pupil()
    notice = make_notice(school_urn="101676", la_code="305", pupil=pupil, start_date="2025-03-03", end_date=None, sessions=4, notified_at="2025-03-03T09:00:00Z")
    assert (await client.post("/v1/exclusion-notices", json=notice, headers=tokens.headers("intake"))).status_code == 202
    accepted = cancellation(pupil, "2025-03-03", cancelled_at="2025-03-04T09:00:00Z")
    assert (await client.post("/v1/exclusion-cancellations", json=accepted, headers=tokens.headers("intake"))).status_code == 202
    decision = make_proceeding("governing-board-decisions", pupil, school_urn="101676", la_code="305", exclusion_start_date="2025-03-03",
                               exclusion_category="suspension", decided_on="2025-03-12")  # fmt: skip
    assert (await client.post("/v1/governing-board-decisions", json=decision, headers=tokens.headers("intake"))).status_code == 202
    # the board has met: a new cancellation of that suspension is refused...
    response = await client.post("/v1/exclusion-cancellations", json=cancellation(pupil, "2025-03-03", cancelled_at="2025-03-20T09:00:00Z"),
                                 headers=tokens.headers("intake"))  # fmt: skip
    assert response.status_code == 422, response.text
    assert response.json()["type"] == REFUSED and "governing board" in response.json()["detail"]
    # ...while the one accepted before it, sent again, is the duplicate it was
    again = await client.post("/v1/exclusion-cancellations", json=accepted, headers=tokens.headers("intake"))
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
