"""One child, many sources (contract "One child, many sources"; issue 8 "Identity that cannot split or swap a child").

Every identity rule as a unit test over the pure `linking` module and the in-memory ChildRepo."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from fakes import InMemoryChildRepo
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.pupil import normalise_name
from schemas.upn import check_letter
from services.alerts.domain import linking
from services.alerts.domain.linking import Alias, Sighting, child_id_for_upn, edit_distance, near_match

DOB = date(2014, 5, 1)


def upn(serial: int, temporary: bool = False) -> str:
    body = f"305200000{serial:02d}A" if temporary else f"305200000{serial:03d}"
    return check_letter(body) + body


def seen(upn_: str | None = None, *, la: str = "305", first: str = "Zoë", last: str = "Smith-Jones", dob: date = DOB, event: str = "e") -> Sighting:
    return Sighting(event, upn_, la, dob, normalise_name(first), normalise_name(last))


class World:
    """Events resolved one batch at a time against the fake repo, remembering what identity decided."""

    def __init__(self) -> None:
        self.repo = InMemoryChildRepo()
        self.links: list[linking.LinkChange] = []
        self.proposals: dict[str, linking.Proposal] = {}

    def batch(self, *sightings: Sighting) -> list[linking.Resolution]:
        snapshot = self.repo.snapshot(sightings)
        out = [linking.resolve(s, snapshot) for s in sightings]
        self.repo.save(snapshot)
        for r in out:
            self.links += r.links
            for p in r.proposals:
                self.proposals.setdefault(p.id, p)
        return out

    def decide(self, source: str, target: str, decision: str) -> list[linking.LinkChange]:
        snapshot = self.repo.snapshot()
        keys = [a.person_key for a in snapshot.aliases() if a.child_id == source and a.upn is None]
        changes = linking.apply_decision(linking.Decision(source, target, decision, "officer"), snapshot, keys)
        self.repo.save(snapshot)
        return changes

    def root(self, child_id: str) -> str:
        return self.repo.known.root(child_id)

    def pairs(self) -> set[frozenset[str]]:
        return {frozenset((p.source, p.target)) for p in self.proposals.values()}


# --------------------------------------------------------------------------- exact links


def test_a_upn_is_the_child():
    [r] = World().batch(seen(upn(1)))
    assert (r.child_id, r.created, r.links, r.proposals) == (child_id_for_upn(upn(1)), True, [], [])


def test_a_call_without_upn_after_the_child_is_linked_to_it():
    w = World()
    w.batch(seen(upn(1)))
    [call] = w.batch(seen(None, first="ZOE", last="smith jones"))
    assert call.child_id != child_id_for_upn(upn(1))  # a record of its own ...
    assert w.root(call.child_id) == child_id_for_upn(upn(1))  # ... that counts as the child
    assert [(c.source, c.target, c.kind) for c in call.links] == [(call.child_id, child_id_for_upn(upn(1)), "auto")]


def test_a_call_first_is_linked_when_the_upn_arrives():
    w = World()
    [call] = w.batch(seen(None))
    assert w.root(call.child_id) == call.child_id
    [notice] = w.batch(seen(upn(1)))
    assert w.root(call.child_id) == notice.child_id
    assert notice.links[0].previous is None and notice.links[0].reason == linking.EXACT


def test_a_later_namesake_undoes_the_automatic_link_and_a_person_decides():
    """Issue 8 defect 7: the child a call attaches to depended on arrival order."""
    w = World()
    [call] = w.batch(seen(None))
    [first] = w.batch(seen(upn(1)))
    assert w.root(call.child_id) == first.child_id
    [second] = w.batch(seen(upn(2)))
    assert w.root(call.child_id) == call.child_id  # no guessing between namesakes
    assert [(c.source, c.target, c.previous) for c in second.links] == [(call.child_id, None, first.child_id)]
    assert w.pairs() == {frozenset((call.child_id, first.child_id)), frozenset((call.child_id, second.child_id)),
                         frozenset((first.child_id, second.child_id))}  # fmt: skip


def test_a_call_among_namesakes_stands_alone_with_a_proposal_each():
    w = World()
    w.batch(seen(upn(1)), seen(upn(2)))
    [call] = w.batch(seen(None))
    assert w.root(call.child_id) == call.child_id and call.links == []
    assert {frozenset((p.source, p.target)) for p in call.proposals} == {
        frozenset((call.child_id, child_id_for_upn(upn(1)))), frozenset((call.child_id, child_id_for_upn(upn(2))))}


# --------------------------------------------------------------------------- proposals


def test_a_temporary_upn_and_the_permanent_one_are_proposed_temporary_into_permanent():
    """Issue 8 defect 2: two UPNs for one child were never compared."""
    w = World()
    [temp] = w.batch(seen(upn(7, temporary=True)))
    [perm] = w.batch(seen(upn(1)))
    [p] = perm.proposals
    assert (p.source, p.target, p.reason) == (temp.child_id, perm.child_id, "two UPNs with the same names and date of birth (one is temporary)")
    assert w.root(temp.child_id) == temp.child_id  # proposed, never merged silently


def test_the_same_names_and_birth_date_in_another_la_are_proposed():
    """Issue 8 defect 5: a family's call logged by their home LA about a child at school next door."""
    w = World()
    [pupil] = w.batch(seen(upn(1), la="334"))
    [call] = w.batch(seen(None, la="305"))
    assert w.root(call.child_id) == call.child_id
    [p] = call.proposals
    assert (p.source, p.target, p.reason, p.source_la, p.target_la) == (call.child_id, pupil.child_id, "the same names and date of birth in another LA", "305", "334")


def test_a_typo_is_proposed_in_either_order():
    for order in ((seen(upn(1)), seen(None, last="Smith-Jonse")), (seen(None, last="Smith-Jonse"), seen(upn(1)))):
        w = World()
        for s in order:
            w.batch(s)
        [p] = w.proposals.values()
        assert p.reason == "names differ by a typo" and p.target == child_id_for_upn(upn(1))


def test_a_pair_is_proposed_once_whatever_the_order():
    a, b = linking.candidate_id("ch_a", "ch_b"), linking.candidate_id("ch_b", "ch_a")
    assert a == b


# --------------------------------------------------------------------------- a person decides


def test_confirming_links_and_a_person_link_is_never_undone_automatically():
    w = World()
    [temp] = w.batch(seen(upn(7, temporary=True)))
    [perm] = w.batch(seen(upn(1)))
    [change] = w.decide(temp.child_id, perm.child_id, "confirm")
    assert (change.target, change.kind) == (perm.child_id, "person")
    w.batch(seen(upn(2)))  # a third namesake: the person's link stands
    assert w.root(temp.child_id) == perm.child_id


def test_undoing_an_automatic_link_stops_it_coming_back():
    w = World()
    [call] = w.batch(seen(None))
    [pupil] = w.batch(seen(upn(1)))
    [change] = w.decide(call.child_id, pupil.child_id, "undo")
    assert (change.source, change.target, change.previous) == (call.child_id, None, pupil.child_id)
    w.batch(seen(None, event="another call"), seen(upn(1), event="another notice"))
    assert w.root(call.child_id) == call.child_id


def test_a_rejected_pair_is_not_linked_automatically_later():
    w = World()
    w.batch(seen(upn(1)), seen(upn(2)))
    [call] = w.batch(seen(None))
    w.decide(call.child_id, child_id_for_upn(upn(1)), "reject")
    assert w.root(call.child_id) == call.child_id


# --------------------------------------------------------------------------- order independence


SIGHTINGS = [
    seen(upn(1), event="n1"), seen(upn(1), event="n1b", la="334"), seen(upn(2), event="n2"), seen(upn(7, temporary=True), event="t7"),
    seen(None, event="c1"), seen(None, event="c2", la="334"), seen(None, event="c3", last="Smith-Jonse"), seen(upn(3), first="Amir", last="Khan", event="n3"),
    seen(None, first="amir", last="KHAN", event="c4"), seen(None, first="Khan", last="Amir", event="c5"),
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.permutations(SIGHTINGS), st.lists(st.integers(min_value=1, max_value=4), min_size=10, max_size=10))
def test_the_same_sightings_in_any_order_and_batches_give_the_same_links_and_proposals(order, sizes):
    w = World()
    i = 0
    for size in sizes:
        if i >= len(order):
            break
        w.batch(*order[i : i + size])
        i += size
    reference = World()
    for s in SIGHTINGS:
        reference.batch(s)
    children = {s.child_id for s in SIGHTINGS}
    assert {c: w.root(c) for c in children} == {c: reference.root(c) for c in children}
    pending = {pair for pair in w.pairs() if w.root(min(pair)) != w.root(max(pair))}
    expected = {pair for pair in reference.pairs() if reference.root(min(pair)) != reference.root(max(pair))}
    assert pending == expected


# --------------------------------------------------------------------------- near matches (symmetric)

KNOWN = Alias("ch_known", "p:known", "305", DOB, "zoe", "smithjones", "A305200000001")


def other(**changes) -> Alias:
    return replace(KNOWN, child_id="ch_new", upn=None, **changes)


def test_a_one_letter_typo_is_a_near_match():
    assert near_match(other(last="smithjonse"), KNOWN) == "names differ by a typo"


def test_swapped_first_and_last_names_are_a_near_match():
    assert near_match(other(first="smithjones", last="zoe"), KNOWN) == "first and last names swapped"


def test_swapped_day_and_month_of_birth_is_a_near_match():
    assert near_match(other(date_of_birth=date(2014, 1, 5)), KNOWN) == "dates of birth differ by a typo"


def test_a_shortened_first_name_is_a_near_match():
    known = replace(KNOWN, first="alexander", last="smith")
    assert near_match(other(first="alex", last="smith"), known) == "one first name is a shortened form of the other"


def test_an_exact_match_is_linked_not_proposed():
    assert near_match(other(), KNOWN) is None


def test_a_typo_in_another_la_is_not_a_near_match():
    assert near_match(other(la_code="334", last="smithjonse"), KNOWN) is None


def test_a_child_is_not_a_near_match_of_itself():
    assert near_match(replace(KNOWN, last="smithjonse"), KNOWN) is None


@pytest.mark.parametrize("changes", [{"first": "amir", "last": "khan"}, {"last": "smithjonse", "date_of_birth": date(2014, 1, 5)}])
def test_a_different_child_is_no_match(changes):
    assert near_match(other(**changes), KNOWN) is None


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("zoe", "zoe", 0), ("zoe", "zoë", 1), ("jones", "jonse", 1), ("smith", "smyth", 1), ("ann", "anne", 1), ("", "abc", 3)],
)
def test_edit_distance(a, b, distance):
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_edit_distance_stops_past_its_limit():
    assert edit_distance("al", "alexander", limit=3) == 4
    assert edit_distance("abcdef", "uvwxyz", limit=2) == 3


def test_child_id_for_upn_is_deterministic_and_does_not_reveal_the_upn():
    assert child_id_for_upn("A305200000001") == child_id_for_upn("A305200000001") != child_id_for_upn("B305200000001")
    cid = child_id_for_upn("A305200000001")
    assert cid.startswith("ch_") and "305200000001" not in cid
