"""Identity as data: who an intake event says the child is (`Sighting`), the (LA, date of birth, names)
a child is seen with (`Alias`), where a child counts (`Link`), what linking changed or proposes, and a
person's decision on a pair. Child ids are keyed pseudonyms, like the keys they come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from schemas import pseudonym
from schemas.pupil import person_key_of_parts, upn_key


def child_id_for_upn(upn: str) -> str:
    return "ch_" + pseudonym.keyed("child", upn_key(upn), 16)


def child_id_for_person(person_key: str) -> str:
    return "ch_" + pseudonym.keyed("child", person_key, 16)


def candidate_id(a: str, b: str) -> str:
    """One id per pair of children, whichever order they were proposed in."""
    return "cand_" + pseudonym.keyed("candidate", "|".join(sorted((a, b))), 16)


@dataclass(frozen=True, slots=True)
class Sighting:
    """Who an intake event says the child is (names already normalised)."""

    event_id: str
    upn: str | None
    la_code: str
    date_of_birth: date
    first: str
    last: str
    person_key: str = field(init=False)  # both hashed once: resolving a sighting reads them many times
    child_id: str = field(init=False)

    def __post_init__(self) -> None:
        key = person_key_of_parts(self.la_code, self.date_of_birth, self.first, self.last)
        object.__setattr__(self, "person_key", key)
        object.__setattr__(self, "child_id", child_id_for_upn(self.upn) if self.upn else child_id_for_person(key))


@dataclass(frozen=True, slots=True)
class Alias:
    """One (LA, date of birth, names) a child has been seen with."""

    child_id: str
    person_key: str
    la_code: str
    date_of_birth: date
    first: str
    last: str
    upn: str | None  # the child's UPN; None for a person child


def alias_of(sighting: Sighting) -> Alias:
    return Alias(sighting.child_id, sighting.person_key, sighting.la_code, sighting.date_of_birth, sighting.first, sighting.last, sighting.upn)


@dataclass(frozen=True, slots=True)
class Link:
    """Where a child counts: `target` (None: it stands alone), and who decided (auto | person)."""

    target: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class LinkChange:
    source: str
    target: str | None  # None: the link was undone
    previous: str | None
    kind: str  # auto | person
    reason: str


@dataclass(frozen=True, slots=True)
class Proposal:
    """`source` may be `target`: a person decides (confirming counts source as target)."""

    source: str
    target: str
    reason: str
    source_la: str
    target_la: str

    @property
    def id(self) -> str:
        return candidate_id(self.source, self.target)


@dataclass
class Resolution:
    child_id: str
    created: bool  # the first event about this child
    alias: Alias | None  # a new alias of the child (to store), else None
    links: list[LinkChange] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's decision on a pair, to apply: confirm | reject | undo."""

    source: str
    target: str
    decision: str
    by: str
