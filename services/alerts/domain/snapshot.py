"""What identity resolution knows during one batch (`Snapshot`), and the port that loads it (`ChildRepo`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Protocol

from services.alerts.domain.aliases import Alias, Link, Sighting


class Snapshot:
    """What identity resolution knows during one batch: every alias that can match the batch's
    sightings, the links of the children concerned, and the pairs a person ruled out. It learns
    the batch's news as `resolve` goes, so later sightings in the batch see earlier ones."""

    def __init__(self, aliases: Iterable[Alias] = (), links: dict[str, Link] | None = None, vetoes: Iterable[tuple[str, str]] = ()) -> None:
        self.children: set[str] = set()
        self.by_key: dict[str, list[Alias]] = {}  # person key -> the aliases with it (one per child; most keys have one)
        # indexes of the aliases by details, each alias once (`add` learns an alias once): lists, in the order
        # learnt, because most keys have one alias and a one-entry dict is 224 bytes against a list's 64
        self.by_names: dict[tuple[date, str, str], list[Alias]] = {}
        self.by_la_dob: dict[tuple[str, date], list[Alias]] = {}
        self.by_la_names: dict[tuple[str, str, str], list[Alias]] = {}
        # the same two indexes for records without a UPN only: what a sighting with a UPN is compared with
        self.upnless_by_la_dob: dict[tuple[str, date], list[Alias]] = {}
        self.upnless_by_la_names: dict[tuple[str, str, str], list[Alias]] = {}
        self.links: dict[str, Link] = dict(links or {})
        self.vetoes: set[frozenset[str]] = {frozenset(v) for v in vetoes}
        for alias in aliases:
            self.add(alias)

    def add(self, alias: Alias) -> bool:
        """Learn an alias; False if it was known."""
        self.children.add(alias.child_id)
        at_key = self.by_key.setdefault(alias.person_key, [])
        if any(a.child_id == alias.child_id for a in at_key):
            return False
        at_key.append(alias)
        self.by_names.setdefault((alias.date_of_birth, alias.first, alias.last), []).append(alias)
        self.by_la_dob.setdefault((alias.la_code, alias.date_of_birth), []).append(alias)
        self.by_la_names.setdefault((alias.la_code, alias.first, alias.last), []).append(alias)
        if alias.upn is None:
            self.upnless_by_la_dob.setdefault((alias.la_code, alias.date_of_birth), []).append(alias)
            self.upnless_by_la_names.setdefault((alias.la_code, alias.first, alias.last), []).append(alias)
        return True

    def aliases(self) -> Iterator[Alias]:
        """Every alias, by person key in the order learnt."""
        for at_key in self.by_key.values():
            yield from at_key

    def with_key(self, person_key: str) -> Sequence[Alias]:
        """The aliases with this person key, in the order learnt."""
        return self.by_key.get(person_key, ())

    def alias(self, person_key: str, child_id: str) -> Alias:
        """The child's alias with this person key (it must have one)."""
        return next(a for a in self.with_key(person_key) if a.child_id == child_id)

    def same_names(self, dob: date, first: str, last: str) -> list[Alias]:
        """Aliases in any LA with this date of birth and these names, in the order learnt."""
        return list(self.by_names.get((dob, first, last), ()))

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
        by_dob, by_names = (self.upnless_by_la_dob, self.upnless_by_la_names) if without_upn else (self.by_la_dob, self.by_la_names)
        both = itertools.chain(by_dob.get((la_code, dob), ()), by_names.get((la_code, first, last), ()))
        return list({(a.child_id, a.person_key): a for a in both}.values())  # an alias in both indexes once


class ChildRepo(Protocol):
    """Loads the snapshot a batch's sightings need (an adapter over the store; an in-memory fake in tests)."""

    def snapshot(self, sightings: Sequence[Sighting]) -> Snapshot: ...
