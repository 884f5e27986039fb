"""The alerts store adapter: loads and saves children, aliases, facts, alerts and candidates. No rules here.

Writers never overwrite each other: a child row and an alert row carry a version, and every
update says which version it read (compare-and-set). A write that finds another version raises
`StaleWrite`; the stage then re-reads and does its batch again, the API tries again. Every
output message goes into the outbox in the same transaction (services/common/outbox.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    Update,
    and_,
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
    AlertStatus,
    AlertTransition,
    ChildSubject,
    LASubject,
    Rule,
    SchoolSubject,
    Severity,
)
from schemas.pupil import names_key_of_parts
from services.alerts import queries
from services.alerts import tables as t
from services.alerts.domain import linking
from services.common import db, outbox
from services.common.audit import AuditLog
from services.common.db import aware, aware_row, insert_ignore, upsert
from services.common.messages import Outgoing
from services.common.pagination import keyset, next_cursor
from services.common.stream import StaleWrite

CHUNK = 900  # stay under SQLite's bound-parameter limits, with room to spare


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def alert_from_row(row, la_codes: list[str] | None = None) -> Alert:  # noqa: ANN001 - a Row of alerts_alerts
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
        la_codes=la_codes if la_codes is not None else [row.la_code],
        academic_year=row.academic_year,
        term=row.term,
        value=row.value,
        threshold=row.threshold,
        evidence=json.loads(row.evidence),
        limit_reached=bool(row.limit_reached),
        projected_limit_date=row.projected_limit_date,
        due_on=getattr(row, "due_on", None),
        status=AlertStatus(row.status),
        status_note=row.status_note,
        snoozed_until=aware(row.snoozed_until),
        resolved_by=row.resolved_by,
        episode=row.episode,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        version=row.version,
    )


def alert_row(alert: Alert, school_urn: str | None) -> dict:
    subject = alert.subject
    return {
        "id": alert.id,
        "rule": str(alert.rule),
        "subject_kind": subject.kind,
        "subject_id": subject.id,
        "upn": getattr(subject, "upn", None),
        "school_urn": school_urn,
        "la_code": alert.la_code,
        "academic_year": alert.academic_year,
        "term": alert.term,
        "severity": str(alert.severity),
        "value": alert.value,
        "threshold": alert.threshold,
        "evidence": json.dumps(alert.evidence),
        "limit_reached": alert.limit_reached,
        "projected_limit_date": alert.projected_limit_date,
        "due_on": alert.due_on,
        "status": str(alert.status),
        "status_note": alert.status_note,
        "snoozed_until": alert.snoozed_until,
        "resolved_by": alert.resolved_by,
        "episode": alert.episode,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "version": alert.version,
    }


def history_row(alert: Alert, change: str, by: str, note: str | None) -> dict:
    return {"alert_id": alert.id, "version": alert.version, "episode": alert.episode, "at": alert.updated_at, "by": by, "change": change,
            "status": str(alert.status), "severity": str(alert.severity), "value": alert.value, "note": note}  # fmt: skip


ALERT_COLUMNS = [c.name for c in t.alerts.columns if c.name != "id"]


@dataclass
class AlertWrite:
    alert: Alert
    school_urn: str | None
    base_version: int | None  # the version the writer read; None: a new alert


@dataclass
class Writes:
    """Everything one batch changes, written in one transaction."""

    children: dict[str, tuple[dict, int | None]] = field(default_factory=dict)  # child_id -> (row, version read; None: new)
    aliases: list[dict] = field(default_factory=list)
    school_suspensions: list[dict] = field(default_factory=list)
    school_reports: list[dict] = field(default_factory=list)  # issue 11 (R-LA-ALL): services/alerts/school_reports.py
    alerts: dict[str, AlertWrite] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    candidates: dict[str, dict] = field(default_factory=dict)  # id -> a whole row (new: inserted unless it exists)
    candidate_updates: dict[str, dict] = field(default_factory=dict)  # id -> columns to set
    audit: list[dict] = field(default_factory=list)
    outbox: list[Outgoing] = field(default_factory=list)

    def empty(self) -> bool:
        return not any(
            (self.children, self.aliases, self.school_suspensions, self.school_reports, self.alerts, self.history,
             self.candidates, self.candidate_updates, self.audit, self.outbox)
        )  # fmt: skip


def alias_row(alias: linking.Alias) -> dict:
    return {"child_id": alias.child_id, "person_key": alias.person_key, "la_code": alias.la_code, "date_of_birth": alias.date_of_birth,
            "first_norm": alias.first, "last_norm": alias.last, "upn": alias.upn,
            "names_key": names_key_of_parts(alias.date_of_birth, alias.first, alias.last)}  # fmt: skip


def _alias(row) -> linking.Alias:  # noqa: ANN001
    return linking.Alias(row.child_id, row.person_key, row.la_code, row.date_of_birth, row.first_norm, row.last_norm, row.upn)


class AlertsStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.audit = AuditLog(engine, t.audit)
        self.outbox = outbox.OutboxLog(engine, t.outbox, t.relay_state)
        self._statements: dict[tuple, db.Bulk] = {}

    # ---------------------------------------------------------------- identity (the ChildRepo port)
    def snapshot(self, sightings: Sequence[linking.Sighting], child_ids: Iterable[str] = ()) -> linking.Snapshot:
        """Every alias that can match these sightings (and every alias of `child_ids`), the links of
        the children concerned up to their roots, and the pairs a person ruled out."""
        a = t.aliases.c
        keys = sorted({s.person_key for s in sightings})
        names = sorted({names_key_of_parts(s.date_of_birth, s.first, s.last) for s in sightings})
        ids = sorted({s.child_id for s in sightings} | set(child_ids))
        rows: dict[tuple[str, str], linking.Alias] = {}
        with self.engine.connect() as conn:
            for column, values in ((a.person_key, keys), (a.names_key, names), (a.child_id, ids)):
                for chunk in _chunks(values):
                    for r in conn.execute(select(t.aliases).where(column.in_(chunk))):
                        rows[(r.child_id, r.person_key)] = _alias(r)
            # Near matches (same LA, date of birth or names): a sighting without a UPN is compared with
            # everyone in its buckets; one with a UPN only with records without one (two UPNs are two
            # children unless identical, and identical details are found by names above).
            upnless = [s for s in sightings if s.upn is None]
            for s in upnless:
                near = or_(and_(a.la_code == s.la_code, a.date_of_birth == s.date_of_birth),
                           and_(a.la_code == s.la_code, a.first_norm == s.first, a.last_norm == s.last))  # fmt: skip
                for r in conn.execute(select(t.aliases).where(near).limit(500)):
                    rows[(r.child_id, r.person_key)] = _alias(r)
            if any(s.upn for s in sightings):
                las = sorted({s.la_code for s in sightings if s.upn})
                for chunk in _chunks(las):
                    for r in conn.execute(select(t.aliases).where(a.upn.is_(None), a.la_code.in_(chunk))):
                        rows[(r.child_id, r.person_key)] = _alias(r)
            children = sorted({c for c, _ in rows} | set(ids))
            links = self._links_to_roots(conn, children)
            vetoes = self._vetoes(conn, children)
        return linking.Snapshot(rows.values(), links, vetoes)

    def identity(self) -> linking.Snapshot:
        """Every alias, link and veto: what a worker that owns every partition keeps in memory (it is
        then the only writer of identity, so what it holds stays true until its next rebalance)."""
        c, cand = t.children.c, t.candidates.c
        with self.engine.connect() as conn:
            aliases = [_alias(r) for r in conn.execute(select(t.aliases))]
            links = {r.child_id: linking.Link(r.merged_into, r.link_kind)
                     for r in conn.execute(select(c.child_id, c.merged_into, c.link_kind).where(c.merged_into.is_not(None)))}  # fmt: skip
            vetoes = [(r.child_id, r.candidate_child_id)
                      for r in conn.execute(select(cand.child_id, cand.candidate_child_id).where(cand.status.in_(("rejected", "undone"))))]  # fmt: skip
        return linking.Snapshot(aliases, links, vetoes)

    def _links_to_roots(self, conn: Connection, ids: list[str]) -> dict[str, linking.Link]:
        c = t.children.c
        links: dict[str, linking.Link] = {}
        frontier = ids
        while frontier:
            found = []
            for chunk in _chunks(frontier):
                for r in conn.execute(select(c.child_id, c.merged_into, c.link_kind).where(c.child_id.in_(chunk))):
                    links[r.child_id] = linking.Link(r.merged_into, r.link_kind if r.merged_into else None)
                    if r.merged_into and r.merged_into not in links:
                        found.append(r.merged_into)
            frontier = sorted(set(found) - set(links))
        return links

    def _vetoes(self, conn: Connection, ids: list[str]) -> list[tuple[str, str]]:
        c = t.candidates.c
        out = []
        for chunk in _chunks(ids, 400):
            q = select(c.child_id, c.candidate_child_id).where(
                or_(c.child_id.in_(chunk), c.candidate_child_id.in_(chunk)), c.status.in_(("rejected", "undone"))
            )
            out += [(r.child_id, r.candidate_child_id) for r in conn.execute(q)]
        return out

    def aliases_of(self, ids: Sequence[str]) -> dict[str, list[linking.Alias]]:
        out: dict[str, list[linking.Alias]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for r in conn.execute(select(t.aliases).where(t.aliases.c.child_id.in_(chunk))):
                    out.setdefault(r.child_id, []).append(_alias(r))
        return out

    # ---------------------------------------------------------------- children and facts
    def children(self, ids: Sequence[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(select(t.children).where(t.children.c.child_id.in_(chunk))):
                    out[row.child_id] = row._asdict()
        return out

    def children_due(self, today: date, limit: int = 5000) -> list[str]:
        """Records whose deadline clocks change by `today` (issue 11): the child stage's tick looks at them again."""
        c = t.children.c
        with self.engine.connect() as conn:
            return list(conn.execute(select(c.child_id).where(c.next_check <= today).order_by(c.next_check).limit(limit)).scalars())

    def sources_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Children linked directly into each of `ids`."""
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(select(t.children.c.child_id, t.children.c.merged_into).where(t.children.c.merged_into.in_(chunk))):
                    out.setdefault(row.merged_into, []).append(row.child_id)
        return out

    def school_suspensions_of(self, pairs: Sequence[tuple[str, str]]) -> list[dict]:
        c = t.school_suspensions.c
        wanted = set(pairs)
        terms = sorted({term for _, term in wanted})
        out: list[dict] = []
        with self.engine.connect() as conn:  # schools IN and terms IN (one plan, the primary key's index), exact pairs kept here
            for chunk in _chunks(sorted({s for s, _ in wanted})):
                rows = conn.execute(select(t.school_suspensions).where(c.school_urn.in_(chunk), c.term_id.in_(terms)))
                out += [r._asdict() for r in rows if (r.school_urn, r.term_id) in wanted]
        return out

    # ---------------------------------------------------------------- alerts
    def _las(self, conn: Connection, ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for chunk in _chunks(list(ids)):
            for r in conn.execute(select(t.alert_las).where(t.alert_las.c.alert_id.in_(chunk))):
                out.setdefault(r.alert_id, []).append(r.la_code)
        return {k: sorted(v) for k, v in out.items()}

    def _alerts(self, conn: Connection, rows: list) -> list[Alert]:
        las = self._las(conn, [r.id for r in rows])
        return [alert_from_row(r, las.get(r.id)) for r in rows]

    def alerts_by_ids(self, ids: Sequence[str]) -> dict[str, Alert]:
        with self.engine.connect() as conn:
            rows = [r for chunk in _chunks(list(ids)) for r in conn.execute(select(t.alerts).where(t.alerts.c.id.in_(chunk)))]
            return {a.id: a for a in self._alerts(conn, rows)}

    def alerts_of_subjects(self, subject_ids: Sequence[str]) -> list[Alert]:
        with self.engine.connect() as conn:
            rows = [r for chunk in _chunks(list(subject_ids)) for r in conn.execute(select(t.alerts).where(t.alerts.c.subject_id.in_(chunk)))]
            return self._alerts(conn, rows)

    def alerts_of_rules(self, rules: Sequence[str]) -> list[Alert]:
        with self.engine.connect() as conn:
            return self._alerts(conn, list(conn.execute(select(t.alerts).where(t.alerts.c.rule.in_(list(rules))))))

    # ---------------------------------------------------------------- candidates
    def candidates_by_ids(self, ids: Sequence[str]) -> dict[str, dict]:
        with self.engine.connect() as conn:
            return {r.id: r._asdict() for chunk in _chunks(list(ids)) for r in conn.execute(select(t.candidates).where(t.candidates.c.id.in_(chunk)))}

    def pending_candidates_of(self, child_ids: Sequence[str]) -> list[dict]:
        c = t.candidates.c
        with self.engine.connect() as conn:
            return [r._asdict() for chunk in _chunks(list(child_ids), 400)
                    for r in conn.execute(select(t.candidates).where(c.status == "pending", or_(c.child_id.in_(chunk), c.candidate_child_id.in_(chunk))))]  # fmt: skip

    def unapplied_decisions(self) -> list[dict]:
        """People's decisions on candidates the stage has not applied yet, oldest first."""
        c = t.candidates.c
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(select(t.candidates).where(c.applied.is_(False)).order_by(c.decided_at).limit(500))]

    # ---------------------------------------------------------------- the one write of a batch
    def commit(self, writes: Writes) -> None:
        if writes.empty():
            return
        e = self.engine
        with db.write(e) as conn:
            self._write_children(conn, writes.children)
            if writes.aliases:
                db.executemany(conn, self._statement("insert_ignore", t.aliases, tuple(writes.aliases[0])), writes.aliases)
            if writes.school_suspensions:
                rows = writes.school_suspensions
                db.executemany(conn, self._statement("insert_ignore", t.school_suspensions, tuple(rows[0])), rows)
            if writes.school_reports:
                db.executemany(conn, self._statement("insert_ignore", t.school_reports, tuple(writes.school_reports[0])), writes.school_reports)
            self._write_alerts(conn, list(writes.alerts.values()))
            if writes.history:
                conn.execute(insert(t.history), writes.history)
            if writes.candidates:
                conn.execute(insert_ignore(e, t.candidates), list(writes.candidates.values()))
            for cid, values in writes.candidate_updates.items():
                if values:
                    conn.execute(update(t.candidates).where(t.candidates.c.id == cid).values(values))
            if writes.audit:
                conn.execute(insert(t.audit), writes.audit)
            outbox.append(conn, t.outbox, writes.outbox)

    def _write_children(self, conn: Connection, children: dict[str, tuple[dict, int | None]]) -> None:
        new = [row for row, base in children.values() if base is None]
        known = [(row, base) for row, base in children.values() if base is not None]
        if new:
            present = {r.child_id for chunk in _chunks([r["child_id"] for r in new])
                       for r in conn.execute(select(t.children.c.child_id).where(t.children.c.child_id.in_(chunk)))}  # fmt: skip
            if present:
                raise StaleWrite(f"{len(present)} child record(s) created by another writer")
            db.executemany(conn, self._statement("insert", t.children, tuple(new[0])), new)
        if known:
            stmt = self._statement("cas", t.children, tuple(known[0][0]))
            done = db.executemany(conn, stmt, [{"v_id": row["child_id"], "v_base": base, **{f"v_{k}": v for k, v in row.items() if k != "child_id"}}
                                               for row, base in known])  # fmt: skip
            if done != len(known):
                raise StaleWrite("a child record changed since it was read")

    def _statement(self, kind: str, table: Table, columns: tuple[str, ...]) -> db.Bulk:
        """The bulk statements of a batch, built once per column set (db.executemany compiles each once)."""
        key = (kind, table.name, columns)
        if key not in self._statements:
            stmt: Insert | Update
            if kind == "insert":
                stmt = insert(table).values({k: bindparam(k) for k in columns})
            elif kind == "insert_ignore":
                stmt = insert_ignore(self.engine, table).values({k: bindparam(k) for k in columns})
            else:  # compare-and-set on the child's version
                c = table.c
                stmt = update(table).where(c.child_id == bindparam("v_id"), c.version == bindparam("v_base")).values(
                    {k: bindparam(f"v_{k}") for k in columns if k != "child_id"})  # fmt: skip
            self._statements[key] = db.Bulk(stmt)
        return self._statements[key]

    def _write_alerts(self, conn: Connection, writes: list[AlertWrite]) -> None:
        if not writes:
            return
        new = [alert_row(w.alert, w.school_urn) for w in writes if w.base_version is None]
        known = [w for w in writes if w.base_version is not None]
        if new:
            present = {r.id for chunk in _chunks([r["id"] for r in new]) for r in conn.execute(select(t.alerts.c.id).where(t.alerts.c.id.in_(chunk)))}
            if present:
                raise StaleWrite(f"{len(present)} alert(s) raised by another writer")
            conn.execute(insert(t.alerts), new)
        if known:
            c = t.alerts.c
            values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in ALERT_COLUMNS}
            values["school_urn"] = func.coalesce(bindparam("v_school_urn"), c.school_urn)  # a change that doesn't name the school keeps it
            stmt = update(t.alerts).where(c.id == bindparam("v_id"), c.version == bindparam("v_base")).values(values)
            rows = [{"v_id": w.alert.id, "v_base": w.base_version, **{f"v_{k}": v for k, v in alert_row(w.alert, w.school_urn).items() if k != "id"}} for w in known]
            if conn.execute(stmt, rows).rowcount != len(known):
                raise StaleWrite("an alert changed since it was read (a person, or another worker)")
        ids = [w.alert.id for w in writes]
        for chunk in _chunks(ids):
            conn.execute(delete(t.alert_las).where(t.alert_las.c.alert_id.in_(chunk)))
        conn.execute(insert(t.alert_las), [{"alert_id": w.alert.id, "la_code": la} for w in writes for la in sorted({w.alert.la_code, *w.alert.la_codes})])

    # ---------------------------------------------------------------- API reads and writes
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


def profile_json(profile: dict) -> str:
    return orjson.dumps(profile).decode()
