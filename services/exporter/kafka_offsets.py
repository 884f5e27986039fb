"""Reads consumer groups, their committed offsets and the topics' end offsets at the broker
with kafka-python (KafkaAdminClient, KafkaConsumer.end_offsets). Blocking: run it in a thread."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from services.exporter.domain.lag import Partition, true_end

log = logging.getLogger(__name__)


class _AdminClient(KafkaAdminClient):  # type: ignore[misc]
    """DescribeGroups' authorized operations are not needed here, and Tansu answers them with a value
    kafka-python's enum rejects (ValueError: 15 is not a valid ACLOperation): leave them out."""

    def _process_acl_operations(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj.pop("authorized_operations", None)
        return obj


@dataclass
class Snapshot:
    members: dict[str, int] = field(default_factory=dict)  # group -> members now
    committed: dict[str, dict[Partition, int]] = field(default_factory=dict)  # group -> committed offsets
    ends: dict[Partition, int] = field(default_factory=dict)


class OffsetReader:
    def __init__(self, bootstrap: str, prefix: str, embedded: bool, timeout_ms: int = 5_000, security: dict[str, Any] | None = None) -> None:
        self.bootstrap, self.prefix, self.embedded, self.timeout_ms = bootstrap, prefix, embedded, timeout_ms
        self.security = security or {}  # kafka.kafka_python_security(settings): TLS and SASL
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def read(self) -> Snapshot:
        if self._admin is None:
            # a broker that is away fails the round within timeout_ms (kafka-python's bootstrap waits 30 s by default)
            common = {"bootstrap_servers": self.bootstrap, "client_id": "signpost-exporter", "bootstrap_timeout_ms": self.timeout_ms, **self.security}
            self._admin = _AdminClient(**common, request_timeout_ms=self.timeout_ms)
            self._consumer = KafkaConsumer(**common, group_id=None, enable_auto_commit=False, request_timeout_ms=self.timeout_ms + 1_000)
        admin, consumer = self._admin, self._consumer
        assert consumer is not None
        groups = sorted(g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(self.prefix))
        snap = Snapshot()
        if not groups:
            return snap
        described = admin.describe_groups(groups)
        snap.members = {g: len((described.get(g) or {}).get("members") or []) for g in groups}
        offsets = admin.list_group_offsets(groups)
        for group in groups:
            snap.committed[group] = {(tp.topic, tp.partition): om.offset for tp, om in (offsets.get(group) or {}).items() if om.offset >= 0}
        topics = {topic for c in snap.committed.values() for topic, _ in c}
        partitions = [TopicPartition(t, p) for t in sorted(topics) for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(partitions) if partitions else {}
        snap.ends = {(tp.topic, tp.partition): end for tp, end in ends.items()}
        if self.embedded:
            snap.ends = {tp: true_end(end, self._last_offset(consumer, tp, end)) for tp, end in snap.ends.items()}
        return snap

    @staticmethod
    def _last_offset(consumer: KafkaConsumer, partition: Partition, reported_end: int) -> int | None:
        """The highest offset in the partition's last batch (Tansu's end offset points into it)."""
        if reported_end <= 0:
            return None
        tp = TopicPartition(*partition)
        consumer.assign([tp])
        consumer.seek(tp, reported_end - 1)
        last = None
        for records in consumer.poll(timeout_ms=1_000, max_records=100_000).values():
            last = max([r.offset for r in records] + ([last] if last is not None else []))
        consumer.assign([])
        return last

    def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing a broken client; a new one is made next time
                    log.debug("closing a kafka client failed", exc_info=True)
        self._admin = self._consumer = None
