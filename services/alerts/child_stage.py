"""The child stage: intake events in, keyed by child → identity, facts, child alerts.

Runs one batch at a time (the thread it runs in may block on the store). Caches hold the
children of the partitions this worker owns; the store is the truth and a cache miss
loads from it, a whole batch at once. Outputs (children events, alert changes, suspensions
re-keyed by school) are produced before the batch's writes commit, and offsets are
committed after: at least once, and every effect idempotent by natural key or version.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime

import orjson

from schemas.alerts import Alert
from schemas.children import ChildEventResolved, ChildProfile
from schemas.intake import Consent
from schemas.pupil import normalise_name, person_key, person_key_of_parts
from schemas.topics import CALLS, CHILDREN, EXCLUSION_NOTICES, LA_RETURN_RECORDS, SCHOOL_SUSPENSIONS
from services.alerts.alerting import SOURCE, AlertBook
from services.alerts.domain import facts as f
from services.alerts.domain import identity, informal, lifecycle, suspension_days
from services.alerts.domain.findings import Finding
from services.alerts.domain.profile import merge_profile, merge_profiles
from services.alerts.domain.rules import RuleConfig
from services.alerts.store import AlertsStore, Writes
from services.common.calendar import CalendarRegistry
from services.common.messages import DeadLetter, Incoming, Outgoing, outgoing

log = logging.getLogger(__name__)
CHILD_RULES = ("suspension_days_nearing_limit", "suspension_days_limit_exceeded", "informal_exclusions_repeated")


@dataclass(slots=True)
class ChildEntry:
    """One child in the cache (the cache is bounded: see ChildStage._bound_caches)."""

    profile: dict
    merged_into: str | None = None
    sources: list[str] | None = None  # children linked into this one
    years: dict[str, suspension_days.YearSuspensions] | None = None
    incidents: informal.Incidents | None = None
    stored: bool = True


@dataclass
class StageResult:
    writes: Writes = field(default_factory=Writes)
    messages: list[Outgoing] = field(default_factory=list)
    changed_alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    applied: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # topic -> facts seen before (redelivery, replay, notice + return)


@dataclass(slots=True)
class _Event:
    msg: Incoming
    kind: str  # notice | call | record
    doc: dict
    la_code: str
    pupil: dict
    school_urn: str | None
    cid: str | None = None  # the child id, when the pupil has a UPN


class _PupilView:
    """Attribute access over the JSON pupil, for identity helpers written against schemas.pupil.Pupil."""

    __slots__ = ("upn", "first_name", "last_name", "date_of_birth")

    def __init__(self, pupil: dict):
        self.upn = pupil.get("upn")
        self.first_name = pupil["first_name"]
        self.last_name = pupil["last_name"]
        self.date_of_birth = date.fromisoformat(pupil["date_of_birth"])


def _decode(msg: Incoming) -> _Event:
    doc = orjson.loads(msg.value)
    if msg.topic == EXCLUSION_NOTICES.name:
        ev = _Event(msg, "notice", doc, doc["la_code"], doc["pupil"], doc["school_urn"])
    elif msg.topic == CALLS.name:
        ev = _Event(msg, "call", doc, doc["la_code"], doc["pupil"], doc.get("school_urn"))
    elif msg.topic == LA_RETURN_RECORDS.name:
        ev = _Event(msg, "record", doc, doc["la_code"], doc["record"]["pupil"], doc["record"]["school_urn"])
    else:
        raise ValueError(f"unexpected topic {msg.topic}")
    upn = ev.pupil.get("upn")
    ev.cid = identity.child_id_for_upn(upn) if upn else None
    return ev


class ChildStage:
    def __init__(self, store: AlertsStore, calendars: CalendarRegistry, rules: RuleConfig, max_children: int = 100_000):
        self.store, self.calendars, self.rules = store, calendars, rules
        self.max_children = max_children
        self._recompute: deque[list[str]] = deque()  # children whose links a person changed
        self.book = AlertBook(store, CHILD_RULES)
        self.reset()

    def request_recompute(self, child_ids: list[str]) -> None:
        """After a person confirmed or undid a link (already committed): reload these children, re-detect."""
        self._recompute.append(child_ids)

    def has_pending(self) -> bool:
        return bool(self._recompute)

    def reset(self) -> None:
        """Forget every cache (after a failure or a rebalance): the store is the truth."""
        self.children: dict[str, ChildEntry] = {}
        self.absent: set[str] = set()  # known not to be in the store
        self.book.reset()
        self.upnless: identity.UpnlessIndex | None = None  # children without a UPN

    # ---------------------------------------------------------------- loading
    def _load_upnless(self) -> identity.UpnlessIndex:
        if self.upnless is None:
            self.upnless = identity.UpnlessIndex([_identity_of_row(row) for row in self.store.upnless_children()])
        return self.upnless

    def _bound_caches(self) -> None:
        """Between batches every cached child is stored: drop the oldest half when over the bound.
        Memory stays bounded whatever the number of children; a miss loads from the store."""
        self.absent.clear()
        if len(self.children) > self.max_children:
            for cid in list(itertools.islice(self.children, len(self.children) // 2)):
                del self.children[cid]
        if len(self.book.cache) > self.max_children:
            self.book.reset()

    def _load(self, child_ids: set[str]) -> None:
        missing = [c for c in child_ids if c not in self.children and c not in self.absent]
        if not missing:
            return
        rows = self.store.children(missing)
        sources = self.store.merged_sources(list(rows))
        facts_of = list(rows) + [s for ids in sources.values() for s in ids]
        owner = {c: c for c in rows} | {s: t for t, ids in sources.items() for s in ids}
        for cid in missing:
            row = rows.get(cid)
            if row is None:
                self.absent.add(cid)
                continue
            self.children[cid] = ChildEntry(orjson.loads(row["profile"]), row["merged_into"], sources.get(cid))
        if facts_of:
            for s in self.store.suspensions_of(facts_of):
                entry = self.children.get(owner.get(s["child_id"], s["child_id"]))
                if entry is not None:
                    years = entry.years if entry.years is not None else {}
                    entry.years = years
                    years.setdefault(s["academic_year"], suspension_days.YearSuspensions()).by_key[s["key"]] = (s["days"], s["event_id"])
            for i in self.store.incidents_of(facts_of):
                entry = self.children.get(owner.get(i["child_id"], i["child_id"]))
                if entry is not None:
                    entry.incidents = entry.incidents or informal.Incidents()
                    informal.record(entry.incidents, f.IncidentFact(i["day"], i["event_id"], i["school_urn"], i["la_code"]))

    def _effective(self, cid: str) -> str:
        seen = set()
        while (entry := self.children.get(cid)) is not None and entry.merged_into and cid not in seen:
            seen.add(cid)
            self._load({entry.merged_into})
            cid = entry.merged_into
        return cid

    # ---------------------------------------------------------------- identity
    def _resolve(self, ev: _Event, result: StageResult, now: datetime) -> str:
        """The child this event is about: UPN first, else exact LA + date of birth + names."""
        pupil = _PupilView(ev.pupil)
        if pupil.upn:
            cid = ev.cid or identity.child_id_for_upn(pupil.upn)
            if cid not in self.children:
                self._create(cid, ev, pupil, result, now)
            return cid
        pk = person_key(ev.la_code, pupil)  # type: ignore[arg-type]
        if pk in self._batch_people:  # created earlier in this batch: not in the store yet
            return self._batch_people[pk]
        matches = [r for r in self.store.children_by_person_keys([pk]) if r["merged_into"] is None]
        if len(matches) == 1:
            cid = matches[0]["child_id"]
            self._load({cid})
            return cid
        cid = identity.child_id_for_person(pk)
        if cid not in self.children:
            self._load({cid})
        if cid not in self.children:
            self._create(cid, ev, pupil, result, now)
            for other in matches:  # several children share these details: a person decides
                self._propose(cid, other["child_id"], ev.la_code, "another child has the same LA, date of birth and names", result, now)
        return cid

    def _create(self, cid: str, ev: _Event, pupil: _PupilView, result: StageResult, now: datetime) -> None:
        profile, _ = merge_profile(None, child_id=cid, la_code=ev.la_code, pupil=ev.pupil, school_urn=ev.school_urn)
        self.children[cid] = ChildEntry(profile, stored=False)
        self.absent.discard(cid)
        upnless = self._load_upnless()
        me = identity.identity_of(cid, ev.la_code, pupil)
        pk = identity.person_key_of(me)
        self._batch_people[pk] = cid
        self._names[cid] = (me.first, me.last, pk)
        if pupil.upn is None:
            upnless.add(me)
            for row in self.store.near_candidates(ev.la_code, pupil.date_of_birth, me.first, me.last):
                reason = identity.near_match(me, _identity_of_row(row))
                if reason:
                    self._propose(cid, row["child_id"], ev.la_code, reason, result, now)
            return
        # A child with a UPN: a record without one, with exactly these details, is this child.
        linked = upnless.pop(pk)
        if linked:
            self._link(linked.child_id, cid, result, now, by="signpost", note="exact match: LA, date of birth and names")
        for other in upnless.neighbours(me):
            if reason := identity.near_match(other, me):
                self._propose(other.child_id, cid, ev.la_code, reason, result, now)

    def _propose(self, cid: str, candidate: str, la_code: str, reason: str, result: StageResult, now: datetime) -> None:
        cand_id = "cand_" + hashlib.sha256(f"{cid}|{candidate}".encode()).hexdigest()[:16]
        result.writes.candidates.append(
            {"id": cand_id, "child_id": cid, "candidate_child_id": candidate, "la_code": la_code, "reason": reason, "status": "pending", "created_at": now}
        )

    def _link(self, source: str, target: str, result: StageResult, now: datetime, by: str, note: str) -> None:
        """`source` turns out to be `target`: its facts count for target from now on (reversible)."""
        self._load({source, target})
        src, dst = self.children.get(source), self.children.get(target)
        if src is None or dst is None or source == target:
            return
        src.merged_into = target
        dst.sources = [*(dst.sources or []), source, *(src.sources or [])]
        dst.profile = merge_profiles(dst.profile, src.profile)
        for year, ys in (src.years or {}).items():
            dst.years = dst.years or {}
            dst.years.setdefault(year, suspension_days.YearSuspensions()).by_key.update(ys.by_key)
        if src.incidents:
            dst.incidents = dst.incidents or informal.Incidents()
            for day, ids in src.incidents.by_day.items():
                dst.incidents.by_day.setdefault(day, []).extend(i for i in ids if i not in dst.incidents.by_day.get(day, []))
        src.years, src.incidents, src.sources = None, None, None
        # Its facts now count for the target: detection runs there, never on the source.
        self._incident_children.discard(source)
        self._touched_years = {(cid, year) for cid, year in self._touched_years if cid != source}
        result.writes.children[source] = self._row(source, src, now)
        result.writes.children[target] = self._row(target, dst, now)
        result.writes.audit.append(
            {"at": now, "principal": by, "action": "link_children", "object_kind": "child", "object_id": source, "child_id": target, "detail": note}
        )
        self._touched_children.add(target)
        self._touched_years.update((target, year) for year in dst.years or {})
        if dst.incidents:
            self._incident_children.add(target)
        for alert in self.store.alerts_of_subjects([source]):  # the source's alerts now belong to the target's
            if alert.status != "resolved":
                changed = lifecycle.resolve(alert, f"linked to child {target}", now)
                self._save_alert(changed, None, result, "status")

    def _reload(self, child_ids: list[str], result: StageResult, now: datetime) -> None:
        for cid in child_ids:
            entry = self.children.pop(cid, None)
            for other in [*(entry.sources or [])] if entry else []:
                self.children.pop(other, None)
            self.absent.discard(cid)
        self.upnless = None
        self._load(set(child_ids))
        for cid in child_ids:
            entry = self.children.get(cid)
            if entry is None:
                continue
            for alert in self.store.alerts_of_subjects([cid]):
                if entry.merged_into and alert.status != "resolved":
                    self._save_alert(lifecycle.resolve(alert, f"linked to child {entry.merged_into}", now), None, result, "status")
                elif not entry.merged_into and alert.status == "resolved" and (alert.status_note or "").startswith("linked to child"):
                    reopened = alert.model_copy(update={"status": "open", "status_note": "link undone", "updated_at": now, "version": alert.version + 1})
                    self._save_alert(reopened, None, result, "status")
            if entry.merged_into:
                continue
            self._recheck.update({a.id: a for a in self.store.alerts_of_subjects([cid]) if a.rule in CHILD_RULES and a.status != "resolved"})
            self._touched_years.update((cid, year) for year in entry.years or {})
            if entry.incidents:
                self._incident_children.add(cid)

    def _row(self, cid: str, entry: ChildEntry, now: datetime) -> dict:
        """The store row: whole for a new child; for a known one only what can change (names and
        date of birth never do: the first source's stay)."""
        if entry.stored:
            return {"child_id": cid, "upn": entry.profile.get("upn"), "merged_into": entry.merged_into, "profile": orjson.dumps(entry.profile).decode(), "updated_at": now}
        p = entry.profile
        first, last, pk = self._names.get(cid) or (normalise_name(p["first_name"]), normalise_name(p["last_name"]), None)
        dob = date.fromisoformat(p["date_of_birth"])
        return {
            "child_id": cid,
            "la_code": p["la_code"],
            "upn": p.get("upn"),
            "person_key": pk or person_key_of_parts(p["la_code"], dob, first, last),
            "date_of_birth": dob,
            "first_norm": first,
            "last_norm": last,
            "merged_into": entry.merged_into,
            "profile": orjson.dumps(entry.profile).decode(),
            "updated_at": now,
        }

    # ---------------------------------------------------------------- the batch
    def process(self, batch: list[Incoming], now: datetime) -> StageResult:
        result = StageResult()
        events: list[_Event] = []
        for msg in batch:
            try:
                events.append(_decode(msg))
            except (ValueError, KeyError, TypeError) as exc:
                result.dead_letters.append(DeadLetter(msg, f"invalid_payload:{type(exc).__name__}"))
        self._bound_caches()
        upn_ids = {ev.cid for ev in events if ev.cid}
        self._load(upn_ids)
        self._touched_years: set[tuple[str, str]] = set()
        self._touched_children: set[str] = set()
        self._incident_children: set[str] = set()
        self._batch_people: dict[str, str] = {}
        self._names: dict[str, tuple[str, str, str]] = {}  # children created in this batch: normalised names, person key
        self._recheck: dict[str, Alert] = {}
        self._now_iso = now.isoformat().replace("+00:00", "Z")
        self.upnless = None  # re-read each batch: another worker may have added a child without a UPN
        while self._recompute:
            self._reload(self._recompute.popleft(), result, now)
        for ev in events:
            try:
                self._apply(ev, result, now)
                result.applied += 1
            except (ValueError, KeyError) as exc:  # this message's content; anything else is a bug: the batch fails and retries
                result.dead_letters.append(DeadLetter(ev.msg, f"unprocessable:{type(exc).__name__}"))
        found = self._detect(result, now)
        for alert_id, alert in self._recheck.items():
            if alert_id not in found:
                current = self.book.cache.get(alert_id, alert)
                if current.status != "resolved":
                    self._save_alert(lifecycle.resolve(current, "no longer holds: the link to another child was undone", now), None, result, "status")
        for cid in self._touched_children:
            entry = self.children.get(cid)
            if entry is not None:
                result.writes.children[cid] = self._row(cid, entry, now)
                entry.stored = True
        return result

    def _apply(self, ev: _Event, result: StageResult, now: datetime) -> None:
        original = self._resolve(ev, result, now)
        cid = self._effective(original)
        entry = self.children[cid]
        profile, changed = merge_profile(entry.profile, child_id=cid, la_code=ev.la_code, pupil=ev.pupil, school_urn=ev.school_urn)
        if changed or not entry.stored:
            entry.profile = profile
            self._touched_children.add(cid)
        msg = ev.msg
        if ev.kind == "notice":
            fact = f.suspension_from_notice(msg.event_id, ev.doc)
            if fact:
                self._suspension(original, cid, fact, result, msg.topic)
            elif ev.doc["category"] == "permanent":
                result.messages.append(self._child_event(ev, cid, profile, "exclusion_notice", ev.doc["notice_id"], category="permanent"))
        elif ev.kind == "call":
            for incident in f.incidents_from_call(msg.event_id, ev.doc):
                self._incident(original, cid, incident, result)
            result.messages.append(
                self._child_event(
                    ev, cid, profile, "call", ev.doc["call_id"], concerns=ev.doc["concerns"], received_by=ev.doc["received_by"], consent=Consent(**ev.doc.get("consent") or {})
                )
            )
        else:
            record = ev.doc["record"]
            fact = f.suspension_from_return(msg.event_id, ev.doc)
            if fact:
                self._suspension(original, cid, fact, result, msg.topic)
            incident = f.incident_from_return(msg.event_id, ev.doc)
            if incident:
                self._incident(original, cid, incident, result)
            if record["kind"] == "permanent_exclusion":
                result.messages.append(
                    self._child_event(ev, cid, profile, "la_return_record", f"{ev.doc['return_id']}|{record['record_id']}", record_kind="permanent_exclusion")
                )

    def _suspension(self, original: str, cid: str, fact: f.SuspensionFact, result: StageResult, topic: str) -> None:
        year = self.calendars.for_school(fact.la_code, fact.school_urn).academic_year(fact.start_date)
        entry = self.children[cid]
        if entry.years is None:
            entry.years = {}
        ys = entry.years.setdefault(year, suspension_days.YearSuspensions())
        if not suspension_days.record(ys, fact):
            result.duplicates[topic] = result.duplicates.get(topic, 0) + 1
            return  # the same suspension again (a redelivery, or the LA's return of a school's notice)
        self._touched_years.add((cid, year))
        result.writes.suspensions.append(
            {"key": fact.key, "child_id": original, "academic_year": year, "days": fact.days, "event_id": fact.event_id,
             "school_urn": fact.school_urn, "la_code": fact.la_code, "start_date": fact.start_date}
        )
        suspension_id = hashlib.sha256(fact.key.encode()).hexdigest()[:24]
        counted = orjson.dumps(  # a SuspensionCounted; built directly: a national replay makes a million of them
            {"suspension_id": suspension_id, "event_id": fact.event_id, "school_urn": fact.school_urn, "la_code": fact.la_code,
             "start_date": fact.start_date, "sessions": fact.sessions}
        )
        result.messages.append(outgoing(SCHOOL_SUSPENSIONS, fact.school_urn, "counted:" + suspension_id, counted, SOURCE, time=self._now_iso))

    def _incident(self, original: str, cid: str, incident: f.IncidentFact, result: StageResult) -> None:
        entry = self.children[cid]
        entry.incidents = entry.incidents or informal.Incidents()
        if informal.record(entry.incidents, incident):
            self._incident_children.add(cid)
        result.writes.incidents.append(
            {"child_id": original, "day": incident.day, "event_id": incident.event_id, "school_urn": incident.school_urn, "la_code": incident.la_code}
        )

    def _child_event(self, ev: _Event, cid: str, profile: dict, source: str, source_id: str, **extra: object) -> Outgoing:
        occurred = ev.doc.get("received_at") or ev.doc.get("notified_at") or ev.doc.get("submitted_at")
        resolved = ChildEventResolved(
            event_id=ev.msg.event_id, source=source, source_id=source_id, occurred_at=occurred, child=ChildProfile(**profile), **extra  # type: ignore[arg-type]
        )
        return outgoing(CHILDREN, cid, "resolved:" + ev.msg.event_id, resolved, SOURCE, subject=cid)

    # ---------------------------------------------------------------- detection
    def _detect(self, result: StageResult, now: datetime) -> set[str]:
        """Run the detectors for what this batch touched; returns the ids of the alerts they found."""
        findings: list[Finding] = []
        rules = self.rules
        for cid, year in self._touched_years:
            entry = self.children[cid]
            if entry.merged_into or not entry.years or year not in entry.years:
                continue
            profile = entry.profile
            findings += suspension_days.detect(
                entry.years[year], child_id=cid, la_code=profile["la_code"], school_urn=profile.get("school_urn"), academic_year=year, config=rules.suspension_days  # type: ignore[index]
            )
        for cid in self._incident_children:
            entry = self.children[cid]
            if entry.merged_into or not entry.incidents:
                continue
            profile = entry.profile
            calendar = self.calendars.for_school(profile["la_code"], profile.get("school_urn"))
            findings += informal.detect(
                entry.incidents,  # type: ignore[arg-type]
                child_id=cid, la_code=profile["la_code"], school_urn=profile.get("school_urn"),
                academic_year_of=calendar.academic_year, school_days_between=calendar.school_days_between, config=rules.informal_exclusions,
            )
        self.book.apply(findings, result, now, self._profile)
        return {f.alert_id for f in findings}

    def _profile(self, child_id: str) -> dict | None:
        entry = self.children.get(child_id)
        return entry.profile if entry else None

    def _save_alert(self, alert: Alert, school_urn: str | None, result: StageResult, change: str) -> None:
        subject = getattr(alert.subject, "child_id", None)
        self.book.save(alert, school_urn, result, change, self._profile(subject) if subject else None)


def _identity_of_row(row: dict) -> identity.Identity:
    return identity.Identity(row["child_id"], row["la_code"], row["date_of_birth"], row["first_norm"], row["last_norm"], row["upn"])
