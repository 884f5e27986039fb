"""Who signed in: the identity provider's claims and groups → Signpost roles, agency and LAs.

The LA's provider (Entra ID, Okta, Keycloak...) sends a `groups` claim; the groups file maps each
group to what it grants. A person in no mapped group may not sign in: an unknown group grants
nothing. Pure functions, so the mapping is tested without a provider (tests/unit/web).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.common.auth import AGENCIES, PERSON_ROLES

DEV_GROUPS = Path(__file__).parent / "groups.dev.yaml"


@dataclass(frozen=True)
class Grant:
    roles: frozenset[str]
    agency: str | None = None
    la_codes: frozenset[str] | None = None  # None: every LA


@dataclass(frozen=True)
class Person:
    sub: str
    name: str
    roles: frozenset[str]
    agency: str | None
    la_codes: frozenset[str] | None

    @property
    def is_team(self) -> bool:
        return "inclusion_team" in self.roles or "admin" in self.roles

    @property
    def is_agency(self) -> bool:
        return "agency" in self.roles and self.agency is not None

    def as_session(self) -> dict[str, Any]:
        return {"sub": self.sub, "name": self.name, "roles": sorted(self.roles), "agency": self.agency,
                "la_codes": sorted(self.la_codes) if self.la_codes is not None else None}

    @classmethod
    def from_session(cls, doc: dict[str, Any]) -> Person:
        las = doc.get("la_codes")
        return cls(doc["sub"], doc["name"], frozenset(doc["roles"]), doc.get("agency"), frozenset(las) if las is not None else None)


class GroupsFileError(ValueError):
    pass


def parse_groups(text: str, source: str = "groups file") -> dict[str, Grant]:
    doc = yaml.safe_load(text) or {}
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, dict):
        raise GroupsFileError(f"{source}: expected a top-level 'groups:' mapping")
    out: dict[str, Grant] = {}
    for name, spec in groups.items():
        roles = frozenset((spec or {}).get("roles") or [])
        if not roles or not roles <= PERSON_ROLES:
            raise GroupsFileError(f"{source}: group {name}: roles must be some of {', '.join(sorted(PERSON_ROLES))}")
        agency = spec.get("agency")
        if "agency" in roles and agency not in AGENCIES:
            raise GroupsFileError(f"{source}: group {name}: role agency needs agency: one of {', '.join(AGENCIES)}")
        las = spec.get("la_codes")
        out[str(name)] = Grant(roles, agency, frozenset(str(c) for c in las) if las is not None else None)
    return out


def load_groups(path: Path | None) -> dict[str, Grant]:
    target = path or DEV_GROUPS
    return parse_groups(target.read_text(), str(target))


def person_from_claims(claims: dict[str, Any], groups: dict[str, Grant]) -> Person | None:
    """The person the claims describe, with every mapped group's grants joined; None if none maps.

    One agency per person: a person mapped to two agencies gets none (a configuration error
    should not widen what anyone sees)."""
    names = claims.get("groups") or []
    grants = [groups[g] for g in (names if isinstance(names, list) else [names]) if g in groups]
    if not grants or not claims.get("sub"):
        return None
    roles = frozenset().union(*(g.roles for g in grants))
    agencies = {g.agency for g in grants if g.agency}
    agency = agencies.pop() if len(agencies) == 1 else None
    if agency is None:
        roles -= {"agency"}
    las: frozenset[str] | None = None
    if all(g.la_codes is not None for g in grants):
        las = frozenset().union(*(g.la_codes or frozenset() for g in grants))
    if not roles:
        return None
    name = str(claims.get("name") or claims.get("preferred_username") or claims.get("email") or claims["sub"])
    return Person(str(claims["sub"]), name, roles, agency, las)
