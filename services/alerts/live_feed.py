"""The live feed across replicas: every alerts replica follows the alerts topic and hands each change
to its own SSE subscribers, so a client of any replica sees every change, whichever replica (or
person, or snooze timer) made it.

Each replica reads every partition without a consumer group (no group to rebalance or to leave
behind), from the end at start-up. The topic is the outbox's output, so a change reaches it once
committed; the relay may publish it twice (a retry, a republish after a broker loss), and `Newer`
passes each alert version once, and nothing older than the replica's start.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from schemas.alerts import AlertChanged
from schemas.topics import ALERTS
from services.alerts.live import Broadcaster
from services.common import kafka
from services.common.background import Background
from services.common.settings import Settings

log = logging.getLogger(__name__)


class Newer:
    """Passes an alert version once: newer than any version of that alert seen, and changed since `since`."""

    def __init__(self, since: datetime, remember: int = 200_000):
        self.since, self.remember = since, remember
        self._seen: OrderedDict[str, int] = OrderedDict()

    def admit(self, alert_id: str, version: int, updated_at: datetime) -> bool:
        if updated_at < self.since or self._seen.get(alert_id, 0) >= version:
            return False
        self._seen[alert_id] = version
        self._seen.move_to_end(alert_id)
        if len(self._seen) > self.remember:
            self._seen.popitem(last=False)
        return True


class LiveFeed:
    def __init__(self, settings: Settings, broadcaster: Broadcaster, since: datetime):
        self.settings, self.broadcaster = settings, broadcaster
        self.topic = settings.topic(ALERTS.name)
        self.newer = Newer(since)
        self.following = False  # every partition assigned and positioned: readiness waits for it
        self._task = Background("alerts-live-feed", self._run)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            consumer = kafka.consumer(self.settings, group_id=None, auto_offset_reset="latest", fetch_max_wait_ms=20,
                                      client_id="signpost-alerts-live")  # kafka.consumer: the deployment's TLS and SASL
            try:
                await consumer.start()
                partitions = await self._partitions(consumer)
                consumer.assign(partitions)
                await consumer.seek_to_end(*partitions)
                self.following = True
                while True:
                    batches = await consumer.getmany(timeout_ms=1_000)
                    for records in batches.values():
                        self._publish(records)
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:  # the broker away: follow again when it is back
                log.warning("live feed lost the broker; following again", extra={"error": type(exc).__name__})
                await asyncio.sleep(1.0)
            finally:
                self.following = False
                await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while not (found := consumer.partitions_for_topic(self.topic)):
            await consumer.topics()  # refreshes metadata; the topic is created at start-up
            await asyncio.sleep(0.2)
        return [TopicPartition(self.topic, p) for p in sorted(found)]

    def _publish(self, records: list) -> None:  # noqa: ANN001 - aiokafka ConsumerRecords
        """Hand the new alert versions to the subscribers. With none connected (a replay, a quiet night), only
        what `Newer` needs is read from each message: building every alert is most of this task's CPU, and the
        task shares the stages' interpreter."""
        listened = self.broadcaster.subscribers > 0
        alerts = []
        for record in records:
            try:
                if listened:
                    alert = AlertChanged.model_validate_json(record.value).alert
                    fresh = self.newer.admit(alert.id, alert.version, alert.updated_at)
                else:
                    doc = orjson.loads(record.value)["alert"]
                    fresh = self.newer.admit(doc["id"], doc["version"], datetime.fromisoformat(doc["updated_at"]))
            except (ValidationError, ValueError, TypeError, KeyError):
                log.warning("live feed skipped a message it cannot read", extra={"partition": record.partition, "offset": record.offset})
                continue
            if fresh and listened:
                alerts.append(alert)
        self.broadcaster.publish(alerts)
