"""The intake's part of a subject-access export: every event it accepted under the child's keys
(the alerts service knows a child's keys: its UPN's and each alias's person key)."""

from __future__ import annotations

from sqlalchemy import Engine

from services.common.subject_access import rows_about
from services.intake import tables as t


def export(engine: Engine, keys: list[str]) -> dict[str, list[dict]]:
    return rows_about(engine, {"events": (t.event_log, t.event_log.c.msg_key, keys)})


def erase(engine: Engine, keys: list[str]) -> dict[str, int]:
    """Erasure: the child's events in the intake event log (published or not). The Kafka topics keep
    them until their retention expires (docs/data-protection.md)."""
    from services.common import db
    from services.common.subject_access import delete_rows

    with db.write(engine) as conn:
        return delete_rows(conn, {"events": (t.event_log, t.event_log.c.msg_key, keys)})
