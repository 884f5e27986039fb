"""The alert book: turns a stage's findings into new or changed alerts, their history and the messages that announce them.

Every change is one version of the alert, one history row and one message on the alerts topic
(ce_id `<alert id>:v<version>`), all in the batch's transaction (the outbox). The store writes an
alert only if it still has the version the book read: a person's acknowledgement made meanwhile
is never overwritten; the batch is done again on the fresh alert instead (services/alerts/store.py).

The book caches the alerts it reads and writes. At the end of each batch the child stage has it freeze all but
the most recently used (`freeze`): an alert's JSON, deflated (~140 B against ~1.5 KB of objects; cold.py),
thawed when next needed, as a child's record is (child_records.py).

In a rebuild the book defers: it keeps only the last finding per alert and applies them once at
the end, so each alert changes at most once and nobody sees a replay's churn (or is told twice).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, get_args

import orjson

from schemas.alerts import Alert, AlertChanged, Subject
from schemas.children import ChildProfile
from schemas.topics import ALERTS
from services.alerts import cold
from services.alerts.domain import lifecycle
from services.alerts.rows import AlertWrite, history_row, las_of
from services.alerts.store import AlertsStore
from services.common.exclusions.findings import Finding
from services.common.messages import Outgoing, outgoing

SOURCE = "/signpost/alerts"
ProfileOf = Callable[[str], dict | None]  # child_id -> profile JSON, when the subject is a child


def change_message(alert: Alert, change: str, profile: dict | None) -> Outgoing:
    """The alerts-topic message of one change (the referrals service routes from it): an `AlertChanged`,
    serialised as pydantic would, without building one (a national replay makes ~150k of them)."""
    if change not in CHANGES:
        raise ValueError(f"unknown alert change {change!r}")
    child = child_json(profile) if profile else b"null"
    payload = b'{"alert":%b,"change":"%b","child":%b}' % (alert.model_dump_json().encode(), change.encode(), child)
    return outgoing(ALERTS, alert.subject.id, f"{alert.id}:v{alert.version}", payload, SOURCE, subject=alert.id)


CHANGES = frozenset(get_args(AlertChanged.model_fields["change"].annotation))
_REQUIRED = object()
_CHILD_FIELDS = tuple((name, _REQUIRED if info.is_required() else info.get_default(call_default_factory=True))
                      for name, info in ChildProfile.model_fields.items())  # fmt: skip


def child_json(profile: dict) -> bytes:
    """A profile the child stage built (merge_profile: already ChildProfile's values) as `ChildProfile` JSON:
    its fields in its order, defaults for those a profile stored by an older version lacks."""
    return orjson.dumps({name: profile[name] if name in profile or default is _REQUIRED else default for name, default in _CHILD_FIELDS})


# pydantic keeps, per model instance, the set of the fields it was given (`model_fields_set`, read only by
# `exclude_unset`, which Signpost never uses): a set of 20-odd names, ~2.2 KB, a third of what a cached alert
# holds (docs/benchmarks.md, sixth session). The book's alerts share one set of every name per model instead;
# pydantic's assignment adds the assigned name to it, which changes nothing.
_FIELDS_SETS = {model: set(model.model_fields) for model in (Alert, *(get_args(get_args(Subject)[0])))}


def lean(alert: Alert) -> Alert:
    """The alert, holding the shared sets of field names (it and its subject): what the book caches."""
    for model in (alert, alert.subject):
        object.__setattr__(model, "__pydantic_fields_set__", _FIELDS_SETS[type(model)])
    return alert


NO_ALERTS: tuple[str, ...] = ()  # most subjects have none; a set per subject would be 216 bytes, a tuple 48 + 8 an id


def freeze(alert: Alert) -> bytes:
    return cold.deflate(alert.model_dump_json().encode(), cold.ALERT_DICT)


def thaw(frozen: bytes) -> Alert:
    return lean(Alert.model_validate_json(cold.inflate(frozen, cold.ALERT_DICT)))


class AlertBook:
    def __init__(self, store: AlertsStore, rules: Iterable[str]):
        self.store = store
        self.rules = frozenset(rules)  # the rules this book's stage owns
        self.cache: dict[str, Alert] = {}  # hot: the most recently used last
        self.cold: dict[str, bytes] = {}  # frozen (`freeze`)
        # subject id -> ids of its alerts (for subjects loaded whole), a tuple: a child has a few at most
        self._subjects: dict[str, tuple[str, ...]] = {}
        self.deferred: dict[str, Finding] | None = None
        self._changed_elsewhere: deque[str] = deque()  # thread-safe: the API appends, the stage drains

    def reset(self) -> None:
        self.cache.clear()
        self.cold.clear()
        self._subjects.clear()

    def held(self) -> int:
        """Alerts cached, hot and cold."""
        return len(self.cache) + len(self.cold)

    def _get(self, alert_id: str) -> Alert | None:
        """A cached alert (thawed if cold), used now: it goes to the end of the hot ones."""
        alert = self.cache.pop(alert_id, None)
        if alert is None and (frozen := self.cold.pop(alert_id, None)) is not None:
            alert = thaw(frozen)
        if alert is not None:
            self.cache[alert_id] = alert
        return alert

    def freeze(self, hot: int) -> None:
        """At the end of a batch (every cached alert is as written): all but the `hot` most recently used go cold."""
        for alert_id in list(itertools.islice(self.cache, max(0, len(self.cache) - hot))):
            self.cold[alert_id] = freeze(self.cache.pop(alert_id))

    def shrink(self) -> None:
        """Over its bound: forget the half of the subjects loaded longest ago, with their alerts (and the
        alerts read by id alone). What is forgotten is read again from the store when next needed."""
        for subject in list(itertools.islice(self._subjects, len(self._subjects) // 2)):
            for alert_id in self._subjects.pop(subject):
                self.cache.pop(alert_id, None)
                self.cold.pop(alert_id, None)
        kept = {alert_id for ids in self._subjects.values() for alert_id in ids}
        for cached in (self.cache, self.cold):
            for alert_id in [a for a in cached if a not in kept]:
                del cached[alert_id]

    def _known(self, subject: str, alert_id: str) -> None:
        ids = self._subjects[subject]
        if alert_id not in ids:
            self._subjects[subject] = (*ids, alert_id)

    def none_yet(self, subject_ids: Iterable[str]) -> None:
        """Subjects just created by the only writer of their alerts: they have none, no need to ask the store."""
        for subject in subject_ids:
            self._subjects.setdefault(subject, NO_ALERTS)

    def changed_elsewhere(self, alert_id: str) -> None:
        """A person changed this alert (committed): the stage reads it again before its next change.
        (Without this the store's version check would still catch it, at the cost of a retried batch.)"""
        self._changed_elsewhere.append(alert_id)

    def drain(self) -> None:
        """At the start of a batch (in the stage's thread)."""
        while self._changed_elsewhere:
            alert_id = self._changed_elsewhere.popleft()
            alert = self._get(alert_id)
            if alert is not None:
                del self.cache[alert_id]
                self._subjects.pop(alert.subject.id, None)

    def defer(self) -> None:
        self.deferred = {}

    def alerts_of(self, subject_ids: Iterable[str]) -> list[Alert]:
        """Every alert (of this book's rules) about these subjects."""
        wanted = [s for s in subject_ids if s not in self._subjects]
        if wanted:
            for s in wanted:
                self._subjects[s] = NO_ALERTS
            for alert in self.store.alerts_of_subjects(wanted):
                if alert.rule in self.rules:
                    if self._get(alert.id) is None:
                        self.cache[alert.id] = lean(alert)
                    self._known(alert.subject.id, alert.id)
        return [a for s in subject_ids for i in sorted(self._subjects[s]) if (a := self._get(i)) is not None]

    def apply(self, findings: list[Finding], result: Any, now: datetime, profile_of: ProfileOf) -> set[str]:
        """New or changed alerts for these findings; returns the ids of the alerts found."""
        if not findings:
            return set()
        ids = [f.alert_id for f in findings]  # a hash each: worked out once
        if self.deferred is not None:
            for alert_id, finding in zip(ids, findings, strict=True):
                self.deferred[alert_id] = finding
            return set(ids)
        # an alert of a subject loaded whole (alerts_of) that isn't cached doesn't exist yet: no need to ask
        missing = [i for i, f in zip(ids, findings, strict=True) if i not in self.cache and i not in self.cold and f.subject_id not in self._subjects]
        if missing:
            self.cache.update((i, lean(a)) for i, a in self.store.alerts_by_ids(missing).items())
        for alert_id, finding in zip(ids, findings, strict=True):
            existing = self._get(alert_id)
            if finding.quiet and existing is None:
                continue  # a deadline long past: it updates an alert that exists, raises none (domain/rules.py Deadlines)
            profile = profile_of(finding.subject_id) if finding.subject_kind == "child" else None
            change = lifecycle.apply_finding(existing, finding, upn=(profile or {}).get("upn"), now=now)
            if change is not None:
                self.save(change.alert, finding.school_urn, result, change.kind, profile, note=change.note)
        return set(ids)

    def settle(self, subject_ids: Iterable[str], found: set[str], why: Callable[[Alert], str], result: Any, now: datetime, profile_of: ProfileOf) -> None:
        """Alerts of these subjects that no finding upheld no longer hold: Signpost resolves them, saying why."""
        if self.deferred is not None:
            return  # a rebuild settles everything at the end (finalize)
        for alert in self.alerts_of(subject_ids):
            if alert.id in found:
                continue
            resolved = lifecycle.no_longer_holds(alert, why(alert), now)
            if resolved is not None:
                subject = getattr(alert.subject, "child_id", None)
                self.save(resolved, None, result, "status", profile_of(subject) if subject else None, note=resolved.status_note)

    def save(self, alert: Alert, school_urn: str | None, result: Any, change: str, profile: dict | None, *,
             by: str = lifecycle.SIGNPOST, note: str | None = None) -> None:  # fmt: skip
        previous = self._get(alert.id)
        self.cache[alert.id] = lean(alert)
        subject = alert.subject.id
        if subject in self._subjects:
            self._known(subject, alert.id)
        written = result.writes.alerts.get(alert.id)
        base = written.base_version if written is not None else (previous.version if previous is not None else None)
        las_changed = base is None or previous is None or (written is not None and written.las_changed) or las_of(previous) != las_of(alert)
        result.writes.alerts[alert.id] = AlertWrite(alert, school_urn if school_urn is not None else (written.school_urn if written else None), base,
                                                    las_changed)  # fmt: skip
        result.writes.history.append(history_row(alert, change, by, note))
        result.writes.outbox.append(change_message(alert, change, profile))
        result.changed_alerts.append(alert)

    def finalize(self, result: Any, now: datetime, profile_of: ProfileOf) -> None:
        """End of a rebuild: apply the last finding per alert; resolve alerts whose rule no longer holds."""
        deferred, self.deferred = self.deferred or {}, None
        self.apply(list(deferred.values()), result, now, profile_of)
        for alert in self.store.alerts_of_rules(sorted(self.rules)):
            if alert.id not in deferred:
                current = self._get(alert.id)
                if current is None:
                    current = self.cache[alert.id] = lean(alert)
                resolved = lifecycle.no_longer_holds(current, "no longer holds after the rebuild (rules or data changed)", now)
                if resolved is not None:
                    subject = getattr(alert.subject, "child_id", None)
                    self.save(resolved, None, result, "status", profile_of(subject) if subject else None, note=resolved.status_note)

