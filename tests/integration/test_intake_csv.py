"""POST /v1/la-returns/csv against a real broker: parsing, all-or-nothing validation, streaming."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime

import pytest
import pytest_asyncio
from conftest import consume_all, count_messages, running_app, wait_relayed
from factories import CSV_HEADER, csv_row, invalid_upn, new_id, to_csv

from schemas.intake import LAReturnRecord, LAReturnRecordSubmitted
from schemas.pupil import child_key
from schemas.topics import LA_RETURN_RECORDS
from services.intake.app import build_app

pytestmark = pytest.mark.integration

RECORDS = LA_RETURN_RECORDS.name
PROBLEM = "application/problem+json"


@pytest_asyncio.fixture
async def intake(settings, tokens) -> AsyncIterator:
    app = build_app(settings, tokens)
    async with running_app(app) as client:
        yield app, client


async def post_csv(
    client,
    tokens,
    body,
    *,
    la_code: str = "305",
    return_id: str | None = None,
    role: str = "intake",
    **params,
):
    query = {"la_code": la_code, "return_id": return_id or new_id("R"), **params}
    return await client.post(
        "/v1/la-returns/csv",
        params=query,
        content=body,
        headers={**tokens.headers(role), "content-type": "text/csv"},
    )


def expected_record(row: dict) -> LAReturnRecord:
    """What a CSV row means, written independently of the service's parser."""
    pupil = {
        k: row[k]
        for k in (
            "upn",
            "first_name",
            "last_name",
            "date_of_birth",
            "year_group",
            "sen_status",
            "sen_primary_need",
        )
        if row[k]
    }
    for flag in ("suspected_send", "looked_after", "has_social_worker"):
        if row[flag]:
            pupil[flag] = {"true": True, "false": False}[row[flag]]
    record: dict = {
        "record_id": row["record_id"],
        "kind": row["kind"],
        "school_urn": row["school_urn"],
        "pupil": pupil,
        "start_date": row["start_date"],
    }
    if row["end_date"]:
        record["end_date"] = row["end_date"]
    if row["sessions"]:
        record["sessions"] = int(row["sessions"])
    if row["reason_codes"]:
        record["reason_codes"] = row["reason_codes"].split(";")
    return LAReturnRecord.model_validate(record)


def three_rows() -> list[dict]:
    return [
        csv_row(
            reason_codes="DB;PA",
            suspected_send="true",
            looked_after="false",
            start_date="2025-02-10",
            end_date="2025-02-11",
            sessions="4",
        ),
        csv_row(
            kind="part_time_timetable",
            sessions="",
            reason_codes="",
            sen_status="K",
            sen_primary_need="SEMH",
            has_social_worker="",
            start_date="2025-01-20",
        ),
        csv_row(
            kind="permanent_exclusion",
            sessions="",
            reason_codes="PA",
            year_group="",
            sen_status="",
            suspected_send="",
            start_date="2025-03-05",
        ),
    ]


def problem_of(response, status: int = 422) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()


# --------------------------------------------------------------------------- accepted


async def test_csv_with_three_rows_is_accepted_and_each_record_published(intake, settings, tokens) -> None:
    app, client = intake
    rows = three_rows()
    return_id = new_id("R")
    response = await post_csv(client, tokens, to_csv(rows), return_id=return_id)
    assert response.status_code == 202, response.text
    assert response.json() == {"id": return_id, "status": "accepted", "records": 3}

    messages = await consume_all(settings, RECORDS, expected=3, timeout=10)
    assert len(messages) == 3
    by_id = {m.headers["ce_id"]: m for m in messages}
    for row in rows:
        msg = by_id[f"la-return:{return_id}|{row['record_id']}"]
        assert msg.headers["ce_type"] == LA_RETURN_RECORDS.ce_type
        got = LAReturnRecordSubmitted.model_validate_json(msg.value)
        assert got.return_id == return_id and got.la_code == "305"
        assert got.record == expected_record(row)
        assert msg.key == child_key("305", got.record.pupil)
    first = LAReturnRecordSubmitted.model_validate_json(
        by_id[f"la-return:{return_id}|{rows[0]['record_id']}"].value
    ).record
    assert [c.value for c in first.reason_codes] == ["DB", "PA"]
    assert (
        first.pupil.suspected_send is True
        and first.pupil.looked_after is False
        and first.pupil.has_social_worker is True
    )
    second = LAReturnRecordSubmitted.model_validate_json(
        by_id[f"la-return:{return_id}|{rows[1]['record_id']}"].value
    ).record
    assert second.sessions is None and second.reason_codes == [] and second.end_date is None
    assert second.pupil.has_social_worker is False  # empty = absent = the default
    third = LAReturnRecordSubmitted.model_validate_json(
        by_id[f"la-return:{return_id}|{rows[2]['record_id']}"].value
    ).record
    assert third.pupil.year_group is None and third.pupil.sen_status.value == "unknown"


async def test_period_comes_from_query_parameters_or_else_from_the_records(intake, settings, tokens) -> None:
    app, client = intake
    rows = three_rows()  # start dates 2025-02-10, 2025-01-20, 2025-03-05
    given = await post_csv(client, tokens, to_csv(rows), period_start="2025-01-01", period_end="2025-03-31")
    assert given.status_code == 202, given.text
    derived_rows = three_rows()
    derived = await post_csv(client, tokens, to_csv(derived_rows))
    assert derived.status_code == 202, derived.text

    messages = await consume_all(settings, RECORDS, expected=6, timeout=10)
    periods = {}
    for m in messages:
        got = LAReturnRecordSubmitted.model_validate_json(m.value)
        periods.setdefault(got.return_id, set()).add((got.period_start, got.period_end))
    assert periods[given.json()["id"]] == {(date(2025, 1, 1), date(2025, 3, 31))}
    assert periods[derived.json()["id"]] == {(date(2025, 1, 20), date(2025, 3, 5))}
    for m in messages:
        assert isinstance(LAReturnRecordSubmitted.model_validate_json(m.value).submitted_at, datetime)


async def test_bom_quoted_comma_and_crlf_are_read(intake, settings, tokens) -> None:
    app, client = intake
    rows = [csv_row(last_name="O'Brien, Jr", first_name='Sean "Shay"'), csv_row()]
    body = b"\xef\xbb\xbf" + to_csv(rows, newline="\r\n").encode()
    return_id = new_id("R")
    response = await post_csv(client, tokens, body, return_id=return_id)
    assert response.status_code == 202, response.text
    assert response.json()["records"] == 2
    messages = await consume_all(settings, RECORDS, expected=2, timeout=10)
    names = {LAReturnRecordSubmitted.model_validate_json(m.value).record.pupil.last_name for m in messages}
    firsts = {LAReturnRecordSubmitted.model_validate_json(m.value).record.pupil.first_name for m in messages}
    assert "O'Brien, Jr" in names
    assert 'Sean "Shay"' in firsts


async def test_body_streamed_in_7_byte_chunks_reads_as_one_chunk_does(intake, settings, tokens) -> None:
    app, client = intake
    rows = [
        csv_row(last_name="Smith, Jones", first_name="Zoë"),
        csv_row(last_name='Quoted "x", y'),
        csv_row(reason_codes="DB;PA;VA"),
    ]
    body = ("\ufeff" + to_csv(rows)).encode()

    async def tiny() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 7):  # cuts through the BOM, multi-byte ë, quotes and CRLFs
            yield body[i : i + 7]

    whole = await post_csv(client, tokens, body)
    chunked = await post_csv(client, tokens, tiny())
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert whole.status_code == chunked.status_code == 202, (whole.text, chunked.text)
    assert whole.json()["records"] == chunked.json()["records"] == 3

    messages = await consume_all(settings, RECORDS, expected=6, timeout=10)
    by_return: dict[str, list] = {}
    for m in messages:
        got = LAReturnRecordSubmitted.model_validate_json(m.value)
        by_return.setdefault(got.return_id, []).append(got.record)
    one = sorted(by_return[whole.json()["id"]], key=lambda r: r.record_id)
    seven = sorted(by_return[chunked.json()["id"]], key=lambda r: r.record_id)
    assert one == seven == sorted((expected_record(r) for r in rows), key=lambda r: r.record_id)

    # and the same for errors: a bad row found through tiny chunks is reported at the same index and line
    bad = [csv_row(), csv_row(upn=invalid_upn())]
    bad_body = to_csv(bad).encode()

    async def tiny_bad() -> AsyncIterator[bytes]:
        for i in range(0, len(bad_body), 7):
            yield bad_body[i : i + 7]

    a = problem_of(await post_csv(client, tokens, bad_body))
    b = problem_of(await post_csv(client, tokens, tiny_bad()))
    assert a["errors"] == b["errors"]
    assert a["errors"][0]["loc"][:2] == ["records", 1] and a["errors"][0]["line"] == 3


async def test_blank_lines_and_a_missing_final_newline_are_fine(intake, tokens) -> None:
    app, client = intake
    body = to_csv([csv_row(), csv_row()]).replace("\r\n", "\n")
    lines = body.rstrip("\n").split("\n")
    body = lines[0] + "\n\n" + lines[1] + "\n" + lines[2]  # a blank line, no newline at the end
    response = await post_csv(client, tokens, body)
    assert response.status_code == 202, response.text
    assert response.json()["records"] == 2


# --------------------------------------------------------------------------- rejected


async def test_unknown_column_is_422_at_header(intake, settings, tokens) -> None:
    app, client = intake
    body = to_csv([dict(csv_row(), nickname="Zed")], header=CSV_HEADER + ",nickname")
    problem = problem_of(await post_csv(client, tokens, body))
    assert problem["errors"][0]["loc"] == ["header"]
    assert "unknown column(s) at position(s) 18" in problem["errors"][0]["msg"]
    assert "Zed" not in json.dumps(problem) and "nickname" not in json.dumps(problem)


async def test_missing_required_column_is_422_at_header(intake, tokens) -> None:
    app, client = intake
    header = CSV_HEADER.replace("date_of_birth,", "")
    problem = problem_of(await post_csv(client, tokens, to_csv([csv_row()], header=header)))
    assert problem["errors"][0]["loc"] == ["header"]
    assert "date_of_birth" in problem["errors"][0]["msg"]
    assert "missing" in problem["errors"][0]["msg"]


async def test_only_optional_columns_may_be_left_out(intake, settings, tokens) -> None:
    app, client = intake
    header = (
        "record_id,kind,school_urn,upn,first_name,last_name,date_of_birth,start_date,sessions,reason_codes"
    )
    response = await post_csv(client, tokens, to_csv([csv_row(), csv_row()], header=header))
    assert response.status_code == 202, response.text


async def test_duplicate_column_is_422_at_header(intake, tokens) -> None:
    app, client = intake
    problem = problem_of(await post_csv(client, tokens, to_csv([csv_row()], header=CSV_HEADER + ",upn")))
    assert problem["errors"][0]["loc"] == ["header"]


async def test_row_with_the_wrong_number_of_cells_is_422_at_its_index_and_line(
    intake, settings, tokens
) -> None:
    app, client = intake
    rows = to_csv([csv_row(), csv_row(), csv_row()]).split("\r\n")
    rows[2] = rows[2] + ",extra"  # data row 2 (index 1) on line 3
    problem = problem_of(await post_csv(client, tokens, "\r\n".join(rows)))
    [error] = problem["errors"]
    assert error["loc"] == ["records", 1]
    assert error["line"] == 3
    assert "cells" in error["msg"]
    await wait_relayed(app)
    assert await count_messages(settings, RECORDS) == 0


async def test_bad_rows_2_and_5_are_listed_by_index_and_line_and_nothing_is_published(
    intake, settings, tokens
) -> None:
    app, client = intake
    rows = [csv_row() for _ in range(6)]
    rows[1]["upn"] = invalid_upn(rows[1]["upn"])  # data row 2 → index 1, line 3
    rows[4]["sessions"] = ""  # data row 5 → index 4, line 6 (a suspension needs sessions)
    rows[1]["last_name"] = "Featherstonehaugh"
    return_id = new_id("R")
    response = await post_csv(client, tokens, to_csv(rows), return_id=return_id)
    problem = problem_of(response)
    by_index = {}
    for e in problem["errors"]:
        assert e["loc"][0] == "records", e
        by_index.setdefault(e["loc"][1], set()).add(e["line"])
    assert by_index == {1: {3}, 4: {6}}
    assert ["records", 1, "pupil", "upn"] in [e["loc"] for e in problem["errors"]]
    assert rows[1]["upn"] not in response.text and "Featherstonehaugh" not in response.text
    assert "nothing was accepted" in problem["detail"]

    await wait_relayed(app)
    assert await count_messages(settings, RECORDS) == 0
    # nothing was accepted: the corrected CSV under the same return id is a first acceptance
    rows[1]["upn"], rows[4]["sessions"] = csv_row()["upn"], "2"
    fixed = await post_csv(client, tokens, to_csv(rows), return_id=return_id)
    assert fixed.status_code == 202, fixed.text
    assert len(await consume_all(settings, RECORDS, expected=6, timeout=10)) == 6


async def test_a_row_after_a_multi_line_quoted_cell_has_the_right_line_number(intake, tokens) -> None:
    app, client = intake
    rows = [csv_row(last_name="Smith\nJones"), csv_row(upn=invalid_upn())]  # row 1 spans lines 2-3
    problem = problem_of(await post_csv(client, tokens, to_csv(rows)))
    lines = {e["loc"][1]: e["line"] for e in problem["errors"] if len(e["loc"]) > 1}
    assert lines[1] == 4


async def test_empty_csv_and_header_only_are_422(intake, tokens) -> None:
    app, client = intake
    empty = problem_of(await post_csv(client, tokens, b""))
    assert empty["errors"][0]["loc"] == ["header"]
    header_only = problem_of(await post_csv(client, tokens, CSV_HEADER + "\r\n"))
    assert header_only["errors"][0]["loc"] == ["records"]


async def test_csv_that_is_not_utf8_is_422(intake, tokens) -> None:
    app, client = intake
    body = to_csv([csv_row(last_name="Zoë")]).encode("latin-1")
    problem = problem_of(await post_csv(client, tokens, body))
    assert problem["errors"][0]["loc"] == ["body"]


async def test_wrong_content_type_is_415(intake, tokens) -> None:
    app, client = intake
    response = await client.post(
        "/v1/la-returns/csv",
        params={"la_code": "305", "return_id": new_id("R")},
        json={"records": []},
        headers=tokens.headers("intake"),
    )
    assert response.status_code == 415
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_bad_query_parameters_are_422(intake, tokens) -> None:
    app, client = intake
    body = to_csv([csv_row()])
    for params in (
        {"la_code": "30", "return_id": "R1"},
        {"la_code": "305", "return_id": "R 1"},
        {"la_code": "305"},
    ):
        response = await client.post(
            "/v1/la-returns/csv",
            params=params,
            content=body,
            headers={**tokens.headers("intake"), "content-type": "text/csv"},
        )
        assert response.status_code == 422, (params, response.text)
    bad_period = problem_of(
        await post_csv(client, tokens, body, period_start="2025-03-31", period_end="2025-01-01")
    )
    assert bad_period["errors"]


# --------------------------------------------------------------------------- idempotency and privacy


async def test_identical_csv_again_is_a_duplicate(intake, settings, tokens) -> None:
    app, client = intake
    body, return_id = to_csv([csv_row(), csv_row()]), new_id("R")
    assert (await post_csv(client, tokens, body, return_id=return_id)).status_code == 202
    again = await post_csv(client, tokens, body, return_id=return_id)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "duplicate"


async def test_different_csv_under_the_same_return_id_is_a_conflict(intake, settings, tokens) -> None:
    app, client = intake
    return_id = new_id("R")
    assert (await post_csv(client, tokens, to_csv([csv_row()]), return_id=return_id)).status_code == 202
    response = await post_csv(client, tokens, to_csv([csv_row(), csv_row()]), return_id=return_id)
    assert response.status_code == 409, response.text
    await wait_relayed(app)
    assert await count_messages(settings, RECORDS) == 1


async def test_csv_without_a_header_row_does_not_echo_the_first_row(intake, tokens) -> None:
    app, client = intake
    row = csv_row(first_name="Persephone", last_name="Blackwood-Vane")
    body = to_csv([row, csv_row()]).split("\r\n", 1)[1]  # header row left out
    response = await post_csv(client, tokens, body)
    problem = problem_of(response)
    assert problem["errors"][0]["loc"] == ["header"]
    text = response.text.lower()
    for secret in (row["upn"], "persephone", "blackwood"):
        assert secret.lower() not in text


async def test_a_return_of_100000_rows_is_accepted_with_the_default_limits(intake, settings, tokens):
    """~10 MiB: over the JSON body limit (5 MiB), well under the CSV return's own (64 MiB)."""
    app, client = intake
    template = to_csv([csv_row(record_id="REC-0")]).split("\r\n")[1]
    rows = [template.replace("REC-0", f"REC-{i}", 1) for i in range(100_000)]
    body = (CSV_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode()
    assert len(body) > settings.max_body_bytes
    response = await post_csv(client, tokens, body)
    assert response.status_code == 202, response.text[:500]
    assert response.json()["records"] == 100_000


async def test_one_bad_row_in_100000_rejects_the_return_naming_it_and_nothing_is_published(intake, settings, tokens):
    """The column-wise path declines and the model words the problem: the row, its field, its line."""
    app, client = intake
    template = to_csv([csv_row(record_id="REC-0")]).split("\r\n")[1]
    rows = [template.replace("REC-0", f"REC-{i}", 1) for i in range(100_000)]
    good = csv_row()["upn"]
    rows[76_543] = to_csv([csv_row(record_id="REC-76543", upn=invalid_upn(good))]).split("\r\n")[1]
    body = (CSV_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode()
    problem = problem_of(await post_csv(client, tokens, body))
    assert [e["loc"] for e in problem["errors"]] == [["records", 76_543, "pupil", "upn"]]
    assert problem["errors"][0]["line"] == 76_545
    await wait_relayed(app)
    assert await count_messages(settings, RECORDS) == 0


def _rows_of_one_template(n: int, **cells: str) -> list[str]:
    template = to_csv([csv_row(record_id="REC-0", **cells)]).split("\r\n")[1]
    return [template.replace("REC-0", f"REC-{i}", 1) for i in range(n)]


async def test_a_return_over_a_relay_batch_is_published_once_each_in_row_order(intake, settings, tokens):
    """25,000 rows, more than one relay batch: every record published once, each child's in row order."""
    app, client = intake
    templates = [to_csv([csv_row(record_id="REC-0")]).split("\r\n")[1] for _ in range(7)]  # seven children
    rows = [templates[i % 7].replace("REC-0", f"REC-{i}", 1) for i in range(25_000)]
    return_id = new_id("R")
    response = await post_csv(client, tokens, (CSV_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode(), return_id=return_id)
    assert response.status_code == 202, response.text[:500]
    await wait_relayed(app, timeout=60)
    messages = await consume_all(settings, RECORDS, expected=25_000, timeout=60)
    ids = [m.headers["ce_id"] for m in messages]
    assert len(ids) == 25_000 and set(ids) == {f"la-return:{return_id}|REC-{i}" for i in range(25_000)}
    by_key: dict[str | None, list[int]] = {}
    for m in messages:
        by_key.setdefault(m.key, []).append(int(m.headers["ce_id"].rsplit("-", 1)[1]))
    assert len(by_key) == 7
    assert all(rows_of_child == sorted(rows_of_child) for rows_of_child in by_key.values())


async def test_a_bad_last_row_of_25000_rejects_the_return_and_nothing_is_logged_or_published(intake, settings, tokens):
    app, client = intake
    rows = _rows_of_one_template(25_000)
    rows[-1] = to_csv([csv_row(record_id="REC-24999", upn=invalid_upn(csv_row()["upn"]))]).split("\r\n")[1]
    last_seq = await asyncio.to_thread(app.state.intake.eventlog.last_seq)
    problem = problem_of(await post_csv(client, tokens, (CSV_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode()))
    assert [e["loc"] for e in problem["errors"]] == [["records", 24_999, "pupil", "upn"]]
    assert await asyncio.to_thread(app.state.intake.eventlog.last_seq) == last_seq
    await wait_relayed(app)
    assert await count_messages(settings, RECORDS) == 0
