"""Erasures the stages honour: a child erased where lawful (recorded in error) stays erased when
its old events are read again.

`signpost erase child` deletes the child from every store, but the Kafka topics keep its events
until their retention expires (`cleanup.policy=delete`: the stages and rebuilds replay every
event, which compaction would drop). A rebuild, or a stage reading a restarted broker from the
start, would derive the child again. So each store keeps the message keys it erased and when
(the intake's keys for the alerts service, child ids for the referrals service), and a stage
skips a message with an erased key **accepted before the erasure** (its `ce_time`). A later
event with the same key is news about a child (the UPN may now be right) and is applied.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Column, Connection, DateTime, Engine, MetaData, String, Table, select

from services.common import db

REFRESH_S = 30.0  # another replica's erasure reaches this one's stage within this long


def erasures_table(metadata: MetaData, service: str) -> Table:
    return Table(
        f"{service}_erasures",
        metadata,
        Column("key", String(80), primary_key=True),  # a message key: pseudonymous (a keyed hash or a child id)
        Column("erased_at", DateTime(timezone=True), nullable=False),
    )


def record(conn: Connection, table: Table, keys: Iterable[str], at: datetime) -> None:
    """Remember erased keys (in the erasure's own transaction); a key erased again keeps its latest time."""
    rows = [{"key": k, "erased_at": at} for k in sorted(set(keys))]
    if rows:
        conn.execute(db.upsert(conn.engine, table, ["key"], ["erased_at"]), rows)


class ErasureList:
    """The erased keys of one store, read again at most every `REFRESH_S` (or when told)."""

    def __init__(self, engine: Engine, table: Table, refresh_s: float = REFRESH_S) -> None:
        self.engine, self.table, self.refresh_s = engine, table, refresh_s
        self.at: dict[bytes, datetime] = {}
        self._read_at = float("-inf")

    def due(self) -> None:
        """An erasure was made in this process: read the list again before the next batch."""
        self._read_at = float("-inf")

    def refresh(self) -> bool:
        """Read the list if it is due; True when it changed (a stage then drops its caches)."""
        if time.monotonic() - self._read_at < self.refresh_s:
            return False
        with self.engine.connect() as conn:
            found = {r.key.encode(): db.aware(r.erased_at) for r in conn.execute(select(self.table))}
        self._read_at = time.monotonic()
        changed, self.at = found != self.at, found
        return changed

    def erased(self, key: bytes | None, ce_time: str | None) -> bool:
        """Whether a message is about an erased child and was accepted before the erasure (a message
        without a time is taken as older: only a key erased by a person gets here)."""
        if key is None or key not in self.at:
            return False
        if not ce_time:
            return True
        try:
            accepted = db.aware(datetime.fromisoformat(ce_time.replace("Z", "+00:00")))
        except ValueError:
            return True
        return accepted <= self.at[key]
