"""The exporter's one periodic job: a collection round every `exporter_interval` seconds."""

from __future__ import annotations

import asyncio

from services.common.settings import Settings
from services.exporter.collector import Collector


class Timers:
    def __init__(self, settings: Settings, collector: Collector) -> None:
        self.settings, self.collector = settings, collector

    async def collect_loop(self) -> None:
        """A round at once, then one every `exporter_interval` (a source that fails is retried next round)."""
        while True:
            await asyncio.to_thread(self.collector.collect)
            await asyncio.sleep(self.settings.exporter_interval)
