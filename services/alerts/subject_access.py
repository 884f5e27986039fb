"""What the alerts store holds about one child (R-SAR): the child's records (its own and those
linked to it), aliases, alerts with their history, identity candidates, counted facts and the
audit of who read it; and the intake keys of the child's events (for the intake's part)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from schemas.pupil import upn_key
from services.alerts import tables as t
from services.common.subject_access import rows_about


def export(engine: Engine, child_id: str) -> tuple[dict[str, list[dict]], list[str]]:
    with engine.connect() as conn:
        ids = {child_id} | set(conn.execute(select(t.children.c.child_id).where(t.children.c.merged_into == child_id)).scalars())
    parts = rows_about(engine, {
        "children": (t.children, t.children.c.child_id, ids),
        "aliases": (t.aliases, t.aliases.c.child_id, ids),
        "alerts": (t.alerts, t.alerts.c.subject_id, ids),
        "audit": (t.audit, t.audit.c.child_id, ids),
    })  # fmt: skip
    alert_ids = [a["id"] for a in parts["alerts"]]
    parts |= rows_about(engine, {"alert_history": (t.history, t.history.c.alert_id, alert_ids), "alert_las": (t.alert_las, t.alert_las.c.alert_id, alert_ids)})
    pairs = rows_about(engine, {"as_child": (t.candidates, t.candidates.c.child_id, ids), "as_candidate": (t.candidates, t.candidates.c.candidate_child_id, ids)})
    parts["identity_candidates"] = list({r["id"]: r for r in pairs["as_child"] + pairs["as_candidate"]}.values())
    keys = {r["person_key"] for r in parts["children"] + parts["aliases"]}
    keys |= {upn_key(r["upn"]) for r in parts["children"] + parts["aliases"] if r.get("upn")}
    return parts, sorted(keys)


def erase(engine: Engine, child_id: str) -> dict[str, int]:
    """Erasure of a child recorded in error: the child's records, aliases, alerts with history,
    candidates and counted facts, in one transaction. The audit stays (accountability: it holds the
    pseudonymous id only, and now the erasure)."""
    from services.common import db, erasures
    from services.common.subject_access import delete_rows

    parts, keys = export(engine, child_id)
    ids = {r["child_id"] for r in parts["children"]} | {child_id}
    alert_ids = [a["id"] for a in parts["alerts"]]
    wanted = {
        "alert_history": (t.history, t.history.c.alert_id, alert_ids),
        "alert_las": (t.alert_las, t.alert_las.c.alert_id, alert_ids),
        "alerts": (t.alerts, t.alerts.c.id, alert_ids),
        "identity_candidates": (t.candidates, t.candidates.c.id, [c["id"] for c in parts["identity_candidates"]]),
        "aliases": (t.aliases, t.aliases.c.child_id, ids),
    }
    wanted["children"] = (t.children, t.children.c.child_id, ids)  # with their counted facts
    with db.write(engine) as conn:
        deleted = delete_rows(conn, wanted)
        # the intake topics keep the child's events until they expire: the child stage skips them
        erasures.record(conn, t.erasures, keys, datetime.now(UTC))
    return deleted
