"""LA returns as CSV: read as the bytes arrive, one record a row (contract: POST /v1/la-returns/csv)."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator

COLUMNS = (
    "record_id",
    "kind",
    "school_urn",
    "upn",
    "first_name",
    "last_name",
    "date_of_birth",
    "year_group",
    "sen_status",
    "sen_primary_need",
    "suspected_send",
    "looked_after",
    "has_social_worker",
    "start_date",
    "end_date",
    "sessions",
    "reason_codes",
    # issue 11, item 5: optional, for part-time timetables and managed moves
    "review_date",
    "timetable_reason",
    "trial",
    "intended_return_date",
)
REQUIRED = frozenset({"record_id", "kind", "school_urn", "upn", "first_name", "last_name", "date_of_birth", "start_date"})
BOOLEANS = frozenset({"suspected_send", "looked_after", "has_social_worker", "trial"})
INTEGERS = frozenset({"sessions"})
PUPIL = frozenset(
    {"upn", "first_name", "last_name", "date_of_birth", "year_group", "sen_status", "sen_primary_need", "suspected_send", "looked_after", "has_social_worker"}
)


class CsvHeaderError(ValueError):
    pass


class LineSplitter:
    """Bytes in, complete CSV lines out; a quoted field may span lines and chunks."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._pending = ""

    def feed(self, chunk: bytes, final: bool = False) -> list[str]:
        text = self._pending + self._decoder.decode(chunk, final)
        if final:
            self._pending = ""
            return _lines(text) if text else []
        cut = text.rfind("\n")
        if cut < 0:
            self._pending = text
            return []
        head, self._pending = text[: cut + 1], text[cut + 1 :]
        # hold back a tail with an open quote: its field continues in the next chunk
        if head.count('"') % 2:
            self._pending = head + self._pending
            return []
        return _lines(head)


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def check_header(header: list[str]) -> list[str]:
    names = [h.strip().lower() for h in header]
    # Name unknown columns by position only: without a header row, the "header" is a pupil's row.
    unknown = [str(i + 1) for i, n in enumerate(names) if n not in COLUMNS]
    missing = sorted(REQUIRED - set(names))
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) at position(s) {', '.join(unknown)}")
        raise CsvHeaderError("; ".join(parts) + f". The first row must be the header: {', '.join(COLUMNS)}")
    if len(set(names)) != len(names):
        raise CsvHeaderError("a column appears twice in the header row")
    return names


def row_to_record(names: list[str], values: list[str]) -> dict:
    """A CSV row → the JSON shape of an LAReturnRecord (empty cells are absent)."""
    record: dict = {}
    pupil: dict = {}
    for name, raw in zip(names, values, strict=False):
        value = raw.strip()
        if not value:
            continue
        if name == "reason_codes":
            record[name] = [c.strip().upper() for c in value.split(";") if c.strip()]
            continue
        # The contract's cell formats (booleans `true`/`false`, whole numbers); anything else stays a
        # string, which the strict model then refuses ("yes" is not a boolean).
        if name in BOOLEANS and value.lower() in ("true", "false"):
            value = value.lower() == "true"  # type: ignore[assignment]
        elif name in INTEGERS and value.isascii() and value.isdigit() and len(value) < 10:
            value = int(value)  # type: ignore[assignment]
        if name in PUPIL:
            pupil[name] = value
        else:
            record[name] = value
    record["pupil"] = pupil
    return record


def return_document(names: list[str], rows: list[list[str] | None], *, return_id: str, la_code: str, period_start: str | None,
                    period_end: str | None, submitted_at: object) -> dict:  # fmt: skip
    """The LA return a CSV spells, as a JSON body would carry it, for the model's validation: a row that
    could not be read is `{}` (record indexes stay the CSV's), and the period defaults to the records' span."""
    records = [{} if values is None else row_to_record(names, values) for values in rows]
    starts = [r["start_date"] for r in records if isinstance(r.get("start_date"), str)]
    return {"return_id": return_id, "la_code": la_code, "period_start": period_start or (min(starts) if starts else None),
            "period_end": period_end or (max(starts) if starts else None), "submitted_at": submitted_at, "records": records}  # fmt: skip


def _unreadable(exc: csv.Error) -> str:
    # Our words, never the csv module's: its messages may one day quote the cell.
    if "field limit" in str(exc):
        return f"has a cell over {csv.field_size_limit()} characters"
    if "new-line" in str(exc) or "line feed" in str(exc):
        return "has a carriage return inside an unquoted cell: quote the cell or remove it"
    return "cannot be read as CSV"


def parse_rows(lines: Iterable[str], state: dict) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line number, record, error) per data row. `state` keeps the header across calls."""
    for line_no, values, error in parse_cells(lines, state):
        yield line_no, None if values is None else row_to_record(state["names"], values), error


def parse_cells(lines: Iterable[str], state: dict) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """Yield (line number, cells, error) per data row. `state` keeps the header (`names`) across calls.

    A row the csv module cannot read (a cell over its field limit, a bare carriage return in an
    unquoted cell) is that row's error; the reader goes on with the next line."""
    reader = csv.reader(lines)
    counted = 0  # the reader's lines already counted in state["line"]
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            state["line"] = state.get("line", 0) + 1
            counted = reader.line_num
            if "names" not in state:
                raise CsvHeaderError("the header row cannot be read as CSV") from None
            yield state["line"], None, _unreadable(exc)
            continue
        # the lines this row spans: one, and one more per line break inside a quoted cell
        state["line"] = state.get("line", 0) + reader.line_num - counted
        counted = reader.line_num
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        if "names" not in state:
            state["names"] = check_header(values)
            continue
        names = state["names"]
        if len(values) != len(names):
            yield state["line"], None, f"has {len(values)} cells; the header has {len(names)}"
            continue
        yield state["line"], values, None
