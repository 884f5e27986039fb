"""The alerts store adapter: loads and saves children, aliases, facts, alerts and candidates. No rules here.

Writers never overwrite each other: a child row and an alert row carry a version, and every
update says which version it read (compare-and-set). A write that finds another version raises
`StaleWrite`; the stage then re-reads and does its batch again, the API tries again. Every
output message goes into the outbox in the same transaction (services/common/outbox.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    Table,
    Update,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)

from schemas.alerts import (
    Alert,
)
from schemas.pupil import names_key_of_parts
from services.alerts import tables as t
from services.alerts.domain import linking
from services.alerts.rows import (
    Writes,
    alias_from_row,
    chunks,
)
from services.alerts.store_api import ApiStore
from services.common import db, outbox
from services.common.audit import AuditLog
from services.common.db import insert_ignore
from services.common.stream import StaleWrite


class AlertsStore(ApiStore):
    def __init__(self, engine: Engine) -> None:
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
                for chunk in chunks(values):
                    for r in conn.execute(select(t.aliases).where(column.in_(chunk))):
                        rows[(r.child_id, r.person_key)] = alias_from_row(r)
            # Near matches (same LA, date of birth or names): a sighting without a UPN is compared with
            # everyone in its buckets; one with a UPN only with records without one (two UPNs are two
            # children unless identical, and identical details are found by names above).
            upnless = [s for s in sightings if s.upn is None]
            for s in upnless:
                near = or_(and_(a.la_code == s.la_code, a.date_of_birth == s.date_of_birth),
                           and_(a.la_code == s.la_code, a.first_norm == s.first, a.last_norm == s.last))  # fmt: skip
                for r in conn.execute(select(t.aliases).where(near).limit(500)):
                    rows[(r.child_id, r.person_key)] = alias_from_row(r)
            if any(s.upn for s in sightings):
                las = sorted({s.la_code for s in sightings if s.upn})
                for chunk in chunks(las):
                    for r in conn.execute(select(t.aliases).where(a.upn.is_(None), a.la_code.in_(chunk))):
                        rows[(r.child_id, r.person_key)] = alias_from_row(r)
            children = sorted({c for c, _ in rows} | set(ids))
            links = self._links_to_roots(conn, children)
            vetoes = self._vetoes(conn, children)
        return linking.Snapshot(rows.values(), links, vetoes)

    def identity(self) -> linking.Snapshot:
        """Every alias, link and veto: what a worker that owns every partition keeps in memory (it is
        then the only writer of identity, so what it holds stays true until its next rebalance)."""
        c, cand = t.children.c, t.candidates.c
        with self.engine.connect() as conn:
            links = {r.child_id: linking.Link(r.merged_into, r.link_kind)
                     for r in conn.execute(select(c.child_id, c.merged_into, c.link_kind).where(c.merged_into.is_not(None)))}  # fmt: skip
            vetoes = [(r.child_id, r.candidate_child_id)
                      for r in conn.execute(select(cand.child_id, cand.candidate_child_id).where(cand.status.in_(("rejected", "undone"))))]  # fmt: skip
            # aliases streamed into the snapshot, not listed first: each row's strings the snapshot does
            # not keep are freed before the next row, so they do not leave holes between those it keeps
            return linking.Snapshot((alias_from_row(r) for r in conn.execute(select(t.aliases))), links, vetoes)

    def _links_to_roots(self, conn: Connection, ids: list[str]) -> dict[str, linking.Link]:
        c = t.children.c
        links: dict[str, linking.Link] = {}
        frontier = ids
        while frontier:
            found = []
            for chunk in chunks(frontier):
                for r in conn.execute(select(c.child_id, c.merged_into, c.link_kind).where(c.child_id.in_(chunk))):
                    links[r.child_id] = linking.Link(r.merged_into, r.link_kind if r.merged_into else None)
                    if r.merged_into and r.merged_into not in links:
                        found.append(r.merged_into)
            frontier = sorted(set(found) - set(links))
        return links

    def _vetoes(self, conn: Connection, ids: list[str]) -> list[tuple[str, str]]:
        c = t.candidates.c
        out = []
        for chunk in chunks(ids, 400):
            q = select(c.child_id, c.candidate_child_id).where(
                or_(c.child_id.in_(chunk), c.candidate_child_id.in_(chunk)), c.status.in_(("rejected", "undone"))
            )
            out += [(r.child_id, r.candidate_child_id) for r in conn.execute(q)]
        return out

    def aliases_of(self, ids: Sequence[str]) -> dict[str, list[linking.Alias]]:
        out: dict[str, list[linking.Alias]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(ids)):
                for r in conn.execute(select(t.aliases).where(t.aliases.c.child_id.in_(chunk))):
                    out.setdefault(r.child_id, []).append(alias_from_row(r))
        return out

    # ---------------------------------------------------------------- children and facts
    def children(self, ids: Sequence[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(ids)):
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
            for chunk in chunks(list(ids)):
                for row in conn.execute(select(t.children.c.child_id, t.children.c.merged_into).where(t.children.c.merged_into.in_(chunk))):
                    out.setdefault(row.merged_into, []).append(row.child_id)
        return out

    def school_suspensions_of(self, pairs: Sequence[tuple[str, str]]) -> list[dict]:
        c = t.school_suspensions.c
        wanted = set(pairs)
        terms = sorted({term for _, term in wanted})
        out: list[dict] = []
        with self.engine.connect() as conn:  # schools IN and terms IN (one plan, the primary key's index), exact pairs kept here
            for chunk in chunks(sorted({s for s, _ in wanted})):
                rows = conn.execute(select(t.school_suspensions).where(c.school_urn.in_(chunk), c.term_id.in_(terms)))
                out += [r._asdict() for r in rows if (r.school_urn, r.term_id) in wanted]
        return out

    # ---------------------------------------------------------------- alerts
    def alerts_by_ids(self, ids: Sequence[str]) -> dict[str, Alert]:
        with self.engine.connect() as conn:
            rows = [r for chunk in chunks(list(ids)) for r in conn.execute(select(t.alerts).where(t.alerts.c.id.in_(chunk)))]
            return {a.id: a for a in self._alerts(conn, rows)}

    def alerts_of_subjects(self, subject_ids: Sequence[str]) -> list[Alert]:
        with self.engine.connect() as conn:
            rows = [r for chunk in chunks(list(subject_ids)) for r in conn.execute(select(t.alerts).where(t.alerts.c.subject_id.in_(chunk)))]
            return self._alerts(conn, rows)

    def alerts_of_rules(self, rules: Sequence[str]) -> list[Alert]:
        with self.engine.connect() as conn:
            return self._alerts(conn, list(conn.execute(select(t.alerts).where(t.alerts.c.rule.in_(list(rules))))))

    # ---------------------------------------------------------------- candidates
    def candidates_by_ids(self, ids: Sequence[str]) -> dict[str, dict]:
        with self.engine.connect() as conn:
            return {r.id: r._asdict() for chunk in chunks(list(ids)) for r in conn.execute(select(t.candidates).where(t.candidates.c.id.in_(chunk)))}

    def pending_candidates_of(self, child_ids: Sequence[str]) -> list[dict]:
        c = t.candidates.c
        with self.engine.connect() as conn:
            return [r._asdict() for chunk in chunks(list(child_ids), 400)
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
                db.executemany(conn, self._statement("insert", t.history, tuple(writes.history[0])), writes.history)
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
            present = {r.child_id for chunk in chunks([r["child_id"] for r in new])
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
