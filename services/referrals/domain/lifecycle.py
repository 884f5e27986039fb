"""Referral lifecycle: new → accepted | declined → closed, with reason and outcome; history kept.

Only the agency a referral is routed to moves it. Declining needs a reason, closing an
outcome: both are fed back to the inclusion team.
"""

from __future__ import annotations

from datetime import date

TRANSITIONS = {
    "accept": ({"new"}, "accepted"),
    "decline": ({"new", "accepted"}, "declined"),
    "close": ({"accepted", "declined"}, "closed"),
}
OPEN = frozenset({"new", "accepted"})


class TransitionError(ValueError):
    pass


def transition(status: str, action: str) -> str:
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        raise TransitionError(f"a {status} referral can't be {target} (needs {' or '.join(sorted(allowed))})")
    return target


def overdue(status: str, due_by: date | None, today: date) -> bool:
    """Nobody has acted: still new after its service level (in school days) ran out."""
    return status == "new" and due_by is not None and today > due_by
