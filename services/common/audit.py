"""The audit trail: who read or changed a child's record, when, what, and why (UK GDPR accountability).

Each service keeps its own trail in its own store (`<service>_audit`), written in the same
transaction as the change it records where there is one.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)

from services.common import db
from services.common.db import aware_row


def audit_table(metadata: MetaData, service: str) -> Table:
    return Table(
        f"{service}_audit",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("principal", String(100), nullable=False),
        Column("action", String(40), nullable=False),  # e.g. read_alert, accept_referral, confirm_candidate
        Column("object_kind", String(20), nullable=False),
        Column("object_id", String(60), nullable=False),
        Column("child_id", String(40), index=True),
        Column("detail", Text),  # a note or a purpose the caller gave; never input data
    )


class AuditLog:
    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine, self.table = engine, table

    def write(self, entries: list[dict]) -> None:
        if entries:
            with db.write(self.engine) as conn:
                conn.execute(insert(self.table), entries)

    def entries(self, child_id: str | None, limit: int) -> list[dict]:
        query = select(self.table).order_by(self.table.c.id.desc()).limit(limit)
        if child_id:
            query = query.where(self.table.c.child_id == child_id)
        with self.engine.connect() as conn:
            return [aware_row(r._asdict()) for r in conn.execute(query)]
