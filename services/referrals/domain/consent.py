"""The consent ledger: who may receive a child's data, as the family said, latest word first.

Statutory services work under public task, not consent (ICO; domain.md §5). A charity
(NAS) receives a child only with an explicit, recorded, withdrawable consent (R-CONSENT).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.intake import CONSENT_RECIPIENTS, Consent

#: Agencies that record and withdraw a family's consent themselves (issue 10: "from the child page
#: (inclusion team, IAS)"): IAS works with the family directly. Need to know: only for a child with a
#: referral routed to that agency; the other agencies hear the family's word through the LA.
CONSENT_KEEPERS = frozenset({"ias"})


def keeps_consent(agency: str | None) -> bool:
    return agency in CONSENT_KEEPERS


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    recipient: str  # nas | ias | la
    granted: bool  # False: withdrawn
    at: datetime
    source: str


def current(records: list[ConsentRecord], recipient: str) -> bool:
    """Consent stands when the latest record for that recipient grants it."""
    relevant = [r for r in records if r.recipient == recipient]
    return bool(relevant) and max(relevant, key=lambda r: (r.at, r.granted is False)).granted


def from_call(call_id: str, consent: Consent | None, at: datetime) -> list[ConsentRecord]:
    """A call records each consent the family gave. A box left unticked is not a withdrawal:
    withdrawal is explicit (POST /v1/consents/{child_id}/withdraw)."""
    if consent is None:
        return []
    return [ConsentRecord(recipient, True, at, f"call:{call_id}") for field, recipient in CONSENT_RECIPIENTS.items() if getattr(consent, field)]
