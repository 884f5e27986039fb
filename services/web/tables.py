"""The pages' own store: their sessions, server-side (issue 10). Nothing else: the pages hold no
children's data, only who is signed in (the person from the identity provider), their CSRF token and
the sign-in's OIDC state."""

from __future__ import annotations

from sqlalchemy import Column, Float, MetaData, String, Table, Text

metadata = MetaData()

sessions = Table(
    "web_sessions",
    metadata,
    # sha256 of the session id, never the id: a copy of the table (a backup, a read replica) signs nobody in
    Column("id_hash", String(64), primary_key=True),
    Column("data", Text, nullable=False),  # JSON
    Column("touched", Float, nullable=False, index=True),  # epoch seconds of the last use: idle expiry and the purge
)
