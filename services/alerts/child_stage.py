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

Statutory clocks (issue 11): deadlines pass with time, so the stage also ticks (child_clocks.py): a
batch, with or without messages, that detects again the children whose stored `next_check` has come.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import orjson

from schemas.alerts import CHILD_RULES, Alert
from schemas.children import ChildEventResolved, ChildLinkChanged, ChildProfile
from schemas.intake import Consent
from schemas.pupil import normalise_name
from schemas.topics import (
    CALLS,
    CHILD_LINKS,
    CHILDREN,
    EXCLUSION_CANCELLATIONS,
    EXCLUSION_NOTICES,
    LA_RETURN_RECORDS,
    SCHOOL_SUSPENSIONS,
)
from services.alerts import child_clocks, child_rules, facts_codec, tables
from services.alerts.alerting import SOURCE, AlertBook
from services.alerts.domain import (
    clocks,
    grey_facts,
    informal,
    linking,
    proceedings,
    suspension_days,
    urgency,
)
from services.alerts.domain import facts as f
from services.alerts.domain.findings import Finding
from services.alerts.domain.profile import Source, merge_group, merge_profile
from services.alerts.domain.rules import RuleConfig
from services.alerts.store import AlertsStore, Writes, alias_row
from services.common.calendar import CalendarRegistry
from services.common.erasures import ErasureList
from services.common.messages import DeadLetter, Incoming, Outgoing, outgoing
from services.common.stream import dead_letter_messages

log = logging.getLogger(__name__)
TICK_CHILDREN = 5000  # children a tick detects again per batch (their next_check has come)


@dataclass(slots=True)
class ChildState:
    """One record of a child (a UPN, or exact details without one): its own sources and facts."""

    child_id: str
    profile: dict
    times: dict
    link: linking.Link
    sources: set[str]  # records linked directly into this one
    years: dict[str, suspension_days.YearSuspensions] = field(default_factory=dict)
    incidents: informal.Incidents = field(default_factory=informal.Incidents)
    records: grey_facts.ChildRecords = field(default_factory=grey_facts.ChildRecords)  # issue 11: grey-exclusion records, cancellations
    steps: proceedings.Proceedings = field(default_factory=proceedings.Proceedings)  # issue 11: what followed its exclusions
    next_check: date | None = None  # issue 11: the day its deadline clocks change (the tick looks again)
    version: int | None = None  # as stored; None: not stored yet
    identity: tuple[str, str, date, str, str] | None = None  # la, person key, dob, first, last: the first alias (new records)
    dirty: bool = False


@dataclass
class StageResult:
    writes: Writes = field(default_factory=Writes)
    messages: list[Outgoing] = field(default_factory=list)  # produced directly, before the writes: the school stage's SuspensionCounted
    changed_alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # to produce directly (unused: they go through the outbox)
    rejected: list[DeadLetter] = field(default_factory=list)  # dead-lettered by this batch (in the outbox)
    applied: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # topic -> facts seen before (redelivery, replay, notice + return)


@dataclass(slots=True)
class _Event:
    """An intake event, decoded and checked: applying it cannot fail on its content."""

    msg: Incoming
    sighting: linking.Sighting
    source: Source
    suspension: f.SuspensionFact | None
    incidents: list[f.IncidentFact]
    resolved: dict | None  # the ChildEventResolved fields, for calls and permanent exclusions
    grey: list[grey_facts.RecordFact | grey_facts.CancellationFact] = field(default_factory=list)  # issue 11: grey-exclusion facts
    steps: list[proceedings.Step] = field(default_factory=list)  # issue 11: proceedings (and permanent exclusions, provision records)


@dataclass
class _Batch:
    now: datetime
    touched: set[str] = field(default_factory=set)  # records whose facts, profile or links changed
    links: list[tuple[linking.LinkChange, str | None]] = field(default_factory=list)  # (change, id of the decision behind it)
    proposals: dict[str, linking.Proposal] = field(default_factory=dict)
    child_events: list[tuple[_Event, str]] = field(default_factory=list)
    school: list[Outgoing] = field(default_factory=list)
    school_headers: list[tuple[str, bytes]] = field(default_factory=list)

    def count_at_school(self, fact: f.SuspensionFact) -> None:
        """A SuspensionCounted for the school stage, for every report, a repeat included: the school
        stage counts each suspension once by its id, and re-sending on every replay is what keeps
        the school's count whole after a broker restart (these go straight to the broker, not
        through the outbox: a national replay makes a million of them). Built as bytes, with
        headers shared across the batch."""
        suspension_id = hashlib.sha256(fact.key.encode()).hexdigest()[:24]
        counted = orjson.dumps({"suspension_id": suspension_id, "event_id": fact.event_id, "school_urn": fact.school_urn,
                                "la_code": fact.la_code, "start_date": fact.start_date, "sessions": fact.sessions,
                                "via": "notice" if fact.event_id.startswith("notice:") else "return", "reported_at": fact.reported_at})  # fmt: skip
        if not self.school_headers:
            self.school_headers = outgoing(SCHOOL_SUSPENSIONS, "", "", b"", SOURCE, time=self.now.isoformat()).headers
        headers = self.school_headers.copy()
        headers[1] = ("ce_id", b"counted:" + suspension_id.encode())
        self.school.append(Outgoing(SCHOOL_SUSPENSIONS.name, fact.school_urn, counted, headers))


def _decode(msg: Incoming) -> _Event:
    doc = orjson.loads(msg.value)
    if msg.topic == EXCLUSION_NOTICES.name:
        kind, la, pupil, urn, at, from_school = "notice", doc["la_code"], doc["pupil"], doc["school_urn"], doc["notified_at"], True
    elif msg.topic == CALLS.name:
        kind, la, pupil, urn, at, from_school = "call", doc["la_code"], doc["pupil"], doc.get("school_urn"), doc["received_at"], False
    elif msg.topic == LA_RETURN_RECORDS.name:
        record = doc["record"]
        kind, la, pupil, urn, at, from_school = "record", doc["la_code"], record["pupil"], record["school_urn"], doc["submitted_at"], True
    elif msg.topic == EXCLUSION_CANCELLATIONS.name:
        kind, la, pupil, urn, at, from_school = "cancellation", doc["la_code"], doc["pupil"], doc["school_urn"], doc["cancelled_at"], True
    elif msg.topic in child_clocks.KIND_OF_TOPIC:  # issue 11: a step after an exclusion
        step = child_clocks.step_of(msg.topic, msg.event_id, doc)
        kind, la, pupil, urn, at, from_school = "step", doc["la_code"], doc["pupil"], doc["school_urn"], child_clocks.event_time(step.kind, doc), True
    else:
        raise ValueError(f"unexpected topic {msg.topic}")
    sighting = linking.Sighting(msg.event_id, pupil.get("upn"), la, date.fromisoformat(pupil["date_of_birth"]),
                                normalise_name(pupil["first_name"]), normalise_name(pupil["last_name"]))  # fmt: skip
    source = Source(f.utc_iso(at), msg.event_id, la, urn, from_school, pupil)
    suspension, incidents, resolved = None, [], None
    if kind == "step":
        return _Event(msg, sighting, source, None, [], None, steps=[step])
    if kind == "notice":
        suspension = f.suspension_from_notice(msg.event_id, doc)
        if doc["category"] == "permanent":
            resolved = {"source": "exclusion_notice", "source_id": doc["notice_id"], "category": "permanent"}
    elif kind == "cancellation":
        pass  # its only fact is issue 11's (below)
    elif kind == "call":
        incidents = f.incidents_from_call(msg.event_id, doc)
        resolved = {"source": "call", "source_id": doc["call_id"], "concerns": doc["concerns"], "received_by": doc["received_by"],
                    "consent": Consent(**doc.get("consent") or {})}  # fmt: skip
    else:
        suspension = f.suspension_from_return(msg.event_id, doc)
        incident = f.incident_from_return(msg.event_id, doc)
        incidents = [incident] if incident else []
        if doc["record"]["kind"] == "permanent_exclusion":
            resolved = {"source": "la_return_record", "source_id": f"{doc['return_id']}|{doc['record']['record_id']}", "record_kind": "permanent_exclusion"}
    if resolved is not None:
        resolved["occurred_at"] = at
    follows = proceedings.from_notice(msg.event_id, doc) if kind == "notice" else proceedings.from_return(msg.event_id, doc) if kind == "record" else None
    return _Event(msg, sighting, source, suspension, incidents, resolved, grey=child_rules.facts_of(msg.topic, msg.event_id, doc),
                  steps=[follows] if follows else [])


class ChildStage:
    def __init__(self, store: AlertsStore, calendars: CalendarRegistry, rules: RuleConfig, max_children: int = 100_000,
                 clock: child_clocks.Clock = child_clocks.uk_today, tick_s: float = 60.0):  # fmt: skip
        self.store, self.calendars, self.rules = store, calendars, rules
        self.clock, self.ticker, self.today = clock, child_clocks.Ticker(clock, tick_s), clock()
        self.max_children = max_children
        self.sole_owner = False
        self.erasures = ErasureList(store.engine, tables.erasures)  # events of erased children, read again, are skipped
        self.book = AlertBook(store, CHILD_RULES)
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
        self.absent: set[str] = set()
        self.identity: linking.Snapshot | None = None  # kept between batches by a sole owner
        self.book.reset()
        self._decisions_due = True  # a decision recorded before a crash is applied on the way back
        self.ticker.last_at = None  # and the tick runs again: a failed batch may have been the tick's

    # ---------------------------------------------------------------- records
    def _bound_caches(self) -> None:
        """Between batches every cached record is stored: drop the oldest half when over the bound.
        Records known absent stay so only while no other worker can create them."""
        if not self.sole_owner:
            self.absent.clear()
        if len(self.children) > self.max_children:
            for cid in list(itertools.islice(self.children, len(self.children) // 2)):
                del self.children[cid]
        if len(self.book.cache) > self.max_children:
            self.book.reset()

    def _load(self, ids: set[str]) -> None:
        missing = [c for c in ids if c not in self.children and c not in self.absent]
        if not missing:
            return
        rows = self.store.children(missing)
        sources = self.store.sources_of(list(rows))
        for cid in missing:
            row = rows.get(cid)
            if row is None:
                self.absent.add(cid)
                continue
            link = linking.Link(row["merged_into"], row["link_kind"] if row["merged_into"] else None)
            years, incidents = facts_codec.decode(row["facts"])
            self.children[cid] = ChildState(cid, orjson.loads(row["profile"]), orjson.loads(row["profile_times"] or "{}"), link,
                                            set(sources.get(cid, ())), years, incidents, records=facts_codec.decode_records(row["facts"]),
                                            steps=facts_codec.decode_proceedings(row["facts"]), next_check=row.get("next_check"),
                                            version=row["version"])  # fmt: skip

    def _state(self, cid: str) -> ChildState | None:
        if cid not in self.children:
            self._load({cid})
        return self.children.get(cid)

    def _root(self, cid: str) -> str:
        seen = {cid}
        while (state := self._state(cid)) is not None and state.link.target and state.link.target not in seen:
            cid = state.link.target
            seen.add(cid)
        return cid

    def _members(self, root: str) -> list[ChildState]:
        """The root's record first, then every record linked into it (directly or not)."""
        out, stack, seen = [], [root], set()
        while stack:
            cid = stack.pop()
            state = self._state(cid)
            if state is None or cid in seen:
                continue
            seen.add(cid)
            out.append(state)
            self._load(state.sources)
            stack.extend(sorted(state.sources, reverse=True))
        return out

    def profile_of(self, cid: str) -> dict | None:
        """The profile alert messages carry for a child subject (None if the record is unknown)."""
        return self._group_profile(cid) if self._state(cid) is not None else None

    def _group_profile(self, cid: str) -> dict:
        """The record's profile merged with every record linked into it (its id, UPN and names stay)."""
        return merge_group([(m.profile, m.times) for m in self._members(cid)])

    # ---------------------------------------------------------------- the batch
    def process(self, batch: list[Incoming], now: datetime) -> StageResult:
        result = StageResult()
        events: list[_Event] = []
        if self.erasures.refresh():
            self.reset()  # an erased child must not be written back from memory
        for msg in batch:
            if self.erasures.erased(msg.key, msg.ce_time):  # intake topics are keyed by the child's UPN or person key
                continue
            try:
                events.append(_decode(msg))
            except (ValueError, KeyError, TypeError) as exc:  # this message's content: nothing of it is applied
                result.rejected.append(DeadLetter(msg, f"invalid_payload:{type(exc).__name__}"))
        self._bound_caches()
        self.book.drain()
        b = _Batch(now)
        self._tick(b)
        decisions = self.store.unapplied_decisions() if self._decisions_due else []
        self._decisions_due = False
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
        child_messages = [self._child_event(ev, cid) for ev, cid in b.child_events]
        self._write_children(result, now)
        alert_messages = result.writes.outbox
        result.writes.outbox = [*link_messages, *child_messages, *alert_messages, *dead_letter_messages(result.rejected, "alerts")]
        result.messages = b.school
        return result

    def _snapshot(self, events: list[_Event], extra: set[str]) -> linking.Snapshot:
        if not self.sole_owner:
            return self.store.snapshot([ev.sighting for ev in events], extra)
        if self.identity is None:
            self.identity = self.store.identity()
        return self.identity

    def _create(self, sighting: linking.Sighting) -> ChildState:
        state = ChildState(sighting.child_id, {}, {}, linking.Link(), set(), dirty=True)
        state.identity = (sighting.la_code, sighting.person_key, sighting.date_of_birth, sighting.first, sighting.last)
        self.children[sighting.child_id] = state
        self.absent.discard(sighting.child_id)
        return state

    def _apply(self, ev: _Event, snapshot: linking.Snapshot, b: _Batch, result: StageResult) -> None:
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
            state.profile, state.times, state.dirty = profile, times, True
            b.touched.add(cid)
        topic = ev.msg.topic
        if ev.suspension is not None:
            self._suspension(state, ev.suspension, b, result, topic)
        # each fact once by its natural key: a new one changes the child, a known one is a duplicate
        recorded = [informal.record(state.incidents, incident) for incident in ev.incidents]
        recorded += [grey_facts.record(state.records, fact) for fact in ev.grey]
        recorded += [proceedings.record(state.steps, step) for step in ev.steps]
        if any(recorded):
            b.touched.add(cid)
            state.dirty = True
        if not all(recorded):
            result.duplicates[topic] = result.duplicates.get(topic, 0) + recorded.count(False)
        if ev.resolved is not None:
            b.child_events.append((ev, cid))

    def _tick(self, b: _Batch) -> None:
        """Issue 11: deadlines pass with time. When the tick is due, the children whose clocks change by today
        are detected again in this batch (child_clocks.py)."""
        self.today = self.clock()
        if not self.ticker.due():
            return
        due = self.store.children_due(self.today, limit=TICK_CHILDREN)
        self._load(set(due))
        b.touched.update(c for c in due if c in self.children)
        if len(due) < TICK_CHILDREN:  # else the tick stays due: the next batch takes the next children
            self.ticker.ticked(self.today)

    def _suspension(self, state: ChildState, fact: f.SuspensionFact, b: _Batch, result: StageResult, topic: str) -> None:
        year = self.calendars.for_school(fact.la_code, fact.school_urn).academic_year(fact.start_date)
        ys = state.years.setdefault(year, suspension_days.YearSuspensions())
        b.count_at_school(fact)
        if not suspension_days.record(ys, fact):
            result.duplicates[topic] = result.duplicates.get(topic, 0) + 1
            return  # this very report again (a redelivery or a replay)
        b.touched.add(state.child_id)
        state.dirty = True

    # ---------------------------------------------------------------- links
    def _set_link(self, change: linking.LinkChange, b: _Batch, decision_id: str | None = None) -> None:
        """Count `source` as `target` (or as itself again): the records' states follow the snapshot's decision."""
        self._load({change.source} | {c for c in (change.target, change.previous) if c})
        source = self._state(change.source)
        if source is None:
            return
        old = self._state(change.previous) if change.previous else None
        new = self._state(change.target) if change.target else None
        if old is not None:
            b.touched.add(self._root(old.child_id))
            old.sources.discard(change.source)
        source.link = linking.Link(change.target, change.kind if change.target else None)
        source.dirty = True
        if new is not None:
            new.sources.add(change.source)
        b.touched.add(change.source)
        b.links.append((change, decision_id))

    def _apply_decision(self, row: dict, snapshot: linking.Snapshot, b: _Batch, result: StageResult) -> None:
        """A person's decision on a candidate, recorded by the API: apply it to the link."""
        decision = linking.Decision(row["child_id"], row["candidate_child_id"], {"confirmed": "confirm", "rejected": "reject", "undone": "undo"}[row["status"]],
                                    row["decided_by"] or "a person")  # fmt: skip
        keys = [a.person_key for aliases in snapshot.by_key.values() for a in aliases.values() if a.child_id == row["child_id"] and a.upn is None]
        for change in linking.apply_decision(decision, snapshot, keys):
            self._set_link(change, b, row["id"] if {change.source, change.target or change.previous} == {row["child_id"], row["candidate_child_id"]} else None)
        result.writes.candidate_updates.setdefault(row["id"], {})["applied"] = True

    def _finish_links(self, b: _Batch, result: StageResult) -> list[Outgoing]:
        """Candidate rows, audit and a ChildLinkChanged message for every link made or undone in the batch."""
        if not b.links:
            return []
        pairs = {linking.candidate_id(ch.source, ch.target or ch.previous or "") for ch, _ in b.links}
        rows = self.store.candidates_by_ids(sorted(pairs))
        messages = []
        for change, decision_id in b.links:
            other = change.target or change.previous
            if other is None:
                continue
            cand_id = linking.candidate_id(change.source, other)
            row = rows.get(cand_id)
            updates = result.writes.candidate_updates.setdefault(cand_id, {})
            if change.kind == "auto" or decision_id is None:
                version = (updates.get("version") or (row["version"] if row else 0)) + 1
                status = "confirmed" if change.target else "pending"
                values = {"status": status, "decided_by": "signpost" if change.target else None, "decided_at": b.now if change.target else None,
                          "note": None, "version": version, "applied": True, "reason": change.reason[:100]}  # fmt: skip
                if row is None and cand_id not in result.writes.candidates:
                    source = self._state(change.source)
                    target = self._state(other)
                    result.writes.candidates[cand_id] = {
                        "id": cand_id, "child_id": change.source, "candidate_child_id": other, "la_code": _la(source), "candidate_la_code": _la(target),
                        "created_at": b.now, "urgent": False, "urgent_reason": None, **values,
                    }  # fmt: skip
                    rows[cand_id] = result.writes.candidates[cand_id]
                else:
                    updates.update(values)
            else:
                version = row["version"] if row else 1
            by = "signpost" if change.kind == "auto" else (row or {}).get("decided_by") or "a person"
            result.writes.audit.append({"at": b.now, "principal": by, "action": "link_children" if change.target else "unlink_children",
                                        "object_kind": "child", "object_id": change.source, "child_id": other, "detail": change.reason[:200]})  # fmt: skip
            payload = ChildLinkChanged(
                link_id=cand_id, source_child_id=change.source, target_child_id=other, linked=change.target is not None, by=by, reason=change.reason,
                at=b.now, version=version, child=ChildProfile(**self._group_profile(other)), source_child=ChildProfile(**self._group_profile(change.source)),
            )  # fmt: skip
            messages.append(outgoing(CHILD_LINKS, other, f"{cand_id}:v{version}", payload, SOURCE, subject=other))
        return messages

    # ---------------------------------------------------------------- detection
    def _detect(self, b: _Batch, result: StageResult) -> None:
        """Run the detectors for every root whose records changed; resolve alerts that no longer hold."""
        roots = sorted({self._root(c) for c in b.touched})
        linked_away = sorted(c for c in b.touched if self._root(c) != c)
        profiles = {root: self._group_profile(root) for root in roots}
        self.book.alerts_of(roots + linked_away)
        found: set[str] = set()
        for root in roots:
            findings = self._findings(root, profiles[root])
            found |= self.book.apply(findings, result, b.now, lambda cid: profiles.get(cid) or self._group_profile(cid))
        self.book.settle(roots, found, _no_longer_holds, result, b.now,
                         lambda cid: profiles.get(cid))  # fmt: skip
        for cid in linked_away:
            self.book.settle([cid], set(), _saying(f"linked to child {self._root(cid)}"), result, b.now, self._group_profile)
            self._set_next_check(cid, None)

    def _findings(self, root: str, profile: dict) -> list[Finding]:
        members = self._members(root)
        rules = self.rules
        findings: list[Finding] = []
        years = sorted({y for m in members for y in m.years})
        records = grey_facts.combine(m.records for m in members)
        steps = proceedings.combine(m.steps for m in members)
        calendar = self.calendars.for_school(profile.get("la_code"), profile.get("school_urn"))
        standing = {}  # each year's suspensions less those lawfully cancelled: every rule counts these
        for year in years:
            combined = standing[year] = child_rules.standing(suspension_days.combine(m.years[year] for m in members if year in m.years), records, rules,
                                                             steps)  # fmt: skip
            findings += child_rules.project(suspension_days.detect(combined, child_id=root, academic_year=year, config=rules.suspension_days),
                                            combined, year, calendar, rules)  # fmt: skip
        findings += child_rules.detect(root, profile, standing, records, self.calendars, rules)
        incidents = informal.combine(m.incidents for m in members)
        if incidents.by_day:
            calendar = self.calendars.for_school(profile.get("la_code"), profile.get("school_urn"))
            findings += informal.detect(incidents, child_id=root, academic_year_of=calendar.academic_year, school_days_between=calendar.school_days_between,
                                        config=rules.informal_exclusions)  # fmt: skip
        findings += self._clock_findings(root, list(standing.values()), steps)
        las = set(profile.get("la_codes") or ())
        return [replace(finding, la_codes=tuple(sorted(las | {finding.la_code}))) for finding in findings]

    def _clock_findings(self, root: str, years: list[suspension_days.YearSuspensions], steps: proceedings.Proceedings) -> list[Finding]:
        """Issue 11: the statutory clocks over every linked record's facts, as of today; the day they next
        change is stored with the root (the tick's `next_check`)."""
        if clocks.history(years, steps, today=self.today, config=self.rules.deadlines) and not any(
            a.rule in clocks.RULES for a in self.book.alerts_of([root])
        ):
            self._set_next_check(root, None)
            return []  # only quiet findings, and no clock alert for them to update (a replay of past years)
        outcome = clocks.detect(years, steps, child_id=root,
                                calendar_of=self.calendars.for_school, bank_holidays=self.calendars.bank_holidays, today=self.today,
                                config=self.rules.deadlines)  # fmt: skip
        self._set_next_check(root, outcome.wake_on)
        return outcome.findings

    def _set_next_check(self, cid: str, day: date | None) -> None:
        state = self._state(cid)
        if state is not None and state.next_check != day:
            state.next_check, state.dirty = day, True

    # ---------------------------------------------------------------- proposals and their urgency
    def _facts(self, cid: str) -> urgency.Facts:
        members = self._members(self._root(cid))
        records = grey_facts.combine(m.records for m in members)  # cancelled suspensions do not count (issue 11)
        steps = proceedings.combine(m.steps for m in members)
        years = {y: child_rules.standing(suspension_days.combine(m.years[y] for m in members if y in m.years), records, self.rules, steps)
                 for y in {y for m in members for y in m.years}}  # fmt: skip
        return urgency.Facts(years, informal.combine(m.incidents for m in members))

    def _urgency(self, source: str, target: str) -> str | None:
        if self._root(source) == self._root(target):
            return None
        profile = self._group_profile(self._root(target))
        calendar = self.calendars.for_school(profile.get("la_code"), profile.get("school_urn"))
        return urgency.urgency(self._facts(source), self._facts(target), self.rules, calendar.academic_year, calendar.school_days_between)

    def _proposals(self, b: _Batch, result: StageResult) -> None:
        """New proposals, and whether each pending one touched by this batch is urgent now."""
        self._load({c for p in b.proposals.values() for c in (p.source, p.target)})
        for p in b.proposals.values():
            if p.id in result.writes.candidates:
                continue
            why = self._urgency(p.source, p.target)
            result.writes.candidates[p.id] = {
                "id": p.id, "child_id": p.source, "candidate_child_id": p.target, "la_code": p.source_la, "candidate_la_code": p.target_la,
                "reason": p.reason[:100], "status": "pending", "urgent": why is not None, "urgent_reason": why, "created_at": b.now,
                "decided_by": None, "decided_at": None, "note": None, "applied": True, "version": 1,
            }  # fmt: skip
        if not b.touched:
            return
        members = sorted({m.child_id for c in b.touched for m in self._members(self._root(c))})
        for row in self.store.pending_candidates_of(members):
            if result.writes.candidate_updates.get(row["id"], {}).get("status") not in (None, "pending"):
                continue
            self._load({row["child_id"], row["candidate_child_id"]})
            why = self._urgency(row["child_id"], row["candidate_child_id"])
            if (why is not None, why) != (bool(row["urgent"]), row["urgent_reason"]):
                result.writes.candidate_updates.setdefault(row["id"], {}).update(urgent=why is not None, urgent_reason=why)

    # ---------------------------------------------------------------- outputs
    def _child_event(self, ev: _Event, cid: str) -> Outgoing:
        """A call or permanent exclusion, for the referrals service: about the child the record counts as
        (the root of its links), with the profile Signpost knows of it; the record's own id beside it."""
        root = self._root(cid)
        resolved = ChildEventResolved(event_id=ev.msg.event_id, child=ChildProfile(**self._group_profile(root)),
                                      record_child_id=cid if cid != root else None, **ev.resolved)  # type: ignore[arg-type]  # fmt: skip
        return outgoing(CHILDREN, root, "resolved:" + ev.msg.event_id, resolved, SOURCE, subject=root)

    def _write_children(self, result: StageResult, now: datetime) -> None:
        for cid, state in self.children.items():
            if not state.dirty:
                continue
            version = (state.version or 0) + 1
            row = {"child_id": cid, "upn": state.profile.get("upn"), "merged_into": state.link.target, "link_kind": state.link.kind,
                   "profile": orjson.dumps(state.profile).decode(), "profile_times": orjson.dumps(state.times).decode(),
                   "facts": facts_codec.encode(state.years, state.incidents, state.records, state.steps), "updated_at": now, "version": version,
                   "next_check": state.next_check}  # fmt: skip
            if state.version is None:
                la, key, dob, first, last = state.identity or (state.profile["la_code"], "", date.fromisoformat(state.profile["date_of_birth"]), "", "")
                row.update(la_code=la, person_key=key, date_of_birth=dob, first_norm=first, last_norm=last)
            result.writes.children[cid] = (row, state.version)
            state.version, state.dirty = version, False


def _no_longer_holds(alert: Alert) -> str:
    why = clocks.NO_LONGER_HOLDS.get(alert.rule)
    return f"no longer holds: {why}" if why else "no longer holds: the evidence no longer reaches the rule's threshold (a correction, or a link undone)"


def _saying(reason: str) -> Callable[[Alert], str]:
    """The reason an alert no longer holds, whatever the alert."""
    return lambda _alert: reason


def _la(state: ChildState | None) -> str:
    return (state.profile.get("la_code") if state else None) or "000"
