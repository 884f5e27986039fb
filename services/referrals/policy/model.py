"""The routing policy as data: receivers, the route tree and its matchers, and the labels they match on."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.alerts import Rule
from schemas.codes import CallTaker, SenNeed, SenStatus
from schemas.intake import CONSENT_RECIPIENTS

FIELDS = (
    "child_id", "upn", "first_name", "last_name", "date_of_birth", "year_group", "school_urn",
    "la_code", "sen_status", "sen_needs", "suspected_send", "looked_after", "has_social_worker",
)  # fmt: skip
#: Referral.child always carries these (schemas/referrals.py), whatever the agency.
MANDATORY_FIELDS = ("child_id", "first_name", "last_name", "date_of_birth")
#: The consents a receiver may require (`requires_consent`): the `Consent` fields, in one place in schemas.
CONSENTS = tuple(CONSENT_RECIPIENTS)

_BOOL = frozenset({"true", "false"})
#: The labels the referrals service passes, with their closed vocabularies ("" = label absent).
LABELS: Mapping[str, frozenset[str]] = {
    "reason": frozenset({*Rule, "permanent_exclusion", "exclusion_concern_call"}),
    "event_kind": frozenset({"alert", "exclusion_notice", "la_return_record", "call"}),
    "send": _BOOL,
    "sen_status": frozenset(SenStatus),
    "primary_need": frozenset(SenNeed),  # a list label: see Matcher.matches
    "autistic": _BOOL,
    "looked_after": _BOOL,
    "has_social_worker": _BOOL,  # issue 11, item 4 (R-SW-VSH)
    "received_by": frozenset(CallTaker),
    **{f"consent_{c}": _BOOL for c in CONSENTS},
}

Labels = Mapping[str, str | list[str]]


class PolicyError(ValueError):
    """A policy file is invalid; the message is always `<source>:<line>: <what is wrong>`."""


# Alertmanager's matcher syntax: label, operator, double-quoted value (with \" and \\ escapes).
_MATCHER_RE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


@dataclass(frozen=True)
class Matcher:
    """One `label op "value"` test. Regexes are fully anchored, as in Alertmanager."""

    label: str
    op: str  # = | != | =~ | !~
    value: str
    line: int
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", re.compile(self.value))

    def _hits(self, value: str) -> bool:
        return self._regex.fullmatch(value) is not None if self._regex else value == self.value

    def matches(self, labels: Labels) -> bool:
        """An absent label (or an empty list) equals "". On a list label, = and =~ need ANY element to
        match; != and !~ need NO element to match (so `primary_need!="ASD"` means "not autistic")."""
        value = labels.get(self.label, "")
        values = (value or [""]) if isinstance(value, list | tuple) else [value]
        hit = any(self._hits(v) for v in values)
        return hit if self.op in ("=", "=~") else not hit

    @classmethod
    def parse(cls, text: str, line: int, source: str) -> Matcher:
        """Parse `label="v"`, `label!="v"`, `label=~"re"` or `label!~"re"`; reject labels the
        service never passes and values outside a label's vocabulary (a typo would silently never match)."""
        where = f"{source}:{line}:"
        m = _MATCHER_RE.fullmatch(text)
        if not m:
            raise PolicyError(f'{where} bad matcher {text!r} (expected label="value", !=, =~ or !~)')
        label, op, raw = m.groups()
        value = re.sub(r"\\(.)", lambda e: "\n" if e[1] == "n" else e[1], raw)
        if label not in LABELS:
            raise PolicyError(f"{where} unknown label {label!r} in matcher (known: {', '.join(LABELS)})")
        try:
            matcher = cls(label, op, value, line)
        except re.error as e:
            raise PolicyError(f"{where} invalid regex {value!r} in matcher: {e}") from None
        if not any(matcher._hits(v) for v in LABELS[label] | {""}):
            wanted = "matches none of" if matcher._regex else "is not one of"
            known = ", ".join(sorted(LABELS[label]))
            raise PolicyError(f'{where} {value!r} {wanted} the values of {label}: {known} (or "" if absent)')
        return matcher


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_env: str | None  # name of the env variable holding the signing secret (never the secret itself)
    max_attempts: int = 8


@dataclass(frozen=True)
class Receiver:
    name: str
    agency: str
    fields: tuple[str, ...]
    service_level_school_days: int  # due_by = created + N school days
    requires_consent: str | None  # R-CONSENT: hold the referral until this consent is recorded
    webhook: Webhook | None


@dataclass(frozen=True)
class Route:
    receiver: str | None
    matchers: tuple[Matcher, ...]
    continue_: bool
    routes: tuple[Route, ...]
    line: int


@dataclass(frozen=True)
class Policy:
    receivers: dict[str, Receiver]
    route: Route
    source: str

    def receivers_for_agency(self, agency: str) -> list[Receiver]:
        return [r for r in self.receivers.values() if r.agency == agency]
