"""The live policy: loaded and checked at start-up (refuse to start on a bad one), swapped on reload only
when the new one is valid, with every webhook's signing secret set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from services.referrals.policy.model import Policy, PolicyError
from services.referrals.policy.reader import DEFAULT_POLICY_PATH, load_policy


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
