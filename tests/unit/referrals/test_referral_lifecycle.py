"""domain/lifecycle.py: new → accepted | declined → closed; every allowed and refused transition; overdue."""

from __future__ import annotations

from datetime import date

import pytest

from services.referrals.domain.lifecycle import OPEN, TRANSITIONS, TransitionError, overdue, transition

STATUSES = ("new", "accepted", "declined", "closed")
ALLOWED = {
    ("new", "accept"): "accepted",
    ("new", "decline"): "declined",
    ("accepted", "decline"): "declined",
    ("accepted", "close"): "closed",
    ("declined", "close"): "closed",
}
ALL = [(s, a) for s in STATUSES for a in ("accept", "decline", "close")]


def test_the_table_is_the_documented_one():
    assert set(TRANSITIONS) == {"accept", "decline", "close"}
    assert {(s, a) for a, (froms, _) in TRANSITIONS.items() for s in froms} == set(ALLOWED)
    assert OPEN == {"new", "accepted"}


@pytest.mark.parametrize("status, action", [k for k in ALL if k in ALLOWED])
def test_allowed(status, action):
    assert transition(status, action) == ALLOWED[(status, action)]


@pytest.mark.parametrize("status, action", [k for k in ALL if k not in ALLOWED])
def test_refused(status, action):
    with pytest.raises(TransitionError) as info:
        transition(status, action)
    assert status in str(info.value)


def test_transition_error_is_a_value_error():
    assert issubclass(TransitionError, ValueError)


def test_unknown_action_is_not_a_transition():
    with pytest.raises(KeyError):
        transition("new", "reopen")


DUE = date(2025, 3, 13)


@pytest.mark.parametrize(
    "status, due_by, today, expected",
    [
        ("new", DUE, date(2025, 3, 14), True),
        ("new", DUE, date(2025, 4, 1), True),
        ("new", DUE, DUE, False),  # due today is not late yet
        ("new", DUE, date(2025, 3, 12), False),
        ("new", None, date(2030, 1, 1), False),
        ("accepted", DUE, date(2025, 3, 14), False),
        ("declined", DUE, date(2025, 3, 14), False),
        ("closed", DUE, date(2025, 3, 14), False),
    ],
)
def test_overdue_only_when_new_and_past_due(status, due_by, today, expected):
    assert overdue(status, due_by, today) is expected
