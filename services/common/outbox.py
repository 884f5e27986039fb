"""The outbox: a service's outputs stored in the same transaction as the state they come from.

Nothing a service produces may be lost, even when the broker (the embedded one keeps nothing on
disk) loses it. So a stage or an API change does not produce to Kafka directly: it appends its
messages to its service's outbox table in the transaction that commits its state, and the relay
(`services/common/relay.py`) publishes the outbox in `seq` order and publishes it again when the
broker lost what it had. The intake's event log is the same idea with its own columns.

On PostgreSQL an advisory lock per outbox keeps `seq` order equal to commit order, so the relay,
reading by `seq`, never passes over a row that commits later with a smaller `seq`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
    update,
)

from services.common import db
from services.common.messages import Outgoing

Serial = BigInteger().with_variant(Integer, "sqlite")  # SQLite: an alias of the rowid


class StoredRecord(NamedTuple):
    """One message of an outbox (or of the intake's event log), as the relay publishes it.

    A named tuple: the relay reads them by the batch (100,000 for an LA return), and a frozen
    dataclass costs several times as much to build."""

    seq: int
    topic: str  # logical name, without the deployment prefix
    event_id: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]]


def outbox_table(metadata: MetaData, service: str) -> Table:
    """Append-only: a row is never updated. `seq` is the publishing order."""
    return Table(
        f"{service}_outbox",
        metadata,
        Column("seq", Serial, primary_key=True, autoincrement=True),
        Column("topic", String(100), nullable=False),
        Column("event_id", String(300), nullable=False),
        Column("msg_key", String(200), nullable=False),
        Column("headers", Text, nullable=False),  # JSON [[name, value], ...]; header values are ASCII
        Column("value", LargeBinary, nullable=False),
        sqlite_autoincrement=True,
    )


def relay_state_table(metadata: MetaData, service: str) -> Table:
    """One row: how far the relay has published, what it last saw acknowledged, and the broker epoch."""
    return Table(
        f"{service}_relay_state",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("position", BigInteger, nullable=False),
        Column("published", Text, nullable=False),  # JSON {"topic:partition": [offset, event id]}
        Column("epoch", String(64)),  # the broker epoch the position belongs to (None: not known yet)
    )


def lock_id(name: str) -> int:
    """A stable 63-bit advisory-lock id for a table name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def append(conn: Connection, table: Table, messages: Sequence[Outgoing]) -> None:
    """Add messages to the outbox inside the caller's transaction, in order."""
    if not messages:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id(table.name)})
    conn.execute(
        insert(table),
        [
            {
                "topic": m.topic,
                "event_id": _header(m, "ce_id"),
                "msg_key": m.key,
                "headers": json.dumps([[k, v.decode()] for k, v in m.headers]),
                "value": m.value,
            }
            for m in messages
        ],
    )


def _header(message: Outgoing, name: str) -> str:
    for key, value in message.headers:
        if key == name:
            return value.decode()
    return ""


class OutboxLog:
    """The relay's view of an outbox table: the same protocol as the intake's EventLog."""

    def __init__(self, engine: Engine, table: Table, state: Table):
        self.engine, self.table, self.state = engine, table, state

    def read_after(self, position: int, limit: int) -> list[StoredRecord]:
        c = self.table.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.seq, c.topic, c.event_id, c.msg_key, c.value, c.headers).where(c.seq > position).order_by(c.seq).limit(limit)
            )
            return [
                StoredRecord(r.seq, r.topic, r.event_id, r.msg_key, r.value, [(k, v.encode()) for k, v in json.loads(r.headers)])
                for r in rows
            ]

    def last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(self.table.c.seq), 0))).scalar() or 0)

    def relay_state(self) -> tuple[int, dict[str, tuple[int, str]], str | None]:
        with self.engine.begin() as conn:
            row = conn.execute(select(self.state).where(self.state.c.id == 1)).first()
            if row is None:
                conn.execute(insert(self.state).values(id=1, position=0, published="{}", epoch=None))
                return 0, {}, None
            return int(row.position), {k: (int(v[0]), str(v[1])) for k, v in json.loads(row.published).items()}, row.epoch

    def save_relay_state(self, position: int, published: dict[str, tuple[int, str]], epoch: str | None) -> None:
        with db.write(self.engine) as conn:
            conn.execute(update(self.state).where(self.state.c.id == 1).values(position=position, published=json.dumps(published), epoch=epoch))
