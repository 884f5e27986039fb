"""Links between records of one child: "source is target from now on" (children.links.v1).

A link may chain (A→B, B→C: A's effective child is C). A record has at most one active link out:
if the identity desk ever left two, the newest (by version, then time) wins. A cycle (which a
person could only make by confirming A→B and later B→A) is cut deterministically: its effective
child is the smallest id on it, whichever record we start from. Pure: edges in, ids out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Link:
    link_id: str
    source: str
    target: str
    linked: bool
    version: int
    at: datetime


def newer(incoming_version: int, held_version: int | None) -> bool:
    """A link message counts only if its version is newer than the one held for that link id."""
    return held_version is None or incoming_version > held_version


def edges(links: Iterable[Link]) -> dict[str, str]:
    """source → target for the active links (one per source: the newest)."""
    best: dict[str, Link] = {}
    for link in links:
        if link.linked and link.source != link.target:
            held = best.get(link.source)
            if held is None or (link.version, link.at, link.link_id) > (held.version, held.at, held.link_id):
                best[link.source] = link
    return {source: link.target for source, link in best.items()}


def effective(child_id: str, out: Mapping[str, str]) -> str:
    """Follow the links from `child_id` to the record that is not linked on."""
    path: list[str] = []
    seen: set[str] = set()
    node = child_id
    while node in out:
        if node in seen:  # a cycle: the smallest id on it
            return min(path[path.index(node):])
        seen.add(node)
        path.append(node)
        node = out[node]
    return node


def group(child_id: str, out: Mapping[str, str]) -> set[str]:
    """Every record whose effective child is `child_id`'s (the records `out` knows, and child_id)."""
    root = effective(child_id, out)
    nodes = {child_id, root, *out, *out.values()}
    return {n for n in nodes if effective(n, out) == root}
