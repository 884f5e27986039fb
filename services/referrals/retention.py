"""The referrals store's retention job (docs/data-protection.md): closed or declined referrals with
their history, reasons, LAs and deliveries; audit entries; published outbox rows; each past its
period, in one transaction, the run itself audited (counts only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, select

from services.common import db
from services.common.retention import Schedule, audit_run, delete_outbox_before, delete_where
from services.referrals import tables as t


def run(engine: Engine, schedule: Schedule, now: datetime) -> dict[str, int]:
    r = t.referrals.c
    counts = {"referral_history": 0, "reasons": 0, "referral_las": 0, "deliveries": 0, "referrals": 0}
    with db.write(engine) as conn:
        old = list(conn.execute(select(r.id).where(r.status.in_(("closed", "declined")), r.updated_at < schedule.cutoff("referrals", now))).scalars())
        for start in range(0, len(old), 500):
            chunk = old[start : start + 500]
            counts["referral_history"] += delete_where(conn, t.history, t.history.c.referral_id.in_(chunk))
            counts["reasons"] += delete_where(conn, t.reasons, t.reasons.c.referral_id.in_(chunk))
            counts["referral_las"] += delete_where(conn, t.referral_las, t.referral_las.c.referral_id.in_(chunk))
            counts["deliveries"] += delete_where(conn, t.deliveries, t.deliveries.c.referral_id.in_(chunk))
            counts["referrals"] += delete_where(conn, t.referrals, r.id.in_(chunk))
        counts["audit"] = delete_where(conn, t.audit, t.audit.c.at < schedule.cutoff("audit", now))
        counts["outbox"] = delete_outbox_before(conn, t.outbox, t.relay_state, schedule.cutoff("referrals", now))
        conn.execute(insert(t.audit), [audit_run("referrals", counts, now)])
    return counts
