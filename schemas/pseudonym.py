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

_base: hmac.HMAC | None = None
# The stream stages derive the same few ids again and again (a child's every event hashes its UPN
# and person key): an HMAC is ~3 µs, a dict hit ~30 ns. Bounded, and forgotten with the key.
_memo: dict[tuple[str, str, int], str] = {}
MEMO_SIZE = 100_000


class PseudonymKeyMissing(RuntimeError):
    pass


def configure(key: bytes) -> None:
    global _base
    if len(key) < 16:
        raise ValueError("the pseudonym key must be at least 16 bytes")
    _base = hmac.new(key, digestmod=hashlib.sha256)
    _memo.clear()


def is_configured() -> bool:
    return _base is not None


def keyed(kind: str, raw: str, hex_chars: int) -> str:
    """HMAC-SHA-256(key, kind | raw), hex, cut to `hex_chars`. `kind` separates the id spaces."""
    if _base is None:
        raise PseudonymKeyMissing("no pseudonym key configured in this process (services configure it from their settings)")
    found = _memo.get((kind, raw, hex_chars))
    if found is not None:
        return found
    mac = _base.copy()
    mac.update(f"{kind}|{raw}".encode())
    out = mac.hexdigest()[:hex_chars]
    if len(_memo) >= MEMO_SIZE:
        _memo.clear()
    _memo[kind, raw, hex_chars] = out
    return out
