"""The child stage: intake events in, keyed by child → identity, facts, child alerts.

Per batch: decode every event (a bad one is dead-lettered, nothing of it applied); load the
identity snapshot its sightings need (`store.snapshot`, one set of queries per batch); resolve
each event's child (`domain/linking.py`) and record its facts under that record; then, for every
child whose facts or links changed, run the detectors over the facts of all its linked records
and turn the findings into alert changes. Everything the batch changes is written in one
transaction with its outgoing messages (the outbox); offsets are committed after.

Records and links: each UPN (or, without one, each exact LA + date of birth + names) is a record
with its own facts. A record linked into another counts as it: detection runs on the root of the
links, over the facts of every record linked into it. Links are made and undone only here (the
API records a person's decision; this stage applies it), so one writer owns them.

Caches hold the records of the partitions this worker owns; the store is the truth, a miss loads
from it. Any failure or rebalance forgets them.

Behind the log, the runner commits batch N while this stage processes batch N+1 (services/common/
commit_gate.py). The records N writes stay cached meanwhile, so what N+1 reads of them is current;
it waits for the commit (`gate.wait()`) before anything that reads what N may have changed or drops
a cache: evicting, applying identity decisions, the clocks' tick, identity read per batch when
several workers share the topics, and pending candidates.

Statutory clocks (issue 11): deadlines pass with time, so the stage also ticks (child_clocks.py): a
batch, with or without messages, that detects again the children whose stored `next_check` has come.

The stage is in five modules: this one (the batch, applying events, writing records), child_events.py
(an event decoded once), child_records.py (finding records and the root of their links),
child_links.py (making and undoing links) and child_detection.py (detectors, alerts, proposals).
"""

from __future__ import annotations

import itertools
from datetime import date, datetime

from schemas.alerts import CHILD_RULES
from schemas.children import ChildEventResolved, ChildProfile
from schemas.topics import CHILDREN
from services.alerts import child_clocks, tables
from services.alerts.alerting import SOURCE, AlertBook
from services.alerts.child_detection import Detection
from services.alerts.child_events import Batch, Event, decode
from services.alerts.child_links import LinkWork
from services.alerts.child_records import freeze, row_values
from services.alerts.child_state import NO_SOURCES, ChildState, StageResult
from services.alerts.domain import (
    informal,
    linking,
)
from services.alerts.domain.profile import merge_profile
from services.alerts.domain.rules import RuleConfig
from services.alerts.rows import alias_row
from services.alerts.store import AlertsStore
from services.common.calendar import CalendarRegistry
from services.common.commit_gate import CommitGate
from services.common.erasures import ErasureList
from services.common.exclusions import facts as f
from services.common.exclusions import (
    grey_facts,
    proceedings,
    suspension_days,
)
from services.common.messages import DeadLetter, Incoming, Outgoing, outgoing
from services.common.stream_io import dead_letter_messages

__all__ = ["ChildStage", "ChildState", "StageResult"]
TICK_CHILDREN = 5000  # children a tick detects again per batch (their next_check has come)
HOT_CHILDREN = 20_000  # records kept hot between batches (the rest of the cache is cold: child_records.py)


class ChildStage(LinkWork, Detection):
    def __init__(self, store: AlertsStore, calendars: CalendarRegistry, rules: RuleConfig, max_children: int = 100_000,
                 clock: child_clocks.Clock = child_clocks.uk_today, tick_s: float = 60.0) -> None:  # fmt: skip
        self.store, self.calendars, self.rules = store, calendars, rules
        self.clock, self.ticker, self.today = clock, child_clocks.Ticker(clock, tick_s), clock()
        self.max_children = max_children  # records cached, hot and cold
        self.hot_children = min(HOT_CHILDREN, max_children // 2)
        self.sole_owner = False
        self.erasures = ErasureList(store.engine, tables.erasures)  # events of erased children, read again, are skipped
        self.book = AlertBook(store, CHILD_RULES)
        self.gate = CommitGate()  # busy while the runner commits the batch before (its background commit)
        self.reset()

    def request_recompute(self, child_ids: list[str] | None = None) -> None:
        """A person decided on a candidate (recorded in the store): apply it in the next batch."""
        self._decisions_due = True

    def has_pending(self) -> bool:
        return self._decisions_due or self.ticker.due()

    def assigned(self, sole_owner: bool) -> None:
        """Told by the runner after each rebalance. A worker that owns every partition is the only
        writer of children and identity: it keeps both in memory between batches (loaded once) and
        reads the store only for records it evicted. Otherwise it reads identity per batch."""
        self.reset()
        self.sole_owner = sole_owner

    def reset(self) -> None:
        """Forget every cache (after a failure or a rebalance): the store is the truth."""
        self.children: dict[str, ChildState] = {}
        self.cold: dict[str, bytes] = {}
        self.absent: set[str] = set()
        self.changed: set[str] = set()  # records to write at the end of the batch
        self._written: dict[str, tuple[str, str, bytes]] = {}  # their row values, as written (for `_freeze`)
        self.identity: linking.Snapshot | None = None  # kept between batches by a sole owner
        self.book.reset()
        self._decisions_due = True  # a decision recorded before a crash is applied on the way back
        self.ticker.last_at = None  # and the tick runs again: a failed batch may have been the tick's

    # ---------------------------------------------------------------- records
    def _freeze(self) -> None:
        """At the end of a batch, every cached record written (or in the outbox of this batch): the least
        recently touched beyond the hot bound are frozen, and the alert book's alerts likewise. A frozen
        record is the same record, so nothing waits for a commit; and a process at rest between batches
        holds no more than the hot bound as objects, however many records a catch-up batch touched."""
        written, self._written = self._written, {}
        if len(self.children) > self.hot_children:
            for cid in list(itertools.islice(self.children, len(self.children) - self.hot_children)):
                self.cold[cid] = freeze(self.children.pop(cid), written.get(cid))
        self.book.freeze(self.hot_children)

    def _bound_caches(self) -> None:
        """Between batches every cached record is stored, or in the batch in flight: the oldest half of
        the cold ones is dropped when the cache is over its bound (the alert book's likewise), once the
        batch in flight is stored. Records known absent stay so only while no other worker can create them."""
        if not self.sole_owner:
            self.absent.clear()
        over = len(self.children) + len(self.cold) > self.max_children
        if over or self.book.held() > self.max_children:
            self.gate.wait()  # what the batch in flight writes stays cached until it is stored
        if over:
            for cid in list(itertools.islice(self.cold, (len(self.children) + len(self.cold)) // 2)):
                del self.cold[cid]
        if self.book.held() > self.max_children:
            self.book.shrink()

    def _recently_used(self, touched: set[str]) -> None:
        """Records this batch touched go to the end of the cache: eviction drops the oldest half, so the
        records a replay keeps coming back to (a child with a long history) stay, not just the newest."""
        for cid in touched:
            state = self.children.pop(cid, None)
            if state is not None:
                self.children[cid] = state

    # ---------------------------------------------------------------- the batch
    def process(self, batch: list[Incoming], now: datetime) -> StageResult:
        result = StageResult()
        events: list[Event] = []
        decisions_due, self._decisions_due = self._decisions_due, False
        if not self.sole_owner or decisions_due:
            self.gate.wait()  # identity from the store, decisions and due children: as the batch in flight leaves them
        if self.erasures.refresh():
            self.gate.wait()
            self.reset()  # an erased child must not be written back from memory
            decisions_due, self._decisions_due = self._decisions_due, False
        for msg in batch:
            if self.erasures.erased(msg.key, msg.ce_time):  # intake topics are keyed by the child's UPN or person key
                continue
            try:
                events.append(decode(msg))
            except (ValueError, KeyError, TypeError) as exc:  # this message's content: nothing of it is applied
                result.rejected.append(DeadLetter(msg, f"invalid_payload:{type(exc).__name__}"))
        self._bound_caches()
        self.book.drain()
        b = Batch(now)
        self._tick(b)
        decisions = self.store.unapplied_decisions() if decisions_due else []
        if events or decisions:
            extra = {d["child_id"] for d in decisions} | {d["candidate_child_id"] for d in decisions}
            snapshot = self._snapshot(events, extra)
            self._load({ev.sighting.child_id for ev in events} | extra)
            for decision in decisions:
                self._apply_decision(decision, snapshot, b, result)
            for ev in events:
                self._apply(ev, snapshot, b, result)
                result.applied += 1
        link_messages = self._finish_links(b, result)
        self._detect(b, result)
        self._proposals(b, result)
        self._recently_used(b.touched)
        child_messages = [self._child_event(ev, cid) for ev, cid in b.child_events]
        self._write_children(result, now)
        self._freeze()
        alert_messages = result.writes.outbox
        result.writes.outbox = [*link_messages, *child_messages, *alert_messages, *dead_letter_messages(result.rejected, "alerts")]
        result.messages = b.school
        return result

    def _snapshot(self, events: list[Event], extra: set[str]) -> linking.Snapshot:
        if not self.sole_owner:
            return self.store.snapshot([ev.sighting for ev in events], extra)
        if self.identity is None:
            self.identity = self.store.identity()
        return self.identity

    def _create(self, sighting: linking.Sighting) -> ChildState:
        state = ChildState(sighting.child_id, {}, {}, linking.Link(), NO_SOURCES)
        self._changed(state)
        state.identity = (sighting.la_code, sighting.person_key, sighting.date_of_birth, sighting.first, sighting.last)
        self.children[sighting.child_id] = state
        self.absent.discard(sighting.child_id)
        return state

    def _apply(self, ev: Event, snapshot: linking.Snapshot, b: Batch, result: StageResult) -> None:
        resolution = linking.resolve(ev.sighting, snapshot)
        cid = resolution.child_id
        state = self._state(cid) or self._create(ev.sighting)
        if resolution.alias is not None:
            result.writes.aliases.append(alias_row(resolution.alias))
        for change in resolution.links:
            self._set_link(change, b)
        for proposal in resolution.proposals:
            b.proposals.setdefault(proposal.id, proposal)
        profile, times, changed = merge_profile(state.profile, state.times, child_id=cid, source=ev.source)
        if changed or times != state.times:
            state.profile, state.times = profile, times
            self._changed(state)
            b.touched.add(cid)
        topic = ev.msg.topic
        if ev.suspension is not None:
            self._suspension(state, ev.suspension, b, result, topic)
        # each fact once by its natural key: a new one changes the child, a known one is a duplicate
        state.own_facts(bool(ev.incidents), bool(ev.grey), bool(ev.steps))
        recorded = [informal.record(state.incidents, incident) for incident in ev.incidents]
        recorded += [grey_facts.record(state.records, fact) for fact in ev.grey]
        recorded += [proceedings.record(state.steps, step) for step in ev.steps]
        if any(recorded):
            b.touched.add(cid)
            self._changed(state)
        if not all(recorded):
            result.duplicates[topic] = result.duplicates.get(topic, 0) + recorded.count(False)
        if ev.resolved is not None:
            b.child_events.append((ev, cid))

    def _tick(self, b: Batch) -> None:
        """Issue 11: deadlines pass with time. When the tick is due, the children whose clocks change by today
        are detected again in this batch (child_clocks.py)."""
        self.today = self.clock()
        if not self.ticker.due():
            return
        self.gate.wait()  # next_check as the batch in flight stores it
        due = self.store.children_due(self.today, limit=TICK_CHILDREN)
        self._load(set(due))
        b.touched.update(c for c in due if c in self.children)
        if len(due) < TICK_CHILDREN:  # else the tick stays due: the next batch takes the next children
            self.ticker.ticked(self.today)

    def _suspension(self, state: ChildState, fact: f.SuspensionFact, b: Batch, result: StageResult, topic: str) -> None:
        year = self.calendars.for_school(fact.la_code, fact.school_urn).academic_year(fact.start_date)
        ys = state.years.setdefault(year, suspension_days.YearSuspensions())
        b.count_at_school(fact)
        if not suspension_days.record(ys, fact):
            result.duplicates[topic] = result.duplicates.get(topic, 0) + 1
            return  # this very report again (a redelivery or a replay)
        b.touched.add(state.child_id)
        self._changed(state)

    # ---------------------------------------------------------------- outputs
    def _child_event(self, ev: Event, cid: str) -> Outgoing:
        """A call or permanent exclusion, for the referrals service: about the child the record counts as
        (the root of its links), with the profile Signpost knows of it; the record's own id beside it."""
        root = self._root(cid)
        resolved = ChildEventResolved(event_id=ev.msg.event_id, child=ChildProfile(**self._group_profile(root)),
                                      record_child_id=cid if cid != root else None, **ev.resolved)  # type: ignore[arg-type]  # fmt: skip
        return outgoing(CHILDREN, root, "resolved:" + ev.msg.event_id, resolved, SOURCE, subject=root)

    def _write_children(self, result: StageResult, now: datetime) -> None:
        changed, self.changed = self.changed, set()
        for cid in sorted(changed):  # not the whole cache: a live batch changes a few of its ~100k records
            state = self.children[cid]
            version = (state.version or 0) + 1
            profile, times, facts = self._written[cid] = row_values(state)
            row = {"child_id": cid, "upn": state.profile.get("upn"), "merged_into": state.link.target, "link_kind": state.link.kind,
                   "profile": profile, "profile_times": times, "facts": facts, "updated_at": now, "version": version,
                   "next_check": state.next_check}  # fmt: skip
            if state.version is None:
                la, key, dob, first, last = state.identity or (state.profile["la_code"], "", date.fromisoformat(state.profile["date_of_birth"]), "", "")
                row.update(la_code=la, person_key=key, date_of_birth=dob, first_norm=first, last_norm=last)
                state.identity = None  # written with the record's first version: not needed again
            result.writes.children[cid] = (row, state.version)
            state.version = version
