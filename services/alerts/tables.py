"""The alerts service's store: children, facts (by natural key), alerts, candidates, audit."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.common.audit import audit_table

metadata = MetaData()

children = Table(
    "alerts_children",
    metadata,
    Column("child_id", String(40), primary_key=True),
    Column("la_code", String(3), nullable=False),
    Column("upn", String(13), index=True),
    Column("person_key", String(40), nullable=False, index=True),
    Column("date_of_birth", Date, nullable=False),
    Column("first_norm", String(100), nullable=False),
    Column("last_norm", String(100), nullable=False),
    Column("merged_into", String(40), index=True),
    Column("profile", Text, nullable=False),  # JSON ChildProfile: special-category data, never logged
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_alerts_children_la_dob", children.c.la_code, children.c.date_of_birth)

suspensions = Table(
    "alerts_suspensions",
    metadata,
    Column("key", String(80), primary_key=True),  # UPN + school + start date + sessions
    Column("child_id", String(40), nullable=False),
    Column("academic_year", String(7), nullable=False),
    Column("days", Float, nullable=False),
    Column("event_id", String(300), nullable=False),
    Column("school_urn", String(6), nullable=False),
    Column("la_code", String(3), nullable=False),
    Column("start_date", Date, nullable=False),
)
Index("ix_alerts_suspensions_child", suspensions.c.child_id, suspensions.c.academic_year)

incidents = Table(
    "alerts_incidents",
    metadata,
    Column("child_id", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("event_id", String(300), primary_key=True),
    Column("school_urn", String(6)),
    Column("la_code", String(3), nullable=False),
)

school_suspensions = Table(
    "alerts_school_suspensions",
    metadata,
    Column("school_urn", String(6), primary_key=True),
    Column("term_id", String(20), primary_key=True),
    Column("key", String(80), primary_key=True),
    Column("start_date", Date, nullable=False),
    Column("event_id", String(300), nullable=False),
    Column("la_code", String(3), nullable=False),
)

alerts = Table(
    "alerts_alerts",
    metadata,
    Column("id", String(30), primary_key=True),
    Column("rule", String(60), nullable=False, index=True),
    Column("subject_kind", String(10), nullable=False),
    Column("subject_id", String(40), nullable=False),
    Column("upn", String(13), index=True),
    Column("school_urn", String(6), index=True),
    Column("la_code", String(3), nullable=False, index=True),
    Column("academic_year", String(7), nullable=False),
    Column("term", String(10)),
    Column("severity", String(10), nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("status", String(15), nullable=False),
    Column("status_note", Text),
    Column("snoozed_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)
Index("ix_alerts_alerts_newest", alerts.c.created_at, alerts.c.id)
Index("ix_alerts_alerts_snoozed", alerts.c.status, alerts.c.snoozed_until)
Index("ix_alerts_alerts_subject", alerts.c.subject_id)

candidates = Table(
    "alerts_identity_candidates",
    metadata,
    Column("id", String(30), primary_key=True),
    Column("child_id", String(40), nullable=False),  # the child without a UPN, as first seen
    Column("candidate_child_id", String(40), nullable=False),  # who it may be
    Column("la_code", String(3), nullable=False),
    Column("reason", String(100), nullable=False),
    Column("status", String(12), nullable=False),  # pending | confirmed | rejected | undone
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(100)),
    Column("decided_at", DateTime(timezone=True)),
    Column("note", Text),
    UniqueConstraint("child_id", "candidate_child_id"),
)

audit = audit_table(metadata, "alerts")

meta = Table(
    "alerts_meta",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)
