"""The referral desk: loads what a decision needs, asks the domain, applies the actions. One batch, one transaction.

Inputs, in arrival order (`inputs.Input`): the AlertChanged, ChildEventResolved and ChildLinkChanged
models the consumer decoded once, and the ConsentRecorded a person gave over HTTP. Every trigger is stored per record; routing decisions are
`domain.decide.decide`, merges and splits `domain.merge`. After a link, an undo or a new consent
the group's stored triggers are decided again with the group's merged profile and ledger, so held
reasons are released when any record of the group has the consent. Every referral change appends
a ReferralChanged (`<referral id>:v<version>`) to the outbox in the same transaction.

Alert changes and child events other than calls are read set-wise, a segment at a time
(`batch_reads.py`), and decide exactly what they would one at a time; calls, links and consents
re-route groups and read the store live.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

import orjson
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select

from schemas.alerts import AlertChanged
from schemas.children import ChildEventResolved, ChildLinkChanged
from services.common import db, outbox
from services.common.calendar import CalendarRegistry, SchoolCalendar
from services.common.db import insert_ignore, upsert
from services.common.messages import Outgoing
from services.referrals import batch_reads, loads
from services.referrals import tables as t
from services.referrals.batch_reads import RunReads
from services.referrals.domain import consent as consent_ledger
from services.referrals.domain import links, merge
from services.referrals.domain.decide import Action, decide
from services.referrals.domain.triggers import Trigger, alert_trigger, from_child_event
from services.referrals.inputs import ConsentRecorded, Input
from services.referrals.policy import Policy
from services.referrals.prepared import Prepared
from services.referrals.writes import Change, DeskResult, Writes, referral_changed

__all__ = ["Change", "DeskResult", "ReferralDesk", "referral_changed"]
_PROFILE_AT = select(t.profiles.c.at).where(t.profiles.c.child_id == bindparam("child_id"))  # built once
_RELEASE_REASON = Prepared(delete(t.held).where(t.held.c.reason_key == bindparam("key")))  # a resolved alert's held rows
log = logging.getLogger(__name__)


class ReferralDesk:
    def __init__(self, engine: Engine, policy: Callable[[], Policy], calendars: CalendarRegistry, *, deliver: bool = True) -> None:
        self.engine, self.policy, self.calendars = engine, policy, calendars
        self.deliver = deliver  # False during a rebuild: nobody is notified twice

    def handle(self, items: Sequence[Input], now: datetime, dead_letters: Sequence[Outgoing] = ()) -> DeskResult:
        """Apply a batch in one transaction (dead letters go to the outbox in the same one)."""
        with db.write(self.engine) as conn:
            result = self.apply(conn, items, now)
            outbox.append(conn, t.outbox, [*result.messages, *dead_letters])
        return result

    def apply(self, conn: Connection, items: Sequence[Input], now: datetime) -> DeskResult:
        result = DeskResult()
        run = _Run(self, conn, self.policy(), now, result)
        for routable, other in _runs(items):
            if routable:
                run.triggers(routable)
            else:
                run.writes.deferred.flush()  # a call, a link or a consent reads the store live
                run.one(other)
        run.writes.deferred.flush()
        return result


Routable = tuple[Trigger, datetime]  # a trigger, and when its profile was reported


def _routable(item: Input) -> list[Routable] | None:
    """An alert change, or a child event other than a call, is applied as its trigger alone (the
    record's profile, then routing): [] when it has none (every suspension). None for the others: a
    call records consent, a link or a person's consent re-routes a group."""
    if isinstance(item, AlertChanged):
        trigger = alert_trigger(item)
        return [] if trigger is None else [(trigger, db.aware(item.alert.updated_at))]
    if isinstance(item, ChildEventResolved) and item.source != "call":
        trigger = from_child_event(_as_record(item))
        return [] if trigger is None else [(trigger, db.aware(item.occurred_at))]
    return None


def _runs(items: Sequence[Input]) -> Iterator[tuple[list[Routable], Input | None]]:
    """The batch in order: each run of consecutive routable inputs together, any other input alone."""
    run: list[Routable] = []
    for item in items:
        routable = _routable(item)
        if routable is not None:
            run.extend(routable)
            continue
        if run:
            yield run, None
            run = []
        yield [], item
    if run:
        yield run, None


def _as_record(event: ChildEventResolved) -> ChildEventResolved:
    """The event about its own record, which counts as child.child_id (children.links.v1 says so): kept
    per record, so an undo can split it back."""
    if not event.record_child_id:
        return event
    return event.model_copy(update={"child": event.child.model_copy(update={"child_id": event.record_child_id})})


class _Run:
    """One batch's application: the desk's adapters around the pure decisions."""

    def __init__(self, desk: ReferralDesk, conn: Connection, policy: Policy, now: datetime, result: DeskResult) -> None:
        self.desk, self.conn, self.policy, self.now, self.result = desk, conn, policy, now, result
        self.engine = desk.engine
        self.writes = Writes(conn, desk.engine, policy, now, result, deliver=desk.deliver)

    # ------------------------------------------------------------------ inputs
    def one(self, item: Input | None) -> None:
        if isinstance(item, ChildEventResolved):
            self.child_event(item)
        elif isinstance(item, ChildLinkChanged):
            self.link(item)
        elif isinstance(item, ConsentRecorded):
            self.consent(item)
        else:
            raise TypeError(f"not a desk input: {type(item).__name__}")

    def triggers(self, triggers: list[Routable]) -> None:
        """A run of triggers (alert changes, child events), read set-wise (batch_reads.py); each decided
        and applied in order. A snapshot answers a segment of triggers of distinct records and reasons;
        the one that repeats one starts the next segment, read after the segment's writes."""
        i = 0
        while i < len(triggers):
            self.writes.deferred.flush()  # the snapshot sees every write before it
            segment = batch_reads.distinct_prefix(triggers[i:], key=lambda item: item[0])
            reads = RunReads.load(self.conn, [trigger for trigger, _ in segment])
            for trigger, at in segment:
                if batch_reads.records_of(trigger) & reads.linked:  # a group: read live, as one applied alone
                    self.writes.deferred.flush()
                    self._save_profile(trigger.child, at)
                    actions = self._trigger(trigger)
                elif reads.answers(trigger):
                    actions = self._snapshot_trigger(reads, trigger, at)
                else:
                    break  # an earlier change's action touched its reason: read again from here
                reads.touched(batch_reads.records_of(trigger), [trigger.key, *(a.reason_key for a in actions if hasattr(a, "reason_key"))])
                i += 1

    def _snapshot_trigger(self, reads: RunReads, trigger: Trigger, at: datetime) -> list[Action]:
        """`_save_profile` and `_trigger` for an unlinked record, from the run's snapshot; its profile
        and trigger rows are deferred (Writes.deferred)."""
        child_id = trigger.child["child_id"]
        held_at = reads.profile_at(child_id)
        if held_at is None or held_at <= at:
            self.writes.deferred.add("profiles", {"child_id": child_id, "profile": orjson.dumps(trigger.child).decode(), "at": at})
        child = reads.group_profile(trigger.child_id, trigger.child) or trigger.child
        routed = trigger.with_child(child)
        seen = reads.seen(trigger.child_id, trigger.key)
        actions = decide(routed, self.policy, reads.ledger(trigger.child_id), reads.open_referrals(trigger.child_id), seen,
                         self.now.date(), self._calendar(child))
        self.writes.apply(actions, routed, seen.held, {trigger.child_id}, las=reads.referral_las(trigger.child_id),
                          positions=reads.referral_positions(trigger.child_id))
        self._store_trigger(trigger, seen.version, deferred=True)
        return actions

    def child_event(self, event: ChildEventResolved) -> None:
        event = _as_record(event)
        child_id = event.child.child_id
        granted = self._record_consent(event)
        trigger = from_child_event(event)
        if trigger is not None or granted:  # the others (every suspension) carry nothing the desk needs
            self._save_profile(trigger.child if trigger is not None else event.child.model_dump(mode="json"), db.aware(event.occurred_at))
        if trigger is not None:
            self._trigger(trigger)
        if granted:
            out = loads.component(self.conn, child_id)
            self.reevaluate(links.effective(child_id, out), out)

    def consent(self, grant: ConsentRecorded) -> None:
        """A person recorded the family's consent (the pages, issue 10), with its lawful basis: the
        reasons held for that recipient may go now, as when a call's box was ticked."""
        child_id, at = grant.child_id, grant.at
        source = f"basis:{grant.lawful_basis}:{grant.by}:{at.isoformat()}"  # who and on what basis, kept with the consent
        self.conn.execute(insert_ignore(self.engine, t.consents), [{"child_id": child_id, "recipient": grant.recipient, "source": source, "granted": True, "at": at}])
        self.conn.execute(insert(t.audit), [{"at": self.now, "principal": grant.by, "action": "record_consent", "object_kind": "consent",
                                             "object_id": grant.recipient, "child_id": child_id, "detail": grant.note}])
        out = loads.component(self.conn, child_id)
        self.reevaluate(links.effective(child_id, out), out)

    def link(self, change: ChildLinkChanged) -> None:
        link = links.Link(change.link_id, change.source_child_id, change.target_child_id, change.linked, change.version, db.aware(change.at))
        if not links.newer(link.version, loads.link_version(self.conn, link.link_id)):
            return  # a replay, or older than what we hold
        at = link.at
        self._save_profile({**change.child.model_dump(mode="json"), "child_id": link.target}, at)  # the target's profile after the change
        self._save_profile({**change.source_child.model_dump(mode="json"), "child_id": link.source}, at)
        before = {**loads.component(self.conn, link.source), **loads.component(self.conn, link.target)}
        src_before, tgt_before = links.effective(link.source, before), links.effective(link.target, before)
        self.conn.execute(upsert(self.engine, t.links, ["link_id"], ["source_child_id", "target_child_id", "linked", "version", "at", "by"]),
                          [{"link_id": link.link_id, "source_child_id": link.source, "target_child_id": link.target, "linked": link.linked,
                            "version": link.version, "at": at, "by": change.by}])
        after = {**loads.component(self.conn, link.source), **loads.component(self.conn, link.target)}
        if link.linked:
            effective = links.effective(link.source, after)
            for former in dict.fromkeys((src_before, tgt_before)):
                if former != effective:
                    actions = merge.link(loads.group_referrals(self.conn, former), loads.group_referrals(self.conn, effective), effective)
                    self.writes.apply_merge(actions, change.by)
            self._audit(change, "link_applied", f"{link.source} is {link.target}: referrals of {src_before} merged into {effective}")
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
                self.writes.apply_merge(actions, change.by)
        self._audit(change, "link_undone", f"{link.source} is not {link.target}: reasons of {link.source}'s records split back")
        for side in sorted(sides):
            self.refresh_group(side, after)
            self.reevaluate(side, after)

    # ------------------------------------------------------------------ routing
    def _trigger(self, trigger: Trigger) -> list[Action]:
        out = loads.component(self.conn, trigger.child_id)
        effective = links.effective(trigger.child_id, out)
        members = links.group(trigger.child_id, out)
        child = loads.group_profile(self.conn, effective, members, fresh=trigger.child) or trigger.child
        routed = trigger.with_child(child)
        seen = loads.seen(self.conn, trigger.child_id, trigger.key, members)
        actions = decide(routed, self.policy, loads.ledger(self.conn, members), loads.open_referrals(self.conn, effective), seen,
                         self.now.date(), self._calendar(child))
        self.writes.apply(actions, routed, seen.held, members)
        self._store_trigger(trigger, seen.version)
        return actions

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
            self.writes.apply(actions, trigger, seen.held, members)

    def refresh_group(self, effective: str, out: dict[str, str]) -> None:
        child = loads.group_profile(self.conn, effective, links.group(effective, out))
        if child is not None:
            for ref in loads.open_referrals(self.conn, effective).values():
                self.writes.refresh(ref.id, child)

    def _store_trigger(self, trigger: Trigger, held_version: int | None, *, deferred: bool = False) -> None:
        if held_version is not None and trigger.version < held_version:
            return  # older than what we hold: keep the newer state
        if held_version is not None and trigger.version == held_version and trigger.change != "event":
            return
        row = {"child_id": trigger.child_id, "reason_key": trigger.key, "version": trigger.version, "stands": trigger.stands,
               "doc": loads.trigger_doc(trigger), "updated_at": self.now}
        if deferred:
            self.writes.deferred.add("triggers", row)
        else:
            self.conn.execute(upsert(self.engine, t.triggers, ["child_id", "reason_key"], ["version", "stands", "doc", "updated_at"]), [row])
        if not trigger.stands:  # a resolved alert: nothing waits for consent on its behalf
            _RELEASE_REASON.run(self.conn, {"key": trigger.key})

    def _save_profile(self, child: dict, at: datetime) -> None:
        held = self.conn.execute(_PROFILE_AT, {"child_id": child["child_id"]}).scalar()
        if held is None or db.aware(held) <= at:
            self.conn.execute(upsert(self.engine, t.profiles, ["child_id"], ["profile", "at"]),
                              [{"child_id": child["child_id"], "profile": orjson.dumps(child).decode(), "at": at}])

    def _record_consent(self, event: ChildEventResolved) -> bool:
        """A call records each consent the family gave; True if any is new (held reasons may go now)."""
        if event.source != "call":
            return False
        records = consent_ledger.from_call(event.source_id, event.consent, db.aware(event.occurred_at))
        new = 0
        for r in records:
            done = self.conn.execute(insert_ignore(self.engine, t.consents).returning(t.consents.c.recipient),  # rows inserted, on both stores
                                     {"child_id": event.child.child_id, "recipient": r.recipient, "source": r.source, "granted": True, "at": r.at})
            new += len(done.fetchall())
        return new > 0

    def _audit(self, change: ChildLinkChanged, action: str, detail: str) -> None:
        self.conn.execute(insert(t.audit), [{"at": self.now, "principal": change.by, "action": action, "object_kind": "link", "object_id": change.link_id[:60],
                                             "child_id": change.source_child_id, "detail": detail}])

    def _calendar(self, child: dict) -> SchoolCalendar:
        return self.desk.calendars.for_school(child.get("la_code"), child.get("school_urn"))

