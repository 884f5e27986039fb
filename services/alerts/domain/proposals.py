"""Proposals: why two records of different children may be one child (never merged silently: a person
decides). Two UPNs with the same details, the same details in another LA, and near matches in one LA:
name typos, swapped names, a shortened first name, a mistyped or swapped date of birth."""

from __future__ import annotations

from datetime import date

from schemas.upn import is_temporary
from services.alerts.domain.aliases import Alias, Proposal
from services.alerts.domain.snapshot import Snapshot


def rank(alias: Alias) -> int:
    """Which of two records is more likely the one to keep: a permanent UPN, then a temporary one."""
    if alias.upn is None:
        return 0
    return 1 if is_temporary(alias.upn) else 2


def proposal(a: Alias, b: Alias, reason: str) -> Proposal:
    source, target = sorted((a, b), key=lambda x: (rank(x), x.child_id))
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


def proposals_for(alias: Alias, snapshot: Snapshot) -> list[Proposal]:
    same = snapshot.same_names(alias.date_of_birth, alias.first, alias.last)
    others: dict[tuple[str, str], Alias] = {(a.child_id, a.person_key): a for a in same}
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
            found = proposal(alias, other, reason)
            out.setdefault(found.id, found)
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
