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

Here: resolving a sighting and applying a person's decision. The data they work on is in
`aliases.py`, the batch's knowledge in `snapshot.py`, and why two records may be one child in
`proposals.py`; the names are imported from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.alerts.domain.aliases import (
    Alias,
    Decision,
    Link,
    LinkChange,
    Proposal,
    Resolution,
    Sighting,
    alias_of,
    candidate_id,
    child_id_for_person,
    child_id_for_upn,
)
from services.alerts.domain.proposals import edit_distance, near_match, proposal, proposals_for, reason_for
from services.alerts.domain.snapshot import ChildRepo, Snapshot

# The vocabulary of identity, imported from here by the child stage and the tests.
__all__ = [
    "AMBIGUOUS", "EXACT", "Alias", "ChildRepo", "Decision", "Link", "LinkChange", "Proposal", "Resolution", "Sighting", "Snapshot",
    "alias_of", "apply_decision", "candidate_id", "child_id_for_person", "child_id_for_upn", "edit_distance", "near_match",
    "reason_for", "relink", "resolve",
]  # fmt: skip

EXACT = "exact match: LA, date of birth and names"
AMBIGUOUS = "more than one child has this LA, date of birth and names: a person decides"


def resolve(sighting: Sighting, snapshot: Snapshot) -> Resolution:
    """The child this event is about, and what identity learnt from it."""
    alias = alias_of(sighting)
    created = sighting.child_id not in snapshot.children
    is_new = snapshot.add(alias)
    result = Resolution(sighting.child_id, created, alias if is_new else None)
    if is_new:
        result.proposals += proposals_for(alias, snapshot)
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
    me = snapshot.alias(person_key, pid)
    with_upn = sorted(a.child_id for a in snapshot.with_key(person_key) if a.upn)
    allowed = [c for c in with_upn if not snapshot.vetoed(pid, c)]
    proposals = []
    if len(with_upn) > 1:
        proposals = [proposal(me, snapshot.alias(person_key, c), AMBIGUOUS) for c in allowed]
    target = allowed[0] if len(with_upn) == 1 and allowed else None
    current = snapshot.link(pid)
    if target == current.target:
        return [], proposals
    snapshot.links[pid] = Link(target, "auto" if target else None)
    reason = EXACT if target else (AMBIGUOUS if len(with_upn) > 1 else "no child with a UPN has these details any more")
    return [LinkChange(pid, target, current.target, "auto", reason)], proposals


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
