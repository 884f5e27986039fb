"""The official in-memory fakes of the ports the domain code reads through (style.md: fakes over mocks)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from services.alerts.domain import linking


class InMemoryChildRepo:
    """linking.ChildRepo over plain dicts: every alias, link and veto it was given or learnt.

    `snapshot()` hands out a copy, as the store adapter builds a fresh one per batch; `save()` keeps
    what a batch learnt (what committing the batch's writes does)."""

    def __init__(self, aliases: Iterable[linking.Alias] = (), links: dict[str, linking.Link] | None = None, vetoes: Iterable[tuple[str, str]] = ()):
        self.known = linking.Snapshot(aliases, links, vetoes)

    def snapshot(self, sightings: Sequence[linking.Sighting] = ()) -> linking.Snapshot:
        return copy.deepcopy(self.known)

    def save(self, snapshot: linking.Snapshot) -> None:
        self.known = copy.deepcopy(snapshot)
