"""What can become a referral: an alert about a child, a permanent exclusion, a call about exclusion.

Each trigger carries the labels the routing policy matches on and the reason as the
contract shows it. Its key makes it reach each agency once, however often it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.codes import EXCLUSION_CONCERNS

CHILD_RULES = frozenset({"suspension_days_nearing_limit", "suspension_days_limit_exceeded", "informal_exclusions_repeated"})


@dataclass(frozen=True, slots=True)
class Trigger:
    key: str  # "alert:<id>", "call:<id>", "notice:<id>", "return:<id>/<record>"
    reason: dict  # as in the contract: {"rule", "alert_id"} or {"source": ..., ...}
    labels: dict[str, str | list[str]]
    child: dict  # the child's profile


def labels_for(child: dict, *, reason: str, event_kind: str, received_by: str = "", consent: dict | None = None) -> dict[str, str | list[str]]:
    needs = list(child.get("sen_needs") or [])
    send = child.get("sen_status") in ("E", "K") or bool(child.get("suspected_send"))
    consent = consent or {}
    return {
        "reason": reason,
        "event_kind": event_kind,
        "send": _flag(send),
        "sen_status": child.get("sen_status") or "unknown",
        "primary_need": needs,
        "autistic": _flag("ASD" in needs),
        "looked_after": _flag(bool(child.get("looked_after"))),
        "received_by": received_by,
        "consent_share_with_nas": _flag(bool(consent.get("share_with_nas"))),
        "consent_share_with_ias": _flag(bool(consent.get("share_with_ias"))),
        "consent_share_with_la": _flag(bool(consent.get("share_with_la"))),
    }


def _flag(value: bool) -> str:
    return "true" if value else "false"


def from_alert_changed(doc: dict) -> Trigger | None:
    """A child alert raised or updated. Status changes made by the team route nothing."""
    alert, child = doc["alert"], doc.get("child")
    if doc.get("change") == "status" or child is None or alert["subject"]["kind"] != "child" or alert["rule"] not in CHILD_RULES:
        return None
    if alert.get("status") == "resolved":
        return None
    reason = {"rule": alert["rule"], "alert_id": alert["id"]}
    return Trigger(f"alert:{alert['id']}", reason, labels_for(child, reason=alert["rule"], event_kind="alert"), child)


def from_child_event(doc: dict) -> Trigger | None:
    child = doc["child"]
    if doc["source"] == "exclusion_notice" and doc.get("category") == "permanent":
        reason = {"source": "exclusion_notice", "notice_id": doc["source_id"]}
        return Trigger(f"notice:{doc['source_id']}", reason, labels_for(child, reason="permanent_exclusion", event_kind="exclusion_notice"), child)
    if doc["source"] == "la_return_record" and doc.get("record_kind") == "permanent_exclusion":
        return_id, _, record_id = doc["source_id"].rpartition("|")
        reason = {"source": "la_return", "return_id": return_id, "record_id": record_id}
        return Trigger(f"return:{doc['source_id']}", reason, labels_for(child, reason="permanent_exclusion", event_kind="la_return_record"), child)
    if doc["source"] == "call" and EXCLUSION_CONCERNS.intersection(doc.get("concerns") or ()):
        reason = {"source": "call", "call_id": doc["source_id"]}
        labels = labels_for(child, reason="exclusion_concern_call", event_kind="call", received_by=doc.get("received_by") or "", consent=doc.get("consent"))
        return Trigger(f"call:{doc['source_id']}", reason, labels, child)
    return None
