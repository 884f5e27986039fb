"""The referral desk's decisions, pure: a trigger and what the desk knows → actions.

`decide(trigger, policy, ledger, open_referrals, seen_reasons, today, calendar)` routes one trigger
with the routing tree (`routing.route`) and the consent ledger (`consent.current`), and says what to
do per agency. The desk loads those inputs and applies the actions; nothing here does I/O.

Re-routing rules (docs/design.md, "Referrals"):

- A message whose version is not newer than the one recorded for its reason is a replay: nothing.
  (A child event is version 1: its first arrival is new, any later one a replay.)
- `status` changes and resolved alerts route nothing. An alert Signpost resolved because it no longer
  holds for this child (a correction; its evidence turned out to be another record's) is withdrawn:
  `Withdraw` takes the reason out of every open referral holding it, and a referral nobody has
  acted on that is left without a reason is closed as withdrawn. If the alert holds again, the
  reason is unseen again and routes as new.
- New harm is an alert `raised` or `evidence` change newer than the recorded version, or a child
  event arriving for the first time. `updated` and re-evaluation (after a link, an undo or a
  consent) are never new harm, but still route a reason to agencies that had not seen it (the
  merged profile became SEND, consent arrived).
- Per routed agency:
  - the receiver needs a consent the (merged) ledger lacks → `Hold` (once), unless the agency already
    has the reason (consent withdrawn since: what was shared stays, nothing more goes);
  - the reason is unseen by the agency → `Attach` to its one open referral, or `Open` one;
  - seen, and the referral holding it is open → on new harm `AddEvidence` (history
    `evidence_added`, version bump), else `Refresh` the child's details;
  - seen, but the holding referral is closed or declined → on new harm a new referral carries the
    reason again ("new evidence is new harm": `Attach` to the agency's open referral, else `Open`),
    else nothing.
- Every change for a receiver with a webhook is also a `Deliver`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from schemas.intake import CONSENT_RECIPIENTS
from services.referrals import routing
from services.referrals.domain import consent
from services.referrals.domain.lifecycle import OPEN
from services.referrals.domain.triggers import Trigger
from services.referrals.policy import Policy, Receiver

NEW_HARM_CHANGES = frozenset({"raised", "evidence", "event"})


class Calendar(Protocol):
    def add_school_days(self, start: date, days: int) -> date: ...


def referral_id(*parts: str) -> str:
    """Deterministic: the same history rebuilds the same referrals (and their delivery keys)."""
    return "ref_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


# ------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class OpenReferral:
    """The one open (new or accepted) referral of the effective child at an agency."""

    id: str
    agency: str
    version: int = 1


@dataclass(frozen=True, slots=True)
class Holder:
    """The newest referral of an agency that holds a reason, and its status."""

    referral_id: str
    status: str


@dataclass(frozen=True, slots=True)
class SeenReasons:
    """What was done with one trigger's reason so far."""

    version: int | None = None  # the newest version of the trigger applied; None: never seen
    by_agency: Mapping[str, Holder] = field(default_factory=dict)
    held: frozenset[str] = frozenset()  # agencies the reason is held for (waiting for consent)


# ----------------------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Hold:
    agency: str
    receiver: str
    reason_key: str
    child_id: str  # the trigger's record


@dataclass(frozen=True, slots=True)
class Open:
    referral_id: str
    agency: str
    receiver: str
    reason_key: str
    reason: dict[str, Any]
    child_id: str  # the trigger's record; the referral itself is the effective child's
    due_by: date
    version: int  # the trigger's


@dataclass(frozen=True, slots=True)
class Attach:
    referral_id: str
    agency: str
    receiver: str
    reason_key: str
    reason: dict[str, Any]
    child_id: str
    version: int


@dataclass(frozen=True, slots=True)
class AddEvidence:
    referral_id: str
    agency: str
    receiver: str
    reason_key: str
    reason: dict[str, Any]
    version: int


@dataclass(frozen=True, slots=True)
class Refresh:
    referral_id: str


@dataclass(frozen=True, slots=True)
class Deliver:
    referral_id: str
    agency: str
    receiver: str


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The reason no longer holds for this child: out of the referral (closed as withdrawn if it was its
    last reason and nobody has acted on it)."""

    referral_id: str
    agency: str
    reason_key: str


Action = Hold | Open | Attach | AddEvidence | Refresh | Deliver | Withdraw


# ----------------------------------------------------------------------------------------- decide


def is_replay(trigger: Trigger, seen: SeenReasons) -> bool:
    return trigger.change != "reevaluate" and seen.version is not None and trigger.version <= seen.version


def is_new_harm(trigger: Trigger, seen: SeenReasons) -> bool:
    return trigger.change in NEW_HARM_CHANGES and (seen.version is None or trigger.version > seen.version)


def decide(
    trigger: Trigger,
    policy: Policy,
    ledger: list[consent.ConsentRecord],
    open_referrals: Mapping[str, OpenReferral],
    seen_reasons: SeenReasons,
    today: date,
    calendar: Calendar,
) -> list[Action]:
    """What the desk must do for one trigger (the module docstring has the rules).

    `trigger.child` is the effective child's (merged) profile; `open_referrals` are that child's, by
    agency; `ledger` is every consent record of the child's linked records."""
    if is_replay(trigger, seen_reasons):
        return []
    if not trigger.stands:
        if not trigger.withdrawn:
            return []  # a person resolved it: their referrals stand
        return [Withdraw(h.referral_id, agency, trigger.key) for agency, h in sorted(seen_reasons.by_agency.items()) if h.status in OPEN]
    if trigger.change == "status":
        return []
    new_harm = is_new_harm(trigger, seen_reasons)
    effective = str(trigger.child["child_id"])
    actions: list[Action] = []
    for receiver in routing.route(policy, trigger.labels):
        agency = receiver.agency
        holder = seen_reasons.by_agency.get(agency)
        if receiver.requires_consent and not consent.current(ledger, CONSENT_RECIPIENTS[receiver.requires_consent]):
            if holder is None and agency not in seen_reasons.held:
                actions.append(Hold(agency, receiver.name, trigger.key, trigger.child_id))
            continue  # withdrawn after it was shared: it stays with the agency, nothing more goes
        if holder is not None and holder.status in OPEN:
            if new_harm:
                actions += [AddEvidence(holder.referral_id, agency, receiver.name, trigger.key, trigger.reason, trigger.version)]
                actions += _deliver(receiver, holder.referral_id)
            else:
                actions.append(Refresh(holder.referral_id))
            continue
        if holder is not None and not new_harm:
            continue  # closed or declined, and nothing new: the agency decided
        current = open_referrals.get(agency)
        if current is not None:
            actions.append(Attach(current.id, agency, receiver.name, trigger.key, trigger.reason, trigger.child_id, trigger.version))
            actions += _deliver(receiver, current.id)
        else:
            ref_id = referral_id(effective, agency, trigger.key) if holder is None else referral_id(effective, agency, trigger.key, f"v{trigger.version}")
            due = calendar.add_school_days(today, receiver.service_level_school_days)
            actions.append(Open(ref_id, agency, receiver.name, trigger.key, trigger.reason, trigger.child_id, due, trigger.version))
            actions += _deliver(receiver, ref_id)
    return actions


def _deliver(receiver: Receiver, ref_id: str) -> list[Action]:
    return [Deliver(ref_id, receiver.agency, receiver.name)] if receiver.webhook is not None else []
