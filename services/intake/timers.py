"""The intake's one periodic job: retention of its event log and idempotency records.

It runs as a background task of the app (the intake has no faust worker); a failed run is logged and
the next one catches up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from services.common.retention import Schedule
from services.common.settings import Settings
from services.intake import retention as intake_retention

log = logging.getLogger(__name__)


class Timers:
    def __init__(self, settings: Settings, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.settings, self.engine, self.clock = settings, engine, clock

    async def apply_retention(self) -> None:
        """docs/data-protection.md: events past their period go."""
        await asyncio.to_thread(intake_retention.run, self.engine, Schedule.of(self.settings), self.clock())

    async def retention_loop(self) -> None:
        """Every `retention_interval_s`: a failure is logged; it runs again."""
        while True:
            await asyncio.sleep(self.settings.retention_interval_s)
            try:
                await self.apply_retention()
            except Exception as exc:  # noqa: BLE001 - the store may be down; the next run catches up
                log.warning("retention run failed", extra={"error": type(exc).__name__})
