"""The retention schedule (docs/data-protection.md) and what every service's retention job shares.

Periods are days, set per deployment (`SIGNPOST_RETENTION_*_DAYS`); the defaults are the schedule's.
Each service's job (services/<service>/retention.py) deletes what is past its period, in one
transaction per run, and records the run in the audit trail (counts only, never an id of a child).
A job is a pure "what is past" (`cutoffs`) plus deletes, and takes `now`: tests drive it with a
fake clock.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Table, delete, select

from services.common.settings import Settings

log = logging.getLogger(__name__)
DAY = timedelta(days=1)
SIX_YEARS = 6 * 365 + 2  # the Limitation Act 1980 period that IRMS toolkit entries use for records that may support a claim


@dataclass(frozen=True)
class Schedule:
    """Days each record type is kept after the event that starts its clock."""

    intake_events: int = SIX_YEARS  # from receipt: the intake event log and the intake topics
    children: int = SIX_YEARS  # from the last event about the child: profiles, aliases, counted facts
    alerts: int = SIX_YEARS  # from resolution: resolved alerts and their history
    referrals: int = SIX_YEARS  # from closing or declining: referrals, history, reasons, deliveries
    candidates: int = 2 * 365  # from a person's decision: identity candidates
    audit: int = SIX_YEARS  # from the entry: who read or changed a child's record
    dead_letters: int = 30  # from dead-lettering: the dead-letter topic

    @classmethod
    def of(cls, settings: Settings) -> Schedule:
        return cls(**{f: getattr(settings, f"retention_{f}_days") for f in cls.__dataclass_fields__})

    def cutoff(self, record_type: str, now: datetime) -> datetime:
        """Records of this type whose clock started before this are past their period."""
        return now - getattr(self, record_type) * DAY

    def topic_retention_ms(self, record_type: str) -> str:
        return str(getattr(self, record_type) * 24 * 3600 * 1000)


def delete_where(conn: Connection, table: Table, *conditions) -> int:  # noqa: ANN002 - SQLAlchemy clauses
    return conn.execute(delete(table).where(*conditions)).rowcount or 0


def delete_outbox_before(conn: Connection, outbox: Table, relay_state: Table, cutoff: datetime) -> int:
    """Outbox rows the relay has published whose event time (ce_time) is past the cutoff. The
    relay republishes its whole log after a broker loss: past the topics' own retention is past
    what a republish needs."""
    position = conn.execute(select(relay_state.c.position).where(relay_state.c.id == 1)).scalar() or 0
    old = []
    for seq, headers in conn.execute(select(outbox.c.seq, outbox.c.headers).where(outbox.c.seq <= position).order_by(outbox.c.seq)):
        at = dict(json.loads(headers)).get("ce_time")
        if at and datetime.fromisoformat(at.replace("Z", "+00:00")) < cutoff:
            old.append(seq)
    for start in range(0, len(old), 500):
        conn.execute(delete(outbox).where(outbox.c.seq.in_(old[start : start + 500])))
    return len(old)


def audit_run(service: str, counts: dict[str, int], now: datetime) -> dict:
    """The audit entry of one run: what was deleted, by count."""
    return {"at": now, "principal": "signpost:retention", "action": "retention_delete", "object_kind": "service", "object_id": service,
            "child_id": None, "detail": json.dumps(counts, sort_keys=True)}


def utc_now() -> datetime:
    return datetime.now(UTC)
