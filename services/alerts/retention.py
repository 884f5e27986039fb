"""The alerts store's retention job (docs/data-protection.md): resolved alerts with their history,
children with no event for their period (and no alert left), decided identity candidates, audit
entries and published outbox rows, each past its period, deleted in one transaction; the run is
itself audited (counts only). Kept in its own module, against the children, alerts, history,
candidates, audit and outbox tables (issue 12; issue 9 may replace the per-fact tables)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, exists, insert, or_, select

from services.alerts import tables as t
from services.common import db
from services.common.retention import Schedule, audit_run, delete_outbox_before, delete_where


def run(engine: Engine, schedule: Schedule, now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    a, h, c = t.alerts.c, t.history.c, t.children.c
    with db.write(engine) as conn:
        old_alerts = list(conn.execute(select(a.id).where(a.status == "resolved", a.updated_at < schedule.cutoff("alerts", now))).scalars())
        counts["alert_history"] = counts["alert_las"] = counts["alerts"] = 0
        for start in range(0, len(old_alerts), 500):
            chunk = old_alerts[start : start + 500]
            counts["alert_history"] += delete_where(conn, t.history, h.alert_id.in_(chunk))
            counts["alert_las"] += delete_where(conn, t.alert_las, t.alert_las.c.alert_id.in_(chunk))
            counts["alerts"] += delete_where(conn, t.alerts, a.id.in_(chunk))

        # a child whose records have all been quiet for the period and who has no alert left
        quiet = c.updated_at < schedule.cutoff("children", now)
        linked = t.children.alias("linked")
        busy_link = exists().where(linked.c.merged_into == c.child_id, linked.c.updated_at >= schedule.cutoff("children", now))
        has_alert = exists().where(a.subject_id == c.child_id)
        old_children = list(conn.execute(select(c.child_id).where(quiet, ~busy_link, ~has_alert)).scalars())
        counts["children"] = counts["aliases"] = 0
        for start in range(0, len(old_children), 500):
            chunk = old_children[start : start + 500]
            counts["aliases"] += delete_where(conn, t.aliases, t.aliases.c.child_id.in_(chunk))
            for name in ("suspensions", "incidents"):  # whichever per-fact tables this version has
                table = getattr(t, name, None)
                if table is not None and "child_id" in table.c:
                    counts[name] = counts.get(name, 0) + delete_where(conn, table, table.c.child_id.in_(chunk))
            cand = t.candidates.c
            counts["identity_candidates_of_deleted"] = counts.get("identity_candidates_of_deleted", 0) + delete_where(
                conn, t.candidates, or_(cand.child_id.in_(chunk), cand.candidate_child_id.in_(chunk)))
            counts["children"] += delete_where(conn, t.children, c.child_id.in_(chunk))

        cand = t.candidates.c
        counts["identity_candidates"] = delete_where(conn, t.candidates, and_(cand.status != "pending", cand.decided_at < schedule.cutoff("candidates", now)))
        counts["audit"] = delete_where(conn, t.audit, t.audit.c.at < schedule.cutoff("audit", now))
        # the outbox carries alert and child changes: kept as long as the shorter of the two
        outbox_cutoff = max(schedule.cutoff("alerts", now), schedule.cutoff("children", now))
        counts["outbox"] = delete_outbox_before(conn, t.outbox, t.relay_state, outbox_cutoff)
        conn.execute(insert(t.audit), [audit_run("alerts", counts, now)])
    return counts
