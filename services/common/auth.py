"""Bearer tokens and roles (contract: Authentication and roles).

The tokens file is YAML; each entry has a plain `token` or its `sha256` digest. The file
is re-read when it changes, so tokens rotate without a restart (docs/runbook.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from fastapi import Depends, Request

from services.common.problems import ProblemError

log = logging.getLogger(__name__)

Role = Literal["intake", "inclusion_team", "agency", "ops", "admin", "web"]
ROLES: tuple[Role, ...] = ("intake", "inclusion_team", "agency", "ops", "admin", "web")
# The web pages' own token (role `web`) speaks for the person signed in to them, named in this header;
# it grants nothing by itself, and no other token's header is honoured (docs/design.md: Pages).
PERSON_HEADER = "x-signpost-person"
PERSON_ROLES = frozenset({"inclusion_team", "agency", "ops", "admin"})
AGENCIES = ("ias", "exclusions_officer", "reu", "nas", "virtual_school", "ace", "coram")  # schemas.codes.Agency


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str]
    agency: str | None = None
    la_codes: frozenset[str] | None = None  # None: every LA

    def has(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles

    def sees_la(self, la_code: str | None) -> bool:
        return self.la_codes is None or "admin" in self.roles or la_code in self.la_codes

    def sees_any(self, la_codes: Iterable[str | None]) -> bool:
        """A record visible to several LAs (each with a duty towards the child): one of them is enough."""
        return self.la_codes is None or "admin" in self.roles or any(la in self.la_codes for la in la_codes)


class TokensFileError(ValueError):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_tokens(text: str, source: str = "tokens file") -> dict[str, Principal]:
    """Digest → principal. Raises TokensFileError naming the bad entry."""
    doc = yaml.safe_load(text) or {}
    entries = doc.get("tokens") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise TokensFileError(f"{source}: expected a top-level 'tokens:' list")
    out: dict[str, Principal] = {}
    for i, entry in enumerate(entries):
        where = f"{source}: tokens[{i}]"
        if not isinstance(entry, dict):
            raise TokensFileError(f"{where}: expected a mapping")
        digest = entry.get("sha256") or (_digest(str(entry["token"])) if entry.get("token") else None)
        if not digest:
            raise TokensFileError(f"{where}: needs 'token' or 'sha256'")
        roles = entry.get("roles") or []
        bad = [r for r in roles if r not in ROLES]
        if not roles or bad:
            raise TokensFileError(f"{where}: roles must be a non-empty list of {', '.join(ROLES)}; got {roles}")
        agency = entry.get("agency")
        if "agency" in roles and agency not in AGENCIES:
            raise TokensFileError(f"{where}: role agency needs agency: one of {', '.join(AGENCIES)}")
        las = entry.get("la_codes")
        out[str(digest).lower()] = Principal(
            name=str(entry.get("principal") or f"token-{i}"),
            roles=frozenset(roles),
            agency=agency,
            la_codes=frozenset(str(c) for c in las) if las is not None else None,
        )
    return out


class TokenRegistry:
    """Looks tokens up by digest; reloads the file when its mtime changes (checked at most once a second)."""

    def __init__(self, path: Path | None, tokens: dict[str, Principal] | None = None) -> None:
        self.path = path
        self._tokens = tokens or {}
        self._mtime = 0.0
        self._checked = 0.0
        self._lock = threading.Lock()
        if path is not None:
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        mtime = os.stat(self.path).st_mtime
        self._tokens = parse_tokens(self.path.read_text(), str(self.path))
        self._mtime = mtime

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._checked < 1.0:
            return
        with self._lock:
            self._checked = now
            try:
                if os.stat(self.path).st_mtime != self._mtime:
                    self._load()
            except (OSError, TokensFileError, yaml.YAMLError) as exc:  # keep the last good tokens, and say so
                # the class only: a YAML error's message may quote the file, tokens and all
                log.warning("tokens file not reloaded; the last good tokens stay in force", extra={"error": type(exc).__name__})

    def lookup(self, token: str) -> Principal | None:
        self._maybe_reload()
        return self._tokens.get(_digest(token))


def person_header(name: str, roles: Iterable[str], agency: str | None, la_codes: Iterable[str] | None) -> str:
    """What the web pages send for the signed-in person: base64url JSON (names need not be Latin-1)."""
    doc = {"name": name, "roles": sorted(roles), "agency": agency, "la_codes": sorted(la_codes) if la_codes is not None else None}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def acting_for(principal: Principal, header: str | None) -> Principal:
    """The person a `web` token names, within that token's own LAs; any other token stays itself.

    A malformed header is a 401: the pages sent something they should not have."""
    if not header or "web" not in principal.roles:
        return principal
    try:
        doc = json.loads(base64.urlsafe_b64decode(header.encode()))
        roles = frozenset(str(r) for r in doc["roles"]) & PERSON_ROLES
        name, agency, las = str(doc["name"]), doc.get("agency"), doc.get("la_codes")
    except (ValueError, KeyError, TypeError) as exc:
        raise ProblemError(401, "Unauthorized", f"malformed {PERSON_HEADER} header") from exc
    if "agency" in roles and agency not in AGENCIES:
        raise ProblemError(401, "Unauthorized", f"{PERSON_HEADER}: role agency needs an agency")
    person_las = frozenset(str(c) for c in las) if las is not None else None
    if principal.la_codes is not None:
        person_las = principal.la_codes if person_las is None else person_las & principal.la_codes
    return Principal(name=f"person:{name}"[:100], roles=roles, agency=agency if "agency" in roles else None, la_codes=person_las)


def authorize(request: Request, *roles: str) -> Principal:
    """For hot paths without dependency injection: the caller's principal, if it holds one of `roles`."""
    principal = request.scope.get("principal") or _lookup(request)
    if not any(principal.has(r) for r in roles):
        raise ProblemError(403, "Forbidden", f"this needs one of the roles: {', '.join(roles)}")
    return principal


async def bearer(request: Request) -> Principal:  # async: no threadpool hop per request
    return request.scope.get("principal") or _lookup(request)


def _lookup(request: Request) -> Principal:
    registry: TokenRegistry = request.app.state.tokens
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(401, "Unauthorized", "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"})
    principal = registry.lookup(token.strip())
    if principal is None:
        raise ProblemError(401, "Unauthorized", "unknown token", headers={"WWW-Authenticate": "Bearer"})
    principal = acting_for(principal, request.headers.get(PERSON_HEADER))
    request.state.principal = principal
    return principal


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller must hold one of `roles` (admin holds them all)."""

    async def dependency(principal: Annotated[Principal, Depends(bearer)]) -> Principal:
        if not any(principal.has(r) for r in roles):
            raise ProblemError(403, "Forbidden", f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return dependency


@dataclass
class DevTokens:
    """Tokens `make run` writes for a developer when no tokens file is given."""

    path: Path
    tokens: dict[str, str] = field(default_factory=dict)


DEV_ROLES: dict[str, dict] = {
    "intake": {"roles": ["intake"]},
    "inclusion_team": {"roles": ["inclusion_team"]},
    "admin": {"roles": ["admin"]},
    "ops": {"roles": ["ops"]},
    "ias": {"roles": ["agency"], "agency": "ias"},
    "exclusions_officer": {"roles": ["agency"], "agency": "exclusions_officer"},
    "reu": {"roles": ["agency"], "agency": "reu"},
    "nas": {"roles": ["agency"], "agency": "nas"},
    # issue 11: the Virtual School and the level-1 advice services for families without SEND
    "virtual_school": {"roles": ["agency"], "agency": "virtual_school"},
    "ace": {"roles": ["agency"], "agency": "ace"},
    "coram": {"roles": ["agency"], "agency": "coram"},
    "web": {"roles": ["web"]},  # the pages' own token: it speaks for the person signed in
}


def write_dev_tokens(path: Path, names: Iterable[str] = DEV_ROLES) -> DevTokens:
    """Write (or reuse) a dev tokens file with one random token per role."""
    if path.exists():
        doc = yaml.safe_load(path.read_text()) or {}
        tokens = {e["principal"].removeprefix("dev-"): e["token"] for e in doc.get("tokens", []) if e.get("token")}
        if set(tokens) >= set(names):
            return DevTokens(path, tokens)
    tokens = {name: f"dev-{name}-{secrets.token_urlsafe(12)}" for name in names}
    entries = [
        {"token": tokens[name], "principal": f"dev-{name}", "agency": DEV_ROLES[name].get("agency"), **{"roles": DEV_ROLES[name]["roles"]}}
        for name in names
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Development tokens written by `make run`. Not for production.\n" + yaml.safe_dump({"tokens": entries}, sort_keys=False))
    os.chmod(path, 0o600)
    return DevTokens(path, tokens)
