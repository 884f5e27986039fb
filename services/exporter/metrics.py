"""What the exporter exports. One exporter runs per deployment, so these series are counted once
however many replicas each service runs (the services no longer compute them: issue 13)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

CONSUMER_GROUP_LAG = Gauge(
    "signpost_consumer_group_lag", "Messages between a consumer group's committed offsets and the topic's end, read at the broker", ["group", "topic"]
)
CONSUMER_GROUP_MEMBERS = Gauge("signpost_consumer_group_members", "Members of a consumer group now", ["group"])
KAFKA_UP = Gauge("signpost_kafka_up", "1 when the exporter's last read of groups and offsets at the broker succeeded")
READ_ERRORS = Counter("signpost_exporter_read_errors_total", "Failed reads, by source (kafka, alerts_store, referrals_store)", ["source"])
ALERTS_BY_STATUS = Gauge("signpost_alerts", "Alerts in the store", ["rule", "severity", "status"])
REFERRALS_BY_STATUS = Gauge("signpost_referrals", "Referrals in the store", ["agency", "status"])
REFERRALS_OVERDUE = Gauge("signpost_referrals_overdue", "New referrals past their due date", ["agency"])
