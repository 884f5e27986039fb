"""One child, many sources: which child an intake event is about (contract: "One child, many sources").

Pure: `resolve(sighting, snapshot)` reads and updates a `Snapshot` (what the store knows about
the children that could match this batch's sightings, loaded once per batch through the
`ChildRepo` port) and says what changed. The rules, each the same whatever order the events
arrive in:

- A UPN identifies a child. Each (LA, date of birth, names) a child is seen with is an alias.
- A record without a UPN belongs to the "person child" of its exact alias (same LA, date of
  birth and normalised names). It counts as the child with a UPN that has that alias (an
  automatic link) when exactly one such child exists; with two or more, it stands alone and a
  person decides (a proposal against each): Signpost never guesses between namesakes. A later
  namesake undoes an automatic link made before it arrived.
- Proposed, never merged silently: two children with different UPNs and the same LA, date of
  birth and names (a temporary UPN and the permanent one); the same names and date of birth in
  another LA; name typos, swapped names, swapped or mistyped date parts, shortened first names
  (same LA).
- A person's decision wins: a confirmed link stands; a rejected or undone pair is never linked
  automatically again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from schemas import pseudonym
from schemas.pupil import person_key_of_parts, upn_key
from schemas.upn import is_temporary

EXACT = "exact match: LA, date of birth and names"
AMBIGUOUS = "more than one child has this LA, date of birth and names: a person decides"


# Child ids are keyed pseudonyms (schemas/pseudonym.py), like the keys they come from.
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


class Snapshot:
    """What identity resolution knows during one batch: every alias that can match the batch's
    sightings, the links of the children concerned, and the pairs a person ruled out. It learns
    the batch's news as `resolve` goes, so later sightings in the batch see earlier ones."""

    def __init__(self, aliases: Iterable[Alias] = (), links: dict[str, Link] | None = None, vetoes: Iterable[tuple[str, str]] = ()):
        self.children: set[str] = set()
        self.by_key: dict[str, dict[str, Alias]] = {}
        self.by_names: dict[tuple[date, str, str], dict[tuple[str, str], Alias]] = {}
        self.by_la_dob: dict[tuple[str, date], dict[tuple[str, str], Alias]] = {}
        self.by_la_names: dict[tuple[str, str, str], dict[tuple[str, str], Alias]] = {}
        # the same two indexes for records without a UPN only: what a sighting with a UPN is compared with
        self.upnless_by_la_dob: dict[tuple[str, date], dict[tuple[str, str], Alias]] = {}
        self.upnless_by_la_names: dict[tuple[str, str, str], dict[tuple[str, str], Alias]] = {}
        self.links: dict[str, Link] = dict(links or {})
        self.vetoes: set[frozenset[str]] = {frozenset(v) for v in vetoes}
        for alias in aliases:
            self.add(alias)

    def add(self, alias: Alias) -> bool:
        """Learn an alias; False if it was known."""
        self.children.add(alias.child_id)
        at_key = self.by_key.setdefault(alias.person_key, {})
        if alias.child_id in at_key:
            return False
        at_key[alias.child_id] = alias
        ref = (alias.child_id, alias.person_key)
        self.by_names.setdefault((alias.date_of_birth, alias.first, alias.last), {})[ref] = alias
        self.by_la_dob.setdefault((alias.la_code, alias.date_of_birth), {})[ref] = alias
        self.by_la_names.setdefault((alias.la_code, alias.first, alias.last), {})[ref] = alias
        if alias.upn is None:
            self.upnless_by_la_dob.setdefault((alias.la_code, alias.date_of_birth), {})[ref] = alias
            self.upnless_by_la_names.setdefault((alias.la_code, alias.first, alias.last), {})[ref] = alias
        return True

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
        return list({**by_dob.get((la_code, dob), {}), **by_names.get((la_code, first, last), {})}.values())


class ChildRepo(Protocol):
    """Loads the snapshot a batch's sightings need (an adapter over the store; an in-memory fake in tests)."""

    def snapshot(self, sightings: Sequence[Sighting]) -> Snapshot: ...


# ---------------------------------------------------------------- resolution


def resolve(sighting: Sighting, snapshot: Snapshot) -> Resolution:
    """The child this event is about, and what identity learnt from it."""
    alias = alias_of(sighting)
    created = sighting.child_id not in snapshot.children
    is_new = snapshot.add(alias)
    result = Resolution(sighting.child_id, created, alias if is_new else None)
    if is_new:
        result.proposals += _proposals_for(alias, snapshot)
    changes, proposals = relink(alias.person_key, snapshot)
    result.links += changes
    result.proposals += proposals
    return result


def relink(person_key: str, snapshot: Snapshot) -> tuple[list[LinkChange], list[Proposal]]:
    """Where the person child of this alias counts now: the one child with a UPN that has the alias,
    unless there are several (a person decides) or a person ruled the pair out."""
    pid = child_id_for_person(person_key)
    if pid not in snapshot.children or snapshot.link(pid).kind == "person":
        return [], []
    me = snapshot.by_key[person_key][pid]
    with_upn = sorted(a.child_id for a in snapshot.by_key.get(person_key, {}).values() if a.upn)
    allowed = [c for c in with_upn if not snapshot.vetoed(pid, c)]
    proposals = []
    if len(with_upn) > 1:
        proposals = [_proposal(me, snapshot.by_key[person_key][c], AMBIGUOUS) for c in allowed]
    target = allowed[0] if len(with_upn) == 1 and allowed else None
    current = snapshot.link(pid)
    if target == current.target:
        return [], proposals
    snapshot.links[pid] = Link(target, "auto" if target else None)
    reason = EXACT if target else (AMBIGUOUS if len(with_upn) > 1 else "no child with a UPN has these details any more")
    return [LinkChange(pid, target, current.target, "auto", reason)], proposals


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's decision on a pair, to apply: confirm | reject | undo."""

    source: str
    target: str
    decision: str
    by: str


def apply_decision(decision: Decision, snapshot: Snapshot, person_keys: Iterable[str] = ()) -> list[LinkChange]:
    """A person confirmed a pair (source counts as target), or ruled it out (reject, undo).
    `person_keys`: the aliases of the source, to re-check automatic links after a pair is ruled out."""
    pair = frozenset((decision.source, decision.target))
    current = snapshot.link(decision.source)
    changes: list[LinkChange] = []
    if decision.decision == "confirm":
        snapshot.vetoes.discard(pair)
        if current != Link(decision.target, "person"):
            snapshot.links[decision.source] = Link(decision.target, "person")
            changes.append(LinkChange(decision.source, decision.target, current.target, "person", f"confirmed by {decision.by}"))
        return changes
    snapshot.vetoes.add(pair)
    if current.target == decision.target:
        snapshot.links[decision.source] = Link()
        changes.append(LinkChange(decision.source, None, current.target, "person", f"{decision.decision} by {decision.by}"))
    for key in person_keys:
        changes += relink(key, snapshot)[0]
    return changes


# ---------------------------------------------------------------- proposals


def _rank(alias: Alias) -> int:
    """Which of two records is more likely the one to keep: a permanent UPN, then a temporary one."""
    if alias.upn is None:
        return 0
    return 1 if is_temporary(alias.upn) else 2


def _proposal(a: Alias, b: Alias, reason: str) -> Proposal:
    source, target = sorted((a, b), key=lambda x: (_rank(x), x.child_id))
    return Proposal(source.child_id, target.child_id, reason, source.la_code, target.la_code)


def reason_for(a: Alias, b: Alias) -> str | None:
    """Why two aliases of different children may be one child, or None. Symmetric."""
    if a.child_id == b.child_id:
        return None
    same_names = (a.date_of_birth, a.first, a.last) == (b.date_of_birth, b.first, b.last)
    if same_names and a.upn and b.upn:
        temporary = " (one is temporary)" if is_temporary(a.upn) != is_temporary(b.upn) else ""
        return f"two UPNs with the same names and date of birth{temporary}"
    if same_names and a.la_code != b.la_code:
        return "the same names and date of birth in another LA"
    if a.upn and b.upn:
        return None  # two UPNs are two children unless their details are identical
    return near_match(a, b)


def _proposals_for(alias: Alias, snapshot: Snapshot) -> list[Proposal]:
    others: dict[tuple[str, str], Alias] = dict(snapshot.by_names.get((alias.date_of_birth, alias.first, alias.last), {}))
    # two UPNs are two children unless their details are identical (found by names above): a record
    # with a UPN is compared for near matches with records without one only
    near = snapshot.near(alias.la_code, alias.date_of_birth, alias.first, alias.last, without_upn=alias.upn is not None)
    others.update({(a.child_id, a.person_key): a for a in near})
    out: dict[str, Proposal] = {}
    my_root = snapshot.root(alias.child_id)
    for other in others.values():
        if other.child_id == alias.child_id or snapshot.root(other.child_id) == my_root:
            continue
        if alias.upn is None and other.upn is not None and other.person_key == alias.person_key:
            continue  # the exact match: `relink` decides
        if other.upn is None and alias.upn is not None and other.person_key == alias.person_key:
            continue
        reason = reason_for(alias, other)
        if reason and not snapshot.vetoed(alias.child_id, other.child_id):
            proposal = _proposal(alias, other, reason)
            out.setdefault(proposal.id, proposal)
    return list(out.values())


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein (adjacent transpositions count 1), stopping early past `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def near_match(a: Alias, b: Alias) -> str | None:
    """Why two aliases in one LA may be the same child despite a difference, or None (symmetric).
    Identical details are not a near match: they are an exact match, or two UPNs."""
    if a.la_code != b.la_code or a.child_id == b.child_id:
        return None
    same_names = (a.first, a.last) == (b.first, b.last)
    if a.date_of_birth == b.date_of_birth:
        if same_names:
            return None
        if (a.first, a.last) == (b.last, b.first):
            return "first and last names swapped"
        if edit_distance(f"{a.first} {a.last}", f"{b.first} {b.last}") <= 2:
            return "names differ by a typo"
        if a.last == b.last and (a.first.startswith(b.first) or b.first.startswith(a.first)):
            return "one first name is a shortened form of the other"
        return None
    if same_names and _dob_typo(a.date_of_birth, b.date_of_birth):
        return "dates of birth differ by a typo"
    return None


def _dob_typo(a: date, b: date) -> bool:
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return True  # day and month swapped
    differing = sum(x != y for x, y in ((a.year, b.year), (a.month, b.month), (a.day, b.day)))
    return differing == 1
