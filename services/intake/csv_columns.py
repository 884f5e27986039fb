"""An LA return's CSV rows checked a column at a time, straight into their records' JSON (pure).

The fast path of POST /v1/la-returns/csv. Building an `LAReturnRecord` per row cost ~20 µs of the
~20 µs a row may take end to end (docs/benchmarks.md). Here each column is checked once over its
*distinct* values with precompiled checks (100,000 rows hold a few hundred dates and a dozen codes),
then the record's own rules (`LAReturnRecord._consistent`) run once per row on plain values.

A row whose cells are not all in the one form the model itself would write back (a lower-case UPN,
` r` for a year group, a date that is not YYYY-MM-DD, an empty required cell) is handed to the
model, whose verdict and JSON stand for that row. So the fast path never decides a doubtful row:
it only vouches for rows whose JSON it can write exactly as `LAReturnRecord.model_dump_json` does
(tests/unit/test_csv_columns.py compares the two over generated rows).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import repeat

import orjson
from pydantic import ValidationError

from schemas.codes import YEAR_GROUPS, ExclusionReason, PartTimeReason, ReturnRecordKind, SenNeed, SenStatus
from schemas.intake import EARLIEST_YEAR, LATEST_YEAR, LAReturnRecord
from schemas.upn import UPN_FORMAT, check_letter
from services.intake import csv_cells as check
from services.intake.csv_cells import Value
from services.intake.csv_returns import row_to_record

# The model's patterns, for fullmatch (`$` in re would also take a trailing newline).
_EVENT_ID = re.compile(r"[A-Za-z0-9._:\-/]{1,128}")
_URN = re.compile(r"[0-9]{6}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # the only date strict JSON validation takes
_NAME = r'[^\s"\\\x00-\x1f](?:[^"\\\x00-\x1f]{0,98}[^\s"\\\x00-\x1f])?'  # 1-100 characters, stripped, nothing JSON escapes
_PLAIN = {
    name: re.compile(rf"(?:{cell})(?:\n(?:{cell}))*")
    for name, cell in {"record_id": _EVENT_ID.pattern, "upn": UPN_FORMAT.pattern, "first_name": _NAME, "last_name": _NAME}.items()
}
_ESCAPED = re.compile(r'[\x00-\x1f"\\]')  # what JSON writes escaped in a string

_KINDS = frozenset(k.value for k in ReturnRecordKind)
_SEN_STATUS = frozenset(s.value for s in SenStatus)
_SEN_NEED = frozenset(n.value for n in SenNeed)
_REASONS = frozenset(r.value for r in ExclusionReason)
_PART_TIME = frozenset(r.value for r in PartTimeReason)
_YEAR_GROUPS = frozenset(YEAR_GROUPS)
_NEED_REASONS = frozenset({ReturnRecordKind.suspension.value, ReturnRecordKind.permanent_exclusion.value})
_SUSPENSION = ReturnRecordKind.suspension.value



@dataclass(frozen=True, slots=True)
class CheckedRecords:
    """A return's records, every one valid: each record's JSON, record id and UPN, in row order."""

    jsons: list[bytes]
    record_ids: list[str]
    upns: list[str]
    first_start: str  # the earliest and latest start_date: the return's period when the query gives none
    last_start: str


def check_rows(names: Sequence[str], rows: Sequence[Sequence[str]], today: date) -> CheckedRecords | None:
    """The records of `rows` (cells under the header `names`), or None when any row is invalid.

    None means "ask the model": the caller validates the whole return with `LAReturn` to build the
    problem, so the errors (paths, messages, order) are the model's own."""
    n = len(rows)
    if not n or set(map(len, rows)) != {len(names)}:
        return None
    given = dict(zip(names, zip(*rows, strict=True), strict=True))
    blank = ("",) * n  # a column left out of the header reads as empty cells: absent, the model's default
    doubtful: set[int] = set()
    cells: dict[str, Sequence[str]] = {}
    values: dict[str, dict[str, Value]] = {}  # per column: each distinct cell → its value
    parts: list[Iterable[bytes]] = []  # per column: each row's `,"key":value` JSON
    dates: dict[str, date] = {}
    plain: set[str] = set()  # the columns `_plain` took

    converters = _columns(dates, today)
    for name, key in zip(_RECORD_ORDER, _KEYS, strict=True):
        convert = converters[name]
        column = given.get(name, blank)
        as_is = _plain(name, column, key)
        if as_is is not None:  # a column of (nearly) all-distinct cells, each already as the model writes it
            cells[name], values[name] = column, {}
            plain.add(name)
            parts.append(as_is)
            continue
        known: dict[str, Value] = {}
        as_json: dict[str, bytes] = {}
        bad: set[str] = set()
        for cell in set(column):  # each distinct cell once: a few hundred dates, a dozen codes
            try:
                known[cell] = value = convert(cell.strip())  # stripped, as csv_returns.row_to_record reads cells
            except check.Doubt:
                bad.add(cell)
                as_json[cell] = key + b"null"
                continue
            as_json[cell] = key + _json(value)
        if bad:
            doubtful.update(i for i, cell in enumerate(column) if cell in bad)
        cells[name], values[name] = column, known
        parts.append(map(as_json.__getitem__, column))
    parts.append(repeat(b"}", n))
    jsons = list(map(b"".join, zip(*parts, strict=True)))  # a record's JSON: its cells' JSON in the model's field order

    _check_records(cells, values, dates, doubtful)
    record_ids, upns = _as_written(cells, values, plain, "record_id"), _as_written(cells, values, plain, "upn")
    for i in sorted(doubtful):  # the model decides these rows
        try:
            record = LAReturnRecord.model_validate_json(orjson.dumps(row_to_record(list(names), list(rows[i]))), strict=True)
        except ValidationError:
            return None
        jsons[i], record_ids[i], upns[i] = record.model_dump_json().encode(), record.record_id, record.pupil.upn or ""  # a UPN: the model says so
    if len(set(record_ids)) != n:  # LAReturn._consistent: a record id appears twice
        return None
    starts = [str(v) for v in values["start_date"].values()]  # every row's start date is valid by now
    return CheckedRecords(jsons, record_ids, upns, min(starts), max(starts))


def _as_written(cells: dict[str, Sequence[str]], values: dict[str, dict[str, Value]], plain: set[str], name: str) -> list[str]:
    """A column's cells as the records hold them (a doubtful row's cell is the model's to replace)."""
    if name in plain:
        return list(cells[name])
    known = values[name]
    return [str(known.get(cell, "")) for cell in cells[name]]


def _plain(name: str, column: Sequence[str], key: bytes) -> list[bytes] | None:
    """Each cell's `,"key":"cell"` when the whole column is plain: one regex over the column joined by
    newlines (none inside a cell) instead of a check per distinct cell, for the columns of ids and names."""
    pattern = _PLAIN.get(name)
    if pattern is None:
        return None
    joined = "\n".join(column)
    if joined.count("\n") != len(column) - 1 or not pattern.fullmatch(joined):
        return None
    if name == "upn" and not all(check_letter(upn[1:]) == upn[0] for upn in set(column)):
        return None
    quoted = b'"\n' + key + b'"'
    return (key + b'"' + joined.encode().replace(b"\n", quoted) + b'"').split(b"\n")


def _json(value: Value) -> bytes:
    # A plain string needs only its quotes (orjson would allocate a buffer per call); orjson escapes
    # the rest exactly as pydantic does (tests/unit/test_csv_columns.py).
    if isinstance(value, str) and not _ESCAPED.search(value):
        return b'"' + value.encode() + b'"'
    return orjson.dumps(value)


def _check_records(cells: dict[str, Sequence[str]], values: dict[str, dict[str, Value]], dates: dict[str, date], doubtful: set[int]) -> None:
    """LAReturnRecord._consistent over the distinct combinations of cells; a row that breaks it is doubtful."""
    kind, sessions, reasons = values["kind"], values["sessions"], values["reason_codes"]
    triples = zip(cells["kind"], cells["sessions"], cells["reason_codes"], strict=True)
    needs = {(k, s, r) for k, s, r in set(triples)
             if (kind.get(k) == _SUSPENSION and sessions.get(s) is None) or (kind.get(k) in _NEED_REASONS and not reasons.get(r))}  # fmt: skip
    if needs:
        doubtful.update(i for i, t in enumerate(zip(cells["kind"], cells["sessions"], cells["reason_codes"], strict=True)) if t in needs)
    start, born, end = values["start_date"], values["date_of_birth"], values["end_date"]
    # A pupil's age on the start date is 2 to 25: the start is on or after the 2nd birthday and before
    # the 26th. ISO dates compare as text, so each birth date gives a range of start dates.
    ages = {cell: (f"{dates[b].year + 2:04d}{b[4:]}", f"{dates[b].year + 26:04d}{b[4:]}") for cell, b in born.items()}  # type: ignore[index,str-bytes-safe]
    outside = ("~", "")  # a doubtful birth date: no start date is in its range
    wrong = [i for i, (s, b) in enumerate(zip(cells["start_date"], cells["date_of_birth"], strict=True))
             if not ages.get(b, outside)[0] <= start.get(s, "") < ages.get(b, outside)[1]]  # type: ignore[operator]  # fmt: skip
    doubtful.update(wrong)
    early = {(s, e) for s, e in set(zip(cells["start_date"], cells["end_date"], strict=True))
             if start.get(s) is not None and end.get(e) is not None and end[e] < start[s]}  # type: ignore[operator]  # ISO dates compare as text  # fmt: skip
    if early:
        doubtful.update(i for i, pair in enumerate(zip(cells["start_date"], cells["end_date"], strict=True)) if pair in early)


def _columns(dates: dict[str, date], today: date) -> dict[str, Callable[[str], Value]]:
    """Each column and its check: a cell → its value as the model writes it, or check.Doubt."""

    def iso_date(cell: str, lowest: int = EARLIEST_YEAR, latest: date | None = None) -> str:
        if not _ISO_DATE.fullmatch(cell):
            raise check.Doubt
        try:
            day = date.fromisoformat(cell)
        except ValueError:
            raise check.Doubt from None
        if not lowest <= day.year <= LATEST_YEAR or (latest is not None and day > latest):
            raise check.Doubt
        dates[cell] = day
        return cell

    def optional_date(cell: str) -> str | None:
        return iso_date(cell) if cell else None

    return {
        "record_id": check.matching(_EVENT_ID),
        "kind": check.member(_KINDS),
        "school_urn": check.matching(_URN),
        "upn": check.upn,
        "first_name": check.name,
        "last_name": check.name,
        "date_of_birth": lambda c: iso_date(c, 1990, today),  # Pupil: not before 1990, not in the future
        "year_group": check.optional(_YEAR_GROUPS),
        "sen_status": lambda c: c if c in _SEN_STATUS else check.doubt() if c else SenStatus.unknown.value,
        "sen_primary_need": check.optional(_SEN_NEED),
        "suspected_send": check.flag,
        "looked_after": check.flag,
        "has_social_worker": check.flag,
        "start_date": iso_date,
        "end_date": optional_date,
        "sessions": check.sessions,
        "reason_codes": check.reason_codes,
        "review_date": optional_date,
        "timetable_reason": check.optional(_PART_TIME),
        "trial": check.flag,
        "intended_return_date": optional_date,
    }


def check_period(period_start: str | None, period_end: str | None, records: CheckedRecords) -> tuple[date, date] | None:
    """The return's period: the query's, else its records' first and last start dates; None when invalid."""
    first, last = period_start or records.first_start, period_end or records.last_start
    if not (_ISO_DATE.fullmatch(first) and _ISO_DATE.fullmatch(last)):
        return None
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return None
    if not (EARLIEST_YEAR <= start.year <= LATEST_YEAR and EARLIEST_YEAR <= end.year <= LATEST_YEAR) or end < start:
        return None
    return start, end


# LAReturnRecord's (and Pupil's) fields in the order model_dump_json writes them, each with the JSON before its value.
_RECORD_ORDER = (
    "record_id", "kind", "school_urn",
    "upn", "first_name", "last_name", "date_of_birth", "year_group", "sen_status", "sen_primary_need",
    "suspected_send", "looked_after", "has_social_worker",
    "start_date", "end_date", "sessions", "reason_codes", "review_date", "timetable_reason", "trial", "intended_return_date",
)  # fmt: skip
_KEYS = tuple(
    (b"{" if name == "record_id" else b"}," if name == "start_date" else b",") + (b'"pupil":{' if name == "upn" else b"") + orjson.dumps(name) + b":"
    for name in _RECORD_ORDER
)
