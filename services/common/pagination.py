"""Cursor pagination, newest first: the cursor is the (created_at, id) of the last item a page gave."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson

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
