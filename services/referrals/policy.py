"""The routing policy: which agency gets which child, with which fields, by when.

The contract makes routing "a configuration file, not code" (contract.md, "Default routing policy"), so an
LA can change it without a release. The file is shaped like Alertmanager's routing tree: a list of
receivers (one per destination, each with its field list, service level, consent and webhook) and a tree
of routes whose matchers select receivers from a referral's labels. `routing.py` walks the tree.

A bad file must never reach the router: every problem is reported as a `PolicyError` naming
`<source>:<line>:`, checked at start-up (fail fast) and on reload (the old policy is kept).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from schemas.alerts import Rule
from schemas.codes import Agency, CallTaker, SenNeed, SenStatus
from schemas.intake import CONSENT_RECIPIENTS

DEFAULT_POLICY_PATH = Path(__file__).parent / "policy.default.yaml"

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


_RECEIVER_KEYS = ("name", "agency", "fields", "service_level_school_days", "requires_consent", "webhook")
_ROUTE_KEYS = ("receiver", "matchers", "continue", "routes")


class _Reader:
    """Turns composed YAML nodes into policy objects, failing with the offending node's line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._constructor = SafeConstructor()

    def fail(self, node: Node, what: str) -> NoReturn:
        raise PolicyError(f"{self.source}:{node.start_mark.line + 1}: {what}")

    def mapping(
        self, node: Node, what: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} must be a mapping")
        out: dict[str, Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if name not in allowed:
                self.fail(key, f"unknown key {name!r} in {what} (allowed: {', '.join(allowed)})")
            if name in out:
                self.fail(key, f"duplicate key {name!r} in {what}")
            out[name] = value
        for name in required:
            if name not in out:
                self.fail(node, f"{what} is missing {name!r}")
        return out

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list")
        return list(node.value)

    def _value(self, node: Node) -> object:
        return self._constructor.construct_object(node) if isinstance(node, ScalarNode) else node

    def is_null(self, node: Node) -> bool:
        return self._value(node) is None

    def string(self, node: Node, what: str) -> str:
        value = self._value(node)
        if not isinstance(value, str) or not value:
            self.fail(node, f"{what} must be a non-empty string")
        return value

    def optional_string(self, node: Node | None, what: str) -> str | None:
        return None if node is None or self.is_null(node) else self.string(node, f"{what} (or null)")

    def positive_int(self, node: Node, what: str) -> int:
        value = self._value(node)
        # bool is an int in Python, but `true` days is a mistake, not 1.
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.fail(node, f"{what} must be a positive whole number")
        return value

    def boolean(self, node: Node, what: str) -> bool:
        value = self._value(node)
        if not isinstance(value, bool):
            self.fail(node, f"{what} must be true or false")
        return value

    def policy(self, root: Node | None) -> Policy:
        if root is None:
            raise PolicyError(f"{self.source}:1: the policy is empty (expected receivers and route)")
        top = self.mapping(root, "the policy", ("receivers", "route"), ("receivers", "route"))
        receivers: dict[str, Receiver] = {}
        for item in self.sequence(top["receivers"], "receivers"):
            receiver = self.receiver(item, receivers)
            receivers[receiver.name] = receiver
        keys = self.mapping(top["route"], "route", _ROUTE_KEYS)
        for key in ("matchers", "continue"):
            if key in keys:  # Alertmanager: the root route matches everything
                self.fail(keys[key], f"the root route must not have {key!r}")
        return Policy(receivers, self.route(top["route"], receivers), self.source)

    def receiver(self, node: Node, seen: Mapping[str, Receiver]) -> Receiver:
        keys = self.mapping(node, "a receiver", _RECEIVER_KEYS, _RECEIVER_KEYS[:4])
        name = self.string(keys["name"], "receiver name")
        if name in seen:
            self.fail(keys["name"], f"duplicate receiver {name!r}")
        agency = self.string(keys["agency"], f"agency of {name}")
        if agency not in set(Agency):
            self.fail(keys["agency"], f"unknown agency {agency!r} (known: {', '.join(Agency)})")
        fields: list[str] = []
        for item in self.sequence(keys["fields"], f"fields of {name}"):
            value = self.string(item, f"a field of {name}")
            if value not in FIELDS:
                self.fail(item, f"unknown field {value!r} (known: {', '.join(FIELDS)})")
            if value in fields:
                self.fail(item, f"field {value!r} listed twice")
            fields.append(value)
        missing = [f for f in MANDATORY_FIELDS if f not in fields]
        if missing:
            self.fail(
                keys["fields"],
                f"fields of {name} must include {', '.join(missing)} (every referral has them)",
            )
        sla = self.positive_int(keys["service_level_school_days"], f"service_level_school_days of {name}")
        consent = self.optional_string(keys.get("requires_consent"), f"requires_consent of {name}")
        if consent is not None and consent not in CONSENTS:
            self.fail(
                keys["requires_consent"], f"requires_consent must be null or one of {', '.join(CONSENTS)}"
            )
        webhook = self.webhook(keys["webhook"], name) if "webhook" in keys else None
        return Receiver(name, agency, tuple(fields), sla, consent, webhook)

    def webhook(self, node: Node, name: str) -> Webhook | None:
        if isinstance(node, ScalarNode) and self.is_null(node):
            return None
        keys = self.mapping(node, f"webhook of {name}", ("url", "secret_env", "max_attempts"), ("url", "secret_env"))
        url = self.string(keys["url"], "webhook url")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail(keys["url"], f"webhook url must be an http(s) URL, not {url!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
            self.fail(keys["url"], f"webhook url must be https:// (plain http only to a loopback address), not {url!r}")
        secret_env = self.optional_string(keys.get("secret_env"), "webhook secret_env")
        if secret_env is None:
            self.fail(keys["secret_env"], "webhook secret_env must name the variable holding its signing secret: unsigned webhooks are refused")
        if secret_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", secret_env):
            self.fail(
                keys["secret_env"], f"webhook secret_env must name an environment variable: {secret_env!r}"
            )
        if "max_attempts" not in keys:
            return Webhook(url, secret_env)
        return Webhook(url, secret_env, self.positive_int(keys["max_attempts"], "webhook max_attempts"))

    def route(self, node: Node, receivers: Mapping[str, Receiver]) -> Route:
        keys = self.mapping(node, "a route", _ROUTE_KEYS)
        receiver = self.optional_string(keys.get("receiver"), "route receiver")
        if receiver is not None and receiver not in receivers:
            self.fail(keys["receiver"], f"route refers to unknown receiver {receiver!r}")
        matchers = tuple(
            Matcher.parse(self.string(item, "a matcher"), item.start_mark.line + 1, self.source)
            for item in (self.sequence(keys["matchers"], "matchers") if "matchers" in keys else [])
        )
        continue_ = self.boolean(keys["continue"], "continue") if "continue" in keys else False
        children = self.sequence(keys["routes"], "routes") if "routes" in keys else []
        routes = tuple(self.route(child, receivers) for child in children)
        return Route(receiver, matchers, continue_, routes, node.start_mark.line + 1)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Parse and validate a policy; raise PolicyError naming the first problem's line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise PolicyError(f"{source}:{line}: invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:  # e.g. a control character the reader refuses
        raise PolicyError(f"{source}:1: invalid YAML: {e}") from None
    return _Reader(source).policy(root)


def is_loopback(host: str) -> bool:
    """A referral's body may only leave the machine encrypted (issue 12)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secrets(policy: Policy, environ: Mapping[str, str]) -> None:
    """Every webhook's signing secret is set, in the Standard Webhooks form (`whsec_` + base64 of
    24 to 64 random bytes): refuse to start (or to reload) with a receiver that would go unsigned."""
    import base64
    import binascii

    for receiver in policy.receivers.values():
        hook = receiver.webhook
        if hook is None:
            continue
        secret = environ.get(hook.secret_env or "", "")
        if not secret:
            raise PolicyError(f"receiver {receiver.name}: its webhook secret variable {hook.secret_env} is not set")
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not secret.startswith("whsec_") or not 24 <= len(key) <= 64:
            raise PolicyError(f"receiver {receiver.name}: {hook.secret_env} must be whsec_ + base64 of 24 to 64 random bytes "
                              "(`signpost webhook-secret` makes one)")


def load_policy(path: Path | None = None) -> Policy:
    """Load a policy file (None: the shipped default). An unreadable file is a PolicyError too, at line 1."""
    path = DEFAULT_POLICY_PATH if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"{path}:1: cannot read the policy file: {e}") from None
    return parse_policy(text, str(path))


class PolicyHolder:
    """Holds the live policy; reload() swaps in a new one only if it is valid."""

    def __init__(self, path: Path | None) -> None:
        self.path = DEFAULT_POLICY_PATH if path is None else Path(path)
        self.policy = load_policy(self.path)  # raises PolicyError: refuse to start on a bad policy
        check_secrets(self.policy, os.environ)  # ... or on a webhook that would go unsigned

    def reload(self) -> str | None:
        """Re-read the file; on error keep routing with the old policy and return the message."""
        try:
            policy = load_policy(self.path)
            check_secrets(policy, os.environ)
        except PolicyError as e:
            return str(e)
        self.policy = policy
        return None
