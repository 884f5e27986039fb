"""The intake's own store: what was accepted (idempotency) and the append-only event log (outbox)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()
SeqType = BigInteger().with_variant(Integer, "sqlite")  # SQLite: an alias of the rowid

submissions = Table(
    "intake_submissions",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("source_id", String(128), primary_key=True),
    Column("body_hash", String(64), nullable=False),
    Column("records", Integer, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
)

# Append-only: a row is never updated or deleted. `seq` orders the relay per child and overall.
event_log = Table(
    "intake_event_log",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),  # logical name, without the deployment prefix
    Column("event_id", String(300), nullable=False, unique=True),
    Column("msg_key", String(64), nullable=False, index=True),  # a child's events: R-CANCEL, subject access, erasure
    Column("ce_type", String(100), nullable=False),
    Column("ce_time", String(40), nullable=False),
    Column("value", LargeBinary, nullable=False),
    sqlite_autoincrement=True,
)

# One row: how far the relay has published, per partition the last message the broker acknowledged,
# and the broker epoch both belong to (services/common/epoch.py).
relay_state = Table(
    "intake_relay_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("published", Text, nullable=False),  # JSON {"topic:partition": [offset, event id]}
    Column("epoch", String(64)),  # None: not known yet (the relay adopts the broker's)
)
