"""What identity resolution knows during one batch (`Snapshot`), and the port that loads it (`ChildRepo`)."""

from __future__ import annotations

import itertools
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Protocol

from services.alerts.domain.aliases import Alias, Link, Sighting

# The person-key index holds one alias under a key, or from the second on a tuple of them in the order learnt: most
# keys have one alias (a one-entry list was 88 bytes more), and a tuple has no spare room (a list
# appended to does). Keys hold a few aliases, so copying the tuple to add one costs little.
Held = Alias | tuple[Alias, ...]

# The detail indexes are keyed by a hash of the details; what a key holds is checked against the
# details when read, so two details with one hash share a key without ever being taken for each other.
# (A str's hash differs between processes: the keys never leave this one.)
_KEY_BITS = (1 << 60) - 1


def _key(*details: object) -> int:
    return hash(details) & _KEY_BITS


class _DetailIndex:
    """Detail hash -> the numbers of the aliases with it (their order in `Snapshot._all`): append-only, in two
    flat arrays with linear probing. An entry is ~25 bytes; in a dict it was ~80 (an int key object and the
    entry), three times per alias: identity is the one part of the stage's state kept for every child."""

    __slots__ = ("_keys", "_rows", "_used")

    def __init__(self) -> None:
        self._keys = array("q", bytes(8 * 16))  # the key + 1; 0 is an empty slot
        self._rows = array("i", bytes(4 * 16))
        self._used = 0

    def add(self, key: int, row: int) -> None:
        if 3 * (self._used + 1) > 2 * len(self._keys):  # at most two thirds full: probes stay short
            self._grow()
        self._put(key + 1, row)
        self._used += 1

    def rows(self, key: int) -> list[int]:
        """The aliases with this key, in the order learnt."""
        keys, mask, wanted = self._keys, len(self._keys) - 1, key + 1
        i, found = wanted & mask, []
        while stored := keys[i]:
            if stored == wanted:
                found.append(self._rows[i])
            i = (i + 1) & mask
        return sorted(found) if len(found) > 1 else found

    def _put(self, stored: int, row: int) -> None:
        keys, mask = self._keys, len(self._keys) - 1
        i = stored & mask
        while keys[i]:
            i = (i + 1) & mask
        keys[i], self._rows[i] = stored, row

    def _grow(self) -> None:
        entries = [(stored, row) for stored, row in zip(self._keys, self._rows, strict=True) if stored]
        self._keys, self._rows = array("q", bytes(16 * len(self._keys))), array("i", bytes(8 * len(self._rows)))
        for stored, row in entries:
            self._put(stored, row)


def _put(index: dict[str, Held], key: str, alias: Alias) -> None:
    held: Held | None = index.get(key)
    if held is None:
        index[key] = alias
    elif isinstance(held, tuple):
        index[key] = held + (alias,)
    else:
        index[key] = (held, alias)


def _held(held: Held | None) -> Sequence[Alias]:
    if held is None:
        return ()
    return held if isinstance(held, tuple) else (held,)


class Snapshot:
    """What identity resolution knows during one batch: every alias that can match the batch's
    sightings, the links of the children concerned, and the pairs a person ruled out. It learns
    the batch's news as `resolve` goes, so later sightings in the batch see earlier ones.

    A worker that owns every partition keeps one between batches with every child's aliases, so an
    alias is held once, shared by the indexes, and the parts many children have in common (LA codes,
    names, dates of birth) are one object each."""

    def __init__(self, aliases: Iterable[Alias] = (), links: dict[str, Link] | None = None, vetoes: Iterable[tuple[str, str]] = ()) -> None:
        self.children: set[str] = set()
        self._by_key: dict[str, Held] = {}  # person key -> the aliases with it (one per child)
        # the aliases by details, each alias once (`add` learns an alias once), by their number in `_all`
        self._all: list[Alias] = []
        self._by_names = _DetailIndex()  # date of birth, first, last
        self._by_la_dob = _DetailIndex()  # LA, date of birth
        self._by_la_names = _DetailIndex()  # LA, first, last
        self._dates: dict[date, date] = {}  # one object per date of birth
        self.links: dict[str, Link] = dict(links or {})
        self.vetoes: set[frozenset[str]] = {frozenset(v) for v in vetoes}
        for alias in aliases:
            self.add(alias)

    def add(self, alias: Alias) -> bool:
        """Learn an alias; False if it was known."""
        self.children.add(alias.child_id)
        if any(a.child_id == alias.child_id for a in self.with_key(alias.person_key)):
            return False
        alias = self._shared(alias)
        _put(self._by_key, alias.person_key, alias)
        row = len(self._all)
        self._all.append(alias)
        self._by_names.add(_key(alias.date_of_birth, alias.first, alias.last), row)
        self._by_la_dob.add(_key(alias.la_code, alias.date_of_birth), row)
        self._by_la_names.add(_key(alias.la_code, alias.first, alias.last), row)
        return True

    def _shared(self, alias: Alias) -> Alias:
        """The alias with its LA code, names and date of birth as the objects other aliases hold (a row
        read from the store brings new ones each time)."""
        dob = self._dates.setdefault(alias.date_of_birth, alias.date_of_birth)
        return Alias(alias.child_id, alias.person_key, sys.intern(alias.la_code), dob, sys.intern(alias.first), sys.intern(alias.last), alias.upn)

    def aliases(self) -> Iterator[Alias]:
        """Every alias, by person key in the order learnt."""
        for held in self._by_key.values():
            yield from _held(held)

    def with_key(self, person_key: str) -> Sequence[Alias]:
        """The aliases with this person key, in the order learnt."""
        return _held(self._by_key.get(person_key))

    def alias(self, person_key: str, child_id: str) -> Alias:
        """The child's alias with this person key (it must have one)."""
        return next(a for a in self.with_key(person_key) if a.child_id == child_id)

    def same_names(self, dob: date, first: str, last: str) -> list[Alias]:
        """Aliases in any LA with this date of birth and these names, in the order learnt."""
        return [a for a in self._at(self._by_names, _key(dob, first, last)) if a.date_of_birth == dob and a.first == first and a.last == last]

    def _at(self, index: _DetailIndex, key: int) -> list[Alias]:
        return [self._all[row] for row in index.rows(key)]

    def link(self, child_id: str) -> Link:
        return self.links.get(child_id, Link())

    def root(self, child_id: str) -> str:
        seen = {child_id}
        while (target := self.link(child_id).target) is not None and target not in seen:
            seen.add(target)
            child_id = target
        return child_id

    def vetoed(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.vetoes

    def near(self, la_code: str, dob: date, first: str, last: str, *, without_upn: bool = False) -> list[Alias]:
        """Aliases in the LA with the same date of birth or the same names (`without_upn`: only records without one)."""
        by_dob = [a for a in self._at(self._by_la_dob, _key(la_code, dob)) if a.la_code == la_code and a.date_of_birth == dob]
        by_names = [a for a in self._at(self._by_la_names, _key(la_code, first, last)) if a.la_code == la_code and a.first == first and a.last == last]
        # records without a UPN filtered here, not indexed a second time: the same aliases in the same order
        both = (a for a in itertools.chain(by_dob, by_names) if not without_upn or a.upn is None)
        return list({(a.child_id, a.person_key): a for a in both}.values())  # an alias in both indexes once


class ChildRepo(Protocol):
    """Loads the snapshot a batch's sightings need (an adapter over the store; an in-memory fake in tests)."""

    def snapshot(self, sightings: Sequence[Sighting]) -> Snapshot: ...
