"""The routing policy: which agency gets which child, with which fields, by when.

The contract makes routing "a configuration file, not code" (contract.md, "Default routing policy"), so an
LA can change it without a release. The file is shaped like Alertmanager's routing tree: a list of
receivers (one per destination, each with its field list, service level, consent and webhook) and a tree
of routes whose matchers select receivers from a referral's labels. `routing.py` walks the tree.

A bad file must never reach the router: every problem is reported as a `PolicyError` naming
`<source>:<line>:`, checked at start-up (fail fast) and on reload (the old policy is kept).
"""

from services.referrals.policy.holder import PolicyHolder, check_secrets
from services.referrals.policy.model import (
    CONSENTS,
    FIELDS,
    LABELS,
    MANDATORY_FIELDS,
    Labels,
    Matcher,
    Policy,
    PolicyError,
    Receiver,
    Route,
    Webhook,
)
from services.referrals.policy.reader import DEFAULT_POLICY_PATH, is_loopback, load_policy, parse_policy

__all__ = [
    "CONSENTS", "DEFAULT_POLICY_PATH", "FIELDS", "LABELS", "MANDATORY_FIELDS", "Labels", "Matcher", "Policy", "PolicyError",
    "PolicyHolder", "Receiver", "Route", "Webhook", "check_secrets", "is_loopback", "load_policy", "parse_policy",
]  # fmt: skip
