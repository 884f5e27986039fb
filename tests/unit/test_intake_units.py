"""Pure units of the intake service: CSV reading, idempotency outcome, relay loss check, submissions."""

from __future__ import annotations

import csv
import io
import json

import pytest
from factories import make_call, make_notice, make_record, make_return
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.intake import Call, ExclusionNotice, LAReturn, LAReturnRecordSubmitted
from schemas.pupil import child_key, person_key, upn_key
from schemas.topics import CALLS, EXCLUSION_NOTICES, LA_RETURN_RECORDS
from services.common.relay_state import broker_lost_events
from services.intake import csv_returns
from services.intake.csv_returns import (
    COLUMNS,
    CsvHeaderError,
    LineSplitter,
    check_header,
    parse_rows,
    row_to_record,
)
from services.intake.idempotency import idempotency_outcome
from services.intake.submissions import (
    call_event_id,
    call_submission,
    notice_event_id,
    notice_submission,
    return_record_event_id,
    return_submission,
)

# --------------------------------------------------------------------------- LineSplitter


def split(data: bytes, sizes: list[int] | int) -> list[str]:
    """Feed `data` in chunks (a fixed size or a list of cut sizes) and collect the lines."""
    splitter, out, i, k = LineSplitter(), [], 0, 0
    while i < len(data):
        size = sizes if isinstance(sizes, int) else sizes[k % len(sizes)]
        out += splitter.feed(data[i : i + max(size, 1)])
        i += max(size, 1)
        k += 1
    return out + splitter.feed(b"", final=True)


def rows_of(text: str) -> list[list[str]]:
    """How the csv module reads the text as a file opened with newline='' (the reference)."""
    return list(csv.reader(io.StringIO(text, newline="")))


SAMPLE = (
    "record_id,last_name,first_name\r\n"
    'R1,"O\'Brien, Jr","Zoë"\r\n'
    'R2,"multi\r\nline ""quoted"" name",Ann\r\n'
    'R3,"a,b,c","x\ny"\n'
    "R4,plain,Ünïcödé\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 64, 10_000])
def test_line_splitter_gives_the_same_rows_whatever_the_chunk_size(size: int) -> None:
    data = ("\ufeff" + SAMPLE).encode()
    lines = split(data, size)
    assert "".join(lines) == SAMPLE  # the BOM is dropped, nothing else changes
    assert list(csv.reader(lines)) == rows_of(SAMPLE)


def test_line_splitter_holds_back_a_line_whose_quote_is_still_open() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'h1,h2\nR1,"open\n') == []  # the second line's field continues
    assert splitter.feed(b'still open",x\nR2,y\n') == ["h1,h2\n", 'R1,"open\n', 'still open",x\n', "R2,y\n"]
    assert splitter.feed(b"", final=True) == []


def test_line_splitter_chunk_boundary_inside_quotes_and_inside_a_multibyte_character() -> None:
    data = 'a,"x\n€,y"\nb,c\n'.encode()
    cut_in_euro = data.index("€".encode()) + 1
    for cut in range(1, len(data)):
        lines = split(data, [cut, len(data)])
        assert list(csv.reader(lines)) == [["a", "x\n€,y"], ["b", "c"]], cut
    assert cut_in_euro  # (one of the cuts above splits € itself)


def test_line_splitter_returns_the_last_line_without_a_newline_at_the_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"h\nlast") == ["h\n"]
    assert splitter.feed(b"", final=True) == ["last"]
    assert LineSplitter().feed(b"", final=True) == []


def test_line_splitter_rejects_bytes_that_are_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        LineSplitter().feed("Zoë\n".encode("latin-1"), final=True)


cell = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t;é€Z0')), max_size=8)
table = st.lists(st.lists(cell, min_size=1, max_size=4), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(table, st.lists(st.integers(1, 9), min_size=1, max_size=8), st.booleans())
def test_line_splitter_reads_any_csv_as_the_csv_module_does(
    rows: list[list[str]], cuts: list[int], bom: bool
) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    text = buffer.getvalue()
    data = (("\ufeff" if bom else "") + text).encode()
    lines = split(data, cuts)
    assert "".join(lines) == text
    assert list(csv.reader(lines)) == rows_of(text)


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x85"])
def test_line_splitter_breaks_lines_only_at_newlines(separator: str) -> None:
    text = f"a,b\r\n1,Smith{separator}Jones\r\n2,x\r\n"
    assert (
        list(csv.reader(split(text.encode(), 4)))
        == rows_of(text)
        == [["a", "b"], ["1", f"Smith{separator}Jones"], ["2", "x"]]
    )


# --------------------------------------------------------------------------- header and rows


def test_check_header_accepts_every_column_in_any_case_and_spacing() -> None:
    header = [f"  {c.upper()} " for c in reversed(COLUMNS)]
    assert check_header(header) == list(reversed(COLUMNS))


def test_check_header_names_missing_and_unknown_columns() -> None:
    with pytest.raises(CsvHeaderError) as missing:
        check_header([c for c in COLUMNS if c not in ("upn", "start_date")])
    assert str(missing.value).startswith("missing column(s): start_date, upn.")
    assert "The first row must be the header: record_id, kind, school_urn" in str(missing.value)

    with pytest.raises(CsvHeaderError) as unknown:
        check_header([*COLUMNS, "Nickname", "notes"])
    # positions, never the cells: a CSV without its header row would echo a pupil's details
    assert str(unknown.value).startswith(f"unknown column(s) at position(s) {len(COLUMNS) + 1}, {len(COLUMNS) + 2}.")
    assert "nickname" not in str(unknown.value).lower()

    with pytest.raises(CsvHeaderError) as both:
        check_header(["record_id", "kind", "colour"])
    message = str(both.value)
    assert message.startswith(
        "missing column(s): date_of_birth, first_name, last_name, school_urn, start_date, upn; unknown column(s) at position(s) 3."
    )


def test_check_header_refuses_a_column_twice() -> None:
    with pytest.raises(CsvHeaderError, match="twice"):
        check_header([*COLUMNS, "UPN"])


def test_row_to_record_nests_the_pupil_splits_reason_codes_and_drops_empty_cells() -> None:
    names = list(COLUMNS)
    values = [
        "R1",
        "suspension",
        "101676",
        " A123 ",
        "Zoë",
        "O'Brien, Jr",
        "2014-05-01",
        "",
        "K",
        "",
        "true",
        "false",
        "  ",
        "2025-03-03",
        "",
        "4",
        "db; pa ;;VA",
    ]
    assert row_to_record(names, values) == {
        "record_id": "R1",
        "kind": "suspension",
        "school_urn": "101676",
        "start_date": "2025-03-03",
        "sessions": 4,  # typed for the strict model: the contract's whole numbers and true/false
        "reason_codes": ["DB", "PA", "VA"],
        "pupil": {
            "upn": "A123",
            "first_name": "Zoë",
            "last_name": "O'Brien, Jr",
            "date_of_birth": "2014-05-01",
            "sen_status": "K",
            "suspected_send": True,
            "looked_after": False,
        },
    }
    assert row_to_record(["record_id"], [""]) == {"pupil": {}}


def test_parse_rows_numbers_lines_skips_blanks_and_flags_wrong_widths() -> None:
    text = 'record_id,kind,school_urn,upn,first_name,last_name,date_of_birth,start_date\n\nR1,k,1,U,"Ann\nMarie",B,d,s\nR2,short\nR3,k,1,U,A,B,d,s\n'
    state: dict = {}
    out = list(parse_rows(text.splitlines(keepends=True)[:2], state))
    out += list(
        parse_rows(text.splitlines(keepends=True)[2:], state)
    )  # the header is remembered across calls
    assert [(line, error is None) for line, _, error in out] == [(4, True), (5, False), (6, True)]
    assert out[0][1]["pupil"]["first_name"] == "Ann\nMarie"
    assert out[1][2] == "has 2 cells; the header has 8"
    assert out[2][1]["record_id"] == "R3"


def test_parse_rows_raises_for_a_bad_header() -> None:
    with pytest.raises(CsvHeaderError):
        list(parse_rows(["a,b\n", "1,2\n"], {}))


def test_csv_module_exports() -> None:
    assert set(csv_returns.REQUIRED) <= set(COLUMNS)
    assert set(csv_returns.PUPIL) <= set(COLUMNS)


# --------------------------------------------------------------------------- idempotency outcome


def test_idempotency_outcome() -> None:
    assert idempotency_outcome(None, "h1") == "accepted"
    assert idempotency_outcome("h1", "h1") == "duplicate"
    assert idempotency_outcome("h1", "h2") == "conflict"


# --------------------------------------------------------------------------- relay loss check


def test_broker_lost_events() -> None:
    expected = {"p.exclusion-notices.v1:0": (4, "notice:N-5"), "p.calls.v1:2": (0, "call:C-1")}
    assert broker_lost_events({}, {}) is False
    assert broker_lost_events(expected, dict(expected)) is False
    # after a JSON round trip the remembered values are lists: still the same message
    from_json = {k: list(v) for k, v in json.loads(json.dumps(expected)).items()}
    assert broker_lost_events(from_json, dict(expected)) is False
    assert broker_lost_events(expected, {**expected, "p.calls.v1:2": None}) is True  # gone (restarted empty)
    assert (
        broker_lost_events(expected, {**expected, "p.calls.v1:2": (0, "call:OTHER")}) is True
    )  # another message there
    assert broker_lost_events(expected, {**expected, "p.exclusion-notices.v1:0": (3, "notice:N-5")}) is True
    assert (
        broker_lost_events(expected, {"p.calls.v1:2": (0, "call:C-1")}) is True
    )  # a partition not looked at
    # more on the broker than we published (another producer) is no loss
    assert broker_lost_events(expected, {**expected, "p.calls.v1:1": (9, "call:X")}) is False


# --------------------------------------------------------------------------- submissions


def test_event_ids() -> None:
    assert notice_event_id("N-1") == "notice:N-1"
    assert call_event_id("C-1") == "call:C-1"
    assert return_record_event_id("R-1", "REC-9") == "la-return:R-1|REC-9"


def test_notice_submission() -> None:
    payload = make_notice()
    notice = ExclusionNotice.model_validate(payload)
    submission = notice_submission(notice, accepted_at="2025-03-03T09:00:01.000000Z")
    assert (submission.kind, submission.source_id) == ("exclusion_notice", payload["notice_id"])
    [record] = submission.records
    assert record.topic == EXCLUSION_NOTICES.name  # logical: the relay adds the prefix
    assert record.event_id == f"notice:{payload['notice_id']}"
    assert record.ce_type == EXCLUSION_NOTICES.ce_type
    assert record.ce_time == "2025-03-03T09:00:01.000000Z"
    assert record.key == child_key("305", notice.pupil) == upn_key(notice.pupil.upn)
    assert json.loads(record.value) == notice.model_dump(mode="json")
    assert len(submission.body_hash) == 64
    # the hash is of the body, not of when it came
    assert notice_submission(notice, accepted_at="2030-01-01T00:00:00Z").body_hash == submission.body_hash
    assert notice_submission(notice).records[0].ce_time.endswith("Z")


def test_call_submission_keys_a_child_without_upn_by_person() -> None:
    call = Call.model_validate(make_call(pupil_overrides={"upn": None}))
    submission = call_submission(call)
    [record] = submission.records
    assert (submission.kind, record.topic, record.ce_type) == ("call", CALLS.name, CALLS.ce_type)
    assert record.event_id == f"call:{call.call_id}"
    assert record.key == person_key(call.la_code, call.pupil)
    assert record.key.startswith("p:")


def _reordered_text(payload: dict) -> str:
    def reorder(value):  # noqa: ANN001, ANN202
        if isinstance(value, dict):
            return {k: reorder(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reorder(v) for v in value]
        return value

    return json.dumps(reorder(payload), indent=4, ensure_ascii=True)


def test_body_hash_is_the_same_for_semantically_equal_notices() -> None:
    payload = make_notice()
    compact = ExclusionNotice.model_validate_json(
        json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    )
    reordered = ExclusionNotice.model_validate_json(_reordered_text(payload))
    other_spelling = dict(
        payload,
        notified_at="2025-03-03T10:00:00+01:00",  # the same instant
        pupil={**payload["pupil"], "upn": " " + payload["pupil"]["upn"].lower() + " "},
    )
    equal = ExclusionNotice.model_validate(other_spelling)
    hashes = {notice_submission(n).body_hash for n in (compact, reordered, equal)}
    assert len(hashes) == 1

    for change in ({"sessions": 5}, {"notes": "x"}, {"reason_codes": ["DB", "PP"]}):
        assert (
            notice_submission(ExclusionNotice.model_validate({**payload, **change})).body_hash not in hashes
        )


def test_body_hash_is_the_same_for_semantically_equal_calls() -> None:
    payload = make_call(incident_dates=["2025-03-07", "2025-03-05"])
    same = dict(
        payload, incident_dates=["2025-03-05", "2025-03-07", "2025-03-05"], received_at="2025-03-10T14:00:00"
    )
    a = call_submission(Call.model_validate_json(json.dumps(payload)))
    b = call_submission(Call.model_validate_json(_reordered_text(same)))
    assert a.body_hash == b.body_hash
    assert call_submission(Call.model_validate({**payload, "summary": "other"})).body_hash != a.body_hash


def test_return_submission_one_record_each_and_a_stable_hash() -> None:
    payload = make_return(n_records=3)
    la_return = LAReturn.model_validate(payload)
    submission = return_submission(la_return, accepted_at="2025-04-01T08:30:01.000000Z")
    assert (submission.kind, submission.source_id) == ("la_return", payload["return_id"])
    assert len(submission.records) == 3
    for rec, log_record in zip(la_return.records, submission.records, strict=True):
        assert log_record.topic == LA_RETURN_RECORDS.name and log_record.ce_type == LA_RETURN_RECORDS.ce_type
        assert log_record.event_id == f"la-return:{la_return.return_id}|{rec.record_id}"
        assert log_record.key == child_key(la_return.la_code, rec.pupil)
        travelling = LAReturnRecordSubmitted.model_validate_json(log_record.value)
        assert travelling.record == rec
        assert (travelling.return_id, travelling.la_code, travelling.period_start, travelling.period_end) == (
            la_return.return_id, la_return.la_code, la_return.period_start, la_return.period_end
        )  # fmt: skip
        assert travelling.submitted_at == la_return.submitted_at

    again = return_submission(
        LAReturn.model_validate_json(_reordered_text(dict(payload, submitted_at="2025-04-01T09:30:00+01:00")))
    )
    assert again.body_hash == submission.body_hash
    changed = json.loads(json.dumps(payload))
    changed["records"][2]["sessions"] += 1
    assert return_submission(LAReturn.model_validate(changed)).body_hash != submission.body_hash
    moved = dict(payload, period_end="2025-04-30")
    assert return_submission(LAReturn.model_validate(moved)).body_hash != submission.body_hash


def test_return_hash_tells_records_apart_from_their_boundaries() -> None:
    one = make_return(records=[make_record(record_id="A"), make_record(record_id="B")])
    fewer = dict(one, records=one["records"][:1])
    assert (
        return_submission(LAReturn.model_validate(one)).body_hash
        != return_submission(LAReturn.model_validate(fewer)).body_hash
    )
