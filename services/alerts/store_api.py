"""The alerts store's alert rows (read with their LAs; written compare-and-set, shared with the
stages' commit) and its reads and writes for the API: lists, one alert and its history, a person's
change, audit, candidates and decisions, rebuild's reset. The stream stages' side is store.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from schemas.alerts import (
    Alert,
    AlertTransition,
)
from services.alerts import queries
from services.alerts import tables as t
from services.alerts.rows import (
    ALERT_COLUMNS,
    AlertWrite,
    alert_from_row,
    alert_row,
    chunks,
    history_row,
    las_of,
)
from services.common import db, outbox
from services.common.audit import AuditLog
from services.common.db import aware, aware_row, upsert
from services.common.messages import Outgoing
from services.common.pagination import keyset, next_cursor
from services.common.stream import StaleWrite

# The stages write thousands of alert changes a batch: statements compiled once (db.Bulk)
_INSERT_ALERT = db.Bulk(insert(t.alerts).values({k: bindparam(k) for k in ["id", *ALERT_COLUMNS]}))
_UPDATE_ALERT = db.Bulk(
    update(t.alerts)
    .where(t.alerts.c.id == bindparam("v_id"), t.alerts.c.version == bindparam("v_base"))
    .values({**{k: bindparam(f"v_{k}") for k in ALERT_COLUMNS},
             "school_urn": func.coalesce(bindparam("v_school_urn"), t.alerts.c.school_urn)})  # a change that doesn't name the school keeps it
)  # fmt: skip
_INSERT_LA = db.Bulk(insert(t.alert_las).values(alert_id=bindparam("alert_id"), la_code=bindparam("la_code")))


class ApiStore:
    """Mixed into AlertsStore: the engine and the audit log are the store's."""

    engine: Engine
    audit: AuditLog

    def _las(self, conn: Connection, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in chunks(list(ids)):
            for r in conn.execute(select(t.alert_las).where(t.alert_las.c.alert_id.in_(chunk))):
                out.setdefault(r.alert_id, []).append(r.la_code)
        return {k: sorted(v) for k, v in out.items()}

    def _alerts(self, conn: Connection, rows: list) -> list[Alert]:
        las = self._las(conn, [r.id for r in rows])
        return [alert_from_row(r, las.get(r.id)) for r in rows]

    def _write_alerts(self, conn: Connection, writes: list[AlertWrite]) -> None:
        if not writes:
            return
        new = [alert_row(w.alert, w.school_urn) for w in writes if w.base_version is None]
        known = [w for w in writes if w.base_version is not None]
        if new:
            present = {r.id for chunk in chunks([r["id"] for r in new]) for r in conn.execute(select(t.alerts.c.id).where(t.alerts.c.id.in_(chunk)))}
            if present:
                raise StaleWrite(f"{len(present)} alert(s) raised by another writer")
            db.executemany(conn, _INSERT_ALERT, new)
        if known:
            rows = [{"v_id": w.alert.id, "v_base": w.base_version, **{f"v_{k}": v for k, v in alert_row(w.alert, w.school_urn).items() if k != "id"}} for w in known]
            if db.executemany(conn, _UPDATE_ALERT, rows) != len(known):
                raise StaleWrite("an alert changed since it was read (a person, or another worker)")
        relocated = [w for w in writes if w.las_changed]  # the LA rows change only when the alert's LAs do
        for chunk in chunks([w.alert.id for w in relocated if w.base_version is not None]):
            conn.execute(delete(t.alert_las).where(t.alert_las.c.alert_id.in_(chunk)))
        db.executemany(conn, _INSERT_LA, [{"alert_id": w.alert.id, "la_code": la} for w in relocated for la in sorted(las_of(w.alert))])

    def list_alerts(self, filters: dict, la_codes: frozenset[str] | None, limit: int, cursor: str | None) -> tuple[list[Alert], str | None]:
        c = t.alerts.c
        query = keyset(select(t.alerts).where(*queries.alert_conditions(filters, la_codes)), c.created_at, c.id, cursor, limit)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
            items = self._alerts(conn, rows[:limit])
        return items, next_cursor([{"created_at": r.created_at, "id": r.id} for r in rows], limit)

    def get_alert(self, alert_id: str) -> tuple[Alert, str | None] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
            return (self._alerts(conn, [row])[0], row.school_urn) if row else None

    def history(self, alert_id: str) -> list[AlertTransition]:
        h = t.history.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.history).where(h.alert_id == alert_id).order_by(h.version, h.id))
            return [AlertTransition(version=r.version, episode=r.episode, at=aware(r.at), by=r.by, change=r.change, status=r.status,
                                    severity=r.severity, value=r.value, note=r.note) for r in rows]  # fmt: skip

    def save_alert(self, alert: Alert, school_urn: str | None, expected_version: int, audit: list[dict], by: str, messages: list[Outgoing]) -> bool:
        """A person's (or a timer's) change, optimistic: False when somebody else changed the alert first.
        History, audit and the outbox message commit with it."""
        try:
            with db.write(self.engine) as conn:
                self._write_alerts(conn, [AlertWrite(alert, school_urn, expected_version)])
                conn.execute(insert(t.history), [history_row(alert, "status", by, alert.status_note)])
                if audit:
                    conn.execute(insert(t.audit), audit)
                outbox.append(conn, t.outbox, messages)
        except StaleWrite:
            return False
        return True

    def due_snoozes(self, now: datetime) -> list[tuple[Alert, str | None]]:
        with self.engine.connect() as conn:
            rows = list(conn.execute(select(t.alerts).where(t.alerts.c.status == "snoozed", t.alerts.c.snoozed_until <= now).limit(500)))
            return list(zip(self._alerts(conn, rows), [r.school_urn for r in rows], strict=True))

    def write_audit(self, entries: list[dict]) -> None:
        self.audit.write(entries)

    def audit_entries(self, child_id: str | None, limit: int) -> list[dict]:
        return self.audit.entries(child_id, limit)

    # -- identity candidates --
    def candidates(self, status: str | None, la_codes: frozenset[str] | None, limit: int) -> list[dict]:
        c = t.candidates.c
        query = select(t.candidates).order_by(c.urgent.desc(), c.created_at.desc()).limit(limit)
        if status:
            query = query.where(c.status == status)
        if la_codes is not None:
            query = query.where(or_(c.la_code.in_(sorted(la_codes)), c.candidate_la_code.in_(sorted(la_codes))))
        with self.engine.connect() as conn:
            return [aware_row(r._asdict()) for r in conn.execute(query)]

    def candidate(self, candidate_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.candidates).where(t.candidates.c.id == candidate_id)).first()
            return row._asdict() if row else None

    def decide_candidate(self, candidate: dict, decision: str, by: str, note: str | None, now: datetime) -> str:
        """Record a person's decision, audited; the child stage applies it to the link (it owns the
        children) and publishes the change. Returns the new status."""
        status = {"confirm": "confirmed", "reject": "rejected", "undo": "undone"}[decision]
        c = t.candidates.c
        with db.write(self.engine) as conn:
            done = conn.execute(
                update(t.candidates).where(c.id == candidate["id"], c.version == candidate["version"])
                .values(status=status, decided_by=by, decided_at=now, note=note, applied=False, version=candidate["version"] + 1)
            )  # fmt: skip
            if done.rowcount != 1:
                raise StaleWrite("the candidate changed meanwhile")
            conn.execute(insert(t.audit), [{"at": now, "principal": by, "action": f"{decision}_candidate", "object_kind": "candidate", "object_id": candidate["id"],
                                             "child_id": candidate["child_id"], "detail": note}])  # fmt: skip
        return status

    # -- meta (consumer generation) --
    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        e = self.engine
        with db.write(e) as conn:
            conn.execute(upsert(e, t.meta, ["key"], ["value"]), [{"key": key, "value": value}])

    def clear_derived_state(self) -> None:
        """For a rebuild: forget the facts. Children, aliases, links and alerts stay: alerts are
        re-derived in place (same ids), so statuses the team set survive and nobody is told twice."""
        with db.write(self.engine) as conn:
            conn.execute(update(t.children).values(facts=None, next_check=None, version=t.children.c.version + 1))  # issue 11: clocks come back with the facts
            conn.execute(delete(t.school_suspensions))
            conn.execute(delete(t.school_reports))
