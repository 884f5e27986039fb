"""One child, many sources: exact links and near matches (contract: "One child, many sources").

UPN first. A record without a UPN links to the child with the same LA, date of birth and
names, ignoring case, accents, extra spaces and hyphens. A near match (a typo, first and
last names swapped, day and month of birth swapped) is only ever proposed: a person
confirms or rejects it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from schemas.pupil import normalise_name, person_key_of_parts, upn_key


@dataclass(frozen=True, slots=True)
class Identity:
    """What matching looks at."""

    child_id: str
    la_code: str
    date_of_birth: date
    first: str  # normalised
    last: str  # normalised
    upn: str | None


def child_id_for_upn(upn: str) -> str:
    return "ch_" + hashlib.sha256(upn_key(upn).encode()).hexdigest()[:16]


def child_id_for_person(person: str) -> str:
    return "ch_" + hashlib.sha256(person.encode()).hexdigest()[:16]


def identity_of(child_id: str, la_code: str, pupil) -> Identity:  # noqa: ANN001 - a schemas.pupil.Pupil or the same shape
    return Identity(child_id, la_code, pupil.date_of_birth, normalise_name(pupil.first_name), normalise_name(pupil.last_name), pupil.upn)


def person_key_of(identity: Identity) -> str:
    return person_key_of_parts(identity.la_code, identity.date_of_birth, identity.first, identity.last)


class UpnlessIndex:
    """Children no source has given a UPN for, by person key, and bucketed as near_match can match
    them (same LA and date of birth, or same LA and names): a new child is compared with its
    bucket-mates only, never with every child without a UPN."""

    def __init__(self, identities: list[Identity] = ()):  # type: ignore[assignment]
        self.by_key: dict[str, Identity] = {}
        self._by_dob: dict[tuple[str, date], set[str]] = {}
        self._by_names: dict[tuple[str, str, str], set[str]] = {}
        for ident in identities:
            self.add(ident)

    def add(self, ident: Identity) -> None:
        key = person_key_of(ident)
        self.by_key[key] = ident
        self._by_dob.setdefault((ident.la_code, ident.date_of_birth), set()).add(key)
        self._by_names.setdefault((ident.la_code, ident.first, ident.last), set()).add(key)

    def pop(self, key: str) -> Identity | None:
        ident = self.by_key.pop(key, None)
        if ident is not None:
            self._by_dob.get((ident.la_code, ident.date_of_birth), set()).discard(key)
            self._by_names.get((ident.la_code, ident.first, ident.last), set()).discard(key)
        return ident

    def neighbours(self, ident: Identity) -> list[Identity]:
        by_dob = self._by_dob.get((ident.la_code, ident.date_of_birth))
        by_names = self._by_names.get((ident.la_code, ident.first, ident.last))
        if not by_dob and not by_names:
            return []
        return [self.by_key[k] for k in (by_dob or set()) | (by_names or set())]


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


def near_match(new: Identity, known: Identity) -> str | None:
    """Why `known` may be the same child as `new`, or None. Exact matches are not near matches."""
    if new.la_code != known.la_code or new.child_id == known.child_id:
        return None
    same_names = (new.first, new.last) == (known.first, known.last)
    if new.date_of_birth == known.date_of_birth:
        if same_names:
            return None  # exact: linked, not proposed
        if (new.first, new.last) == (known.last, known.first):
            return "first and last names swapped"
        if edit_distance(f"{new.first} {new.last}", f"{known.first} {known.last}") <= 2:
            return "names differ by a typo"
        if new.last == known.last and (new.first.startswith(known.first) or known.first.startswith(new.first)):
            return "one first name is a shortened form of the other"
        return None
    if same_names and _dob_typo(new.date_of_birth, known.date_of_birth):
        return "dates of birth differ by a typo"
    return None


def _dob_typo(a: date, b: date) -> bool:
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return True  # day and month swapped
    differing = sum(x != y for x, y in ((a.year, b.year), (a.month, b.month), (a.day, b.day)))
    return differing == 1
