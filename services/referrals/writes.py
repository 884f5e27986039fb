"""The desk's writes: the domain's actions applied to the store, inside the batch's transaction.

Every referral change bumps its version, leaves a history entry and appends a ReferralChanged
(`<referral id>:v<version>`) for the outbox; deliveries get the version's idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from schemas.referrals import ReferralChanged
from schemas.topics import REFERRALS
from services.common.db import insert_ignore, upsert
from services.common.messages import Outgoing, outgoing
from services.common.stream import StaleWrite
from services.referrals import tables as t
from services.referrals.domain import merge
from services.referrals.domain.decide import (
    Action,
    AddEvidence,
    Attach,
    Deliver,
    Hold,
    Open,
    Refresh,
    Withdraw,
    referral_id,
)
from services.referrals.domain.lifecycle import OPEN
from services.referrals.domain.profile import visible_las
from services.referrals.domain.triggers import Trigger
from services.referrals.policy import Policy
from services.referrals.prepared import Prepared

SOURCE = "/signpost/referrals"


@dataclass
class Change:
    referral_id: str
    agency: str
    child_id: str
    status: str
    change: str  # created | reason_added | evidence_added | merged | split | accepted | declined | closed | escalated


@dataclass
class DeskResult:
    changes: list[Change] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # agencies a reason was newly held for (waiting for consent)
    released: int = 0  # held reasons routed now
    messages: list[Outgoing] = field(default_factory=list)  # appended to the outbox


def referral_changed(row: dict, change: str, now: datetime) -> Outgoing:
    """The referrals topic's copy of a change: ids and status only; ce_id `<id>:v<version>`."""
    payload = ReferralChanged(referral_id=row["id"], agency=row["agency"], child_id=row["child_id"], status=row["status"], change=change, at=now)
    return outgoing(REFERRALS, row["child_id"], f"{row['id']}:v{row['version']}", payload, SOURCE, subject=row["id"])


# Built once with bind parameters (a statement built per call was most of a small write's cost); the
# frequent ones prepared for the driver's cursor (prepared.py: SQLAlchemy's execute path was most of
# what was left).
_r, _rs, _rl = t.referrals.c, t.reasons.c, t.referral_las.c
_CHANGED = select(_r.id, _r.agency, _r.child_id, _r.status, _r.version).where(_r.id == bindparam("ref_id"))
_HISTORY = insert(t.history)
_LAS_OF = Prepared(select(_rl.la_code).where(_rl.referral_id == bindparam("ref_id")))
_NEXT_POSITION = Prepared(select(func.coalesce(func.max(_rs.position), 0)).where(_rs.referral_id == bindparam("ref_id")))
_BUMP = Prepared(update(t.referrals).where(_r.id == bindparam("ref_id"), _r.status.in_(sorted(OPEN))).values(
    version=_r.version + 1, updated_at=bindparam("b_now"), child=bindparam("b_child"), la_code=bindparam("b_la"), upn=bindparam("b_upn")
).returning(_r.id, _r.agency, _r.child_id, _r.status, _r.version))  # the changed row, for its outbox message
_VERSION = Prepared(select(_r.version).where(_r.id == bindparam("ref_id")))
_ID_TAKEN = Prepared(select(_r.id).where(_r.id == bindparam("ref_id")))
_INSERT_REFERRAL = Prepared(insert(t.referrals), keys=["id", "agency", "child_id", "la_code", "upn", "child", "status", "created_at", "updated_at",
                                                       "due_by", "version"])
_EVIDENCE = Prepared(update(t.reasons).where(_rs.referral_id == bindparam("ref_id"), _rs.reason_key == bindparam("key"))
                     .values(reason=bindparam("e_reason"), version=bindparam("e_version")))  # fmt: skip
_REFRESH = Prepared(update(t.referrals).where(_r.id == bindparam("ref_id"))
                    .values(child=bindparam("f_child"), la_code=bindparam("f_la"), upn=bindparam("f_upn")))  # fmt: skip
_LAS_DROP = Prepared(delete(t.referral_las).where(_rl.referral_id == bindparam("ref_id"), _rl.la_code.in_(bindparam("las", expanding=True))),
                     lists=["las"])
_LAS_ADD = Prepared(insert(t.referral_las), keys=["referral_id", "la_code"])
_RELEASE = Prepared(delete(t.held).where(t.held.c.agency == bindparam("agency"), t.held.c.reason_key == bindparam("key"),
                                         t.held.c.child_id.in_(bindparam("members", expanding=True))), lists=["members"])
_HOLD = Prepared(lambda engine: insert_ignore(engine, t.held), keys=["child_id", "agency", "reason_key", "reason", "child", "held_at"])
_ADD_REASON = Prepared(lambda engine: insert_ignore(engine, t.reasons),
                       keys=["referral_id", "reason_key", "agency", "child_id", "reason", "added_at", "version", "position"])
_ADD_DELIVERY = Prepared(lambda engine: insert_ignore(engine, t.deliveries),
                         keys=["key", "referral_id", "agency", "receiver", "status", "attempts", "next_attempt_at", "created_at"])
# What Deferred writes, with one executemany per table (every row of a table with these keys).
_DEFERRED = {
    "history": Prepared(_HISTORY, keys=["referral_id", "at", "by", "action", "detail"]),
    "profiles": Prepared(lambda engine: upsert(engine, t.profiles, ["child_id"], ["profile", "at"]), keys=["child_id", "profile", "at"]),
    "triggers": Prepared(lambda engine: upsert(engine, t.triggers, ["child_id", "reason_key"], ["version", "stands", "doc", "updated_at"]),
                         keys=["child_id", "reason_key", "version", "stands", "doc", "updated_at"]),
    "referral_las": _LAS_ADD,
    "reasons": _ADD_REASON,
    "deliveries": _ADD_DELIVERY,
}


def record_change(conn: Connection, ref_id: str, change: str, now: datetime, result: DeskResult, row: dict | None = None) -> None:
    """The change's outbox message and outcome; `row` (id, agency, child_id, status, version) if the writer knows it, else read."""
    row = row or conn.execute(_CHANGED, {"ref_id": ref_id}).one()._asdict()
    result.messages.append(referral_changed(row, change, now))
    result.changes.append(Change(row["id"], row["agency"], row["child_id"], row["status"], change))


def history(conn: Connection, ref_id: str, at: datetime, by: str, action: str, detail: str | None) -> None:
    conn.execute(_HISTORY, [{"referral_id": ref_id, "at": at, "by": by, "action": action, "detail": detail}])



class Deferred:
    """Rows written with one executemany per table when the batch ends, or before the desk reads the
    store live again: history (never read back by the desk), and the profiles and triggers of the
    changes it decided from a run's snapshot (batch_reads.py: none of them twice between flushes),
    and for those changes, a new referral's LA rows and reason and the deliveries. Before the next
    snapshot or live read all are written: within a segment nothing reads them (its changes are of
    distinct records and reasons, so of distinct referrals)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[dict]] = {name: [] for name in _DEFERRED}

    def add(self, table: str, row: dict) -> None:
        self.rows[table].append(row)

    def flush(self) -> None:
        for table, rows in self.rows.items():
            if rows:
                _DEFERRED[table].many(self.conn, rows)
                self.rows[table] = []


class Writes:
    """Applies actions for one batch (one connection, one transaction, one `now`)."""

    def __init__(self, conn: Connection, engine: Engine, policy: Policy, now: datetime, result: DeskResult, *, deliver: bool) -> None:
        self.conn, self.engine, self.policy, self.now, self.result, self.deliver = conn, engine, policy, now, result, deliver
        self.renamed: dict[str, str] = {}  # an Open's id → the id it got (see _open)
        self.deferred = Deferred(conn)
        # Set for one change decided from a run's snapshot (apply's `las`): each open referral's LA rows
        # as the snapshot read them (kept as they are written), the versions the writes made.
        self.las: dict[str, set[str]] | None = None
        self.positions: dict[str, int] | None = None
        self.versions: dict[str, int] = {}
        self.opened: set[str] = set()  # referrals this change opened (their LA rows and reason deferred)

    def _history(self, ref_id: str, by: str, action: str, detail: str | None) -> None:
        self.deferred.add("history", {"referral_id": ref_id, "at": self.now, "by": by, "action": action, "detail": detail})

    def apply(self, actions: list[Action], trigger: Trigger, held: frozenset[str], members: set[str], las: dict[str, set[str]] | None = None,
              positions: dict[str, int] | None = None) -> None:
        """`las` and `positions` for a change decided from a run's snapshot (desk._snapshot_trigger): its
        open referrals' LA rows and last reason positions as read there. Then what the snapshot answers
        is not read again (those; a new referral's: none; a held reason the snapshot did not hold is not
        released), and a new referral's LA rows, the reasons added and the deliveries are deferred."""
        self.las, self.positions, self.versions, self.opened = las, positions, {}, set()
        try:
            self._apply(actions, trigger, held, members)
        finally:
            self.las, self.positions, self.versions, self.opened = None, None, {}, set()

    def _apply(self, actions: list[Action], trigger: Trigger, held: frozenset[str], members: set[str]) -> None:
        child_json = orjson.dumps(trigger.child).decode()
        holds: set[tuple[str, str]] = set()
        for action in actions:
            if isinstance(action, Hold):
                holds.add((action.agency, action.reason_key))
                _HOLD.run(self.conn, {"child_id": action.child_id, "agency": action.agency, "reason_key": action.reason_key,
                                      "reason": orjson.dumps(trigger.reason).decode(), "child": child_json, "held_at": self.now})
                self.result.held.append(action.agency)
            elif isinstance(action, Open):
                self._open(action, trigger, child_json)
            elif isinstance(action, Attach):
                row = self._bump(action.referral_id, trigger.child)
                self._add_reason(action.referral_id, action.agency, action.reason_key, action.reason, action.child_id, action.version)
                self._history(action.referral_id, "signpost", "reason_added", action.reason_key.split(":")[0])
                record_change(self.conn, action.referral_id, "reason_added", self.now, self.result, row)
            elif isinstance(action, AddEvidence):
                row = self._bump(action.referral_id, trigger.child)
                _EVIDENCE.run(self.conn, {"ref_id": action.referral_id, "key": action.reason_key, "e_reason": orjson.dumps(action.reason).decode(),
                                          "e_version": action.version})
                self._history(action.referral_id, "signpost", "evidence_added", action.reason_key.split(":")[0])
                record_change(self.conn, action.referral_id, "evidence_added", self.now, self.result, row)
            elif isinstance(action, Refresh):
                self.refresh(action.referral_id, trigger.child)
            elif isinstance(action, Deliver):
                self._deliver(self.renamed.get(action.referral_id, action.referral_id), action.agency, action.receiver)
            elif isinstance(action, Withdraw):
                self._withdraw(action, trigger.child)
            if isinstance(action, Open | Attach):
                if (self.las is not None and action.reason_key == trigger.key and members == {trigger.child_id} and action.agency not in held
                        and (action.agency, action.reason_key) not in holds):
                    continue  # the snapshot holds nothing to release: the delete would find no row
                gone = _RELEASE.run(self.conn, {"agency": action.agency, "key": action.reason_key}, members=sorted(members))
                if action.agency in held and gone:
                    self.result.released += 1

    def _open(self, action: Open, trigger: Trigger, child_json: str) -> None:
        ref_id = action.referral_id
        n = 0
        while _ID_TAKEN.rows(self.conn, {"ref_id": ref_id}):
            n += 1  # the id is taken (a referral emptied by a merge once had it): the next deterministic one
            ref_id = referral_id(action.referral_id, "again", str(n))
        self.renamed[action.referral_id] = ref_id
        try:
            self._insert_referral({"id": ref_id, "agency": action.agency, "child_id": trigger.child["child_id"], "la_code": trigger.child.get("la_code") or "",
                                   "upn": trigger.child.get("upn"), "child": child_json, "status": "new", "created_at": self.now, "updated_at": self.now,
                                   "due_by": action.due_by, "version": 1})
        except IntegrityError as exc:  # another transaction opened one for this child and agency first
            raise StaleWrite(f"an open {action.agency} referral appeared meanwhile") from exc
        if self.las is not None:  # a referral's LA rows and reasons go with it (retention, erasure): a new id has none
            self.las[ref_id] = set()
            self.versions[ref_id] = 1
            self.opened.add(ref_id)
            if self.positions is not None:
                self.positions[ref_id] = 0
        self._set_las(ref_id, trigger.child)
        self._add_reason(ref_id, action.agency, action.reason_key, action.reason, action.child_id, action.version)
        self._history(ref_id, "signpost", "created", f"routed to {action.receiver}")
        created = {"id": ref_id, "agency": action.agency, "child_id": trigger.child["child_id"], "status": "new", "version": 1}  # as inserted
        record_change(self.conn, ref_id, "created", self.now, self.result, created)

    def _withdraw(self, action: Withdraw, child: dict) -> None:
        rs, r = t.reasons.c, t.referrals.c
        self._bump(action.referral_id, child)
        self.conn.execute(delete(t.reasons).where(rs.referral_id == action.referral_id, rs.reason_key == action.reason_key))
        if self.positions is not None:  # its last position may have gone: a reason added after this reads it again
            self.positions.pop(action.referral_id, None)
        self._history(action.referral_id, "signpost", "reason_withdrawn",
                f"{action.reason_key.split(':')[0]}: no longer holds for this child (a correction, or the evidence was another record's)")
        left = self.conn.execute(select(func.count()).select_from(t.reasons).where(rs.referral_id == action.referral_id)).scalar_one()
        status = self.conn.execute(select(r.status).where(r.id == action.referral_id)).scalar_one()
        change = "reason_withdrawn"
        if not left and status == "new":  # nobody acted on it, and nothing is left to act on
            self.conn.execute(update(t.referrals).where(r.id == action.referral_id).values(status="closed", outcome="withdrawn by Signpost: its reasons no longer hold"))
            self._history(action.referral_id, "signpost", "closed", "withdrawn: its reasons no longer hold")
            change = "withdrawn"
        record_change(self.conn, action.referral_id, change, self.now, self.result)

    def _insert_referral(self, row: dict) -> None:
        _INSERT_REFERRAL.run(self.conn, row)  # the unique open-referral index may refuse it

    def _add_reason(self, ref_id: str, agency: str, key: str, reason: dict, child_id: str, version: int) -> None:
        """A referral the snapshot read (or this change opened): its next position known, the row deferred."""
        known = self.positions.get(ref_id) if self.positions is not None else None
        position = (known if known is not None else _NEXT_POSITION.rows(self.conn, {"ref_id": ref_id})[0][0]) + 1
        row = {"referral_id": ref_id, "reason_key": key, "agency": agency, "child_id": child_id, "reason": orjson.dumps(reason).decode(),
               "added_at": self.now, "version": version, "position": position}
        if self.positions is not None and known is not None:
            self.positions[ref_id] = position
            self.deferred.add("reasons", row)
        else:
            _ADD_REASON.run(self.conn, row)

    def _bump(self, ref_id: str, child: dict) -> dict:
        """A new version of an open referral. If an agency closed or declined it since this batch read
        it (another transaction, another replica), the batch is stale: nothing of it is committed and
        the runner applies it again from fresh state."""
        done = _BUMP.rows(self.conn, {"ref_id": ref_id, "b_now": self.now, "b_child": orjson.dumps(child).decode(), "b_la": child.get("la_code") or "",
                                      "b_upn": child.get("upn")})  # fmt: skip
        if len(done) != 1:
            raise StaleWrite(f"referral {ref_id} is no longer open")
        row = dict(zip(("id", "agency", "child_id", "status", "version"), done[0], strict=True))
        if self.las is not None:
            self.versions[ref_id] = row["version"]
        self._set_las(ref_id, child)
        return row

    def refresh(self, ref_id: str, child: dict) -> None:
        """The child's details only: no new version, nobody notified."""
        _REFRESH.run(self.conn, {"ref_id": ref_id, "f_child": orjson.dumps(child).decode(), "f_la": child.get("la_code") or "", "f_upn": child.get("upn")})
        self._set_las(ref_id, child)

    def _set_las(self, ref_id: str, child: dict) -> None:
        """Exactly the LAs of the child's (group's) profile see the referral."""
        las = visible_las(child)
        known = self.las is not None and ref_id in self.las
        held = self.las[ref_id] if self.las is not None and known else {la for (la,) in _LAS_OF.rows(self.conn, {"ref_id": ref_id})}
        if held - set(las):
            _LAS_DROP.run(self.conn, {"ref_id": ref_id}, las=sorted(held - set(las)))
        if set(las) - held:
            rows = [{"referral_id": ref_id, "la_code": la} for la in las if la not in held]
            if ref_id in self.opened and not held:  # a referral this change opened: deferred with its reason
                for row in rows:
                    self.deferred.add("referral_las", row)
            else:
                _LAS_ADD.many(self.conn, rows)
        if self.las is not None:
            self.las[ref_id] = set(las)

    def _deliver(self, ref_id: str, agency: str, receiver: str) -> None:
        known = self.versions.get(ref_id)  # this change's own write made it (a snapshot's change)
        version = known if known is not None else _VERSION.rows(self.conn, {"ref_id": ref_id})[0][0]
        row = {"key": f"{ref_id}:v{version}", "referral_id": ref_id, "agency": agency, "receiver": receiver, "status": "pending" if self.deliver else "skipped",
               "attempts": 0, "next_attempt_at": self.now, "created_at": self.now}
        if known is not None:
            self.deferred.add("deliveries", row)
        else:
            _ADD_DELIVERY.run(self.conn, row)

    # ------------------------------------------------------------------ merges and splits
    def apply_merge(self, actions: list[merge.MergeAction], by: str) -> None:
        r = t.referrals.c
        touched: list[str] = []
        for action in actions:
            if isinstance(action, merge.CloseMerged):
                self._next_version(action.referral_id, status="closed", outcome=f"merged into {action.into_id}")
                self._history(action.referral_id, by, "merged", f"merged into {action.into_id}")
                record_change(self.conn, action.referral_id, "merged", self.now, self.result)
            elif isinstance(action, merge.MoveReasons):
                self._move(action)
                self._next_version(action.to_id)
                self._history(action.to_id, by, action.action, f"{len(action.keys)} reason(s) from {action.from_id}")
                record_change(self.conn, action.to_id, action.action, self.now, self.result)
                touched.append(action.to_id)
                if action.action == "split":  # the referral they left changed too
                    self._next_version(action.from_id)
                    self._history(action.from_id, by, "split", f"{len(action.keys)} reason(s) to {action.to_id}")
                    record_change(self.conn, action.from_id, "split", self.now, self.result)
            elif isinstance(action, merge.Repoint):
                self._next_version(action.referral_id, child_id=action.child_id)
                self._history(action.referral_id, by, action.action, action.detail)
                record_change(self.conn, action.referral_id, action.action, self.now, self.result)
                touched.append(action.referral_id)
            elif isinstance(action, merge.OpenSplit):
                src = self.conn.execute(select(t.referrals).where(r.id == action.from_id)).one()._asdict()
                self.conn.execute(insert(t.referrals), [{**src, "id": action.referral_id, "child_id": action.child_id, "status": "new", "created_at": self.now,
                                                         "updated_at": self.now, "due_by": action.due_by, "version": 1, "escalated_at": None,
                                                         "outcome": None, "decline_reason": None}])
                self._history(action.referral_id, by, "split", f"split from {action.from_id}")
                record_change(self.conn, action.referral_id, "split", self.now, self.result)
        for ref_id in dict.fromkeys(touched):  # an agency with a webhook hears of the change
            row = self.conn.execute(select(r.agency, r.status).where(r.id == ref_id)).one()
            receivers = [rc for rc in self.policy.receivers_for_agency(row.agency) if rc.webhook is not None]
            if receivers and row.status in ("new", "accepted"):
                self._deliver(ref_id, row.agency, receivers[0].name)

    def _next_version(self, ref_id: str, **values: object) -> None:
        """A merge or split changes an open referral; one an agency closed meanwhile makes the batch stale."""
        r = t.referrals.c
        done = self.conn.execute(update(t.referrals).where(r.id == ref_id, r.status.in_(sorted(OPEN)))
                                 .values(version=r.version + 1, updated_at=self.now, **values))
        if done.rowcount != 1:
            raise StaleWrite(f"referral {ref_id} is no longer open")

    def _move(self, action: merge.MoveReasons) -> None:
        rs = t.reasons.c
        there = {row.reason_key for row in self.conn.execute(select(rs.reason_key).where(rs.referral_id == action.to_id, rs.reason_key.in_(action.keys)))}
        if there:
            self.conn.execute(delete(t.reasons).where(rs.referral_id == action.from_id, rs.reason_key.in_(sorted(there))))
        moving = [k for k in action.keys if k not in there]
        if moving:
            self.conn.execute(update(t.reasons).where(rs.referral_id == action.from_id, rs.reason_key.in_(moving)).values(referral_id=action.to_id))

    # ------------------------------------------------------------------ state kept per record
