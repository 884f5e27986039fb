"""Idempotent intake by the sender's own id (contract: every POST carries one): pure, so its unit
tests need no database."""

from __future__ import annotations

from typing import Literal

Outcome = Literal["accepted", "duplicate", "conflict"]


def idempotency_outcome(stored_hash: str | None, new_hash: str) -> Outcome:
    """Same id and same body: a duplicate (200). Same id, other body: a conflict (409)."""
    if stored_hash is None:
        return "accepted"
    return "duplicate" if stored_hash == new_hash else "conflict"
