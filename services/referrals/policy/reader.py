"""Reading a policy file: YAML composed into nodes, checked and turned into a `Policy`; every problem a
`PolicyError` naming `<source>:<line>:`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from schemas.codes import Agency
from services.referrals.policy.model import (
    CONSENTS,
    FIELDS,
    MANDATORY_FIELDS,
    Matcher,
    Policy,
    PolicyError,
    Receiver,
    Route,
    Webhook,
)

DEFAULT_POLICY_PATH = Path(__file__).parent.parent / "policy.default.yaml"

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


def load_policy(path: Path | None = None) -> Policy:
    """Load a policy file (None: the shipped default). An unreadable file is a PolicyError too, at line 1."""
    path = DEFAULT_POLICY_PATH if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"{path}:1: cannot read the policy file: {e}") from None
    return parse_policy(text, str(path))


def is_loopback(host: str) -> bool:
    """A referral's body may only leave the machine encrypted (issue 12)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
