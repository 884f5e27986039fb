"""The referral desk: loads what a decision needs, asks the domain, applies the actions. One batch, one transaction.

Inputs, in arrival order: ("alert", AlertChanged JSON), ("child", ChildEventResolved JSON) and
("link", ChildLinkChanged JSON). Every trigger is stored per record; routing decisions are
`domain.decide.decide`, merges and splits `domain.merge`. After a link, an undo or a new consent
the group's stored triggers are decided again with the group's merged profile and ledger, so held
reasons are released when any record of the group has the consent. Every referral change appends
a ReferralChanged (`<referral id>:v<version>`) to the outbox in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from schemas.referrals import ReferralChanged
from schemas.topics import REFERRALS
from services.common import db, outbox
from services.common.calendar import CalendarRegistry
from services.common.db import insert_ignore, upsert
from services.common.messages import Outgoing, outgoing
from services.common.stream import StaleWrite
from services.referrals import loads
from services.referrals import tables as t
from services.referrals.domain import consent as consent_ledger
from services.referrals.domain import links, merge
from services.referrals.domain.decide import (
    Action,
    AddEvidence,
    Attach,
    Deliver,
    Hold,
    Open,
    Refresh,
    decide,
    referral_id,
)
from services.referrals.domain.lifecycle import OPEN
from services.referrals.domain.profile import visible_las
from services.referrals.domain.triggers import Trigger, alert_trigger, from_child_event
from services.referrals.policy import Policy

log = logging.getLogger(__name__)
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


def record_change(conn: Connection, ref_id: str, change: str, now: datetime, result: DeskResult) -> None:
    row = conn.execute(select(t.referrals.c.id, t.referrals.c.agency, t.referrals.c.child_id, t.referrals.c.status, t.referrals.c.version)
                       .where(t.referrals.c.id == ref_id)).one()._asdict()
    result.messages.append(referral_changed(row, change, now))
    result.changes.append(Change(row["id"], row["agency"], row["child_id"], row["status"], change))


def history(conn: Connection, ref_id: str, at: datetime, by: str, action: str, detail: str | None) -> None:
    conn.execute(insert(t.history), [{"referral_id": ref_id, "at": at, "by": by, "action": action, "detail": detail}])


class ReferralDesk:
    def __init__(self, engine: Engine, policy: Callable[[], Policy], calendars: CalendarRegistry, *, deliver: bool = True):
        self.engine, self.policy, self.calendars = engine, policy, calendars
        self.deliver = deliver  # False during a rebuild: nobody is notified twice

    def handle(self, items: Sequence[tuple[str, dict]], now: datetime, dead_letters: Sequence[Outgoing] = ()) -> DeskResult:
        """Apply a batch in one transaction (dead letters go to the outbox in the same one)."""
        with db.write(self.engine) as conn:
            result = self.apply(conn, items, now)
            outbox.append(conn, t.outbox, [*result.messages, *dead_letters])
        return result

    def apply(self, conn: Connection, items: Sequence[tuple[str, dict]], now: datetime) -> DeskResult:
        result = DeskResult()
        run = _Run(self, conn, self.policy(), now, result)
        for kind, doc in items:
            if kind == "alert":
                run.alert(doc)
            elif kind == "child":
                run.child_event(doc)
            elif kind == "link":
                run.link(doc)
            else:
                raise ValueError(f"unknown item kind {kind!r}")
        return result


class _Run:
    """One batch's application: the desk's adapters around the pure decisions."""

    def __init__(self, desk: ReferralDesk, conn: Connection, policy: Policy, now: datetime, result: DeskResult):
        self.desk, self.conn, self.policy, self.now, self.result = desk, conn, policy, now, result
        self.engine = desk.engine
        self.renamed: dict[str, str] = {}  # an Open's id → the id it got (see _open)

    # ------------------------------------------------------------------ inputs
    def alert(self, doc: dict) -> None:
        trigger = alert_trigger(doc)
        if trigger is None:
            return
        self._save_profile(trigger.child, _time(doc["alert"]["updated_at"]))
        self._trigger(trigger)

    def child_event(self, doc: dict) -> None:
        child = doc["child"]
        granted = self._record_consent(doc)
        trigger = from_child_event(doc)
        if trigger is not None or granted:  # the others (every suspension) carry nothing the desk needs
            self._save_profile(child, _time(doc["occurred_at"]))
        if trigger is not None:
            self._trigger(trigger)
        if granted:
            out = loads.component(self.conn, child["child_id"])
            self.reevaluate(links.effective(child["child_id"], out), out)

    def link(self, doc: dict) -> None:
        link = links.Link(doc["link_id"], doc["source_child_id"], doc["target_child_id"], bool(doc["linked"]), int(doc["version"]), _time(doc["at"]))
        if not links.newer(link.version, loads.link_version(self.conn, link.link_id)):
            return  # a replay, or older than what we hold
        at = link.at
        self._save_profile(doc["child"], at)
        self._save_profile(doc["source_child"], at)
        before = {**loads.component(self.conn, link.source), **loads.component(self.conn, link.target)}
        src_before, tgt_before = links.effective(link.source, before), links.effective(link.target, before)
        self.conn.execute(upsert(self.engine, t.links, ["link_id"], ["source_child_id", "target_child_id", "linked", "version", "at", "by"]),
                          [{"link_id": link.link_id, "source_child_id": link.source, "target_child_id": link.target, "linked": link.linked,
                            "version": link.version, "at": at, "by": doc["by"]}])
        after = {**loads.component(self.conn, link.source), **loads.component(self.conn, link.target)}
        if link.linked:
            effective = links.effective(link.source, after)
            for former in dict.fromkeys((src_before, tgt_before)):
                if former != effective:
                    actions = merge.link(loads.group_referrals(self.conn, former), loads.group_referrals(self.conn, effective), effective)
                    self._apply_merge(actions, doc["by"])
            self._audit(doc, "link_applied", f"{link.source} is {link.target}: referrals of {src_before} merged into {effective}")
            self.refresh_group(effective, after)
            self.reevaluate(effective, after)
            return
        former = src_before  # == tgt_before while the link held
        sides = {links.effective(link.source, after), links.effective(link.target, after)}
        if len(sides) > 1:
            other = next(iter(s for s in sides if former not in links.group(s, after)), None)
            if other is not None:
                actions = merge.split(loads.group_referrals(self.conn, former), links.group(other, after), other, link.link_id, link.version,
                                      source_open=loads.group_referrals(self.conn, other))
                self._apply_merge(actions, doc["by"])
        self._audit(doc, "link_undone", f"{link.source} is not {link.target}: reasons of {link.source}'s records split back")
        for side in sorted(sides):
            self.refresh_group(side, after)
            self.reevaluate(side, after)

    # ------------------------------------------------------------------ routing
    def _trigger(self, trigger: Trigger) -> None:
        out = loads.component(self.conn, trigger.child_id)
        effective = links.effective(trigger.child_id, out)
        members = links.group(trigger.child_id, out)
        child = loads.group_profile(self.conn, effective, members, fresh=trigger.child) or trigger.child
        routed = trigger.with_child(child)
        seen = loads.seen(self.conn, trigger.child_id, trigger.key, members)
        actions = decide(routed, self.policy, loads.ledger(self.conn, members), loads.open_referrals(self.conn, effective), seen,
                         self.now.date(), self._calendar(child))
        self._apply(actions, routed, seen.held, members)
        self._store_trigger(trigger, seen.version)

    def reevaluate(self, effective: str, out: dict[str, str]) -> None:
        """Route the group's stored triggers again (a link, an undo, a consent): never new harm."""
        members = links.group(effective, out)
        child = loads.group_profile(self.conn, effective, members)
        if child is None:
            return
        for trigger in loads.stored_triggers(self.conn, members, child):
            seen = loads.seen(self.conn, trigger.child_id, trigger.key, members)
            actions = decide(trigger, self.policy, loads.ledger(self.conn, members), loads.open_referrals(self.conn, effective), seen,
                             self.now.date(), self._calendar(child))
            self._apply(actions, trigger, seen.held, members)

    def refresh_group(self, effective: str, out: dict[str, str]) -> None:
        child = loads.group_profile(self.conn, effective, links.group(effective, out))
        if child is not None:
            for ref in loads.open_referrals(self.conn, effective).values():
                self._refresh(ref.id, child)

    def _apply(self, actions: list[Action], trigger: Trigger, held: frozenset[str], members: set[str]) -> None:
        child_json = orjson.dumps(trigger.child).decode()
        for action in actions:
            if isinstance(action, Hold):
                self.conn.execute(insert_ignore(self.engine, t.held), [{"child_id": action.child_id, "agency": action.agency, "reason_key": action.reason_key,
                                                                       "reason": orjson.dumps(trigger.reason).decode(), "child": child_json, "held_at": self.now}])
                self.result.held.append(action.agency)
            elif isinstance(action, Open):
                self._open(action, trigger, child_json)
            elif isinstance(action, Attach):
                self._bump(action.referral_id, trigger.child)
                self._add_reason(action.referral_id, action.agency, action.reason_key, action.reason, action.child_id, action.version)
                history(self.conn, action.referral_id, self.now, "signpost", "reason_added", action.reason_key.split(":")[0])
                record_change(self.conn, action.referral_id, "reason_added", self.now, self.result)
            elif isinstance(action, AddEvidence):
                self._bump(action.referral_id, trigger.child)
                rs = t.reasons.c
                self.conn.execute(update(t.reasons).where(rs.referral_id == action.referral_id, rs.reason_key == action.reason_key)
                                  .values(reason=orjson.dumps(action.reason).decode(), version=action.version))
                history(self.conn, action.referral_id, self.now, "signpost", "evidence_added", action.reason_key.split(":")[0])
                record_change(self.conn, action.referral_id, "evidence_added", self.now, self.result)
            elif isinstance(action, Refresh):
                self._refresh(action.referral_id, trigger.child)
            elif isinstance(action, Deliver):
                self._deliver(self.renamed.get(action.referral_id, action.referral_id), action.agency, action.receiver)
            if isinstance(action, Open | Attach):
                gone = self.conn.execute(delete(t.held).where(t.held.c.agency == action.agency, t.held.c.reason_key == action.reason_key,
                                                              t.held.c.child_id.in_(sorted(members))))
                if action.agency in held and gone.rowcount:
                    self.result.released += 1

    def _open(self, action: Open, trigger: Trigger, child_json: str) -> None:
        ref_id = action.referral_id
        n = 0
        while self.conn.execute(select(t.referrals.c.id).where(t.referrals.c.id == ref_id)).first() is not None:
            n += 1  # the id is taken (a referral emptied by a merge once had it): the next deterministic one
            ref_id = referral_id(action.referral_id, "again", str(n))
        self.renamed[action.referral_id] = ref_id
        try:
            self._insert_referral([{"id": ref_id, "agency": action.agency, "child_id": trigger.child["child_id"],
                                                 "la_code": trigger.child.get("la_code") or "", "upn": trigger.child.get("upn"), "child": child_json,
                                                 "status": "new", "created_at": self.now, "updated_at": self.now, "due_by": action.due_by, "version": 1}])
        except IntegrityError as exc:  # another transaction opened one for this child and agency first
            raise StaleWrite(f"an open {action.agency} referral appeared meanwhile") from exc
        self._set_las(ref_id, trigger.child)
        self._add_reason(ref_id, action.agency, action.reason_key, action.reason, action.child_id, action.version)
        history(self.conn, ref_id, self.now, "signpost", "created", f"routed to {action.receiver}")
        record_change(self.conn, ref_id, "created", self.now, self.result)

    def _insert_referral(self, rows: list[dict]) -> None:
        self.conn.execute(insert(t.referrals), rows)  # the unique open-referral index may refuse it

    def _add_reason(self, ref_id: str, agency: str, key: str, reason: dict, child_id: str, version: int) -> None:
        rs = t.reasons.c
        position = self.conn.execute(select(func.coalesce(func.max(rs.position), 0)).where(rs.referral_id == ref_id)).scalar_one() + 1
        self.conn.execute(insert_ignore(self.engine, t.reasons), [{"referral_id": ref_id, "reason_key": key, "agency": agency, "child_id": child_id,
                                                                  "reason": orjson.dumps(reason).decode(), "added_at": self.now, "version": version,
                                                                  "position": position}])

    def _bump(self, ref_id: str, child: dict) -> None:
        """A new version of an open referral. If an agency closed or declined it since this batch read
        it (another transaction, another replica), the batch is stale: nothing of it is committed and
        the runner applies it again from fresh state."""
        r = t.referrals.c
        done = self.conn.execute(update(t.referrals).where(r.id == ref_id, r.status.in_(sorted(OPEN))).values(
            version=r.version + 1, updated_at=self.now, child=orjson.dumps(child).decode(), la_code=child.get("la_code") or "", upn=child.get("upn")))
        if done.rowcount != 1:
            raise StaleWrite(f"referral {ref_id} is no longer open")
        self._set_las(ref_id, child)

    def _refresh(self, ref_id: str, child: dict) -> None:
        """The child's details only: no new version, nobody notified."""
        r = t.referrals.c
        self.conn.execute(update(t.referrals).where(r.id == ref_id).values(child=orjson.dumps(child).decode(), la_code=child.get("la_code") or "",
                                                                           upn=child.get("upn")))
        self._set_las(ref_id, child)

    def _set_las(self, ref_id: str, child: dict) -> None:
        """Exactly the LAs of the child's (group's) profile see the referral."""
        las = visible_las(child)
        rl = t.referral_las.c
        held = {r.la_code for r in self.conn.execute(select(rl.la_code).where(rl.referral_id == ref_id))}
        if held - set(las):
            self.conn.execute(delete(t.referral_las).where(rl.referral_id == ref_id, rl.la_code.in_(sorted(held - set(las)))))
        if set(las) - held:
            self.conn.execute(insert(t.referral_las), [{"referral_id": ref_id, "la_code": la} for la in las if la not in held])

    def _deliver(self, ref_id: str, agency: str, receiver: str) -> None:
        version = self.conn.execute(select(t.referrals.c.version).where(t.referrals.c.id == ref_id)).scalar_one()
        self.conn.execute(insert_ignore(self.engine, t.deliveries), [{"key": f"{ref_id}:v{version}", "referral_id": ref_id, "agency": agency,
                                                                     "receiver": receiver, "status": "pending" if self.desk.deliver else "skipped",
                                                                     "attempts": 0, "next_attempt_at": self.now, "created_at": self.now}])

    # ------------------------------------------------------------------ merges and splits
    def _apply_merge(self, actions: list[merge.MergeAction], by: str) -> None:
        r = t.referrals.c
        touched: list[str] = []
        for action in actions:
            if isinstance(action, merge.CloseMerged):
                self.conn.execute(update(t.referrals).where(r.id == action.referral_id).values(
                    status="closed", outcome=f"merged into {action.into_id}", version=r.version + 1, updated_at=self.now))
                history(self.conn, action.referral_id, self.now, by, "merged", f"merged into {action.into_id}")
                record_change(self.conn, action.referral_id, "merged", self.now, self.result)
            elif isinstance(action, merge.MoveReasons):
                self._move(action)
                self.conn.execute(update(t.referrals).where(r.id == action.to_id).values(version=r.version + 1, updated_at=self.now))
                history(self.conn, action.to_id, self.now, by, action.action, f"{len(action.keys)} reason(s) from {action.from_id}")
                if action.action == "split":
                    history(self.conn, action.from_id, self.now, by, "split", f"{len(action.keys)} reason(s) to {action.to_id}")
                record_change(self.conn, action.to_id, action.action, self.now, self.result)
                touched.append(action.to_id)
            elif isinstance(action, merge.Repoint):
                self.conn.execute(update(t.referrals).where(r.id == action.referral_id).values(child_id=action.child_id, version=r.version + 1,
                                                                                               updated_at=self.now))
                history(self.conn, action.referral_id, self.now, by, action.action, action.detail)
                record_change(self.conn, action.referral_id, action.action, self.now, self.result)
                touched.append(action.referral_id)
            elif isinstance(action, merge.OpenSplit):
                src = self.conn.execute(select(t.referrals).where(r.id == action.from_id)).one()._asdict()
                self.conn.execute(insert(t.referrals), [{**src, "id": action.referral_id, "child_id": action.child_id, "status": "new", "created_at": self.now,
                                                         "updated_at": self.now, "due_by": action.due_by, "version": 1, "escalated_at": None,
                                                         "outcome": None, "decline_reason": None}])
                history(self.conn, action.referral_id, self.now, by, "split", f"split from {action.from_id}")
                record_change(self.conn, action.referral_id, "split", self.now, self.result)
        for ref_id in dict.fromkeys(touched):  # an agency with a webhook hears of the change
            row = self.conn.execute(select(r.agency, r.status).where(r.id == ref_id)).one()
            receivers = [rc for rc in self.policy.receivers_for_agency(row.agency) if rc.webhook is not None]
            if receivers and row.status in ("new", "accepted"):
                self._deliver(ref_id, row.agency, receivers[0].name)

    def _move(self, action: merge.MoveReasons) -> None:
        rs = t.reasons.c
        there = {row.reason_key for row in self.conn.execute(select(rs.reason_key).where(rs.referral_id == action.to_id, rs.reason_key.in_(action.keys)))}
        if there:
            self.conn.execute(delete(t.reasons).where(rs.referral_id == action.from_id, rs.reason_key.in_(sorted(there))))
        moving = [k for k in action.keys if k not in there]
        if moving:
            self.conn.execute(update(t.reasons).where(rs.referral_id == action.from_id, rs.reason_key.in_(moving)).values(referral_id=action.to_id))

    # ------------------------------------------------------------------ state kept per record
    def _store_trigger(self, trigger: Trigger, held_version: int | None) -> None:
        if held_version is not None and trigger.version < held_version:
            return  # older than what we hold: keep the newer state
        if held_version is not None and trigger.version == held_version and trigger.change != "event":
            return
        self.conn.execute(upsert(self.engine, t.triggers, ["child_id", "reason_key"], ["version", "stands", "doc", "updated_at"]),
                          [{"child_id": trigger.child_id, "reason_key": trigger.key, "version": trigger.version, "stands": trigger.stands,
                            "doc": loads.trigger_doc(trigger), "updated_at": self.now}])
        if not trigger.stands:  # a resolved alert: nothing waits for consent on its behalf
            self.conn.execute(delete(t.held).where(t.held.c.reason_key == trigger.key))

    def _save_profile(self, child: dict, at: datetime) -> None:
        p = t.profiles.c
        held = self.conn.execute(select(p.at).where(p.child_id == child["child_id"])).scalar()
        if held is None or loads.aware(held) <= at:
            self.conn.execute(upsert(self.engine, t.profiles, ["child_id"], ["profile", "at"]),
                              [{"child_id": child["child_id"], "profile": orjson.dumps(child).decode(), "at": at}])

    def _record_consent(self, doc: dict) -> bool:
        """A call records each consent the family gave; True if any is new (held reasons may go now)."""
        if doc["source"] != "call":
            return False
        records = consent_ledger.from_call(doc["source_id"], doc.get("consent"), _time(doc["occurred_at"]))
        new = 0
        for r in records:
            done = self.conn.execute(insert_ignore(self.engine, t.consents).returning(t.consents.c.recipient),  # rows inserted, on both stores
                                     {"child_id": doc["child"]["child_id"], "recipient": r.recipient, "source": r.source, "granted": True, "at": r.at})
            new += len(done.fetchall())
        return new > 0

    def _audit(self, doc: dict, action: str, detail: str) -> None:
        self.conn.execute(insert(t.audit), [{"at": self.now, "principal": doc["by"], "action": action, "object_kind": "link", "object_id": doc["link_id"][:60],
                                             "child_id": doc["source_child_id"], "detail": detail}])

    def _calendar(self, child: dict):  # noqa: ANN202 - a SchoolCalendar
        return self.desk.calendars.for_school(child.get("la_code"), child.get("school_urn"))


def _time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

