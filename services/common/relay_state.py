"""What a relay keeps between runs, and how it tells that a broker lost what it acknowledged: pure,
so its unit tests need no broker (services/common/relay.py is the relay itself)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Committed:
    """Records a writer has just committed to a relay's log, handed to the relay so that it need not
    read them back (`Relay.hand_over`). `seqs` are their log seqs in log order, and no other record
    lies between the first and the last; `stored(start, stop)` builds the records of seqs[start:stop]."""

    seqs: Sequence[int]
    stored: Callable[[int, int], list[StoredRecord]]


def broker_lost_events(expected: dict[str, tuple[int, str]], found: dict[str, tuple[int, str] | None]) -> bool:
    """True when a partition no longer holds the last message the broker acknowledged to us.

    Both maps are keyed "topic:partition"; values are (offset, event id)."""
    return any(found.get(tp) != tuple(last) for tp, last in expected.items())
