"""The exporter's composition root: the one place its objects are built.

`bootstrap(settings)` builds the engines of the stores it reads (alerts, referrals: one engine when
both are the same database), the broker's offset reader, the collector and its timer; nothing
connects until the app's lifespan starts the timer. The exporter has no store and no relay of its
own: a test replaces the `engines` it reads, the `reader` or the `clock` (the day "overdue" is
counted from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from services.common import db, kafka
from services.common.background import Background
from services.common.settings import ServiceName, Settings
from services.exporter.collector import Clock, Collector
from services.exporter.kafka_offsets import OffsetReader
from services.exporter.timers import Timers


@dataclass
class Exporter:
    """What `bootstrap` built: the app's lifespan starts and stops it."""

    settings: Settings
    engines: Mapping[str, Engine]  # service → the engine its store is read with
    reader: OffsetReader
    collector: Collector
    timers: Timers
    collecting: Background  # runs timers.collect_loop

    def dispose(self) -> None:
        """Close each engine once (alerts and referrals may share one)."""
        for engine in {id(e): e for e in self.engines.values()}.values():
            engine.dispose()


def store_engines(settings: Settings) -> dict[str, Engine]:
    engines: dict[str, Engine] = {}
    services: tuple[ServiceName, ...] = ("alerts", "referrals")
    for service in services:
        url = settings.database_url_for(service)
        engines[service] = next((e for e in engines.values() if str(e.url) == url), None) or db.make_engine(url, pool_size=1)
    return engines


def bootstrap(settings: Settings, *, engines: Mapping[str, Engine] | None = None, reader: OffsetReader | None = None,
              clock: Clock | None = None) -> Exporter:
    """Build the exporter."""
    if engines is None:
        engines = store_engines(settings)
    if reader is None:
        reader = OffsetReader(settings.bootstrap_servers, settings.topic_prefix, settings.embedded, security=kafka.kafka_python_security(settings))
    collector = Collector(settings, reader, engines, clock)
    timers = Timers(settings, collector)
    collecting = Background("exporter-collect", timers.collect_loop)
    return Exporter(settings, engines, reader, collector, timers, collecting)
