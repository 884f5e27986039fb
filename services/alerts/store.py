"""The alerts store adapter: loads and saves children, facts and alerts. No rules here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine, and_, bindparam, delete, insert, or_, select, update

from schemas.alerts import Alert, AlertStatus, ChildSubject, LASubject, Rule, SchoolSubject, Severity
from services.alerts import tables as t
from services.common import db
from services.common.audit import AuditLog
from services.common.db import aware_row, insert_ignore, upsert
from services.common.pagination import decode_cursor, encode_cursor

CHUNK = 900  # stay under SQLite's bound-parameter limits, with room to spare


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # SQLite drops the offset; everything is stored in UTC
    return value


def alert_from_row(row) -> Alert:  # noqa: ANN001 - a Row of alerts_alerts
    if row.subject_kind == "child":
        subject: ChildSubject | SchoolSubject | LASubject = ChildSubject(child_id=row.subject_id, upn=row.upn)
    elif row.subject_kind == "school":
        subject = SchoolSubject(school_urn=row.subject_id)
    else:
        subject = LASubject(la_code=row.subject_id)
    return Alert.model_construct(
        id=row.id,
        rule=Rule(row.rule),
        severity=Severity(row.severity),
        subject=subject,
        la_code=row.la_code,
        academic_year=row.academic_year,
        term=row.term,
        value=row.value,
        threshold=row.threshold,
        evidence=json.loads(row.evidence),
        status=AlertStatus(row.status),
        status_note=row.status_note,
        snoozed_until=_aware(row.snoozed_until),
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        version=row.version,
    )


def alert_row(alert: Alert, school_urn: str | None) -> dict:
    subject = alert.subject
    return {
        "id": alert.id,
        "rule": str(alert.rule),
        "subject_kind": subject.kind,
        "subject_id": getattr(subject, "child_id", None) or getattr(subject, "school_urn", None) or getattr(subject, "la_code", None),
        "upn": getattr(subject, "upn", None),
        "school_urn": school_urn,
        "la_code": alert.la_code,
        "academic_year": alert.academic_year,
        "term": alert.term,
        "severity": str(alert.severity),
        "value": alert.value,
        "threshold": alert.threshold,
        "evidence": json.dumps(alert.evidence),
        "status": str(alert.status),
        "status_note": alert.status_note,
        "snoozed_until": alert.snoozed_until,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "version": alert.version,
    }


ALERT_COLUMNS = [c.name for c in t.alerts.columns if c.name != "id"]
CHILD_COLUMNS = [c.name for c in t.children.columns if c.name != "child_id"]


@dataclass
class Writes:
    """Everything one batch changes, written in one transaction."""

    children: dict[str, dict] = field(default_factory=dict)  # child_id -> row
    suspensions: list[dict] = field(default_factory=list)
    incidents: list[dict] = field(default_factory=list)
    school_suspensions: list[dict] = field(default_factory=list)
    alerts: dict[str, tuple[Alert, str | None]] = field(default_factory=dict)  # id -> (alert, school_urn)
    candidates: list[dict] = field(default_factory=list)
    audit: list[dict] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.children or self.suspensions or self.incidents or self.school_suspensions or self.alerts or self.candidates or self.audit)


class AlertsStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.audit = AuditLog(engine, t.audit)

    # -- reads used by the stream processor (batched) --
    def children(self, ids: Sequence[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(select(t.children).where(t.children.c.child_id.in_(chunk))):
                    out[row.child_id] = row._asdict()
        return out

    def children_by_person_keys(self, keys: Sequence[str]) -> list[dict]:
        with self.engine.connect() as conn:
            return [r._asdict() for chunk in _chunks(list(keys)) for r in conn.execute(select(t.children).where(t.children.c.person_key.in_(chunk)))]

    def upnless_children(self) -> list[dict]:
        """Children no source has given a UPN for (few): new children with a UPN are matched against them."""
        c = t.children.c
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(select(t.children).where(c.upn.is_(None), c.merged_into.is_(None)))]

    def near_candidates(self, la_code: str, dob: date, first: str, last: str) -> list[dict]:
        """Children who could be a near match: same LA and date of birth, or same LA and names."""
        c = t.children.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.children).where(
                    c.la_code == la_code,
                    c.merged_into.is_(None),
                    or_(c.date_of_birth == dob, and_(c.first_norm == first, c.last_norm == last)),
                ).limit(200)
            )
            return [r._asdict() for r in rows]

    def merged_sources(self, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(select(t.children.c.child_id, t.children.c.merged_into).where(t.children.c.merged_into.in_(chunk))):
                    out.setdefault(row.merged_into, []).append(row.child_id)
        return out

    def suspensions_of(self, child_ids: Sequence[str]) -> list[dict]:
        with self.engine.connect() as conn:
            return [r._asdict() for chunk in _chunks(list(child_ids)) for r in conn.execute(select(t.suspensions).where(t.suspensions.c.child_id.in_(chunk)))]

    def incidents_of(self, child_ids: Sequence[str]) -> list[dict]:
        with self.engine.connect() as conn:
            return [r._asdict() for chunk in _chunks(list(child_ids)) for r in conn.execute(select(t.incidents).where(t.incidents.c.child_id.in_(chunk)))]

    def school_suspensions_of(self, pairs: Sequence[tuple[str, str]]) -> list[dict]:
        c = t.school_suspensions.c
        out: list[dict] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(list(pairs), 400):
                cond = or_(*(and_(c.school_urn == s, c.term_id == term) for s, term in chunk))
                out += [r._asdict() for r in conn.execute(select(t.school_suspensions).where(cond))]
        return out

    def alerts_by_ids(self, ids: Sequence[str]) -> dict[str, Alert]:
        out: dict[str, Alert] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(select(t.alerts).where(t.alerts.c.id.in_(chunk))):
                    out[row.id] = alert_from_row(row)
        return out

    def alerts_of_subjects(self, subject_ids: Sequence[str]) -> list[Alert]:
        with self.engine.connect() as conn:
            return [alert_from_row(r) for chunk in _chunks(list(subject_ids)) for r in conn.execute(select(t.alerts).where(t.alerts.c.subject_id.in_(chunk)))]

    def alerts_of_rules(self, rules: Sequence[str]) -> list[Alert]:
        with self.engine.connect() as conn:
            return [alert_from_row(r) for r in conn.execute(select(t.alerts).where(t.alerts.c.rule.in_(list(rules))))]

    # -- the one write of a batch --
    def commit(self, writes: Writes) -> None:
        if writes.empty():
            return
        e = self.engine
        with e.begin() as conn:
            if writes.children:
                new = [r for r in writes.children.values() if "person_key" in r]
                known = [r for r in writes.children.values() if "person_key" not in r]
                if new:
                    conn.execute(upsert(e, t.children, ["child_id"], CHILD_COLUMNS), new)
                if known:  # only what can change (see ChildStage._row)
                    c = t.children.c
                    conn.execute(
                        update(t.children).where(c.child_id == bindparam("cid")).values(
                            upn=bindparam("upn"), merged_into=bindparam("merged"), profile=bindparam("prof"), updated_at=bindparam("at")),
                        [{"cid": r["child_id"], "upn": r["upn"], "merged": r["merged_into"], "prof": r["profile"], "at": r["updated_at"]} for r in known],
                    )
            if writes.suspensions:
                conn.execute(insert_ignore(e, t.suspensions), writes.suspensions)
            if writes.incidents:
                conn.execute(insert_ignore(e, t.incidents), writes.incidents)
            if writes.school_suspensions:
                conn.execute(insert_ignore(e, t.school_suspensions), writes.school_suspensions)
            if writes.alerts:
                rows = [alert_row(a, urn) for a, urn in writes.alerts.values()]
                conn.execute(upsert(e, t.alerts, ["id"], ALERT_COLUMNS), rows)
            if writes.candidates:
                conn.execute(insert_ignore(e, t.candidates), writes.candidates)
            if writes.audit:
                conn.execute(insert(t.audit), writes.audit)

    # -- API reads and writes --
    def list_alerts(self, filters: dict, la_codes: frozenset[str] | None, limit: int, cursor: str | None) -> tuple[list[Alert], str | None]:
        c = t.alerts.c
        query = select(t.alerts)
        for name in ("rule", "status", "severity", "upn", "school_urn", "la_code", "academic_year"):
            if filters.get(name):
                query = query.where(getattr(c, name) == filters[name])
        if la_codes is not None:
            query = query.where(c.la_code.in_(sorted(la_codes)))
        if cursor:
            created, alert_id = decode_cursor(cursor)
            query = query.where(or_(c.created_at < created, and_(c.created_at == created, c.id < alert_id)))
        query = query.order_by(c.created_at.desc(), c.id.desc()).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
        items = [alert_from_row(r) for r in rows[:limit]]
        next_cursor = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
        return items, next_cursor

    def get_alert(self, alert_id: str) -> tuple[Alert, str | None] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        return (alert_from_row(row), row.school_urn) if row else None

    def save_alert(self, alert: Alert, school_urn: str | None, expected_version: int, audit: list[dict]) -> bool:
        """Optimistic: False when somebody else changed the alert first."""
        row = alert_row(alert, school_urn)
        with db.write(self.engine) as conn:
            result = conn.execute(
                update(t.alerts).where(t.alerts.c.id == alert.id, t.alerts.c.version == expected_version).values({k: v for k, v in row.items() if k != "id"})
            )
            if result.rowcount != 1:
                return False
            if audit:
                conn.execute(insert(t.audit), audit)
        return True

    def due_snoozes(self, now: datetime) -> list[tuple[Alert, str | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.alerts).where(t.alerts.c.status == "snoozed", t.alerts.c.snoozed_until <= now).limit(500))
            return [(alert_from_row(r), r.school_urn) for r in rows]

    def write_audit(self, entries: list[dict]) -> None:
        self.audit.write(entries)

    def audit_entries(self, child_id: str | None, limit: int) -> list[dict]:
        return self.audit.entries(child_id, limit)

    # -- identity candidates --
    def candidates(self, status: str | None, la_codes: frozenset[str] | None, limit: int) -> list[dict]:
        query = select(t.candidates).order_by(t.candidates.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(t.candidates.c.status == status)
        if la_codes is not None:
            query = query.where(t.candidates.c.la_code.in_(sorted(la_codes)))
        with self.engine.connect() as conn:
            return [aware_row(r._asdict()) for r in conn.execute(query)]

    def candidate(self, candidate_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.candidates).where(t.candidates.c.id == candidate_id)).first()
            return row._asdict() if row else None

    def decide_candidate(self, candidate: dict, decision: str, by: str, note: str | None, now: datetime) -> str:
        """Record a person's decision and apply it to the link, in one transaction. Returns the new status."""
        status = {"confirm": "confirmed", "reject": "rejected", "undo": "undone"}[decision]
        with db.write(self.engine) as conn:
            conn.execute(update(t.candidates).where(t.candidates.c.id == candidate["id"]).values(status=status, decided_by=by, decided_at=now, note=note))
            if decision == "confirm":
                conn.execute(update(t.children).where(t.children.c.child_id == candidate["child_id"]).values(merged_into=candidate["candidate_child_id"], updated_at=now))
            elif decision == "undo":
                conn.execute(update(t.children).where(t.children.c.child_id == candidate["child_id"]).values(merged_into=None, updated_at=now))
            conn.execute(insert(t.audit), [{"at": now, "principal": by, "action": f"{decision}_candidate", "object_kind": "candidate", "object_id": candidate["id"],
                                             "child_id": candidate["child_id"], "detail": note}])
        return status

    # -- meta (consumer generation) --
    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        e = self.engine
        with e.begin() as conn:
            conn.execute(upsert(e, t.meta, ["key"], ["value"]), [{"key": key, "value": value}])

    def clear_derived_state(self) -> None:
        """For a rebuild: forget the facts. Children, confirmed links and alerts stay: alerts are
        re-derived in place (same ids), so statuses the team set survive and nobody is told twice."""
        with db.write(self.engine) as conn:
            for table in (t.suspensions, t.incidents, t.school_suspensions):
                conn.execute(delete(table))

