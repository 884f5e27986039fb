"""The referrals service's store: referrals with reasons and history, consent ledger, held reasons, deliveries, audit."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from services.common.audit import audit_table

metadata = MetaData()
Serial = BigInteger().with_variant(Integer, "sqlite")

referrals = Table(
    "referrals_referrals",
    metadata,
    Column("id", String(30), primary_key=True),
    Column("agency", String(20), nullable=False, index=True),
    Column("child_id", String(40), nullable=False),
    Column("la_code", String(3), nullable=False, index=True),
    Column("upn", String(13), index=True),
    Column("child", Text, nullable=False),  # JSON profile (special-category data): projected per agency on read
    Column("status", String(10), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("due_by", Date),
    Column("escalated_at", DateTime(timezone=True)),
    Column("outcome", Text),
    Column("decline_reason", Text),
    Column("version", Integer, nullable=False),
)
Index("ix_referrals_newest", referrals.c.created_at, referrals.c.id)
# At most one open referral per child and agency (the service keeps it so; the index makes sure).
Index(
    "ux_referrals_open",
    referrals.c.child_id,
    referrals.c.agency,
    unique=True,
    sqlite_where=text("status IN ('new', 'accepted')"),
    postgresql_where=text("status IN ('new', 'accepted')"),
)

reasons = Table(
    "referrals_reasons",
    metadata,
    Column("child_id", String(40), primary_key=True),
    Column("agency", String(20), primary_key=True),
    Column("reason_key", String(320), primary_key=True),  # "alert:<id>", "call:<id>", ...: a reason reaches an agency once
    Column("referral_id", String(30), nullable=False, index=True),
    Column("reason", Text, nullable=False),  # JSON, as in the contract
    Column("added_at", DateTime(timezone=True), nullable=False),
)

history = Table(
    "referrals_history",
    metadata,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("referral_id", String(30), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(100), nullable=False),
    Column("action", String(30), nullable=False),
    Column("detail", Text),
)

consents = Table(
    "referrals_consents",
    metadata,
    Column("child_id", String(40), primary_key=True),
    Column("recipient", String(10), primary_key=True),  # nas | ias | la
    Column("source", String(320), primary_key=True),  # "call:<id>" or "api:<principal>:<time>"
    Column("granted", Boolean, nullable=False),  # False: withdrawn
    Column("at", DateTime(timezone=True), nullable=False),
)

held = Table(
    "referrals_held",
    metadata,
    Column("child_id", String(40), primary_key=True),
    Column("agency", String(20), primary_key=True),
    Column("reason_key", String(320), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("child", Text, nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False),
)

deliveries = Table(
    "referrals_deliveries",
    metadata,
    Column("key", String(60), primary_key=True),  # idempotency key: referral id + version
    Column("referral_id", String(30), nullable=False),
    Column("agency", String(20), nullable=False),
    Column("receiver", String(60), nullable=False),
    Column("status", String(12), nullable=False, index=True),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit = audit_table(metadata, "referrals")

meta = Table("referrals_meta", metadata, Column("key", String(40), primary_key=True), Column("value", Text, nullable=False))
