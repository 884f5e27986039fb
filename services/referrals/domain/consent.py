"""The consent ledger: who may receive a child's data, as the family said, latest word first.

Statutory services work under public task, not consent (ICO; domain.md §5). A charity
(NAS) receives a child only with an explicit, recorded, withdrawable consent (R-CONSENT).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


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


def from_call(call_id: str, consent: dict[str, Any] | None, at: datetime) -> list[ConsentRecord]:
    """A call records each consent the family gave. A box left unticked is not a withdrawal:
    withdrawal is explicit (POST /v1/consents/{child_id}/withdraw)."""
    consent = consent or {}
    return [ConsentRecord(recipient, True, at, f"call:{call_id}") for field, recipient in REQUIRED.items() if consent.get(field)]


#: Call consent field -> ledger recipient. ACE and Coram (issue 11, item 7) are charities, like NAS.
REQUIRED = {"share_with_nas": "nas", "share_with_ias": "ias", "share_with_la": "la", "share_with_ace": "ace", "share_with_coram": "coram"}
