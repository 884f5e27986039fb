"""What can become a referral: an alert about a child, a permanent exclusion, a call about exclusion.

Each trigger carries the labels the routing policy matches on and the reason as the
contract shows it. Its key makes it reach each agency once, however often it arrives;
its `change` and `version` tell new harm from a replay or an update (see `decide.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from schemas.alerts import CHILD_RULES, AlertChanged, AlertStatus, ChildSubject
from schemas.children import ChildEventResolved
from schemas.codes import EXCLUSION_CONCERNS, NoticeCategory, ReturnRecordKind, SenNeed, is_send
from schemas.intake import CONSENT_RECIPIENTS

#: What a trigger's `change` can be: an alert's change, a child event (`event`, new the first time it
#: arrives), or `reevaluate` (routing again what is stored, after a link, an undo or a consent).
CHANGES = ("raised", "evidence", "updated", "status", "event", "reevaluate")


@dataclass(frozen=True, slots=True)
class Trigger:
    key: str  # "alert:<id>", "call:<id>", "notice:<id>", "return:<id>|<record>"
    reason: dict[str, Any]  # as in the contract: {"rule", "alert_id", "episode"} or {"source": ..., ...}
    labels: dict[str, str | list[str]]
    child: dict[str, Any]  # the child's profile (the group's merged profile once the desk has resolved links)
    child_id: str = ""  # the record's own child id (the alert's subject, the event's child): splits need it
    change: str = "event"
    version: int = 1  # an alert's version; 1 for child events
    stands: bool = True  # False: the alert was resolved (it routes nothing until it stands again)
    withdrawn: bool = False  # Signpost resolved the alert: it no longer holds for this child (a correction, a link)
    extra: dict[str, Any] | None = None  # what labels need besides the profile: received_by, consent (calls)

    def with_child(self, child: dict[str, Any], change: str | None = None) -> Trigger:
        """The same trigger seen with another profile (a merged group's), labels recomputed."""
        extra = self.extra or {}
        labels = labels_for(child, reason=str(self.labels["reason"]), event_kind=str(self.labels["event_kind"]),
                            received_by=extra.get("received_by") or "", consent=extra.get("consent"))
        return replace(self, child=child, labels=labels, change=change or self.change)


def labels_for(child: dict[str, Any], *, reason: str, event_kind: str, received_by: str = "", consent: dict[str, Any] | None = None) -> dict[str, str | list[str]]:
    needs = list(child.get("sen_needs") or [])
    consent = consent or {}
    return {
        "reason": reason,
        "event_kind": event_kind,
        # one definition of SEND (schemas.codes.is_send): E, K, suspected, or any recorded primary need
        "send": _flag(is_send(child.get("sen_status"), bool(child.get("suspected_send")), needs)),
        "sen_status": child.get("sen_status") or "unknown",
        "primary_need": needs,
        "autistic": _flag(SenNeed.ASD in needs),
        "looked_after": _flag(bool(child.get("looked_after"))),
        "has_social_worker": _flag(bool(child.get("has_social_worker"))),
        "received_by": received_by,
        **{f"consent_{name}": _flag(bool(consent.get(name))) for name in CONSENT_RECIPIENTS},
    }


def _flag(value: bool) -> str:
    return "true" if value else "false"


def alert_trigger(changed: AlertChanged) -> Trigger | None:
    """Any change of a child alert of a routed rule, status changes and resolved alerts included
    (the desk records their version and whether the alert still stands). None: not about a child."""
    alert = changed.alert
    if changed.child is None or not isinstance(alert.subject, ChildSubject) or alert.rule not in CHILD_RULES:
        return None
    child = changed.child.model_dump(mode="json")  # the profile stays plain data: the desk stores and merges it
    reason: dict[str, Any] = {"rule": alert.rule.value, "alert_id": alert.id, "episode": alert.episode or 1}
    labels = labels_for(child, reason=alert.rule.value, event_kind="alert")
    resolved = alert.status == AlertStatus.resolved
    return Trigger(f"alert:{alert.id}", reason, labels, child, child_id=alert.subject.child_id, change=changed.change,
                   version=alert.version or 1, stands=not resolved, withdrawn=resolved and alert.resolved_by == "signpost")


def from_alert_changed(changed: AlertChanged) -> Trigger | None:
    """A child alert raised or changed that may route. Status changes made by a person, and resolved
    alerts, route nothing."""
    trigger = alert_trigger(changed)
    if trigger is None or trigger.change == "status" or not trigger.stands:
        return None
    return trigger


def from_child_event(event: ChildEventResolved) -> Trigger | None:
    child = event.child.model_dump(mode="json")
    cid, source_id = event.child.child_id, event.source_id
    if event.source == "exclusion_notice" and event.category == NoticeCategory.permanent:
        reason: dict[str, Any] = {"source": "exclusion_notice", "notice_id": source_id}
        labels = labels_for(child, reason="permanent_exclusion", event_kind="exclusion_notice")
        return Trigger(f"notice:{source_id}", reason, labels, child, child_id=cid)
    if event.source == "la_return_record" and event.record_kind == ReturnRecordKind.permanent_exclusion:
        return_id, _, record_id = source_id.rpartition("|")
        reason = {"source": "la_return", "return_id": return_id, "record_id": record_id}
        labels = labels_for(child, reason="permanent_exclusion", event_kind="la_return_record")
        return Trigger(f"return:{source_id}", reason, labels, child, child_id=cid)
    if event.source == "call" and EXCLUSION_CONCERNS.intersection(event.concerns):
        reason = {"source": "call", "call_id": source_id}
        received_by = event.received_by.value if event.received_by else ""
        consent = event.consent.model_dump(mode="json") if event.consent is not None else None  # stored with the trigger, as JSON
        extra = {"received_by": received_by, "consent": consent}
        labels = labels_for(child, reason="exclusion_concern_call", event_kind="call", received_by=received_by, consent=consent)
        return Trigger(f"call:{source_id}", reason, labels, child, child_id=cid, extra=extra)
    return None
