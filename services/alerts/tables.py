"""The alerts service's store: children and their aliases, facts (by natural key), alerts with their
history, identity candidates, audit, and the outbox of everything the service publishes."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.common.audit import audit_table
from services.common.erasures import erasures_table
from services.common.outbox import outbox_table, relay_state_table

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
    Column("merged_into", String(40), index=True),  # counts as this child (a link)
    Column("link_kind", String(10)),  # auto (an exact match) | person (a person confirmed it)
    Column("profile", Text, nullable=False),  # JSON ChildProfile of this record's own sources: special-category data, never logged
    Column("profile_times", Text, nullable=False, server_default="{}"),  # JSON: when each latest-wins field was reported
    Column("facts", LargeBinary),  # the record's suspension reports and incidents (services/alerts/facts_codec.py)
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),  # optimistic: two writers never overwrite each other
    Column("next_check", Date, index=True),  # issue 11: the day a deadline clock of the child changes (the stage's tick)
)
Index("ix_alerts_children_la_dob", children.c.la_code, children.c.date_of_birth)

# Every (LA, date of birth, normalised names) a child has been seen with: what identity matches on.
aliases = Table(
    "alerts_child_aliases",
    metadata,
    Column("child_id", String(40), primary_key=True),
    Column("person_key", String(40), primary_key=True),
    Column("la_code", String(3), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("first_norm", String(100), nullable=False),
    Column("last_norm", String(100), nullable=False),
    Column("upn", String(13)),
    Column("names_key", String(40), nullable=False),  # date of birth + names, any LA: cross-LA matches
)
Index("ix_alerts_aliases_key", aliases.c.person_key)
Index("ix_alerts_aliases_names", aliases.c.names_key)
Index("ix_alerts_aliases_la_dob", aliases.c.la_code, aliases.c.date_of_birth)
Index("ix_alerts_aliases_la_names", aliases.c.la_code, aliases.c.first_norm, aliases.c.last_norm)

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

# issue 11 (R-LA-ALL): every report of a school's suspension, and how it reached the LA (the school's
# notice, or only an LA return): the school stage's late-notification share per term.
school_reports = Table(
    "alerts_school_reports",
    metadata,
    Column("school_urn", String(6), primary_key=True),
    Column("term_id", String(20), primary_key=True),
    Column("key", String(80), primary_key=True),
    Column("event_id", String(300), primary_key=True),
    Column("via", String(10), nullable=False),  # notice | return
    Column("reported_at", String(40), nullable=False),  # UTC, ISO
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
    Column("limit_reached", Boolean, nullable=False, server_default="0"),
    Column("projected_limit_date", Date),  # issue 11: nearing alerts only
    Column("due_on", Date),  # issue 11: deadline rules' statutory deadline
    Column("status", String(15), nullable=False),
    Column("status_note", Text),
    Column("snoozed_until", DateTime(timezone=True)),
    Column("resolved_by", String(100)),
    Column("episode", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)
Index("ix_alerts_alerts_newest", alerts.c.created_at, alerts.c.id)
Index("ix_alerts_alerts_snoozed", alerts.c.status, alerts.c.snoozed_until)
Index("ix_alerts_alerts_subject", alerts.c.subject_id)

# Every LA with a duty towards an alert's subject: the alert is visible to each.
alert_las = Table(
    "alerts_alert_las",
    metadata,
    Column("alert_id", String(30), primary_key=True),
    Column("la_code", String(3), primary_key=True, index=True),
)

# Every change of every alert: who (a principal or signpost), what, and the alert after it.
history = Table(
    "alerts_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(30), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("episode", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(100), nullable=False),
    Column("change", String(20), nullable=False),
    Column("status", String(15), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("value", Float, nullable=False),
    Column("note", Text),
)

candidates = Table(
    "alerts_identity_candidates",
    metadata,
    Column("id", String(30), primary_key=True),
    Column("child_id", String(40), nullable=False),  # the record that would count as the other (the less certain one)
    Column("candidate_child_id", String(40), nullable=False),  # who it may be
    Column("la_code", String(3), nullable=False),  # the child's LA
    Column("candidate_la_code", String(3)),  # the candidate's LA (another LA for a cross-LA match)
    Column("reason", String(100), nullable=False),
    Column("status", String(12), nullable=False),  # pending | confirmed | rejected | undone
    Column("urgent", Boolean, nullable=False, server_default="0"),
    Column("urgent_reason", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(100)),  # a person's principal, or signpost for an exact match
    Column("decided_at", DateTime(timezone=True)),
    Column("note", Text),
    Column("applied", Boolean, nullable=False, server_default="1"),  # False: a person's decision the stage has not applied yet
    Column("version", Integer, nullable=False, server_default="1"),  # of the link it decides (ChildLinkChanged.version)
    UniqueConstraint("child_id", "candidate_child_id"),
)
Index("ix_alerts_candidates_unapplied", candidates.c.applied)

audit = audit_table(metadata, "alerts")
erasures = erasures_table(metadata, "alerts")  # keys of children erased where lawful (services/common/erasures.py)

meta = Table(
    "alerts_meta",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)

outbox = outbox_table(metadata, "alerts")
relay_state = relay_state_table(metadata, "alerts")
