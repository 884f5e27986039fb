"""Stores and rows the erasure and retention tests write by hand (both jobs read the same tables)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, MetaData

from services.common import db


def engine_for(tmp_path: Path, name: str, metadata: MetaData) -> Engine:
    """A migrated SQLite store of one service in tmp_path."""
    engine = db.make_engine(f"sqlite:///{tmp_path / name}.sqlite3")
    db.migrate(engine, metadata)
    return engine


def referral(ref_id: str, status: str, at: datetime) -> dict:
    """An IAS referral row of child ch_1."""
    return {"id": ref_id, "agency": "ias", "child_id": "ch_1", "la_code": "305", "upn": None, "child": "{}", "status": status,
            "created_at": at, "updated_at": at, "version": 1}
