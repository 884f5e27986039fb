"""Pure routing: a referral's labels + the policy tree -> the receivers that should get it.

The semantics are Alertmanager's (dispatch/route.go): the root matches everything; a node matches when all
its matchers match; its children are tried in order and the first that matches stops the search unless it
has `continue: true`; a node none of whose children matched is itself the match. Unlike Alertmanager a
node does not inherit its parent's receiver: a matched node without one contributes nothing, which is how
a policy says "no referral" (contract.md: `end_of_term_spike` gets none).

Consent is not decided here: a receiver's `requires_consent` tells the service to hold the referral until
that consent is recorded (domain.md R-CONSENT; contract.md: NAS never gets a child without it).
"""

from __future__ import annotations

from collections.abc import Mapping

from services.referrals.policy import Labels, Policy, Receiver, Route


def route(policy: Policy, labels: Labels) -> list[Receiver]:
    """The receivers of every matched node, in tree order, one per agency (the first wins): the
    contract keeps at most one open referral per (child, agency)."""
    chosen: dict[str, Receiver] = {}
    for node in _match(policy.route, labels) or []:
        if node.receiver is not None:
            receiver = policy.receivers[node.receiver]
            chosen.setdefault(receiver.agency, receiver)
    return list(chosen.values())


def _match(node: Route, labels: Labels) -> list[Route] | None:
    """None if `node` does not match; else the matched nodes beneath it (or `node` itself)."""
    if not all(m.matches(labels) for m in node.matchers):
        return None
    found: list[Route] = []
    for child in node.routes:
        matched = _match(child, labels)
        if matched is None:
            continue
        found.extend(matched)
        if not child.continue_:
            break
    return found or [node]


def project(child: Mapping[str, object], receiver: Receiver) -> dict[str, object]:
    """Only the fields the receiver's policy lists, in its order; absent fields are omitted.

    Data minimisation (UK GDPR Art 5(1)(c); domain.md R-MINIMISE): e.g. NAS gets no UPN by default."""
    return {name: child[name] for name in receiver.fields if name in child}
