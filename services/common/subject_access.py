"""Subject access (UK GDPR Art. 15, R-SAR): the due date, what one store holds about a child, the archive.

Each service exports what its own store holds about a child (`GET /v1/admin/children/{id}/export`);
`signpost export child <id>` collects the three into one archive (JSON and CSV per record type)
with the request's receipt and due dates. Pure functions here; the stores read, the routes audit.
"""

from __future__ import annotations

import calendar
import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Column, Engine, Table, select

from services.common.db import aware_row

#: {part: (table, column, values)}: the rows of `table` whose `column` holds one of the values
Wanted = Mapping[str, tuple[Table, Column, Iterable[Any]]]


def due_date(received: date, holidays: Iterable[date] = ()) -> date:
    """One calendar month from receipt (ICO: the corresponding day of the next month, or that
    month's last day when it has none), moved to the next working day when it falls on a weekend
    or a bank holiday."""
    year, month = (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    due = date(year, month, min(received.day, calendar.monthrange(year, month)[1]))
    closed = set(holidays)
    while due.weekday() >= 5 or due in closed:
        due += timedelta(days=1)
    return due


def rows_about(engine: Engine, wanted: Wanted) -> dict[str, list[dict]]:
    """{part: every row of `table` whose `column` is one of the values}, as JSON-ready dicts."""
    out: dict[str, list[dict]] = {}
    with engine.connect() as conn:
        for part, (table, column, values) in wanted.items():
            keys = sorted({v for v in values if v is not None})
            rows = conn.execute(select(table).where(column.in_(keys))).all() if keys else []
            out[part] = [_plain(aware_row(r._asdict())) for r in rows]
    return out


def _plain(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, bytes):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                value = value.decode("utf-8", "replace")
        elif isinstance(value, str) and value[:1] in "{[" and key in ("profile", "evidence", "value", "labels", "child", "payload"):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
        elif isinstance(value, (datetime, date)):
            value = value.isoformat()
        out[key] = value
    return out


def to_csv(rows: list[dict]) -> str:
    """One CSV of a part's rows; nested values (a profile, evidence) as JSON in their cell."""
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: orjson.dumps(v).decode() if isinstance(v, (dict, list)) else v for k, v in row.items()})
    return buffer.getvalue()


def archive(child_id: str, received: date, due: date, parts: Mapping[str, Mapping[str, list[dict]]]) -> bytes:
    """A zip: manifest.json, then per service and record type `<service>/<part>.json` and `.csv`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        manifest = {"child_id": child_id, "received": received.isoformat(), "due": due.isoformat(),
                    "contents": {f"{service}/{part}": len(rows) for service, by_part in parts.items() for part, rows in by_part.items()}}
        zf.writestr("manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        for service, by_part in parts.items():
            for part, rows in by_part.items():
                zf.writestr(f"{service}/{part}.json", orjson.dumps(rows, option=orjson.OPT_INDENT_2))
                zf.writestr(f"{service}/{part}.csv", to_csv(rows))
    return buffer.getvalue()


def readers(entries: Iterable[dict]) -> list[dict]:
    """Who saw a child: per principal, the read actions, how many, first and last time."""
    seen: dict[str, dict] = {}
    for e in entries:
        if not str(e["action"]).startswith(("read_", "stream_", "export_", "deliver_")):
            continue
        at = e["at"].isoformat() if isinstance(e["at"], datetime) else str(e["at"])
        r = seen.setdefault(e["principal"], {"principal": e["principal"], "reads": 0, "actions": [], "first": at, "last": at})
        r["reads"] += 1
        r["first"], r["last"] = min(r["first"], at), max(r["last"], at)
        if e["action"] not in r["actions"]:
            r["actions"].append(e["action"])
    return sorted(seen.values(), key=lambda r: r["last"], reverse=True)


def delete_rows(conn, wanted: Wanted) -> dict[str, int]:  # noqa: ANN001 - a Connection
    """Erasure: delete every row of `table` whose `column` is one of the values; counts per part."""
    from sqlalchemy import delete

    counts: dict[str, int] = {}
    for part, (table, column, values) in wanted.items():
        keys = sorted({v for v in values if v is not None})
        counts[part] = (conn.execute(delete(table).where(column.in_(keys))).rowcount or 0) if keys else 0
    return counts
