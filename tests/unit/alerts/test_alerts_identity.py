"""One child, many sources: exact links and near matches (contract "One child, many sources")."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.alerts.domain.identity import Identity, child_id_for_upn, edit_distance, near_match

KNOWN = Identity("ch_known", "305", date(2014, 5, 1), "zoe", "smith jones", "A305200000001")


def new(**changes) -> Identity:
    return replace(KNOWN, child_id="ch_new", upn=None, **changes)


def test_a_one_letter_typo_is_a_near_match():
    assert near_match(new(last="smith jonse"), KNOWN) == "names differ by a typo"


def test_swapped_first_and_last_names_are_a_near_match():
    assert near_match(new(first="smith jones", last="zoe"), KNOWN) == "first and last names swapped"


def test_swapped_day_and_month_of_birth_is_a_near_match():
    assert near_match(new(date_of_birth=date(2014, 1, 5)), KNOWN) == "dates of birth differ by a typo"


def test_a_shortened_first_name_is_a_near_match():
    known = replace(KNOWN, first="alexander", last="smith")
    assert (
        near_match(new(first="alex", last="smith"), known)
        == "one first name is a shortened form of the other"
    )


def test_an_exact_match_is_linked_not_proposed():
    assert near_match(new(), KNOWN) is None


def test_another_la_is_never_a_match():
    assert near_match(new(la_code="334", last="smith jonse"), KNOWN) is None


def test_a_child_is_not_a_near_match_of_itself():
    assert near_match(replace(KNOWN, last="smith jonse"), KNOWN) is None


def test_a_different_child_is_no_match():
    assert near_match(new(first="amir", last="khan"), KNOWN) is None


def test_other_names_and_another_birthday_are_no_match():
    assert near_match(new(last="smith jonse", date_of_birth=date(2014, 1, 5)), KNOWN) is None


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("zoe", "zoe", 0),
        ("zoe", "zoë", 1),
        ("jones", "jonse", 1),
        ("smith", "smyth", 1),
        ("ann", "anne", 1),
        ("", "abc", 3),
    ],
)
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_edit_distance_stops_past_its_limit():
    assert edit_distance("al", "alexander", limit=3) == 4
    assert edit_distance("abcdef", "uvwxyz", limit=2) == 3


def test_child_id_for_upn_is_deterministic():
    assert child_id_for_upn("A305200000001") == child_id_for_upn("A305200000001")
    assert child_id_for_upn("A305200000001") != child_id_for_upn("B305200000001")


def test_child_id_for_upn_does_not_reveal_the_upn():
    cid = child_id_for_upn("A305200000001")
    assert cid.startswith("ch_")
    assert "305200000001" not in cid and "a305200000001" not in cid.lower()
