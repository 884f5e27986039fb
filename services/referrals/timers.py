"""The referrals worker's timers: webhook delivery, retention, escalation of overdue referrals.

Each survives its own failure (`services.common.worker.survives`): it runs again at its next
interval. All are safe with two replicas on PostgreSQL (claims); SQLite runs one process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import faust
import httpx
from sqlalchemy import Engine

from services.common.relay import Relay
from services.common.retention import Schedule
from services.common.settings import Settings
from services.common.worker import survives
from services.referrals import retention as referrals_retention
from services.referrals.metrics import ESCALATIONS
from services.referrals.store import ReferralStore
from services.referrals.webhooks import WebhookSender

log = logging.getLogger(__name__)


class Timers:
    def __init__(self, settings: Settings, engine: Engine, store: ReferralStore, sender: WebhookSender, relay: Relay,
                 clock: Callable[[], datetime]) -> None:
        self.settings, self.engine, self.store, self.sender, self.relay, self.clock = settings, engine, store, sender, relay, clock
        self._client: httpx.AsyncClient | None = None

    async def deliver_webhooks(self) -> None:
        # One client for the worker's life: a new one each second built a TLS context each time (~5% of
        # the service's CPU under load), and its connection pool keeps the agencies' endpoints warm.
        if self._client is None:
            self._client = httpx.AsyncClient()
        await self.sender.run_once(self._client)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def apply_retention(self) -> None:
        """docs/data-protection.md: what is past its period goes."""
        await asyncio.to_thread(referrals_retention.run, self.engine, Schedule.of(self.settings), self.clock())

    async def escalate_overdue(self) -> None:
        now = self.clock()
        for row in await asyncio.to_thread(self.store.overdue_unescalated, now.date()):
            if await asyncio.to_thread(self.store.escalate, row["id"], now):
                ESCALATIONS.labels(row["agency"]).inc()
                log.info("referral escalated", extra={"referral_id": row["id"], "agency": row["agency"]})
                self.relay.notify()
        # signpost_referrals and signpost_referrals_overdue come from the exporter: once, however many replicas run.

    def install(self, worker: faust.App) -> None:
        """Run them on the faust worker: webhooks every second, escalation every 30 s, retention at its setting."""
        worker.timer(interval=1.0)(survives(self.deliver_webhooks))
        worker.timer(interval=self.settings.retention_interval_s)(survives(self.apply_retention))
        worker.timer(interval=30.0)(survives(self.escalate_overdue))
