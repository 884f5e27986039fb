"""What the desk applies, each decoded once where it enters Signpost.

A message is its `schemas` model, validated by the consumer's `decode` (AlertChanged from the
alerts topic, ChildEventResolved from the children topic, ChildLinkChanged from the child-links
topic); a consent a person recorded over HTTP (POST /v1/consents/{child_id}/grant) is a
ConsentRecorded. The desk and the domain read their attributes: nothing downstream parses again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.alerts import AlertChanged
from schemas.children import ChildEventResolved, ChildLinkChanged


@dataclass(frozen=True, slots=True)
class ConsentRecorded:
    """The family's consent as a person recorded it: schemas.admin.ConsentGrant, with whose it is, who and when."""

    child_id: str
    recipient: str
    lawful_basis: str
    by: str
    at: datetime
    note: str | None = None


#: A message the consumer decoded (each topic's schemas model).
Message = AlertChanged | ChildEventResolved | ChildLinkChanged
#: One desk input, in arrival order.
Input = Message | ConsentRecorded
