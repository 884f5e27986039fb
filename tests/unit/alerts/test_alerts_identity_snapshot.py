"""The identity snapshot's indexes: what they give back, whatever shape they hold it in (one alias
under a key, then several; keys that share a hash), and the parts the aliases share."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts.domain import snapshot as snapshot_module
from services.alerts.domain.linking import Alias, Snapshot

DOB = date(2014, 5, 1)


def alias(child: str, *, key: str = "p:1", la: str = "305", dob: date = DOB, first: str = "zoe", last: str = "smith", upn: str | None = None) -> Alias:
    return Alias(child, key, la, dob, first, last, upn)


def test_a_key_holds_one_alias_then_two_in_the_order_learnt():
    s = Snapshot()
    first, second = alias("ch_a", upn="U1"), alias("ch_b")
    assert s.add(first)
    assert s.with_key("p:1") == (first,)
    assert s.add(second)
    assert list(s.with_key("p:1")) == [first, second]
    assert (s.alias("p:1", "ch_a"), s.alias("p:1", "ch_b")) == (first, second)
    assert not s.add(alias("ch_b"))  # known: not held twice
    assert list(s.with_key("p:1")) == [first, second]
    assert list(s.aliases()) == [first, second]
    assert s.with_key("p:2") == ()


def test_near_gives_the_same_date_of_birth_then_the_same_names_each_alias_once():
    s = Snapshot()
    same_dob = alias("ch_dob", key="p:2", first="amir", upn="U1")
    both = alias("ch_both", key="p:1")
    same_names = alias("ch_names", key="p:3", dob=date(2014, 5, 2))
    elsewhere = alias("ch_other", key="p:4", la="306")
    for a in (same_names, same_dob, both, elsewhere):
        s.add(a)
    assert s.near("305", DOB, "zoe", "smith") == [same_dob, both, same_names]
    assert s.near("305", DOB, "zoe", "smith", without_upn=True) == [both, same_names]
    assert s.near("305", DOB, "nobody", "known") == [same_dob, both]
    assert s.near("307", DOB, "zoe", "smith") == []
    assert s.same_names(DOB, "zoe", "smith") == [both, elsewhere]


def test_aliases_whose_details_share_a_hash_are_never_taken_for_each_other(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(snapshot_module, "_key", lambda *details: 7)  # every key in one bucket
    s = Snapshot()
    mine, other_la, other_dob, other_names = (alias("ch_a", key="p:1"), alias("ch_b", key="p:2", la="306"),
                                              alias("ch_c", key="p:3", dob=date(2015, 1, 1)), alias("ch_d", key="p:4", first="amir"))  # fmt: skip
    for a in (mine, other_la, other_dob, other_names):
        s.add(a)
    assert s.near("305", DOB, "zoe", "smith") == [mine, other_names, other_dob]
    assert s.same_names(DOB, "zoe", "smith") == [mine, other_la]
    assert s.same_names(DOB, "amir", "smith") == [other_names]


def test_aliases_read_separately_share_their_la_names_and_date_of_birth():
    s = Snapshot()
    fresh = lambda text: "".join(list(text))  # noqa: E731 - a new string object, as a database row gives
    s.add(Alias("ch_a", "p:1", fresh("305"), date(2014, 5, 1), fresh("zoe"), fresh("smith"), None))
    s.add(Alias("ch_b", "p:2", fresh("305"), date(2014, 5, 1), fresh("zoe"), fresh("smith"), "U1"))
    a, b = s.aliases()
    assert (a.la_code, a.date_of_birth, a.first, a.last) == ("305", DOB, "zoe", "smith")
    assert a.la_code is b.la_code and a.date_of_birth is b.date_of_birth and a.first is b.first and a.last is b.last


details = st.tuples(st.sampled_from(["305", "306"]), st.sampled_from([date(2014, 5, 1), date(2014, 1, 5)]), st.sampled_from(["zoe", "amir"]),
                    st.sampled_from(["smith", "zoe"]), st.booleans())  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(details, max_size=12), details, st.booleans())
def test_the_indexes_give_what_a_scan_of_every_alias_gives(learnt, asked, one_bucket):
    """Whatever the aliases and whether their keys collide: what a plain scan in the order learnt gives."""
    with pytest.MonkeyPatch.context() as mp:
        if one_bucket:
            mp.setattr(snapshot_module, "_key", lambda *details: 0)
        s = Snapshot()
        aliases = [Alias(f"ch_{i}", f"p:{la}{dob}{first}{last}", la, dob, first, last, f"U{i}" if upn else None)
                   for i, (la, dob, first, last, upn) in enumerate(learnt)]  # fmt: skip
        for a in aliases:
            s.add(a)
        la, dob, first, last, upn = asked
        for without_upn in (False, True):
            scan = itertools.chain([a for a in aliases if (a.la_code, a.date_of_birth) == (la, dob)],
                                   [a for a in aliases if (a.la_code, a.first, a.last) == (la, first, last)])  # fmt: skip
            expected = list({(a.child_id, a.person_key): a for a in scan if not without_upn or a.upn is None}.values())
            assert s.near(la, dob, first, last, without_upn=without_upn) == expected
        assert s.same_names(dob, first, last) == [a for a in aliases if (a.date_of_birth, a.first, a.last) == (dob, first, last)]
        key = f"p:{la}{dob}{first}{last}"
        assert list(s.with_key(key)) == [a for a in aliases if a.person_key == key]
        assert list(s.aliases()) == sorted(aliases, key=lambda a: [x.person_key for x in aliases].index(a.person_key))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0, 1 << 40, snapshot_module._KEY_BITS & ~0xFF])), max_size=300))
def test_the_detail_index_gives_each_key_its_aliases_in_the_order_learnt_as_it_grows(entries):
    """Keys that differ only in their high bits start probing at the same slot; the table grows past 16 slots."""
    index = snapshot_module._DetailIndex()
    for row, (low, high) in enumerate(entries):
        index.add(high | low, row)
    for low in range(6):
        for high in (0, 1 << 40, snapshot_module._KEY_BITS & ~0xFF):
            assert index.rows(high | low) == [row for row, entry in enumerate(entries) if entry == (low, high)]
