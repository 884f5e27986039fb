"""The exporter's collector: every round it reads the broker (groups, committed and end offsets) and
the stores (alerts and referrals by status, overdue referrals) into the gauges of metrics.py. It
consumes nothing and writes nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import Engine

from services.common.settings import Settings
from services.exporter import metrics, store_counts
from services.exporter.domain.lag import group_lag
from services.exporter.kafka_offsets import OffsetReader, Snapshot

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


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


class Collector:
    """One round of reads (`collect`, blocking: run it in a thread), into the gauges of metrics.py."""

    def __init__(self, settings: Settings, reader: OffsetReader, engines: Mapping[str, Engine], clock: Clock | None = None) -> None:
        self.settings, self.reader, self.engines = settings, reader, engines
        self.clock: Clock = clock or partial(datetime.now, UTC)  # the day "overdue" is counted from
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
        today = self.clock().date()
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
