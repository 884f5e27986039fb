"""The alerts worker's timers: snooze expiry, the SSE audit flush (and subscriber gauge), retention.

Each survives its own failure (`services.common.worker.survives`): it runs again at its next interval.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import faust
from sqlalchemy import Engine

from services.alerts import retention as alerts_retention
from services.alerts.domain import lifecycle
from services.alerts.handlers import Handlers
from services.alerts.live import Broadcaster
from services.alerts.metrics import SSE_SUBSCRIBERS
from services.alerts.store import AlertsStore
from services.common.retention import Schedule
from services.common.settings import Settings
from services.common.worker import survives


class Timers:
    def __init__(self, settings: Settings, engine: Engine, store: AlertsStore, handlers: Handlers, broadcaster: Broadcaster,
                 audit_buffer: list[dict]):
        self.settings, self.engine, self.store, self.handlers = settings, engine, store, handlers
        self.broadcaster, self.audit_buffer = broadcaster, audit_buffer

    async def wake_snoozed(self) -> None:
        now = datetime.now(UTC)
        for alert, urn in await asyncio.to_thread(self.store.due_snoozes, now):
            woken = lifecycle.wake(alert, now)
            if woken:
                await self.handlers.save_alert_change(woken, urn, alert.version, [], "signpost")

    async def flush_audit(self) -> None:
        """The live feed's reads are audited in a buffer (the SSE route must not wait on the store)."""
        if self.audit_buffer:
            entries = self.audit_buffer[:]
            del self.audit_buffer[: len(entries)]
            await asyncio.to_thread(self.store.write_audit, entries)
        SSE_SUBSCRIBERS.set(self.broadcaster.subscribers)

    async def apply_retention(self) -> None:
        """docs/data-protection.md: what is past its period goes."""
        await asyncio.to_thread(alerts_retention.run, self.engine, Schedule.of(self.settings), datetime.now(UTC))

    def install(self, worker: faust.App) -> None:
        """Run them on the faust worker: snoozes and the audit flush every second, retention at its setting."""
        worker.timer(interval=1.0)(survives(self.wake_snoozed))
        worker.timer(interval=1.0)(survives(self.flush_audit))
        worker.timer(interval=self.settings.retention_interval_s)(survives(self.apply_retention))
