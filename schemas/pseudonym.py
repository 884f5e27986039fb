"""Keyed pseudonyms: the one function every id derived from a child's identifying data goes through.

Kafka keys, person keys (LA + date of birth + names), names keys and child ids are HMAC-SHA-256
under the deployment's secret (`SIGNPOST_PSEUDONYM_KEY`). An unkeyed hash of a UPN or of a name
and date of birth is reversed by enumerating the few million plausible inputs; a keyed one is
not, without the key (ICO pseudonymisation guidance; issue 12).

The key is configured once per process at start-up (`configure`, from the service's settings); a
derivation before that fails rather than fall back to an unkeyed hash. Rotating the key changes
every pseudonym: docs/data-protection.md says how (a rebuild under the new key).
"""

from __future__ import annotations

import hashlib
import hmac

_base: hmac.HMAC | None = None  # set by `configure`: its presence says a key is configured
# HMAC's inner and outer hashes with the key's pads already absorbed (RFC 2104): a copy of each per id
# is ~15% quicker than copying an HMAC object, and gives the same digest (tested).
_inner: hashlib._Hash | None = None
_outer: hashlib._Hash | None = None
# The stream stages derive the same few ids again and again (a child's every event hashes its UPN
# and person key): an HMAC is ~2 µs, a dict hit ~30 ns. Two generations of at most MEMO_SIZE each:
# when the young one is full it becomes the old one, and an id found in the old one moves back to the
# young, so the ids in use stay (clearing the whole memo when full made a national year's stream
# hash nearly every id again). Forgotten with the key.
_memo: dict[tuple[str, str, int], str] = {}
_old: dict[tuple[str, str, int], str] = {}
MEMO_SIZE = 100_000


class PseudonymKeyMissing(RuntimeError):
    pass


def configure(key: bytes) -> None:
    global _base, _inner, _outer, _memo, _old
    if len(key) < 16:
        raise ValueError("the pseudonym key must be at least 16 bytes")
    _base = hmac.new(key, digestmod=hashlib.sha256)
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    _inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    _outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    _memo, _old = {}, {}


def is_configured() -> bool:
    return _base is not None


def keyed(kind: str, raw: str, hex_chars: int) -> str:
    """HMAC-SHA-256(key, kind | raw), hex, cut to `hex_chars`. `kind` separates the id spaces."""
    global _memo, _old
    if _base is None or _inner is None or _outer is None:
        raise PseudonymKeyMissing("no pseudonym key configured in this process (services configure it from their settings)")
    memo_key = (kind, raw, hex_chars)
    found = _memo.get(memo_key)
    if found is not None:
        return found
    found = _old.get(memo_key)
    if found is None:
        inner = _inner.copy()
        inner.update(f"{kind}|{raw}".encode())
        outer = _outer.copy()
        outer.update(inner.digest())
        found = outer.hexdigest()[:hex_chars]
    if len(_memo) >= MEMO_SIZE:
        _memo, _old = {}, _memo
    _memo[memo_key] = found
    return found
