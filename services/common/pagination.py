"""Keyset pagination, newest first: the cursor is the (created_at, id) of the last item a page gave.

A page is read with `keyset` (the rows after the cursor, one more than the limit) and the next
page's cursor made with `next_cursor` from what came back."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, and_, or_

from services.common.db import aware


def encode_cursor(created_at: datetime, item_id: str) -> str:
    created_at = aware(created_at)  # SQLite drops the offset; everything is UTC
    return base64.urlsafe_b64encode(orjson.dumps([created_at.isoformat(), item_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, item_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(item_id)
    except (ValueError, TypeError) as exc:
        raise ValueError("cursor is not one this API gave out") from exc


def keyset(query: Select[Any], created_at: ColumnElement[Any], item_id: ColumnElement[Any], cursor: str | None, limit: int) -> Select[Any]:
    """The query's rows after the cursor, newest first, one more than the limit (the extra one says a
    next page exists). Raises ValueError for a cursor this API did not give out."""
    if cursor:
        created, last_id = decode_cursor(cursor)
        query = query.where(or_(created_at < created, and_(created_at == created, item_id < last_id)))
    return query.order_by(created_at.desc(), item_id.desc()).limit(limit + 1)


def next_cursor(rows: Sequence[Mapping[str, Any]], limit: int) -> str | None:
    """The cursor of the page after these rows (as `keyset` read them), or None on the last page."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(last["created_at"], last["id"])
