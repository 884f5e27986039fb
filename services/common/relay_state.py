"""What a relay keeps between runs, and how it tells that a broker lost what it acknowledged: pure,
so its unit tests need no broker (services/common/relay.py is the relay itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from services.common.outbox import StoredRecord

Published = dict[str, tuple[int, str]]  # "topic:partition" -> last acknowledged (offset, event id)


class RelayLog(Protocol):
    """What the relay reads and where it keeps its place (`outbox.OutboxLog`, the intake's `EventLog`)."""

    def read_after(self, position: int, limit: int) -> list[StoredRecord]: ...
    def last_seq(self) -> int: ...
    def relay_state(self) -> tuple[int, Published, str | None]: ...
    def save_relay_state(self, position: int, published: Published, epoch: str | None) -> None: ...


def broker_lost_events(expected: dict[str, tuple[int, str]], found: dict[str, tuple[int, str] | None]) -> bool:
    """True when a partition no longer holds the last message the broker acknowledged to us.

    Both maps are keyed "topic:partition"; values are (offset, event id)."""
    return any(found.get(tp) != tuple(last) for tp, last in expected.items())
