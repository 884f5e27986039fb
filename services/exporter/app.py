"""Composition root of the exporter: every `exporter_interval` seconds it reads the broker (groups,
committed and end offsets) and the stores (alerts and referrals by status, overdue referrals),
and serves the result on /metrics with /healthz and /readyz. It consumes nothing and writes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from prometheus_client import Gauge
from sqlalchemy import Engine

from services.common import db, kafka
from services.common.auth import TokenRegistry
from services.common.background import Background
from services.common.http import create_app
from services.common.settings import ServiceName, Settings
from services.exporter import metrics, store_counts
from services.exporter.domain.lag import group_lag
from services.exporter.kafka_offsets import OffsetReader, Snapshot

log = logging.getLogger(__name__)


class Series:
    """A labelled gauge replaced as a whole: series that are gone are removed, the others overwritten
    (never cleared first, so a scrape in between sees no gap that would reset an alert's `for`)."""

    def __init__(self, gauge: Gauge) -> None:
        self.gauge = gauge
        self.present: set[tuple[str, ...]] = set()

    def replace(self, values: Mapping[Any, float]) -> None:  # keys: label-value tuples
        for gone in self.present - set(values):
            self.gauge.remove(*gone)
        for labels, value in values.items():
            self.gauge.labels(*labels).set(value)
        self.present = set(values)


class Exporter:
    def __init__(self, settings: Settings, reader: OffsetReader, engines: Mapping[str, Engine]) -> None:
        self.settings, self.reader, self.engines = settings, reader, engines
        self.lag, self.members = Series(metrics.CONSUMER_GROUP_LAG), Series(metrics.CONSUMER_GROUP_MEMBERS)
        self.alerts, self.referrals = Series(metrics.ALERTS_BY_STATUS), Series(metrics.REFERRALS_BY_STATUS)
        self.overdue = Series(metrics.REFERRALS_OVERDUE)
        self.kafka_ok = False
        self.collected = 0
        self._failing: set[str] = set()  # sources whose failure is already logged (a store not migrated yet logs once)

    def collect(self) -> None:
        """One round. A source that fails keeps its last values, counts an error and is tried again next round."""
        try:
            snap: Snapshot = self.reader.read()
        except Exception as exc:  # noqa: BLE001 - the broker away: report it, reconnect next round
            self.reader.close()
            self.kafka_ok = False
            metrics.KAFKA_UP.set(0)
            metrics.READ_ERRORS.labels("kafka").inc()
            self._report("kafka", exc)
        else:
            self._failing.discard("kafka")
            lags = [lag for group, committed in snap.committed.items() for lag in group_lag(group, committed, snap.ends)]
            self.lag.replace({(lag.group, lag.topic): lag.messages for lag in lags})
            self.members.replace({(group,): n for group, n in snap.members.items()})
            self.kafka_ok = True
            metrics.KAFKA_UP.set(1)
        today = datetime.now(UTC).date()
        self._store("alerts_store", "alerts", lambda e: self.alerts.replace(store_counts.alerts_by_status(e)))
        self._store("referrals_store", "referrals", lambda e: self.referrals.replace(store_counts.referrals_by_status(e)))
        self._store("referrals_store", "referrals", lambda e: self.overdue.replace(store_counts.referrals_overdue(e, today)))
        self.collected += 1

    def _store(self, source: str, service: str, read: Callable[[Engine], Any]) -> None:
        try:
            read(self.engines[service])
        except Exception as exc:  # noqa: BLE001 - a store not migrated yet or away: counted, retried next round
            metrics.READ_ERRORS.labels(source).inc()
            self._report(source, exc)
        else:
            self._failing.discard(source)

    def _report(self, source: str, exc: Exception) -> None:
        """Log a source's failure once until it recovers (the counter counts every round)."""
        if source not in self._failing:
            self._failing.add(source)
            log.warning("exporter read failed", extra={"source": source, "error": type(exc).__name__})


def build_app(settings: Settings) -> FastAPI:
    engines: dict[str, Engine] = {}
    services: tuple[ServiceName, ...] = ("alerts", "referrals")
    for service in services:
        url = settings.database_url_for(service)
        engines[service] = next((e for e in engines.values() if str(e.url) == url), None) or db.make_engine(url, pool_size=1)
    reader = OffsetReader(settings.bootstrap_servers, settings.topic_prefix, settings.embedded, security=kafka.kafka_python_security(settings))
    exporter = Exporter(settings, reader, engines)

    async def loop() -> None:
        while True:
            await asyncio.to_thread(exporter.collect)
            await asyncio.sleep(settings.exporter_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        collecting = Background("exporter-collect", loop)
        collecting.start()
        try:
            yield
        finally:
            await collecting.stop()
            await asyncio.to_thread(reader.close)
            for engine in {id(e): e for e in engines.values()}.values():
                engine.dispose()

    async def broker_read() -> str | None:
        return None if exporter.kafka_ok else "broker not read yet, or the last read failed"

    app = create_app("exporter", tokens=TokenRegistry(None), readiness=[broker_read], lifespan=lifespan,
                     description="Consumer-group lag at the broker and the gauges derived from the stores, exported once.")
    app.state.exporter = exporter
    return app



