"""Referral reads and the lifecycle writes behind the API (the desk writes what the streams bring)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import date, datetime

import orjson
from sqlalchemy import Engine, and_, insert, select, update

from services.common import db, outbox
from services.common.audit import AuditLog
from services.common.db import aware_row, insert_ignore
from services.common.pagination import keyset, next_cursor
from services.referrals import loads
from services.referrals import tables as t
from services.referrals.domain import lifecycle, links
from services.referrals.domain.profile import visible_las
from services.referrals.writes import referral_changed


@dataclass
class ReferralRecord:
    row: dict
    reasons: list[dict]
    history: list[dict] | None = None
    la_codes: list[str] | None = None  # the LAs that see it (single reads)

    @property
    def child(self) -> dict:
        return orjson.loads(self.row["child"])


class ReferralStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.audit = AuditLog(engine, t.audit)

    def list(self, *, agency: str | None, status: str | None, upn: str | None, overdue: bool | None, la_codes: frozenset[str] | None,
             today: date, limit: int, cursor: str | None, child_id: str | None = None) -> tuple[builtins.list[ReferralRecord], str | None]:
        r = t.referrals.c
        query = select(t.referrals)
        if agency:
            query = query.where(r.agency == agency)
        if status:
            query = query.where(r.status == status)
        if upn:
            query = query.where(r.upn == upn)
        if child_id:
            query = query.where(r.child_id == child_id)
        if overdue is not None:
            late = and_(r.status == "new", r.due_by < today)
            query = query.where(late if overdue else ~late)
        if la_codes is not None:  # every LA with a duty towards the child sees its referrals
            rl = t.referral_las.c
            query = query.where(r.id.in_(select(rl.referral_id).where(rl.la_code.in_(sorted(la_codes)))))
        query = keyset(query, r.created_at, r.id, cursor, limit)
        with self.engine.connect() as conn:
            rows = [row._asdict() for row in conn.execute(query)]
            reasons = self._reasons(conn, [row["id"] for row in rows[:limit]])
        items = [ReferralRecord(row, reasons.get(row["id"], [])) for row in rows[:limit]]
        return items, next_cursor(rows, limit)

    def _reasons(self, conn, ids: builtins.list[str]) -> dict[str, builtins.list[dict]]:  # noqa: ANN001
        out: dict[str, builtins.list[dict]] = {}
        if ids:
            for row in conn.execute(select(t.reasons.c.referral_id, t.reasons.c.reason).where(t.reasons.c.referral_id.in_(ids))
                                   .order_by(t.reasons.c.added_at, t.reasons.c.position, t.reasons.c.reason_key)):
                out.setdefault(row.referral_id, []).append(orjson.loads(row.reason))
        return out

    def get(self, ref_id: str) -> ReferralRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.referrals).where(t.referrals.c.id == ref_id)).first()
            if row is None:
                return None
            history = [h._asdict() for h in conn.execute(select(t.history).where(t.history.c.referral_id == ref_id).order_by(t.history.c.id))]
            las = [la for (la,) in conn.execute(select(t.referral_las.c.la_code).where(t.referral_las.c.referral_id == ref_id))]
            return ReferralRecord(row._asdict(), self._reasons(conn, [ref_id]).get(ref_id, []), history, las)

    def transition(self, ref_id: str, action: str, by: str, text: str | None, expected_version: int, now: datetime) -> bool:
        """Move a referral along its lifecycle (optimistic on version); history, audit and the outbox's
        ReferralChanged in the same transaction."""
        record = self.get(ref_id)
        assert record is not None
        target = lifecycle.transition(record.row["status"], action)
        values: dict = {"status": target, "updated_at": now, "version": expected_version + 1}
        if action == "decline":
            values["decline_reason"] = text
        if action == "close":
            values["outcome"] = text
        with db.write(self.engine) as conn:
            done = conn.execute(update(t.referrals).where(t.referrals.c.id == ref_id, t.referrals.c.version == expected_version).values(values))
            if done.rowcount != 1:
                return False
            conn.execute(insert(t.history), [{"referral_id": ref_id, "at": now, "by": by, "action": target, "detail": text}])
            conn.execute(insert(t.audit), [{"at": now, "principal": by, "action": f"{action}_referral", "object_kind": "referral", "object_id": ref_id,
                                             "child_id": record.row["child_id"], "detail": text}])
            outbox.append(conn, t.outbox, [referral_changed({**record.row, **values}, target, now)])
        return True

    def overdue_unescalated(self, today: date) -> builtins.list[dict]:
        r = t.referrals.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.referrals).where(r.status == "new", r.due_by < today, r.escalated_at.is_(None)).limit(500))
            return [row._asdict() for row in rows]

    def escalate(self, ref_id: str, now: datetime) -> bool:
        """Escalate once. The conditional update is the claim: of two replicas escalating the same
        referral, the second updates nothing (PostgreSQL re-checks the condition after the first commits)."""
        r = t.referrals.c
        with db.write(self.engine) as conn:
            done = conn.execute(update(t.referrals).where(r.id == ref_id, r.escalated_at.is_(None), r.status == "new")
                                .values(escalated_at=now, version=r.version + 1))
            if done.rowcount != 1:
                return False
            conn.execute(insert(t.history), [{"referral_id": ref_id, "at": now, "by": "signpost", "action": "escalated",
                                               "detail": "nobody acted within the agency's service level"}])
            row = conn.execute(select(r.id, r.agency, r.child_id, r.status, r.version).where(r.id == ref_id)).one()._asdict()
            outbox.append(conn, t.outbox, [referral_changed(row, "escalated", now)])
        return True

    def consents(self, child_id: str) -> builtins.list[dict]:
        with self.engine.connect() as conn:
            return [aware_row(r._asdict()) for r in conn.execute(select(t.consents).where(t.consents.c.child_id == child_id).order_by(t.consents.c.at))]

    def withdraw(self, child_id: str, recipient: str, by: str, note: str | None, now: datetime) -> None:
        """Withdrawal stops further sharing: recorded, and the reasons held for that recipient are dropped."""
        with db.write(self.engine) as conn:
            conn.execute(insert_ignore(self.engine, t.consents), [{"child_id": child_id, "recipient": recipient, "source": f"api:{by}:{now.isoformat()}", "granted": False, "at": now}])
            if recipient in ("nas", "ias", "ace", "coram"):  # held for that agency's consent, on any record of the child: no longer wanted
                out = loads.component(conn, child_id)
                members = links.group(child_id, out)
                conn.execute(t.held.delete().where(t.held.c.child_id.in_(sorted(members)), t.held.c.agency == recipient))
            conn.execute(insert(t.audit), [{"at": now, "principal": by, "action": "withdraw_consent", "object_kind": "consent", "object_id": recipient,
                                             "child_id": child_id, "detail": note}])

    def child_las(self, child_id: str) -> set[str]:
        """The LAs with a duty towards a child this service knows (its record's profile, its referrals), for LA-scoped tokens."""
        with self.engine.connect() as conn:
            las: set[str] = set()
            profile = conn.execute(select(t.profiles.c.profile).where(t.profiles.c.child_id == child_id)).scalar()
            if profile:
                las |= set(visible_las(orjson.loads(profile)))
            rl = t.referral_las.c
            las |= set(conn.execute(select(rl.la_code).join(t.referrals, t.referrals.c.id == rl.referral_id).where(t.referrals.c.child_id == child_id)).scalars())
            held = conn.execute(select(t.held.c.child).where(t.held.c.child_id == child_id).limit(1)).scalar()
            if held:
                las |= set(visible_las(orjson.loads(held)))
            return las

    def write_audit(self, entries: builtins.list[dict]) -> None:
        self.audit.write(entries)

    def audit_entries(self, child_id: str | None, limit: int) -> builtins.list[dict]:
        return self.audit.entries(child_id, limit)

    def counts(self) -> builtins.list[tuple[str, str, int]]:
        from sqlalchemy import func

        r = t.referrals.c
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(select(r.agency, r.status, func.count()).group_by(r.agency, r.status))]  # type: ignore[misc]

    def meta(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        from services.common.db import upsert

        with db.write(self.engine) as conn:
            conn.execute(upsert(self.engine, t.meta, ["key"], ["value"]), [{"key": key, "value": value}])

