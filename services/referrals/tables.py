"""The referrals service's store: referrals with reasons and history, the LAs that see them, consent ledger,
held reasons, every trigger per record (to route again after a link or a consent), links, deliveries,
audit, and the outbox of referral changes."""

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
from services.common.erasures import erasures_table
from services.common.outbox import outbox_table, relay_state_table

metadata = MetaData()
Serial = BigInteger().with_variant(Integer, "sqlite")

referrals = Table(
    "referrals_referrals",
    metadata,
    Column("id", String(30), primary_key=True),
    Column("agency", String(20), nullable=False, index=True),
    Column("child_id", String(40), nullable=False),  # the effective child (after links)
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
Index("ix_referrals_child", referrals.c.child_id, referrals.c.agency)
# At most one open referral per child and agency (the service keeps it so; the index makes sure).
Index(
    "ux_referrals_open",
    referrals.c.child_id,
    referrals.c.agency,
    unique=True,
    sqlite_where=text("status IN ('new', 'accepted')"),
    postgresql_where=text("status IN ('new', 'accepted')"),
)

# The LAs with a duty towards the referral's child (its profile's la_code and la_codes): each one's
# LA-scoped tokens see the referral.
referral_las = Table(
    "referrals_referral_las",
    metadata,
    Column("referral_id", String(30), primary_key=True),
    Column("la_code", String(3), primary_key=True),
)
Index("ix_referral_las_la", referral_las.c.la_code, referral_las.c.referral_id)

reasons = Table(
    "referrals_reasons",
    metadata,
    Column("referral_id", String(30), primary_key=True),
    Column("reason_key", String(320), primary_key=True),  # "alert:<id>", "call:<id>", ...
    Column("agency", String(20), nullable=False),
    Column("child_id", String(40), nullable=False),  # the record the trigger was about (an undo splits by it)
    Column("reason", Text, nullable=False),  # JSON, as in the contract
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer),  # the trigger version it was added (or evidence last added) at
    Column("position", Integer, nullable=False, server_default=text("0")),  # arrival order within the referral
)
# "has this agency seen this reason?": the newest referral holding it
Index("ix_referrals_reasons_seen", reasons.c.reason_key, reasons.c.agency)

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
    Column("child_id", String(40), primary_key=True),  # the trigger's record
    Column("agency", String(20), primary_key=True),
    Column("reason_key", String(320), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("child", Text, nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False),
)
# By reason: a segment's snapshot reads the held rows of its reasons, a resolved alert's trigger drops
# its reason's (the primary key leads with the child: both scanned the whole table).
Index("ix_referrals_held_key", held.c.reason_key)

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
    Column("claimed_until", DateTime(timezone=True)),  # a replica's lease on it (FOR UPDATE SKIP LOCKED claims)
)

# Every trigger per record, latest version: routing is re-run from these after a link, an undo or
# a consent (with the group's merged profile and ledger).
triggers = Table(
    "referrals_triggers",
    metadata,
    Column("child_id", String(40), primary_key=True),  # the record the trigger is about
    Column("reason_key", String(320), primary_key=True),
    Column("version", Integer, nullable=False),  # the newest version applied (a replay is not newer)
    Column("stands", Boolean, nullable=False),  # False: the alert was resolved
    Column("doc", Text, nullable=False),  # JSON: reason, labels' reason and event kind, extra (call fields)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_referrals_triggers_key", triggers.c.reason_key)

# The latest profile of each record (a group's profile is merged from its records').
profiles = Table(
    "referrals_profiles",
    metadata,
    Column("child_id", String(40), primary_key=True),
    Column("profile", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # the time of the message it came from
)

links = Table(
    "referrals_links",
    metadata,
    Column("link_id", String(100), primary_key=True),
    Column("source_child_id", String(40), nullable=False, index=True),
    Column("target_child_id", String(40), nullable=False, index=True),
    Column("linked", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(100), nullable=False),
)

audit = audit_table(metadata, "referrals")
erasures = erasures_table(metadata, "referrals")  # keys of children erased where lawful (services/common/erasures.py)
outbox = outbox_table(metadata, "referrals")
relay_state = relay_state_table(metadata, "referrals")

meta = Table("referrals_meta", metadata, Column("key", String(40), primary_key=True), Column("value", Text, nullable=False))
