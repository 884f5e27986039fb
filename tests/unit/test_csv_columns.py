"""The CSV return's fast path (csv_columns) against the model path it stands in for.

Golden rule: for any CSV, the fast path either gives the very log records (topic, ce_id, key, value
bytes, CloudEvents time) and idempotency hash that `LAReturn` + `return_submission` give, or it
declines (None) and the model decides. It never accepts what the model refuses."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime

import orjson
import pytest
from factories import valid_upn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.codes import ReturnRecordKind
from schemas.intake import LAReturn
from services.intake import csv_columns, csv_returns
from services.intake.csv_returns import COLUMNS
from services.intake.eventlog import Submission
from services.intake.submissions import ReturnHeader, csv_return_submission, return_submission

ACCEPTED_AT = "2025-04-01T08:30:01.000000Z"
SUBMITTED_AT = datetime(2025, 4, 1, 8, 30, 0, 123456, tzinfo=UTC)
TODAY = date.today()
UPN = valid_upn("801200005001")

# Cells in the one form the model writes back (fast), in other forms the model takes (lower case,
# any-case booleans, reason codes with spaces), and cells the model refuses.
CANONICAL: dict[str, list[str]] = {
    "kind": [k.value for k in ReturnRecordKind],
    "school_urn": ["100000", "886123"],
    "upn": [UPN, valid_upn("886400012345"), valid_upn("20512345678A")],
    "first_name": ["Amir", "Zoë", 'O"Brien', "Smith, Jr", "Anne-Marie", "x" * 100, "Łukasz 😀", "back\\slash", "two\nlines"],
    "last_name": ["Khan", "Ní Bhriain", "d'Arcy"],
    "date_of_birth": ["2013-09-14", "2010-02-28", "2008-02-29"],
    "year_group": ["", "7", "R", "N1", "14"],
    "sen_status": ["", "N", "K", "E", "unknown"],
    "sen_primary_need": ["", "ASD", "SEMH"],
    "suspected_send": ["", "true", "false"],
    "looked_after": ["", "false", "true"],
    "has_social_worker": ["", "true"],
    "start_date": ["2025-02-10", "2025-01-20", "2024-11-04"],
    "end_date": ["", "2025-03-01"],
    "sessions": ["1", "4", "1000", "007"],
    "reason_codes": ["PA", "DB;PA", "BU;VP;DS"],
    "review_date": ["", "2025-04-01"],
    "timetable_reason": ["", "medical", "reintegration"],
    "trial": ["", "true", "false"],
    "intended_return_date": ["", "2025-05-01"],
}
OTHER_VALID: dict[str, list[str]] = {
    "upn": [UPN.lower(), f"  {UPN}  "],
    "first_name": ["  padded  "],
    "year_group": ["r", "n2", " 10 "],
    "suspected_send": ["TRUE", "False"],
    "trial": ["True"],
    "sessions": ["", " 2 "],
    "reason_codes": ["", "pa; db", "PA;", ";", " bu "],
    "end_date": [""],
    "timetable_reason": ["behaviour", "other"],
}
INVALID: dict[str, list[str]] = {
    "kind": ["Suspension", "lunchtime", ""],
    "school_urn": ["12345", "1234567", "１２３４５６", ""],
    "upn": ["A801200005001", "B80120000500", "", "B80120000500I"],
    "first_name": ["", "x" * 101],
    "date_of_birth": ["2013-9-14", "1989-12-31", "2999-01-01", "2013-02-30", "", "14/09/2013"],
    "year_group": ["15", "Y7"],
    "sen_status": ["X", "n"],
    "sen_primary_need": ["asd", "XYZ"],
    "looked_after": ["yes", "1"],
    "start_date": ["2025-13-01", "", "2013-09-14", "2045-01-01", "2014-09-14", "2101-01-01", "2025-02-10T00:00:00"],
    "end_date": ["2024-01-01", "bad"],
    "sessions": ["0", "1001", "٣", "2.5", "-1", "1234567890"],
    "reason_codes": ["PA;PA", "PA;DB;BU;VP", "ZZ"],
    "review_date": ["1989-01-01"],
    "timetable_reason": ["Medical"],
    "trial": ["maybe"],
}


def model_submission(names: list[str], rows: list[list[str]], la_code: str, return_id: str,
                     period_start: str | None, period_end: str | None) -> Submission | None:  # fmt: skip
    """The model path as the route had it before the fast path: cells → dicts → LAReturn (strict JSON)."""
    doc = csv_returns.return_document(names, list(rows), return_id=return_id, la_code=la_code, period_start=period_start,
                                      period_end=period_end, submitted_at=SUBMITTED_AT)  # fmt: skip
    try:
        la_return = LAReturn.model_validate_json(orjson.dumps(doc), strict=True)
    except ValidationError:
        return None
    return return_submission(la_return, ACCEPTED_AT, hash_submitted_at=False)


def fast_submission(names: list[str], rows: list[list[str]], la_code: str, return_id: str,
                    period_start: str | None, period_end: str | None) -> Submission | None:  # fmt: skip
    checked = csv_columns.check_rows(names, rows, TODAY)
    period = csv_columns.check_period(period_start, period_end, checked) if checked else None
    if checked is None or period is None:
        return None
    return csv_return_submission(ReturnHeader(return_id, la_code, period[0], period[1], SUBMITTED_AT), checked, ACCEPTED_AT)


def read_back(names: list[str], rows: list[list[str]], bom: bool, chunk: int) -> tuple[list[str], list[list[str]]]:
    """Through the real reader: csv quoting, an optional BOM, the body in chunks."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([names, *rows])
    body = (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()
    splitter, state, cells = csv_returns.LineSplitter(), {}, []
    for i in range(0, len(body), chunk):
        cells += [v for _, v, _ in csv_returns.parse_cells(splitter.feed(body[i : i + chunk]), state)]
    cells += [v for _, v, _ in csv_returns.parse_cells(splitter.feed(b"", final=True), state)]
    return state["names"], cells


def assert_same(fast: Submission | None, model: Submission | None) -> None:
    if fast is not None:
        assert model is not None, "the fast path accepted a return the model refuses"
        assert fast == model  # records (topic, ce_id, key, ce_type, ce_time, value bytes) and the idempotency hash


@st.composite
def returns(draw: st.DrawFn, mix: tuple[dict[str, list[str]], ...]) -> tuple[list[str], list[list[str]], str | None, str | None, bool, int]:
    names = list(COLUMNS) if draw(st.booleans()) else list(COLUMNS[:17])
    names = draw(st.permutations(names))
    n = draw(st.integers(1, 12))
    rows = []
    for i in range(n):
        row = []
        for name in names:
            if name == "record_id":
                row.append(draw(st.sampled_from([f"REC-{i}", f"REC-{i}", " REC-x ", "REC 1", ""] if len(mix) > 1 else [f"REC-{i}"])))
                continue
            pool = [v for table in mix for v in table.get(name, [])]
            row.append(draw(st.sampled_from(pool)) if pool else "")
        rows.append(row)
    period = st.sampled_from([None, None, "2024-09-01", "2025-08-31", "2025-1-1", ""])
    return names, rows, draw(period), draw(period), draw(st.booleans()), draw(st.sampled_from([7, 64, 1 << 20]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(returns((CANONICAL,)))
def test_canonical_rows_take_the_fast_path_to_the_same_records(drawn) -> None:
    names, rows, start, end, bom, chunk = drawn
    names, rows = read_back(names, rows, bom, chunk)
    model = model_submission(names, rows, "886", "R-1", start, end)
    fast = fast_submission(names, rows, "886", "R-1", start, end)
    assert_same(fast, model)
    if model is not None:  # rows in the model's own form: the fast path vouches for them all
        assert fast is not None


@st.composite
def with_odd_cells(draw: st.DrawFn, base: st.SearchStrategy, odd: tuple[dict[str, list[str]], ...]) -> tuple:
    """A canonical return with one to three cells replaced: one odd cell decides the return."""
    names, rows, start, end, bom, chunk = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        i, name = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from([n for n in names if any(n in t for t in odd)]))
        rows[i][names.index(name)] = draw(st.sampled_from([v for t in odd for v in t.get(name, [])]))
    return names, rows, start, end, bom, chunk


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(with_odd_cells(returns((CANONICAL,)), (OTHER_VALID, INVALID)))
def test_odd_cells_give_the_models_records_or_are_left_to_the_model(drawn) -> None:
    names, rows, start, end, bom, chunk = drawn
    names, rows = read_back(names, rows, bom, chunk)
    assert_same(fast_submission(names, rows, "886", "R-1", start, end), model_submission(names, rows, "886", "R-1", start, end))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(returns((CANONICAL, OTHER_VALID, INVALID)))
def test_any_rows_give_the_models_records_or_are_left_to_the_model(drawn) -> None:
    names, rows, start, end, bom, chunk = drawn
    names, rows = read_back(names, rows, bom, chunk)
    assert_same(fast_submission(names, rows, "886", "R-1", start, end), model_submission(names, rows, "886", "R-1", start, end))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(with_odd_cells(returns((CANONICAL,)), (OTHER_VALID,)))
def test_rows_the_model_rewrites_are_written_as_the_model_writes_them(drawn) -> None:
    names, rows, start, end, bom, chunk = drawn
    names, rows = read_back(names, rows, bom, chunk)
    model = model_submission(names, rows, "886", "R-1", start, end)
    fast = fast_submission(names, rows, "886", "R-1", start, end)
    assert_same(fast, model)
    if model is not None:  # valid rows in another form: the model decides each, the return still takes the fast path
        assert fast is not None


def test_a_large_generated_return_is_byte_identical_record_by_record() -> None:
    rng = random.Random(7)
    names = list(COLUMNS)
    rows = [[f"REC-{i}" if name == "record_id" else rng.choice(CANONICAL[name] + OTHER_VALID.get(name, [])) for name in names] for i in range(3000)]
    for row in rows:  # a suspension needs sessions and reasons
        row[names.index("sessions")] = row[names.index("sessions")].strip() or "2"
        if not csv_returns.row_to_record(["reason_codes"], [row[names.index("reason_codes")]]).get("reason_codes"):
            row[names.index("reason_codes")] = "PA"
    model = model_submission(names, rows, "886", "R-big", None, None)
    fast = fast_submission(names, rows, "886", "R-big", None, None)
    assert model is not None and fast is not None
    for got, want in zip(fast.records, model.records, strict=True):
        assert got == want
    assert fast.body_hash == model.body_hash


@pytest.mark.parametrize(
    ("column", "cell"),
    [("upn", "A801200005001"), ("sessions", ""), ("reason_codes", ""), ("end_date", "2025-01-01"), ("date_of_birth", "2024-01-01")],
)
def test_one_bad_row_makes_the_fast_path_decline(column: str, cell: str) -> None:
    names = list(COLUMNS[:17])
    good = dict(zip(names, ["R1", "suspension", "100000", UPN, "Amir", "Khan", "2013-09-14", "7", "N", "", "", "", "", "2025-02-10", "", "2", "PA"],
                        strict=True))  # fmt: skip
    rows = [[good[n] if n != "record_id" else f"R{i}" for n in names] for i in range(5)]
    assert csv_columns.check_rows(names, rows, TODAY) is not None
    rows[3][names.index(column)] = cell
    assert csv_columns.check_rows(names, rows, TODAY) is None


def test_a_record_id_twice_makes_the_fast_path_decline() -> None:
    names = list(COLUMNS[:17])
    row = ["R1", "sent_home", "100000", UPN, "Amir", "Khan", "2013-09-14", "", "", "", "", "", "", "2025-02-10", "", "", ""]
    assert csv_columns.check_rows(names, [row, [*row]], TODAY) is None


def test_a_birth_before_1990_is_left_to_the_model_even_at_a_pupils_age() -> None:
    names = list(COLUMNS[:17])
    row = ["R1", "sent_home", "100000", UPN, "Amir", "Khan", "1989-06-01", "", "", "", "", "", "", "1995-09-04", "", "", ""]
    assert model_submission(names, [row], "886", "R-1", None, None) is None
    assert csv_columns.check_rows(names, [row], TODAY) is None


@pytest.mark.parametrize(
    ("born", "start"),
    [("2013-09-14", "2015-09-13"), ("2013-09-14", "2015-09-14"), ("2013-09-14", "2039-09-13"), ("2013-09-14", "2039-09-14"),
     ("2008-02-29", "2010-02-28"), ("2008-02-29", "2010-03-01"), ("2008-02-29", "2034-02-28"), ("2008-02-29", "2034-03-01")],
)  # fmt: skip
def test_a_pupils_age_at_its_edges_is_decided_as_the_model_decides(born: str, start: str) -> None:
    names = list(COLUMNS[:17])
    row = ["R1", "sent_home", "100000", UPN, "Amir", "Khan", born, "", "", "", "", "", "", start, "", "", ""]
    model = model_submission(names, [row], "886", "R-1", None, None)
    assert (fast_submission(names, [row], "886", "R-1", None, None) is None) == (model is None)
