"""The referral desk: applies routed triggers and consent to the store, one batch per transaction.

For each trigger: the policy picks receivers; a receiver that needs a consent the ledger
doesn't hold gets the reason held until it does; otherwise the reason joins the one open
referral of that child and agency, or opens one. Reasons are keyed, so redeliveries and
replays change nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import orjson
from sqlalchemy import Connection, Engine, and_, insert, select, update

from services.common import db
from services.common.calendar import CalendarRegistry
from services.common.db import insert_ignore
from services.referrals import routing
from services.referrals import tables as t
from services.referrals.domain import consent as consent_ledger
from services.referrals.domain.triggers import Trigger, from_alert_changed, from_child_event
from services.referrals.policy import Policy, Receiver

log = logging.getLogger(__name__)
CONSENT_LABEL = {"share_with_nas": "nas", "share_with_ias": "ias", "share_with_la": "la"}


def referral_id(child_id: str, agency: str, first_reason: str) -> str:
    """Deterministic: the same history rebuilds the same referrals (and their delivery keys)."""
    return "ref_" + hashlib.sha256(f"{child_id}|{agency}|{first_reason}".encode()).hexdigest()[:20]


@dataclass
class Change:
    referral_id: str
    agency: str
    child_id: str
    status: str
    change: str  # created | reason_added


@dataclass
class DeskResult:
    changes: list[Change] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # agencies a reason was held for (waiting for consent)
    released: int = 0


class ReferralDesk:
    def __init__(self, engine: Engine, policy: Callable[[], Policy], calendars: CalendarRegistry, *, deliver: bool = True):
        self.engine, self.policy, self.calendars = engine, policy, calendars
        self.deliver = deliver  # False during a rebuild: nobody is notified twice

    def handle(self, items: list[tuple[str, dict]], now: datetime) -> DeskResult:
        """`items`: ("alert", AlertChanged JSON) or ("child", ChildEventResolved JSON), in arrival order."""
        result = DeskResult()
        policy = self.policy()
        with db.write(self.engine) as conn:
            for kind, doc in items:
                if kind == "child":
                    self._record_consent(conn, doc, now, policy, result)
                    trigger = from_child_event(doc)
                else:
                    trigger = from_alert_changed(doc)
                if trigger is not None:
                    self._route(conn, trigger, policy, now, result)
        return result

    # -------------------------------------------------------------- consent
    def _ledger(self, conn: Connection, child_id: str) -> list[consent_ledger.ConsentRecord]:
        rows = conn.execute(select(t.consents).where(t.consents.c.child_id == child_id))
        return [consent_ledger.ConsentRecord(r.recipient, r.granted, _aware(r.at), r.source) for r in rows]

    def _record_consent(self, conn: Connection, doc: dict, now: datetime, policy: Policy, result: DeskResult) -> None:
        if doc["source"] != "call":
            return
        at = datetime.fromisoformat(doc["occurred_at"].replace("Z", "+00:00"))
        records = consent_ledger.from_call(doc["source_id"], doc.get("consent"), at)
        if not records:
            return
        child_id = doc["child"]["child_id"]
        conn.execute(insert_ignore(self.engine, t.consents), [{"child_id": child_id, "recipient": r.recipient, "source": r.source, "granted": True, "at": r.at} for r in records])
        self.release_held(conn, child_id, policy, now, result, latest_child=doc["child"])

    def release_held(self, conn: Connection, child_id: str, policy: Policy, now: datetime, result: DeskResult, latest_child: dict | None = None) -> None:
        """Consent arrived later: the reasons held for it are routed now."""
        ledger = self._ledger(conn, child_id)
        for row in list(conn.execute(select(t.held).where(t.held.c.child_id == child_id))):
            for receiver in policy.receivers_for_agency(row.agency):
                if receiver.requires_consent and not consent_ledger.current(ledger, CONSENT_LABEL[receiver.requires_consent]):
                    continue
                trigger = Trigger(row.reason_key, orjson.loads(row.reason), {}, latest_child or orjson.loads(row.child))
                self._attach(conn, trigger, receiver, now, result)
                conn.execute(t.held.delete().where(and_(t.held.c.child_id == child_id, t.held.c.agency == row.agency, t.held.c.reason_key == row.reason_key)))
                result.released += 1
                break

    # -------------------------------------------------------------- routing
    def _route(self, conn: Connection, trigger: Trigger, policy: Policy, now: datetime, result: DeskResult) -> None:
        child_id = trigger.child["child_id"]
        receivers = routing.route(policy, trigger.labels)
        if not receivers:
            return
        ledger = self._ledger(conn, child_id) if any(r.requires_consent for r in receivers) else []
        for receiver in receivers:
            if receiver.requires_consent and not consent_ledger.current(ledger, CONSENT_LABEL[receiver.requires_consent]):
                conn.execute(
                    insert_ignore(self.engine, t.held),
                    [{"child_id": child_id, "agency": receiver.agency, "reason_key": trigger.key, "reason": orjson.dumps(trigger.reason).decode(),
                      "child": orjson.dumps(trigger.child).decode(), "held_at": now}],
                )
                result.held.append(receiver.agency)
                continue
            self._attach(conn, trigger, receiver, now, result)

    def _attach(self, conn: Connection, trigger: Trigger, receiver: Receiver, now: datetime, result: DeskResult) -> None:
        child_id, agency = trigger.child["child_id"], receiver.agency
        seen = conn.execute(
            select(t.reasons.c.referral_id).where(t.reasons.c.child_id == child_id, t.reasons.c.agency == agency, t.reasons.c.reason_key == trigger.key)
        ).first()
        if seen is not None:
            self._refresh_child(conn, seen.referral_id, trigger.child)
            return  # this reason reached this agency before: the family tells its story once
        r = t.referrals.c
        open_row = conn.execute(select(t.referrals).where(r.child_id == child_id, r.agency == agency, r.status.in_(("new", "accepted")))).first()
        child_json = orjson.dumps(trigger.child).decode()
        if open_row is None:
            ref_id = referral_id(child_id, agency, trigger.key)
            due = self._due_by(trigger.child, receiver, now.date())
            conn.execute(
                insert(t.referrals),
                [{"id": ref_id, "agency": agency, "child_id": child_id, "la_code": trigger.child.get("la_code") or "", "upn": trigger.child.get("upn"),
                  "child": child_json, "status": "new", "created_at": now, "updated_at": now, "due_by": due, "version": 1}],
            )
            self._history(conn, ref_id, now, "signpost", "created", f"routed to {receiver.name}")
            version, change = 1, "created"
        else:
            ref_id = open_row.id
            version = open_row.version + 1
            conn.execute(update(t.referrals).where(r.id == ref_id).values(child=child_json, updated_at=now, version=version))
            self._history(conn, ref_id, now, "signpost", "reason_added", trigger.key.split(":")[0])
            change = "reason_added"
        conn.execute(
            insert(t.reasons),
            [{"child_id": child_id, "agency": agency, "reason_key": trigger.key, "referral_id": ref_id, "reason": orjson.dumps(trigger.reason).decode(), "added_at": now}],
        )
        if receiver.webhook is not None:
            conn.execute(
                insert_ignore(self.engine, t.deliveries),
                [{"key": f"{ref_id}:v{version}", "referral_id": ref_id, "agency": agency, "receiver": receiver.name,
                  "status": "pending" if self.deliver else "skipped", "attempts": 0, "next_attempt_at": now, "created_at": now}],
            )
        result.changes.append(Change(ref_id, agency, child_id, "new" if change == "created" else (open_row.status if open_row else "new"), change))

    def _refresh_child(self, conn: Connection, ref_id: str, child: dict) -> None:
        conn.execute(update(t.referrals).where(t.referrals.c.id == ref_id).values(child=orjson.dumps(child).decode()))

    def _due_by(self, child: dict, receiver: Receiver, today: date) -> date:
        calendar = self.calendars.for_school(child.get("la_code"), child.get("school_urn"))
        return calendar.add_school_days(today, receiver.service_level_school_days)

    def _history(self, conn: Connection, ref_id: str, at: datetime, by: str, action: str, detail: str | None) -> None:
        conn.execute(insert(t.history), [{"referral_id": ref_id, "at": at, "by": by, "action": action, "detail": detail}])


def _aware(value: datetime) -> datetime:

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
