"""The intake store's retention job (docs/data-protection.md): event-log rows the relay has
published and whose receipt (ce_time) is past the intake-events period, and the idempotency
records of submissions as old. The intake keeps no audit trail: the run is logged (counts only)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, delete, select

from services.common import db
from services.common.retention import Schedule
from services.intake import tables as t

log = logging.getLogger(__name__)


def run(engine: Engine, schedule: Schedule, now: datetime) -> dict[str, int]:
    cutoff = schedule.cutoff("intake_events", now)
    stamp = cutoff.isoformat(timespec="microseconds").replace("+00:00", "Z")  # ce_time is ISO 8601 UTC with Z: ordered as text
    e = t.event_log.c
    with db.write(engine) as conn:
        position = conn.execute(select(t.relay_state.c.position).where(t.relay_state.c.id == 1)).scalar() or 0
        events = conn.execute(delete(t.event_log).where(e.seq <= position, e.ce_time < stamp)).rowcount or 0
        submissions = conn.execute(delete(t.submissions).where(t.submissions.c.accepted_at < cutoff)).rowcount or 0
    counts = {"events": events, "submissions": submissions}
    log.info("retention run", extra={"deleted": counts})
    return counts
