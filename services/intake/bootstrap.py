"""The intake service's composition root: the one place its objects are built.

`bootstrap(settings)` builds the event log (its store, SQLite with synchronous=FULL or PostgreSQL),
the group committer that batches submissions into it, the relay the committer wakes and hands what it wrote, the
calendars (R-CANCEL: the school year of a cancelled suspension) and the retention timer; nothing
connects until the app's lifespan starts them. A test may call it with its own event log, relay or clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Engine

from services.common import db
from services.common.background import Background
from services.common.calendar import CalendarRegistry, load_registry
from services.common.relay import Relay
from services.common.settings import Settings
from services.intake.eventlog import EventLog, GroupCommitter
from services.intake.timers import Timers

Clock = Callable[[], datetime]


@dataclass
class Intake:
    """What `bootstrap` built: the app's lifespan starts and stops it, the routes read it (deps.py)."""

    settings: Settings
    engine: Engine
    eventlog: EventLog
    committer: GroupCommitter
    relay: Relay
    calendars: CalendarRegistry
    timers: Timers
    retention: Background  # runs timers.retention_loop


def bootstrap(settings: Settings, *, store: EventLog | None = None, relay: Relay | None = None, clock: Clock | None = None) -> Intake:
    """Build the service. `store` is the event log; `clock` is the retention timer's now (default: UTC now)."""
    if store is None:
        store = EventLog(db.make_engine(settings.database_url_for("intake"), synchronous="FULL", checkpoint_s=settings.sqlite_checkpoint_s))
    engine = store.engine
    committer = GroupCommitter(store)
    if relay is None:
        # batches of 20,000: an LA return of 100,000 records in five reads and five rounds of acknowledgements.
        # Producer batches of 1 MiB (a quarter of the requests of 256 KiB): within the 1,048,588 bytes of
        # Kafka's default message.max.bytes (a batch's size counts its header), and the embedded broker takes them.
        relay = Relay(settings, store, service="intake", engine=engine, batch_size=20_000, max_batch_bytes=1 << 20)
    committer.on_records.append(relay.hand_over)  # an LA return's records published without reading them back
    committer.on_commit.append(relay.notify)
    calendars = load_registry(settings.calendars_dir)
    timers = Timers(settings, engine, clock or partial(datetime.now, UTC))
    retention = Background("intake-retention", timers.retention_loop)
    return Intake(settings, engine, store, committer, relay, calendars, timers, retention)
